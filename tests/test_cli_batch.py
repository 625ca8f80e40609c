"""``napari-unet predict`` on many images: folders, patterns, resuming, errors, clusters."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.cli import main
from napari_unet.core.config import ModelConfig, NormConfig
from napari_unet.core.files.bundle import Bundle, save_bundle
from napari_unet.core.networks.model import UNet
from napari_unet.synthetic import nuclei

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the CLI has no thread option


@pytest.fixture()
def case(tmp_path):
    torch.manual_seed(2)
    cfg = ModelConfig(depth=2, base_width=8)
    save_bundle(Bundle(cfg, NormConfig(), UNet(cfg).state_dict()), tmp_path / "m.unet")
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        img = (nuclei((40, 48), n=4, seed=i)[0] * 255).astype(np.uint8)
        tifffile.imwrite(src / f"im{i}.tif", img)
    return tmp_path


def predict(case, *args):
    return main(["predict", str(case / "m.unet"), *map(str, args), "--device", "cpu"])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_folder_run_resumes_and_overwrites(case, capsys):
    (case / "in" / "notes.txt").write_text("not an image")
    (case / "in" / "sub").mkdir()
    assert predict(case, case / "in", "--out", case / "out") == 0
    assert "passing over 1 file(s)" in capsys.readouterr().err
    names = sorted(p.name for p in (case / "out").iterdir())
    assert names == ["im0_labels.tif", "im1_labels.tif", "im2_labels.tif"]
    first = (case / "out" / "im0_labels.tif").stat().st_mtime_ns
    (case / "out" / "im2_labels.tif").unlink()  # as if the run had stopped before it

    capsys.readouterr()
    assert predict(case, f"{case}/in/*.tif", "--out", case / "out") == 0
    assert "1 written, 2 skipped (already done) (--overwrite to redo them)" in capsys.readouterr().err
    assert (case / "out" / "im0_labels.tif").stat().st_mtime_ns == first
    assert (case / "out" / "im2_labels.tif").is_file()

    assert predict(case, case / "in", "--out", case / "out", "--overwrite") == 0
    assert "3 written" in capsys.readouterr().err


def test_a_run_with_other_views_or_object_size_predicts_again(case, capsys):
    """Outputs record the settings that change them: a second run with --views 8 or another
    --diameter predicts again (it used to skip them as done); the same settings skip."""
    assert predict(case, case / "in", "--out", case / "out") == 0
    for args, said in [(["--views", "8"], "3 written"), (["--views", "8"], "3 skipped"),
                       (["--views", "8", "--diameter", "12"], "3 written"),
                       (["--views", "8", "--diameter", "12"], "3 skipped"),
                       ([], "3 written")]:
        capsys.readouterr()
        assert predict(case, case / "in", "--out", case / "out", *args) == 0
        assert said in capsys.readouterr().err, args


@pytest.mark.parametrize(
    "inputs, out, message",
    [
        (["in/*.png"], "out", "no images in"),
        (["nowhere"], "out", "no such file or folder"),
        (["in"], "in/im0.tif/out", "cannot write into output folder"),
        (["in", "--dask-local", "0"], "out", "--dask-local needs at least 1 worker"),
    ],
)
def test_bad_batch_is_one_line_and_exit_2_before_any_work(case, capsys, monkeypatch, inputs, out, message):
    monkeypatch.chdir(case)
    assert predict(case, *inputs, "--out", out, "--quiet") == 2
    assert message in one_error_line(capsys)
    assert not (case / "out").exists()


def test_failed_images_are_named_and_the_others_written(case, capsys):
    (case / "in" / "bad.tif").write_bytes(b"not a tiff")
    assert predict(case, case / "in", "--out", case / "out", "--quiet") == 2
    line = one_error_line(capsys)
    assert "1 of 4 image(s) failed (3 written, 1 failed)" in line and "bad.tif" in line
    assert len(list((case / "out").glob("*_labels.tif"))) == 3


def test_ome_zarr_input_writes_ome_zarr_labels(case):
    import zarr

    group = zarr.open_group(str(case / "in" / "z.ome.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=tifffile.imread(case / "in" / "im0.tif")[None])
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [
        {"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1]}]}]}]
    assert predict(case, case / "in" / "z.ome.zarr", case / "in" / "im0.tif", "--out", case / "out",
                   "--quiet") == 0
    labels = zarr.open_group(str(case / "out" / "z_labels.ome.zarr"), mode="r")["0"][:]
    assert np.array_equal(labels, tifffile.imread(case / "out" / "im0_labels.tif"))


def test_dask_local_cluster_writes_what_the_local_run_writes(case, monkeypatch):
    dist = pytest.importorskip("napari_unet.core.batch.distributed")
    pytest.importorskip("distributed")
    # threads instead of worker processes: the same code path, without starting two Pythons
    calls = []

    def connect(address, n_local, processes=True):
        calls.append((address, n_local))
        return original(address, n_local, processes=False)

    original = dist.connect
    monkeypatch.setattr(dist, "connect", connect)
    assert predict(case, case / "in", "--out", case / "local", "--quiet") == 0
    assert predict(case, case / "in", "--out", case / "dask", "--dask-local", "2", "--quiet") == 0
    for path in sorted((case / "local").iterdir()):
        assert np.array_equal(tifffile.imread(path), tifffile.imread(case / "dask" / path.name))
    assert len(list((case / "dask").iterdir())) == 3 and calls == [(None, 2)]


UNITS = {"t": "second", "y": "micrometer", "x": "micrometer"}


def _cli_ome_zarr_labels(case):
    """Two planes (t) of one channel, scaled and with units, predicted by the CLI as an
    OME-Zarr (and each plane as a TIFF): the path of ``cells_labels.ome.zarr``."""
    import zarr
    from ome_zarr.writer import write_image

    planes = [tifffile.imread(case / "in" / f"im{i}.tif") for i in range(2)]
    write_image(np.stack(planes)[:, None], zarr.open_group(str(case / "cells.ome.zarr"), mode="w"),
                axes="tcyx", scale_factors=(), scale={"t": 2.0, "c": 1.0, "y": 0.5, "x": 0.25},
                axes_units=UNITS)
    assert predict(case, case / "cells.ome.zarr", case / "in" / "im0.tif", case / "in" / "im1.tif",
                   "--out", case / "out", "--quiet") == 0
    return case / "out" / "cells_labels.ome.zarr"


def test_the_ome_zarr_labels_the_cli_writes_read_back_with_ome_zarr_py(case):
    """Others read our OME-Zarr: ome-zarr-py's reader finds an image-label with the
    input's axes (channel dropped), scale and units, and the same array as the labels of
    each plane predicted as a TIFF."""
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    path = _cli_ome_zarr_labels(case)
    nodes = list(Reader(parse_url(str(path)))())
    assert nodes and any(isinstance(spec, Label) for spec in nodes[0].specs)
    node = nodes[0]
    assert node.metadata["axes"] == [{"name": "t", "type": "time", "unit": "second"},
                                     {"name": "y", "type": "space", "unit": "micrometer"},
                                     {"name": "x", "type": "space", "unit": "micrometer"}]
    assert node.metadata["coordinateTransformations"][0][0] == {"type": "scale", "scale": [2.0, 0.5, 0.25]}
    read = np.asarray(node.data[0])
    assert read.shape == (2, 40, 48)
    for t in range(2):
        assert np.array_equal(read[t], tifffile.imread(case / "out" / f"im{t}_labels.tif"))


def test_the_ome_zarr_labels_the_cli_writes_open_in_napari_as_labels(case):
    """napari's OME-Zarr reader (the napari-ome-zarr plugin) opens them as one Labels layer
    with the same array, axes, scale and units."""
    pytest.importorskip("napari_ome_zarr")
    import npe2
    from napari.components import ViewerModel
    from napari.layers import Labels

    path = _cli_ome_zarr_labels(case)
    npe2.PluginManager.instance().discover()
    (layer,) = ViewerModel().open(str(path), plugin="napari-ome-zarr")
    assert isinstance(layer, Labels)
    data = np.asarray(layer.data[0] if layer.multiscale else layer.data)
    assert data.shape == (2, 40, 48)
    for t in range(2):
        assert np.array_equal(data[t], tifffile.imread(case / "out" / f"im{t}_labels.tif"))
    assert tuple(layer.axis_labels) == ("t", "y", "x")
    assert np.allclose(layer.scale, [2.0, 0.5, 0.25])
    assert [str(u) for u in layer.units] == ["second", "micrometer", "micrometer"]
