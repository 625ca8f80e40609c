"""Writing files so that a crash never leaves half of one: temporary beside, then rename.

Every file the package writes (models, predicted TIFFs, exports) goes through
:func:`atomic_path`: the data is written to a hidden temporary name in the target's folder,
flushed to disk, and renamed over the target, so the target is always either the complete
new file or what was there before (SIGKILL, full disk, power cut; see
``benchmarks/kill_while_saving.py``). Temporaries get the permissions ``open()`` would give
(not ``mkstemp``'s private 0600), and temporaries of killed writes are removed by a later
write of the same file once they are ten minutes old.
"""

from __future__ import annotations

import glob
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STALE_TEMPORARY_S = 600


def umask() -> int:
    """The process's umask; read from /proc where possible (setting it to read it back
    would briefly change it for every thread)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(path: Path) -> None:
    """Temporary files of writes of ``path`` that were killed before their rename.

    A file write takes seconds at most, so one older than ten minutes is no write in
    progress. Temporary folders (zarr outputs being filled) are left alone: a long
    prediction keeps one for longer than that, and its folder's time does not move.
    """
    now = time.time()
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if tmp.is_file() and now - tmp.stat().st_mtime > STALE_TEMPORARY_S:
                tmp.unlink()
        except OSError:
            pass


def temporary_beside(path: Path, directory: bool = False) -> Path:
    """A new hidden temporary file (or folder) in ``path``'s folder, with the usual mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not directory:
        remove_stale_temporaries(path)
    prefix, suffix = f".{path.name}.", ".tmp"
    if directory:
        tmp = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=path.parent)
        os.chmod(tmp, 0o777 & ~umask())
    else:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~umask())
    return Path(tmp)


def check_writable_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and prove a file can be written there (``OSError`` if
    not), so that long work is not done for a result that cannot be saved."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".napari-unet-probe.", dir=folder)
    os.close(fd)
    os.unlink(probe)
    return folder


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; when the block ends without error, the
    file is flushed to disk and renamed over ``path``. On error it is removed."""
    path = Path(path)
    tmp = temporary_beside(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return path
