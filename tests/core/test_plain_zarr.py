"""Plain Zarr arrays in (no OME metadata, as ``zarr.open(..., mode='w', shape=...)`` and dask's
``to_zarr`` make them): predicted lazily, plane by plane, like OME-Zarr; a group with one
array is that array, one with several says which to name."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")

from napari_unet.cli import main  # noqa: E402
from napari_unet.core.batch.folders import Options, expand_inputs, predict_files  # noqa: E402
from napari_unet.core.config import NormConfig, PredictConfig  # noqa: E402
from napari_unet.core.files.bundle import save_bundle  # noqa: E402
from napari_unet.core.files.ngff import read_ngff  # noqa: E402
from napari_unet.core.images import ImageError  # noqa: E402
from napari_unet.core.inference.predict import predict_image  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402

CONFIG = PredictConfig(amp=False, device="cpu", threads=1, tile_size=256)  # lazily, not planned


@pytest.fixture(scope="module")
def bundle(random_bundle):
    # fixed normalisation: what is measured is prediction, not the percentile sample
    return random_bundle(5, NormConfig(mode="fixed", low=[0.0], high=[255.0]), depth=2)


def _plain(path, shape, chunk=256, seed=0):
    """A uint8 array made the plain way, filled chunk by chunk."""
    from scipy import ndimage as ndi

    arr = zarr.open(str(path), mode="w", shape=shape, chunks=(1,) * (len(shape) - 2) + (chunk, chunk),
                    dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for lead in np.ndindex(*shape[:-2]):
        for y in range(0, shape[-2], chunk):
            for x in range(0, shape[-1], chunk):
                block = ndi.gaussian_filter(rng.random((chunk, chunk)), 6) * 255
                arr[lead + (slice(y, y + chunk), slice(x, x + chunk))] = \
                    block[: shape[-2] - y, : shape[-1] - x].astype(np.uint8)
    return arr


def test_a_plain_array_predicts_lazily_as_in_memory_with_bounded_memory(tmp_path, bundle):
    image = _plain(tmp_path / "big.zarr", (2048, 2048))
    tracemalloc.start()
    result = drain(predict_files([tmp_path / "big.zarr"], tmp_path / "out", bundle,
                                 Options(config=CONFIG)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.summary() == "1 written"
    full_probabilities = 2 * 2048 * 2048 * 4  # 32 MiB
    assert peak < full_probabilities / 4, f"{peak / 2**20:.1f} MiB of numpy memory at the peak"
    labels = zarr.open_group(str(tmp_path / "out" / "big_labels.ome.zarr"), mode="r")["0"][:]
    expected = predict_image(np.asarray(image)[None], bundle, CONFIG, probabilities=False).labels
    assert set(np.unique(expected)) == {1, 2}, "a prediction that is not constant"
    np.testing.assert_array_equal(labels, expected)


def test_leading_axes_of_a_plain_array_are_planes(tmp_path, bundle):
    _plain(tmp_path / "stack.zarr", (2, 64, 80), chunk=32)
    image = read_ngff(tmp_path / "stack.zarr")
    assert image.names == ["z", "y", "x"] and image.planes() == [(0,), (1,)]
    drain(predict_files([tmp_path / "stack.zarr"], tmp_path / "out", bundle, Options(config=CONFIG)))
    labels = zarr.open_group(str(tmp_path / "out" / "stack_labels.ome.zarr"), mode="r")["0"][:]
    assert labels.shape == (2, 64, 80)


def test_a_group_with_one_array_is_that_array_and_with_several_names_them(tmp_path, bundle, capsys):
    _plain(tmp_path / "one.zarr" / "raw", (64, 64), chunk=32)
    assert read_ngff(tmp_path / "one.zarr").array.shape == (64, 64)
    for name in ("a", "b"):
        _plain(tmp_path / "two.zarr" / name, (64, 64), chunk=32)
    with pytest.raises(ImageError, match=r"holds 2 arrays \(a, b\): name the one to predict"):
        read_ngff(tmp_path / "two.zarr")
    found, _ = expand_inputs([tmp_path / "two.zarr" / "b"])  # named: an input of its own
    assert found == [tmp_path / "two.zarr" / "b"]
    save_bundle(bundle, tmp_path / "m.unet")
    code = main(["predict", str(tmp_path / "m.unet"), str(tmp_path / "two.zarr"),
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "two.zarr/a" in err[0]
    assert main(["predict", str(tmp_path / "m.unet"), str(tmp_path / "two.zarr" / "a"),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "a_labels.ome.zarr").is_dir()
