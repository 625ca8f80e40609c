"""Crafted model files never steer training: every value training or prediction acts on is
checked on loading, and a bad one is a one-line BundleError naming the field (issue 26,
item 3). A file claiming to be a starter held class weights of "abc", NaN, 1e39 or
[0, 0, 0]: tracebacks, a whole budget burnt on NaN, or a model trained on nothing and saved.
"""

import numpy as np
import pytest

from napari_unet.core.files.bundle import BundleError, load_bundle, save_bundle
from napari_unet.core.files.starters import load_starter


def _crafted(tmp_path, **change):
    """The nuclei starter saved elsewhere with ``change`` applied to ``info`` /
    ``postprocess`` / ``norm`` (keys ``info__class_weight`` etc.)."""
    bundle = load_starter("nuclei")
    for key, value in change.items():
        part, name = key.split("__")
        if part == "info":
            bundle.info[name] = value
        else:
            setattr(getattr(bundle, part), name, value)
    return save_bundle(bundle, tmp_path / "crafted.unet")


@pytest.mark.parametrize("weight", ["abc", {}, None, [1, 1], True, [float("nan")] * 3,
                                    [1e39, 1, 1], [0, 0, 0], [1, -1, 2], [1, True, 2]])
def test_class_weights_from_a_file_are_checked_on_loading(tmp_path, weight):
    path = _crafted(tmp_path, info__class_weight=weight)
    with pytest.raises(BundleError, match=r"info\.class_weight must be a list of 3 positive") as e:
        load_bundle(path)
    assert "\n" not in str(e.value)


def test_good_class_weights_load(tmp_path):
    assert load_bundle(_crafted(tmp_path, info__class_weight=[1, 1.5, 2])).info["class_weight"]


@pytest.mark.parametrize("change, field", [
    ({"postprocess__threshold": float("nan")}, "postprocess.threshold"),
    ({"postprocess__threshold": 5.0}, "postprocess.threshold"),
    ({"postprocess__seed_threshold": -0.1}, "postprocess.seed_threshold"),
    ({"postprocess__split_depth": float("inf")}, "postprocess.split_depth"),
    ({"postprocess__min_size": -3}, "postprocess.min_size"),
    ({"postprocess__min_seed": float("nan")}, "min_seed"),
    ({"postprocess__min_seed": -1}, "postprocess.min_seed"),
    ({"norm__mode": "fixed"}, "norm.low"),
    ({"norm__low": [float("nan")], "norm__high": [1.0]}, "norm.low"),
    ({"norm__low": [0.0, 0.0], "norm__high": [1.0, 1.0]}, "norm.low"),
    ({"norm__low": [0.0], "norm__high": [float("inf")]}, "norm.high"),
    ({"info__starter": {}}, "info.starter"),
    ({"info__started_from": ["starter"]}, "info.started_from"),
])
def test_postprocessing_normalisation_and_lineage_are_checked_on_loading(tmp_path, change, field):
    with pytest.raises(BundleError, match=field.replace(".", r"\.")) as e:
        load_bundle(_crafted(tmp_path, **change))
    assert "\n" not in str(e.value) and "damaged" in str(e.value)


def test_training_from_a_crafted_file_is_one_line_and_writes_nothing(tmp_path, capsys,
                                                                      nuclei_case):
    import tifffile

    from napari_unet.cli import main

    image, _, painted = nuclei_case
    tifffile.imwrite(tmp_path / "a.tif", image[0].astype(np.float32))
    tifffile.imwrite(tmp_path / "painted.tif", painted)
    _crafted(tmp_path, info__class_weight=[float("nan")] * 3)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["train", str(tmp_path / "a.tif"), "--labels", str(tmp_path / "painted.tif"),
                 "--init", str(tmp_path / "crafted.unet"), "--out", str(tmp_path / "m.unet"),
                 "--steps", "2", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "class_weight" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_file_claiming_to_be_a_starter_is_not_announced_or_recorded_as_one(
        tmp_path, capsys, nuclei_case):
    """Provenance saying "starter": "nuclei" is believed only of the shipped starter's weights:
    a crafted file is named by its path, and the new model records no starter origin."""
    import shutil

    import tifffile

    from napari_unet.cli import main
    from napari_unet.core.files.starters import starter_path

    image, _, painted = nuclei_case
    tifffile.imwrite(tmp_path / "a.tif", image[0].astype(np.float32))
    tifffile.imwrite(tmp_path / "painted.tif", painted)
    bundle = load_starter("nuclei")
    name = next(k for k in bundle.state_dict if k.endswith("weight"))
    bundle.state_dict[name] = bundle.state_dict[name] * 0.5
    save_bundle(bundle, tmp_path / "crafted.unet")
    shutil.copy(starter_path("nuclei"), tmp_path / "copy.unet")
    for init, said, origin in [("crafted.unet", "starting from ", "a trained model"),
                               ("copy.unet", "starting from the nuclei starter", "starter nuclei")]:
        out = tmp_path / f"from_{init}"
        assert main(["train", str(tmp_path / "a.tif"), "--labels", str(tmp_path / "painted.tif"),
                     "--init", str(tmp_path / init), "--out", str(out), "--steps", "2",
                     "--batch-size", "2", "--patch-size", "32"]) == 0
        err = capsys.readouterr().err
        assert said in err and ("nuclei starter" in err) == (init == "copy.unet"), err
        assert load_bundle(out).info["started_from"] == origin


def test_a_model_file_is_read_only_as_far_as_its_header_declares(tmp_path):
    """A 6 GB image given as the model ended in MemoryError and /dev/zero was read until
    memory ran out: the header is checked first and the read bounded by it (issue 26,
    item 5)."""
    import os
    import tracemalloc

    big = tmp_path / "image.tif"
    with open(big, "wb") as fh:  # a TIFF's first bytes, then 6 GB of (sparse) nothing
        fh.write(b"II*\x00" + b"\x08\x00\x00\x00" + b"\x00" * 64)
        fh.truncate(6 * 2**30)
    tracemalloc.start()
    with pytest.raises(BundleError, match="not a napari-unet model file"):
        load_bundle(big)
    assert tracemalloc.get_traced_memory()[1] < 50 * 2**20
    tracemalloc.stop()
    if os.path.exists("/dev/zero"):
        with pytest.raises(BundleError, match="not a regular file"):
            load_bundle("/dev/zero")
    good = save_bundle(load_starter("nuclei"), tmp_path / "m.unet")
    with open(good, "ab") as fh:
        fh.write(b"\x00" * 100)  # more than the header declares
    with pytest.raises(BundleError, match="its header declares"):
        load_bundle(good)
