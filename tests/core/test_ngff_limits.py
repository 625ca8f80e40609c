"""OME-Zarr metadata that declares more than is there costs nothing to read (issue 26, item
5): an 800-byte zarr.json declaring (1e10, 16, 16) built a 1e10-entry list of planes."""

from __future__ import annotations

import tracemalloc

import pytest

zarr = pytest.importorskip("zarr")

from napari_unet.core.files.ngff import read_ngff  # noqa: E402


def test_a_huge_declared_stack_is_counted_not_listed(tmp_path):
    path = tmp_path / "huge.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.create_array("0", shape=(10**10, 16, 16), chunks=(1, 16, 16), dtype="uint8")
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": "z", "type": "space"}, {"name": "y", "type": "space"},
                 {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0, 1.0]}]}]}]}
    image = read_ngff(path)
    tracemalloc.start()
    planes = image.planes()
    assert len(planes) == 10**10
    first = next(iter(planes))
    assert tracemalloc.get_traced_memory()[1] < 2**20
    tracemalloc.stop()
    assert first == (0,)
