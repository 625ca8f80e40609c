"""Temporaries of killed runs are removed when the next run starts, and only those (issue 15,
item 3): a temporary whose process is gone goes, one of a live process and any file not
named by napari-unet stay."""

import subprocess
import sys

import numpy as np
import tifffile
import torch

from napari_unet.core.batch.folders import Options, predict_files
from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig
from napari_unet.core.files.atomic import remove_stale_temporaries, temporary_beside
from napari_unet.core.files.bundle import Bundle
from napari_unet.core.networks.model import UNet
from napari_unet.core.progress import drain

DEAD = """
import sys
from pathlib import Path
from napari_unet.core.files.atomic import temporary_beside
for name in sys.argv[1:]:
    folder = temporary_beside(Path(name), directory=True)
    (folder / "chunk").write_bytes(b"x" * 1000)
    temporary_beside(Path(name))
"""


def _leave_temporaries_of_a_dead_process(*paths):
    """What a killed run leaves: temporaries made by a process that no longer exists."""
    subprocess.run([sys.executable, "-c", DEAD, *map(str, paths)], check=True)


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_only_temporaries_of_dead_processes_are_removed(tmp_path):
    target = tmp_path / "plate_labels.ome.zarr"
    _leave_temporaries_of_a_dead_process(target)
    assert len(_hidden(tmp_path)) == 2
    mine = temporary_beside(target, directory=True)  # this process is alive: a write in progress
    (tmp_path / f".{target.name}.backup").mkdir()  # not a name napari-unet makes
    (tmp_path / f".{target.name}.notes.tmp").write_text("the user's")
    remove_stale_temporaries(target)
    assert _hidden(tmp_path) == sorted([mine.name, f".{target.name}.backup",
                                        f".{target.name}.notes.tmp"])


def test_a_rerun_removes_what_killed_runs_left(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(depth=2, base_width=4)
    bundle = Bundle(cfg, NormConfig(), UNet(cfg).state_dict())
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "a.tif", np.random.default_rng(0).random((32, 32)))
    out = tmp_path / "out"
    out.mkdir()
    _leave_temporaries_of_a_dead_process(out / "a_labels.tif", out / "a_probabilities.tif")
    assert len(_hidden(out)) == 4
    options = Options(probabilities=True, config=PredictConfig(device="cpu", threads=1))
    drain(predict_files([tmp_path / "in"], out, bundle, options))
    assert sorted(p.name for p in out.iterdir()) == ["a_labels.tif", "a_probabilities.tif"]
    _leave_temporaries_of_a_dead_process(out / "a_labels.tif")
    assert drain(predict_files([tmp_path / "in"], out, bundle, options)).skipped  # done, and
    assert _hidden(out) == []  # cleaned even so
