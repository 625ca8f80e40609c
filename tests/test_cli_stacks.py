"""Z stacks and time series with every 2-D model on the command line (issue 22): a starter and
a starter-fine-tuned model predict (Z,Y,X), (T,Y,X) and (T,Z,Y,X) TIFFs and Zarr plane by
plane; outputs keep the input's axes; explicit --axes win over a guess; a shape that cannot
be told is one line naming --axes; Z objects are stitched into 3-D objects, T never."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main

SIDE = 64
DIAMETER = "12"
"""One object size for a stack and its planes alone (estimated, a stack's comes from its middle
plane and each plane alone would get its own); 12 px makes the starter resize every plane."""


def _planes(n, seed=0):
    from napari_unet.synthetic import nuclei

    return np.stack([nuclei((SIDE, SIDE), n=4, seed=seed + i)[0] for i in range(n)])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The nuclei starter, and a model fine-tuned from it (a few steps: what train gives)."""
    import napari_unet
    from napari_unet.synthetic import nuclei, simulate_painting

    folder = tmp_path_factory.mktemp("models")
    image, truth = nuclei((96, 96), n=6, seed=5)
    tuned = napari_unet.train(image, simulate_painting(truth, n_objects=3), init="nuclei",
                              steps=2, progress=False)
    tuned.save(folder / "tuned.unet")
    return {"nuclei": "nuclei", "tuned": str(folder / "tuned.unet")}


def _one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def _same_objects(a, b) -> bool:
    """Equal up to the ids: the same pixels in objects, split the same way."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return pairs.shape[1] == len(np.unique(a[a > 0])) == len(np.unique(b[b > 0]))


def _plane_predictions(model, planes, tmp_path):
    """Each plane predicted alone, as a 2-D image (labels, probabilities)."""
    folder = tmp_path / "planes_in"
    folder.mkdir()
    for i, plane in enumerate(planes):
        tifffile.imwrite(folder / f"p{i:02d}.tif", plane)
    assert main(["predict", model, str(folder), "--out", str(tmp_path / "planes_out"),
                 "--probabilities", "--quiet", "--diameter", DIAMETER]) == 0
    return [(tifffile.imread(tmp_path / "planes_out" / f"p{i:02d}_labels.tif"),
             tifffile.imread(tmp_path / "planes_out" / f"p{i:02d}_probabilities.tif"))
            for i in range(len(planes))]


@pytest.mark.parametrize("which", ["nuclei", "tuned"])
def test_a_2d_model_predicts_z_t_and_tz_stacks_plane_by_plane(models, which, tmp_path):
    model = models[which]
    planes = _planes(10)
    alone = _plane_predictions(model, planes, tmp_path)
    tifffile.imwrite(tmp_path / "z.tif", planes[:5])  # (5, Y, X): plain, guessed Z
    tifffile.imwrite(tmp_path / "t.tif", planes[5:], metadata={"axes": "TYX"})
    tifffile.imwrite(tmp_path / "tz.tif", planes.reshape(2, 5, SIDE, SIDE))  # guessed TZYX
    assert main(["predict", model, str(tmp_path / "z.tif"), str(tmp_path / "t.tif"),
                 str(tmp_path / "tz.tif"), "--out", str(tmp_path / "out"), "--probabilities",
                 "--stitch-threshold", "0", "--quiet", "--diameter", DIAMETER]) == 0
    for name, axes, index in [("z", "ZYX", range(5)), ("t", "TYX", range(5, 10)),
                              ("tz", "TZYX", range(10))]:
        with tifffile.TiffFile(tmp_path / "out" / f"{name}_labels.tif") as tif:
            assert tif.series[0].axes == axes
            labels = tif.asarray().reshape(-1, SIDE, SIDE)
        with tifffile.TiffFile(tmp_path / "out" / f"{name}_probabilities.tif") as tif:
            assert tif.series[0].axes == axes[:-2] + "CYX"
            probs = tif.asarray().reshape(-1, 3, SIDE, SIDE)
        for k, i in enumerate(index):
            assert _same_objects(labels[k], alone[i][0])
            np.testing.assert_allclose(probs[k], alone[i][1], atol=1e-6)
        ids = [set(np.unique(p)[1:]) for p in labels]  # not stitched: ids go on
        assert all(not (ids[a] & ids[b]) for a in range(len(ids)) for b in range(a))


def test_zarr_stacks_are_predicted_as_the_tiff_and_keep_their_axes(models, tmp_path):
    import zarr

    planes = _planes(5)
    tifffile.imwrite(tmp_path / "s.tif", planes)
    zarr.open(str(tmp_path / "s.zarr"), mode="w", shape=planes.shape, dtype=planes.dtype)[:] = planes
    group = zarr.open_group(str(tmp_path / "tz.ome.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=planes[None])
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [
        {"name": n, "type": "time" if n == "t" else "space"} for n in "tzyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1, 2, 0.5, 0.5]}]}]}]
    for model in models.values():
        out = tmp_path / model.replace("/", "_")
        # one object size per stack, whatever the format (a plane of these synthetic nuclei,
        # estimated alone, is 15 % off the starter's size)
        assert main(["predict", model, str(tmp_path / "s.tif"), str(tmp_path / "s.zarr"),
                     str(tmp_path / "tz.ome.zarr"), "--out", str(out), "--quiet"]) == 0
        tiff = tifffile.imread(out / "s_labels.tif")
        for name, lead in [("s", ["z"]), ("tz", ["t", "z"])]:
            found = zarr.open_group(str(out / f"{name}_labels.ome.zarr"), mode="r")
            axes = found.attrs["ome"]["multiscales"][0]["axes"]
            assert [a["name"] for a in axes] == lead + ["y", "x"]
            np.testing.assert_array_equal(found["0"][:].reshape(tiff.shape), tiff)  # stitched alike


def test_a_stack_that_cannot_be_told_is_one_line_naming_axes(models, tmp_path, capsys):
    three = _planes(3)  # 3 planes or 3 colour channels? the starter reads both
    tifffile.imwrite(tmp_path / "three.tif", three, photometric="minisblack")  # no axes said
    assert main(["predict", "nuclei", str(tmp_path / "three.tif"), "--out",
                 str(tmp_path / "a"), "--quiet"]) == 2
    line = _one_line(capsys)
    assert "(3, 64, 64)" in line and "--axes ZYX" in line and "--axes CYX" in line
    assert main(["predict", "nuclei", str(tmp_path / "three.tif"), "--out", str(tmp_path / "b"),
                 "--axes", "zyx", "--quiet"]) == 0
    assert tifffile.imread(tmp_path / "b" / "three_labels.tif").shape == (3, SIDE, SIDE)
    assert main(["predict", "nuclei", str(tmp_path / "three.tif"), "--out", str(tmp_path / "c"),
                 "--axes", "CYX", "--quiet"]) == 0  # colour: one plane
    assert tifffile.imread(tmp_path / "c" / "three_labels.tif").shape == (SIDE, SIDE)
    assert main(["predict", "nuclei", str(tmp_path / "three.tif"), "--out", str(tmp_path / "d"),
                 "--axes", "ZYQ", "--quiet"]) == 2
    assert "--axes ZYQ" in _one_line(capsys)
    assert main(["predict", "nuclei", str(tmp_path / "three.tif"), "--out", str(tmp_path / "e"),
                 "--axes", "TZYX", "--quiet"]) == 2
    assert "(shape (3, 64, 64))" in _one_line(capsys)


def test_explicit_axes_win_over_the_files_and_the_guess(models, tmp_path, capsys):
    planes = _planes(6)
    tifffile.imwrite(tmp_path / "t.tif", planes, metadata={"axes": "TYX"})
    assert main(["predict", "nuclei", str(tmp_path / "t.tif"), "--out", str(tmp_path / "a"),
                 "--axes", "ZYX", "--quiet"]) == 0
    with tifffile.TiffFile(tmp_path / "a" / "t_labels.tif") as tif:
        assert tif.series[0].axes == "ZYX"
    # a 1-channel model told the 6 planes are channels: it refuses them, it does not guess
    assert main(["predict", "nuclei", str(tmp_path / "t.tif"), "--out", str(tmp_path / "b"),
                 "--axes", "CYX", "--quiet"]) == 2
    assert "6 channels" in _one_line(capsys)


def test_z_objects_are_stitched_into_3d_objects_and_t_objects_are_not(tmp_path):
    from napari_unet.synthetic import nuclei

    plane = nuclei((SIDE, SIDE), n=4, seed=2)[0]
    still = np.stack([plane] * 6)  # the same nuclei in every plane: columns
    tifffile.imwrite(tmp_path / "z.tif", still)
    tifffile.imwrite(tmp_path / "t.tif", still, metadata={"axes": "TYX"})
    assert main(["predict", "nuclei", str(tmp_path / "z.tif"), str(tmp_path / "t.tif"),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    z = tifffile.imread(tmp_path / "out" / "z_labels.tif")
    t = tifffile.imread(tmp_path / "out" / "t_labels.tif")
    n = len(np.unique(z[0])) - 1
    assert n >= 2 and len(np.unique(z)) - 1 == n  # one 3-D object per nucleus column
    assert all(np.array_equal(z[0], p) for p in z)
    assert len(np.unique(t)) - 1 == 6 * n  # per frame


def test_train_3d_from_a_starter_is_one_line(tmp_path, capsys):
    vol = _planes(5)
    tifffile.imwrite(tmp_path / "v.tif", vol)
    tifffile.imwrite(tmp_path / "p.tif", (vol > vol.mean()).astype(np.uint8) + 1)
    assert main(["train", str(tmp_path / "v.tif"), "--labels", str(tmp_path / "p.tif"),
                 "--out", str(tmp_path / "m.unet"), "--3d", "--init", "nuclei",
                 "--steps", "1", "--quiet"]) == 2
    assert "starters are 2-D" in _one_line(capsys)
    assert not (tmp_path / "m.unet").exists()


def test_a_dask_run_writes_what_the_local_run_writes_for_stacks(tmp_path, monkeypatch):
    dist = pytest.importorskip("napari_unet.core.batch.distributed")
    pytest.importorskip("distributed")
    original = dist.connect
    monkeypatch.setattr(dist, "connect",  # threads: the same code path without a second Python
                        lambda address, n, processes=True: original(address, n, processes=False))
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "z.tif", _planes(5))
    tifffile.imwrite(tmp_path / "in" / "t.tif", _planes(3), metadata={"axes": "TYX"})
    assert main(["predict", "nuclei", str(tmp_path / "in"), "--out", str(tmp_path / "local"),
                 "--quiet"]) == 0
    assert main(["predict", "nuclei", str(tmp_path / "in"), "--out", str(tmp_path / "dask"),
                 "--dask-local", "1", "--quiet"]) == 0
    for name, axes in [("z", "ZYX"), ("t", "TYX")]:
        with tifffile.TiffFile(tmp_path / "dask" / f"{name}_labels.tif") as tif:
            assert tif.series[0].axes == axes
            np.testing.assert_array_equal(
                tif.asarray(), tifffile.imread(tmp_path / "local" / f"{name}_labels.tif"))


def test_a_starter_fine_tunes_on_the_painted_planes_of_a_stack(tmp_path, capsys):
    from napari_unet.synthetic import nuclei, simulate_painting

    planes, painting = [], []
    for seed in range(6):
        image, truth = nuclei((SIDE, SIDE), n=4, seed=seed)
        planes.append(image)
        painting.append(simulate_painting(truth, n_objects=2, seed=seed) if seed in (1, 4)
                        else np.zeros_like(truth, np.uint8))
    tifffile.imwrite(tmp_path / "s.tif", np.stack(planes))
    tifffile.imwrite(tmp_path / "p.tif", np.stack(painting).astype(np.uint8))
    assert main(["train", str(tmp_path / "s.tif"), "--labels", str(tmp_path / "p.tif"),
                 "--out", str(tmp_path / "m.unet"), "--axes", "ZYX", "--init", "nuclei",
                 "--steps", "2", "--batch-size", "2", "--quiet"]) == 0
    assert main(["predict", str(tmp_path / "m.unet"), str(tmp_path / "s.tif"),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert tifffile.imread(tmp_path / "out" / "s_labels.tif").shape == (6, SIDE, SIDE)
    assert main(["train", str(tmp_path / "s.tif"), "--labels", str(tmp_path / "p.tif"),
                 "--out", str(tmp_path / "n.unet"), "--axes", "TZYX", "--steps", "1",
                 "--quiet"]) == 2
    assert "TZYX" in _one_line(capsys)


def test_other_axes_or_stitching_redo_an_image_the_same_settings_skip_it(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "s.tif", _planes(5))
    args = ["predict", "nuclei", str(tmp_path / "s.tif"), "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert main(args) == 0 and "1 skipped" in capsys.readouterr().err
    assert main(args + ["--stitch-threshold", "0"]) == 0
    assert "1 written" in capsys.readouterr().err
    assert len(np.unique(tifffile.imread(tmp_path / "o" / "s_labels.tif"))) > 1
    assert main(args + ["--stitch-threshold", "0", "--axes", "TYX"]) == 0
    assert "1 written" in capsys.readouterr().err
    with tifffile.TiffFile(tmp_path / "o" / "s_labels.tif") as tif:
        assert tif.series[0].axes == "TYX"
