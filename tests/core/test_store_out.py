"""``segment(image, out=PATH)`` never deletes what is at PATH (issue 26, item 1).

Invariants: whatever exists at ``out`` that napari-unet did not write (files, folders, the
current directory, the input's own store) is unchanged after the refused call; an earlier
result of ours is replaced only with ``overwrite``; a stopped run leaves ``out`` as it was;
the store appears at ``out`` only once complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

zarr = pytest.importorskip("zarr")

from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig  # noqa: E402
from napari_unet.core.files.bundle import Bundle  # noqa: E402
from napari_unet.core.files.store_target import OutputRefused, sources_of  # noqa: E402
from napari_unet.core.inference.predict import predict_image  # noqa: E402
from napari_unet.core.inference.segment import segment  # noqa: E402
from napari_unet.core.networks.model import UNet  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402

CONFIG = PredictConfig(amp=False, device="cpu", batch_size=2, threads=1, tile_size=64)


@pytest.fixture(scope="module")
def bundle():
    torch.manual_seed(0)
    cfg = ModelConfig(depth=2, base_width=4)
    net = UNet(cfg)
    return Bundle(cfg, NormConfig(mode="fixed", low=[0.0], high=[1.0]),
                  {k: v.clone() for k, v in net.state_dict().items()})


IMAGE = np.random.default_rng(0).random((1, 48, 40)).astype(np.float32)


def snapshot(root: Path) -> dict:
    """Every path under ``root`` (``root`` included) with its bytes (or ``None`` for a
    folder)."""
    if not root.exists():
        return {}
    paths = [root] + sorted(root.rglob("*")) if root.is_dir() else [root]
    return {str(p.relative_to(root.parent)): None if p.is_dir() else p.read_bytes()
            for p in paths}


def test_a_folder_of_the_users_is_refused_and_kept(tmp_path, bundle):
    results = tmp_path / "results"
    (results / "sub").mkdir(parents=True)
    (results / "notes.txt").write_text("my notes")
    (results / "sub" / "a.csv").write_text("1,2")
    before = snapshot(results)
    with pytest.raises(OutputRefused, match="was not written by napari-unet"):
        drain(segment(IMAGE, bundle, CONFIG, out=results))
    assert snapshot(results) == before


@pytest.mark.parametrize("out", [".", ""])
def test_the_current_directory_is_never_emptied(tmp_path, monkeypatch, bundle, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(OutputRefused):
        drain(segment(IMAGE, bundle, CONFIG, out=out))
    assert os.listdir(tmp_path) == ["keep.txt"]


def _zarr_input(path: Path, dask: bool = False):
    arr = zarr.create_array(str(path), shape=(48, 40), chunks=(16, 16), dtype=np.float32)
    arr[:] = IMAGE[0]
    if dask:
        da = pytest.importorskip("dask.array")
        return da.from_zarr(str(path))[None]
    return arr


@pytest.mark.parametrize("dask", [False, True], ids=["zarr", "dask-from-zarr"])
@pytest.mark.parametrize("where", ["the-input", "inside-the-input", "holding-the-input"])
def test_an_out_that_is_holds_or_lies_in_the_input_is_refused(tmp_path, bundle, dask, where):
    store = tmp_path / "data" / "in.zarr"
    store.parent.mkdir()
    image = _zarr_input(store, dask)
    out = {"the-input": store, "inside-the-input": store / "result.zarr",
           "holding-the-input": tmp_path / "data"}[where]
    before = snapshot(tmp_path / "data")
    for overwrite in (False, True):
        with pytest.raises(OutputRefused, match="input"):
            drain(segment(image, bundle, CONFIG, out=out, overwrite=overwrite))
    assert snapshot(tmp_path / "data") == before
    assert np.array_equal(zarr.open_array(str(store))[:], IMAGE[0]), "the input is intact"


def test_sources_of_finds_the_zarr_behind_views_and_dask(tmp_path):
    store = tmp_path / "in.zarr"
    arr = _zarr_input(store)
    da = pytest.importorskip("dask.array")
    for image in (arr, [arr], da.from_zarr(arr)[None] + 1):
        assert store.resolve() in [p.resolve() for p in sources_of(image)]
    assert sources_of(IMAGE) == []


def test_an_earlier_result_is_replaced_only_with_overwrite(tmp_path, bundle):
    out = tmp_path / "result.zarr"
    first = drain(segment(IMAGE, bundle, CONFIG, out=out))
    expected = predict_image(IMAGE, bundle, CONFIG, probabilities=False).labels
    assert np.array_equal(first.labels[:], expected)
    before = snapshot(out)
    with pytest.raises(OutputRefused, match="overwrite=True"):
        drain(segment(IMAGE, bundle, CONFIG, out=out))
    assert snapshot(out) == before
    again = drain(segment(IMAGE * 0.5, bundle, CONFIG, out=out, overwrite=True))
    assert np.array_equal(again.labels[:], predict_image(IMAGE * 0.5, bundle, CONFIG).labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.zarr"], "no temporary left"


def test_a_stopped_run_leaves_out_as_it_was_and_no_temporary(tmp_path, bundle):
    image = np.random.default_rng(1).random((3, 1, 64, 64)).astype(np.float32)
    out = tmp_path / "result.zarr"
    gen = segment(image, bundle, CONFIG, out=out)
    next(gen)
    next(gen)
    gen.close()  # Stop, between tiles
    assert list(tmp_path.iterdir()) == []
    old = drain(segment(IMAGE, bundle, CONFIG, out=out))
    before = snapshot(out)
    gen = segment(image, bundle, CONFIG, out=out, overwrite=True)
    next(gen)
    gen.close()
    assert snapshot(out) == before and old.labels.shape == (48, 40)
    assert [p.name for p in tmp_path.iterdir()] == ["result.zarr"]


def test_the_store_appears_at_out_only_when_complete(tmp_path, bundle):
    image = np.random.default_rng(1).random((2, 1, 64, 64)).astype(np.float32)
    out = tmp_path / "result.zarr"
    gen = segment(image, bundle, CONFIG, out=out)
    seen = []
    try:
        while True:
            next(gen)
            seen.append(out.exists())
    except StopIteration as stop:
        result = stop.value
    assert seen and not any(seen)
    assert out.is_dir() and result.store.group.attrs["napari_unet"]["complete"] is True
    assert result.labels.shape == (2, 64, 64)


def test_a_zarr_store_object_that_holds_something_is_not_cleared(bundle):
    store = zarr.storage.MemoryStore()
    keep = zarr.create_array(store, name="mine", shape=(4,), dtype=np.int8)
    keep[:] = 7
    with pytest.raises(Exception, match="(?i)exist|contain"):
        drain(segment(IMAGE, bundle, CONFIG, out=store))
    assert list(zarr.open_group(store, mode="r")["mine"][:]) == [7] * 4


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.lists(st.tuples(st.sampled_from(["a", "b", "c.zarr", "zarr.json", "d/e"]),
                               st.binary(max_size=20)), min_size=1, max_size=4),
       overwrite=st.booleans())
def test_whatever_exists_at_out_is_unchanged_after_a_refused_call(tmp_path_factory, bundle,
                                                                   tree, overwrite):
    root = tmp_path_factory.mktemp("case") / "out"
    root.mkdir()
    for name, data in tree:
        p = root / name
        if p.parent.is_file() or p.is_dir():
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    before = snapshot(root)
    with pytest.raises(OutputRefused):
        drain(segment(IMAGE, bundle, CONFIG, out=root, overwrite=overwrite))
    assert snapshot(root) == before
    assert sorted(p.name for p in root.parent.iterdir()) == [root.name]
