"""A live run's temporaries are never judged stale, whatever their process id says; odd names
never stop a run; what a run publishes is complete (issue 26, items 2 and 7).

Temporaries were judged by host name and process id alone: a second run in another PID
namespace with the same host name (containers with host networking) saw the first run's id
as gone and deleted its OME-Zarr temporary, and the first run then published a folder with no
``zarr.json`` and exited 0. Now the writing process holds a lock on its temporary."""

import os
import subprocess
import sys

import pytest

from napari_unet.core.files import atomic
from napari_unet.core.files.atomic import release, remove_stale_temporaries, temporary_beside

LIVE = """
import sys, time
from pathlib import Path
from napari_unet.core.files.atomic import temporary_beside
tmp = temporary_beside(Path(sys.argv[1]), directory=True)
(tmp / "zarr.json").write_text("{}")
print(tmp, flush=True)
time.sleep(60)
"""


def test_a_live_runs_temporary_stays_even_when_its_process_id_looks_gone(tmp_path, monkeypatch):
    target = tmp_path / "plate_labels.ome.zarr"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    other = subprocess.Popen([sys.executable, "-c", LIVE, str(target)], stdout=subprocess.PIPE,
                             text=True, env=env)
    try:
        tmp = other.stdout.readline().strip()
        assert tmp and os.path.isdir(tmp)
        monkeypatch.setattr(atomic, "_alive", lambda pid: False)  # as seen from another namespace
        remove_stale_temporaries(target)
        assert os.path.isfile(os.path.join(tmp, "zarr.json"))  # the live run's work is kept
    finally:
        other.kill()
        other.wait()
    remove_stale_temporaries(target)  # its process is gone, and with it the lock
    assert not os.path.exists(tmp)


def test_a_temporary_of_this_process_is_kept_until_released(tmp_path, monkeypatch):
    target = tmp_path / "a_labels.tif"
    mine = temporary_beside(target)
    monkeypatch.setattr(atomic, "_alive", lambda pid: False)
    remove_stale_temporaries(target)
    assert mine.exists()
    release(mine)
    remove_stale_temporaries(target)
    assert not mine.exists()


@pytest.mark.parametrize("pid", [2**70, 10**30])
def test_a_stray_temporary_with_a_huge_process_id_is_removed_without_an_error(tmp_path, pid):
    """Was OverflowError ("signed integer is greater than maximum") in predict and train."""
    from napari_unet.core.config import ModelConfig, NormConfig
    from napari_unet.core.files.bundle import Bundle, load_bundle, save_bundle
    from napari_unet.core.networks.build import build_network

    target = tmp_path / "m.unet"
    host = atomic._owner_tag().split("-")[0]
    stray = tmp_path / f".m.unet.{host}-{pid}-abc.tmp"
    stray.write_bytes(b"x")
    cfg = ModelConfig(depth=1, base_width=2)
    save_bundle(Bundle(cfg, NormConfig(), build_network(cfg).state_dict()), target)
    assert load_bundle(target).model_config == cfg and not stray.exists()


def test_a_folder_damaged_while_written_is_never_published(tmp_path):
    from napari_unet.core.batch.folders import BatchError, _commit, _temporary

    path = tmp_path / "a_labels.ome.zarr"
    tmp = _temporary(path)
    (tmp / "0" / "c").mkdir(parents=True)  # chunks written after the folder was emptied
    (tmp / "0" / "c" / "0").write_bytes(b"x")
    with pytest.raises(BatchError, match="damaged while it was written"):
        _commit(tmp, path)
    assert not path.exists()
