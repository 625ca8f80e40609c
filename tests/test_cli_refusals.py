"""The command line says one line where it raised tracebacks, and warns where it trained the
wrong thing without a word (issue 26, items 4 and 7)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.cli import main
from napari_unet.core.config import ModelConfig, NormConfig
from napari_unet.core.files.bundle import Bundle, save_bundle
from napari_unet.core.networks.build import build_network
from napari_unet.synthetic import nuclei, simulate_painting


def _model(path, **cfg):
    torch.manual_seed(0)
    config = ModelConfig(depth=1, base_width=2, **cfg)
    return save_bundle(Bundle(config, NormConfig(), build_network(config).state_dict()), path)


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    vol = (rng.random((8, 32, 32)) * 255).astype(np.uint8)
    painted = np.zeros(vol.shape, np.uint8)
    painted[:, :4], painted[:, -4:] = 1, 2
    tifffile.imwrite(tmp_path / "vol.tif", vol)
    tifffile.imwrite(tmp_path / "vol_paint.tif", painted)
    tifffile.imwrite(tmp_path / "plane.tif", vol[0])
    tifffile.imwrite(tmp_path / "plane_paint.tif", painted[0])
    _model(tmp_path / "m2.unet")
    _model(tmp_path / "m3.unet", spatial_dims=3)
    return tmp_path


@pytest.mark.parametrize("init, extra, said", [
    ("m3.unet", [], "is a 3-D model; this training is 2-D (add --3d"),
    ("m2.unet", ["--3d"], "is a 2-D model; this training is 3-D (leave out --3d)"),
])
def test_init_with_a_model_of_the_other_dimension_is_one_line(files, capsys, init, extra, said):
    """Was an AttributeError traceback ('NoneType' object has no attribute 'spatial_dims')."""
    name = "vol" if extra else "plane"
    before = sorted(p.name for p in files.iterdir())
    assert main(["train", str(files / f"{name}.tif"), "--labels", str(files / f"{name}_paint.tif"),
                 "--init", str(files / init), "--out", str(files / "new.unet"), "--steps", "1",
                 "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0], err
    assert sorted(p.name for p in files.iterdir()) == before


def test_strokes_trained_as_objects_are_warned_about_in_one_line(tmp_path, capsys):
    """Strokes of classes (1 = background, 2 = foreground over several nuclei) trained in
    instance mode gave 112 objects instead of 8 with no word; the train dock warns."""
    image, truth = nuclei((96, 96), n=8, seed=1)
    painted = simulate_painting(truth, n_objects=5, n_background_strokes=3, seed=0)
    tifffile.imwrite(tmp_path / "a.tif", image.astype(np.float32))
    tifffile.imwrite(tmp_path / "paint.tif", painted)
    assert main(["train", str(tmp_path / "a.tif"), "--labels", str(tmp_path / "paint.tif"),
                 "--mode", "instance", "--init", "none", "--out", str(tmp_path / "m.unet"),
                 "--steps", "1", "--batch-size", "1", "--patch-size", "32", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: labels 1 and 2 are painted in several")
    assert "--mode semantic" in err[0]


@pytest.mark.parametrize("out", [".", "", "/"])
def test_export_to_a_folder_name_is_one_line(files, capsys, monkeypatch, out):
    """Was "ValueError: PosixPath('.') has an empty name"."""
    monkeypatch.chdir(files)
    before = sorted(p.name for p in files.iterdir())
    assert main(["export", str(files / "m2.unet"), "--format", "torchscript", "--out", out,
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a file name; give the file to write" in err[0], err
    assert sorted(p.name for p in files.iterdir()) == before


def test_a_bioimageio_export_with_a_score_that_is_text_leaves_the_score_out(files):
    """info.validation.mean_iou "high" gave "could not convert string to float"."""
    from napari_unet.core.export.readme import readme
    from napari_unet.core.files.bundle import load_bundle

    bundle = load_bundle(files / "m2.unet")
    bundle.info["validation"] = {"mean_iou": "high", "step": 3}
    assert "no score was recorded" in readme(bundle, "m")
    bundle.info["validation"] = {"mean_iou": 0.8125, "step": 3}
    assert "mean IoU 0.812" in readme(bundle, "m")


def test_a_finished_training_is_kept_when_it_cannot_be_saved_where_asked(files, capsys,
                                                                         monkeypatch, tmp_path):
    """Any error at save time (here a ValueError) lost the trained model with a traceback."""
    import tempfile

    from napari_unet.core.files import bundle as bundle_module
    from napari_unet.core.files.bundle import load_bundle

    real = bundle_module.save_bundle

    def failing(bundle, path):
        if str(path).endswith("new.unet"):
            raise ValueError("a check that failed at save time")
        return real(bundle, path)

    monkeypatch.setattr(bundle_module, "save_bundle", failing)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["train", str(files / "plane.tif"), "--labels", str(files / "plane_paint.tif"),
                 "--init", "none", "--out", str(files / "new.unet"), "--steps", "1",
                 "--batch-size", "1", "--patch-size", "16", "--depth", "1", "--width", "2",
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a check that failed at save time" in err[0], err
    kept = err[0].split("saved as ")[1].split(" instead")[0]
    assert load_bundle(kept).info["steps"] == 1


@pytest.fixture()
def silent_port():
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)  # connections are accepted by the kernel, and never answered
    yield server.getsockname()[1]
    server.close()


@pytest.fixture()
def http_port():
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the server's own log is not the command's stderr
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize("address, said", [
    ("silent", "no dask scheduler answered at"),
    ("http", "no dask scheduler answered at"),
    ("tcp://not a host:::", "is not a scheduler address"),
])
def test_a_dask_address_without_a_scheduler_is_one_line_in_bounded_time(
        files, capsys, monkeypatch, request, address, said):
    """An HTTP server (the dashboard's port) or a silent port hung for more than 240 s; a
    malformed address was a ValueError traceback."""
    import time

    pytest.importorskip("distributed")
    from napari_unet.core.batch import distributed

    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 2.0)
    if address == "silent":
        address = f"tcp://127.0.0.1:{request.getfixturevalue('silent_port')}"
    elif address == "http":
        address = f"tcp://127.0.0.1:{request.getfixturevalue('http_port')}"
    start = time.monotonic()
    assert main(["predict", str(files / "m2.unet"), str(files / "plane.tif"), "--out",
                 str(files / "out"), "--dask-address", address, "--quiet"]) == 2
    assert time.monotonic() - start < 30
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0], err


def test_a_misspelt_starter_name_is_one_line_and_exit_2(capsys):
    """`napari-unet starters nucleii` printed nothing and exited 0."""
    assert main(["starters", "nucleii"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert captured.out == "" and len(err) == 1 and "no starter called nucleii" in err[0]
    assert "nuclei" in err[0].split("starters:")[1]


def test_a_folder_named_like_a_starter_does_not_hide_it(tmp_path, monkeypatch, capsys):
    """A `nuclei/` folder in the working directory hid the starter of that name."""
    from napari_unet.core.files.starters import model_path, starter_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "nuclei").mkdir()
    assert model_path("nuclei") == starter_path("nuclei")
    assert main(["starters", "nuclei", "--short"]) == 0


def test_class_names_are_literal_text_in_the_exported_readme(files):
    """Class names went into README.md unescaped: a name could add a heading or HTML."""
    from napari_unet.core.export.readme import readme
    from napari_unet.core.files.bundle import load_bundle

    bundle = load_bundle(files / "m2.unet")
    bundle.class_names = ["background", "cells\n# Injected <img src=x>"]
    text = readme(bundle, "m")
    assert not any(line.startswith("# Injected") for line in text.splitlines())
    assert text.count("<img") == text.count("\\<img") == 1
    assert "cells \\# Injected \\<img src=x\\>" in text


def test_an_export_sample_of_unclear_channels_does_not_suggest_channel_axis(files, capsys):
    """export has no --channel-axis, but its error suggested it."""
    tifffile.imwrite(files / "sample.tif", np.zeros((32, 32, 2), np.uint8))
    assert main(["export", str(files / "m2.unet"), "--format", "bioimageio", "--sample",
                 str(files / "sample.tif"), "--out", str(files / "pkg.zip"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--channel-axis" not in err[0] and "give a 2-D sample image" in err[0]


def test_an_error_quoting_huge_metadata_is_one_short_line(tmp_path, capsys):
    """A zarr.json naming 200,000 axes gave a "one-line" error of 2 MB."""
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(str(tmp_path / "m.ome.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=np.zeros((32, 32), np.uint8))
    group.attrs["multiscales"] = [{
        "version": "0.4", "axes": [{"name": f"a{i}", "type": "space"} for i in range(200_000)],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0] * 200_000}]}]}]
    _model(tmp_path / "m2.unet")
    assert main(["predict", str(tmp_path / "m2.unet"), str(tmp_path / "m.ome.zarr"), "--out",
                 str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and len(err[0]) <= 500 and err[0].endswith("…")


def test_images_named_like_outputs_in_the_output_folder_are_passed_over_with_a_word(
        files, capsys):
    """Predicting a folder into itself passed over `*_labels.tif` inputs without a word."""
    folder = files / "plate"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", np.zeros((32, 32), np.uint8))
    tifffile.imwrite(folder / "b_labels.tif", np.zeros((32, 32), np.uint8))  # the user's own
    assert main(["predict", str(files / "m2.unet"), str(folder), "--out", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "passing over 1 image(s) in the output folder named like outputs" in err


def test_zarr_images_in_tiny_chunks_are_warned_about(tmp_path, capsys):
    """Zarr images stored in 1 x 1 chunks were very slow to predict, with no word."""
    zarr = pytest.importorskip("zarr")
    array = zarr.open(str(tmp_path / "tiny.zarr"), mode="w", shape=(16, 16), chunks=(1, 1),
                      dtype=np.uint8)
    array[:] = 7
    _model(tmp_path / "m2.unet")
    assert main(["predict", str(tmp_path / "m2.unet"), str(tmp_path / "tiny.zarr"), "--out",
                 str(tmp_path / "out"), "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: tiny.zarr is stored in chunks of 1 x 1 px; reading it is very "
                   "slow: save it in chunks of 256 x 256 px or more"]


def test_a_small_image_in_one_chunk_is_not_warned_about(tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    array = zarr.open(str(tmp_path / "small.zarr"), mode="w", shape=(16, 16), chunks=(16, 16),
                      dtype=np.uint8)
    array[:] = 7
    _model(tmp_path / "m2.unet")
    assert main(["predict", str(tmp_path / "m2.unet"), str(tmp_path / "small.zarr"), "--out",
                 str(tmp_path / "out"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
