"""Many images with one model: inputs expand predictably, outputs appear only when complete,
and a stopped run resumed gives exactly what one uninterrupted run gives."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from skimage.io import imsave

from napari_unet.core.batch.folders import (
    BatchError,
    Options,
    expand_inputs,
    plan,
    predict_files,
)
from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig
from napari_unet.core.files.bundle import Bundle
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.networks.model import UNet
from napari_unet.core.progress import drain
from napari_unet.synthetic import nuclei

CONFIG = PredictConfig(tile_size=16, threads=1, device="cpu")  # several tiles per image


@pytest.fixture(scope="module")
def bundle():
    """An untrained tiny model: prediction only has to be deterministic, not good."""
    torch.manual_seed(0)
    cfg = ModelConfig(depth=2, base_width=8)
    return Bundle(cfg, NormConfig(), UNet(cfg).state_dict())


def image(seed: int, shape=(40, 48)) -> np.ndarray:
    return (nuclei(shape, n=4, seed=seed)[0] * 255).astype(np.uint8)


@pytest.fixture()
def folder(tmp_path):
    src = tmp_path / "images"
    src.mkdir()
    for i, name in enumerate(["a.tif", "b.tif", "c.tif"]):
        tifffile.imwrite(src / name, image(i))
    imsave(src / "d.png", image(3), check_contrast=False)
    (src / "notes.txt").write_text("not an image")
    tifffile.imwrite(src / ".hidden.tif", image(0))
    return src


def outputs(out_dir):
    return sorted(p.name for p in out_dir.iterdir())


def test_inputs_expand_to_sorted_images_and_count_the_rest(folder, tmp_path):
    found, other = expand_inputs([folder])
    assert [p.name for p in found] == ["a.tif", "b.tif", "c.tif", "d.png"]
    assert [p.name for p in other] == ["notes.txt"]
    found, _ = expand_inputs([str(folder / "[bc].tif"), folder / "a.tif", folder / ".." / folder.name / "a.tif"])
    assert [p.name for p in found] == ["a.tif", "b.tif", "c.tif"]
    tifffile.imwrite(folder / "x[1].tif", image(0))  # named outright, not a pattern
    assert [p.name for p in expand_inputs([folder / "x[1].tif"])[0]] == ["x[1].tif"]
    with pytest.raises(BatchError, match="no images in .*1 other file"):
        expand_inputs([str(folder / "*.txt")])
    with pytest.raises(BatchError, match="no such file or folder"):
        expand_inputs([tmp_path / "missing"])


def test_two_inputs_writing_one_output_is_refused(folder):
    tifffile.imwrite(folder / "d.tiff", image(5))
    with pytest.raises(BatchError, match="would both write d_labels.tif"):
        plan(expand_inputs([folder])[0], folder / "out")


def test_unwritable_output_folder_fails_before_any_work(folder, bundle):
    (folder.parent / "file").write_text("")
    with pytest.raises(BatchError, match="cannot write into output folder"):
        next(predict_files([folder], folder.parent / "file" / "out", bundle))


def test_every_image_is_written_as_a_single_prediction_would(folder, tmp_path, bundle):
    result = drain(predict_files([folder], tmp_path / "out", bundle, Options(config=CONFIG)))
    assert result.summary() == "4 written"
    assert outputs(tmp_path / "out") == [f"{s}_labels.tif" for s in "abcd"]
    for i, s in enumerate("abcd"):
        want = predict_image(image(i)[None], bundle, CONFIG).labels
        assert np.array_equal(tifffile.imread(tmp_path / "out" / f"{s}_labels.tif"), want)


def test_stopped_run_resumed_equals_one_uninterrupted_run(folder, tmp_path, bundle):
    options = Options(probabilities=True, config=CONFIG)
    drain(predict_files([folder], tmp_path / "whole", bundle, options))

    out = tmp_path / "resumed"
    gen = predict_files([folder], out, bundle, options)
    for p in gen:  # stop in the middle of the second image
        if p.done == 1 and p.fraction > 0.3:
            break
    gen.close()
    assert outputs(out) == ["a_labels.tif", "a_probabilities.tif"]  # no half-written file
    first = (out / "a_labels.tif").stat().st_mtime_ns

    result = drain(predict_files([folder], out, bundle, options))
    assert [p.name for p in result.skipped] == ["a_labels.tif"]
    assert [p.name for p in result.written] == ["b_labels.tif", "c_labels.tif", "d_labels.tif"]
    assert (out / "a_labels.tif").stat().st_mtime_ns == first
    assert outputs(out) == outputs(tmp_path / "whole")
    for name in outputs(out):
        assert np.array_equal(tifffile.imread(out / name), tifffile.imread(tmp_path / "whole" / name))


def test_overwrite_redoes_finished_images(folder, tmp_path, bundle):
    drain(predict_files([folder / "a.tif"], tmp_path, bundle, Options(config=CONFIG)))
    first = (tmp_path / "a_labels.tif").stat().st_mtime_ns
    assert drain(predict_files([folder / "a.tif"], tmp_path, bundle)).skipped
    result = drain(predict_files([folder / "a.tif"], tmp_path, bundle, Options(config=CONFIG),
                                 overwrite=True))
    assert result.summary() == "1 written"
    assert (tmp_path / "a_labels.tif").stat().st_mtime_ns != first
    assert tifffile.imread(tmp_path / "a_labels.tif").shape == (40, 48)


def test_a_bad_image_is_reported_and_the_others_go_on(folder, tmp_path, bundle):
    (folder / "bad.tif").write_bytes(b"not a tiff")
    result = drain(predict_files([folder], tmp_path / "out", bundle, Options(config=CONFIG)))
    assert result.summary() == "4 written, 1 failed"
    assert result.failed[0][0].name == "bad.tif" and "cannot read" in result.failed[0][1]
    with pytest.raises(ValueError, match="cannot read"):
        drain(predict_files([folder / "bad.tif"], tmp_path / "o2", bundle, keep_going=False))


def test_predicting_a_folder_into_itself_skips_earlier_outputs(folder, bundle):
    drain(predict_files([folder], folder, bundle, Options(config=CONFIG)))
    result = drain(predict_files([folder], folder, bundle, Options(config=CONFIG)))
    assert result.summary() == "0 written, 4 skipped (already done)"


def test_ome_zarr_in_gives_ome_zarr_labels_out(tmp_path, bundle, write_ngff_04):
    import zarr

    stack = np.stack([image(0), image(1)])[:, None]  # t, c, y, x
    write_ngff_04(tmp_path / "cells.ome.zarr", stack, "tcyx", [2.0, 1.0, 0.5, 0.5])
    result = drain(predict_files([tmp_path / "cells.ome.zarr"], tmp_path / "out", bundle,
                                 Options(probabilities=True, config=CONFIG)))
    assert result.summary() == "1 written"
    assert outputs(tmp_path / "out") == ["cells_labels.ome.zarr", "cells_probabilities.ome.zarr"]
    group = zarr.open_group(str(tmp_path / "out" / "cells_labels.ome.zarr"), mode="r")
    ome = group.attrs["ome"]
    assert "image-label" in ome
    scales = ome["multiscales"][0]
    assert [a["name"] for a in scales["axes"]] == ["t", "y", "x"]
    assert scales["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.0, 0.5, 0.5]
    labels = group[scales["datasets"][0]["path"]][:]
    probs = zarr.open_group(str(tmp_path / "out" / "cells_probabilities.ome.zarr"), mode="r")["0"]
    assert probs.shape == (2, 2, 40, 48)  # t, c (classes), y, x
    for t in range(2):
        want = predict_image(stack[t], bundle, CONFIG)
        assert np.array_equal(labels[t], want.labels)
        np.testing.assert_allclose(probs[t], want.probabilities, atol=1e-6)


def test_ome_zarr_objects_have_one_id_each_through_the_stack(tmp_path, bundle, write_ngff_04):
    import zarr

    from napari_unet.core.inference.postprocess import to_instances

    stack = np.stack([image(0), image(1)])[:, None, None]  # t, c, z, y, x
    write_ngff_04(tmp_path / "s.zarr", stack, "tczyx", [1.0] * 5)
    drain(predict_files([tmp_path / "s.zarr"], tmp_path, bundle,
                        Options(instances=True, probabilities=True, config=CONFIG)))
    ids = zarr.open_group(str(tmp_path / "s_labels.ome.zarr"), mode="r")["0"][:]
    probs = zarr.open_group(str(tmp_path / "s_probabilities.ome.zarr"), mode="r")["0"]
    assert ids.shape == (2, 1, 40, 48) and ids.dtype == np.uint32
    assert probs.shape == (2, 2, 1, 40, 48)  # t, c, z, y, x: NGFF order
    want = predict_image(stack[0, :, 0], bundle, CONFIG).probabilities
    np.testing.assert_allclose(probs[0, :, 0], want, atol=1e-6)
    assert np.array_equal(ids[0, 0], to_instances(want, "semantic"))
    assert not set(np.unique(ids[0])[1:]) & set(np.unique(ids[1])[1:])


def test_ome_zarr_library_reads_our_labels(tmp_path, bundle):
    ome_zarr = pytest.importorskip("ome_zarr")
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader
    from ome_zarr.writer import write_image

    group = zarr.open_group(str(tmp_path / "img.ome.zarr"), mode="w")
    write_image(image(2)[None, None], group, axes="czyx", scale_factors=())
    drain(predict_files([tmp_path / "img.ome.zarr"], tmp_path / "out", bundle, Options(config=CONFIG)))
    nodes = list(Reader(parse_url(str(tmp_path / "out" / "img_labels.ome.zarr")))())
    assert any(isinstance(spec, Label) for spec in nodes[0].specs), ome_zarr.__name__
    assert np.array_equal(np.asarray(nodes[0].data[0])[0],
                          predict_image(image(2)[None], bundle, CONFIG).labels)


def test_ome_zarr_stopped_midway_leaves_nothing_and_overwrite_replaces(tmp_path, bundle, write_ngff_04):
    import zarr

    stack = np.stack([image(0), image(1)])[:, None]
    write_ngff_04(tmp_path / "cells.zarr", stack, "tcyx", [1.0] * 4)
    out = tmp_path / "out"
    gen = predict_files([tmp_path / "cells.zarr"], out, bundle, Options(config=CONFIG))
    for p in gen:
        if p.fraction > 0.6:  # inside the second plane
            break
    gen.close()
    assert list(out.iterdir()) == []  # no temporary folder left, nothing that looks done

    drain(predict_files([tmp_path / "cells.zarr"], out, bundle, Options(config=CONFIG)))
    labels = zarr.open_group(str(out / "cells_labels.ome.zarr"), mode="r")["0"][:]
    zarr.open_group(str(out / "cells_labels.ome.zarr"), mode="r+")["0"][:] = 0
    result = drain(predict_files([tmp_path / "cells.zarr"], out, bundle, Options(config=CONFIG),
                                 overwrite=True))
    assert result.summary() == "1 written" and outputs(out) == ["cells_labels.ome.zarr"]
    assert np.array_equal(zarr.open_group(str(out / "cells_labels.ome.zarr"), mode="r")["0"][:], labels)
