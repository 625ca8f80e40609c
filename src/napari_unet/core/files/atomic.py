"""Writing files so that a crash never leaves half of one: temporary beside, then rename.

Every file the package writes (models, predicted TIFFs, exports) goes through
:func:`atomic_path`: the data is written to a hidden temporary name in the target's folder,
flushed to disk, and renamed over the target, so the target is always either the complete
new file or what was there before (SIGKILL, full disk, power cut; see
``benchmarks/kill_while_saving.py``). Temporaries get the permissions ``open()`` would give
(not ``mkstemp``'s private 0600). Temporaries of killed writes (their name says which
process made them) are removed by a later write of the same file, and by batch prediction
when it starts.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STALE_TEMPORARY_S = 600
"""Temporaries without an owner in their name (older releases): removed after this long."""
STALE_FOREIGN_S = 24 * 3600
"""Temporaries of another machine (shared file systems): removed after a day untouched."""


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


def _owner_tag() -> str:
    """``<host hash>-<pid>``: which process a temporary belongs to (in its name)."""
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    return f"{host}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):  # no process can have this id (issue 26, item 7)
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


_HELD: dict[str, int] = {}
"""Open descriptors of this process's temporaries, each holding an exclusive ``flock`` on its
temporary until it is published or removed (:func:`release`)."""


def _hold(tmp: Path) -> None:
    """Lock ``tmp`` (a file or a folder) for as long as this process writes it: a lock held is
    proof of a live owner that a process id is not (another PID namespace with the same host
    name, a reused id; issue 26, item 2). No-op where ``flock`` does not exist."""
    try:
        import fcntl

        fd = os.open(tmp, os.O_RDONLY)
    except (ImportError, OSError):
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return
    _HELD[str(tmp)] = fd


def release(tmp: str | os.PathLike) -> None:
    """Drop this process's lock on the temporary ``tmp`` (published or removed)."""
    fd = _HELD.pop(str(tmp), None)
    if fd is not None:
        os.close(fd)


def _locked(tmp: Path) -> bool:
    """Whether some process holds the lock of :func:`_hold` on ``tmp`` (this one included)."""
    try:
        import fcntl

        fd = os.open(tmp, os.O_RDONLY)
    except (ImportError, OSError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # also drops the lock just taken
    return False


def _is_stale(tmp: Path, now: float) -> bool:
    """A temporary named by :func:`temporary_beside` whose process is gone. Never one whose
    lock is held (:func:`_hold`). Else: on this machine, a process id that no longer runs;
    from another machine (a shared file system), one not touched for a day. Older names
    without an owner: files older than ten minutes."""
    match = _TAG.search(tmp.name)
    age = now - tmp.stat().st_mtime
    if _locked(tmp):
        return False
    if match is None:
        return tmp.is_file() and age > STALE_TEMPORARY_S
    host, pid = match.group(1), int(match.group(2))
    if host == _owner_tag().split("-")[0]:
        return not _alive(pid)
    return age > STALE_FOREIGN_S


_TAG = re.compile(r"\.([0-9a-f]{8})-(\d+)-[^.]*\.tmp$")


def remove_stale_temporaries(path: Path) -> None:
    """Temporary files and folders of writes of ``path`` that were killed before their
    rename (:func:`_is_stale`); only names this module makes for ``path`` are looked at."""
    now = time.time()
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        _remove_if_stale(tmp, now)


def _remove_if_stale(tmp: Path, now: float) -> None:
    """Remove the temporary file or folder ``tmp`` if :func:`_is_stale`; cleaning up never
    stops a write, so errors are swallowed."""
    try:
        if _is_stale(tmp, now):
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()
    except (OSError, ValueError, OverflowError):
        pass


def remove_stale_temporaries_of(paths) -> None:
    """:func:`remove_stale_temporaries` for many ``paths``, listing each folder once (a glob
    per path lists the folder per path: N² for a folder of N outputs; issue 26, item 6)."""
    by_folder: dict[Path, set[str]] = {}
    for p in map(Path, paths):
        by_folder.setdefault(p.parent, set()).add(p.name)
    now = time.time()
    for folder, names in by_folder.items():
        try:
            entries = [e.name for e in os.scandir(folder)
                       if e.name.startswith(".") and e.name.endswith(".tmp")]
        except OSError:
            continue
        for name in entries:
            match = _TAG.search(name)
            target = name[1 : match.start()] if match else None
            if target not in names and not (match is None and any(
                    name.startswith(f".{n}.") for n in names)):
                continue
            _remove_if_stale(folder / name, now)


def temporary_beside(path: Path, directory: bool = False) -> Path:
    """A new hidden temporary file (or folder) in ``path``'s folder, with the usual mode,
    named ``.<name>.<owner>-<random>.tmp`` (:func:`_owner_tag`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not directory:
        remove_stale_temporaries(path)
    prefix, suffix = f".{path.name}.{_owner_tag()}-", ".tmp"
    if directory:
        tmp = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=path.parent)
        os.chmod(tmp, 0o777 & ~umask())
    else:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~umask())
    _hold(Path(tmp))  # until release(): published or removed
    return Path(tmp)


def check_writable_folder(folder: str | os.PathLike, create: bool = True) -> Path:
    """Prove a file can be written in ``folder`` (``OSError`` if not), so that long work is
    not done for a result that cannot be saved. With ``create`` the folder is made if
    needed; without, nothing is created: the nearest folder that exists is probed (and a
    file where a folder should be is ``NotADirectoryError``), so a refused run leaves no
    empty folders behind."""
    folder = Path(folder).absolute()
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    else:
        while not folder.exists() and folder.parent != folder:
            folder = folder.parent
        if not folder.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(folder))
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
        release(tmp)
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
