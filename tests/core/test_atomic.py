"""Atomic writes: the target is the complete new file or the old one, with the usual mode."""

import os

import numpy as np
import pytest
import tifffile

from napari_unet.core.files.atomic import atomic_path, write_bytes
from napari_unet.core.files.io import write_tiff


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_bytes(tmp_path / "f.bin", b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_predicted_tiffs_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_tiff(tmp_path / "labels.tif", np.ones((4, 4), np.uint8))
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert tifffile.imread(path).sum() == 16
