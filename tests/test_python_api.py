"""The Python API: the README's example runs as written, and the API gives the same labels as
the core's route that the docks and the command line use."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_python() -> str:
    text = README.read_text()
    section = text[text.index("## Python"):text.index("## Command line")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_the_readmes_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_readme_python(), "README.md", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "my-nuclei.unet").is_file()
    objects, again = namespace["objects"], namespace["again"]
    assert objects.shape == (256, 256) and objects.max() >= 10  # 20 nuclei in the image
    assert again.objects.shape == (256, 256) and again.objects.max() >= 10
    assert "nuclei found" in capsys.readouterr().out
    assert "nuclei starter" in namespace["model"].notes[0]  # it says where it started


def test_importing_the_package_for_the_api_loads_no_torch_until_used():
    import subprocess

    code = ("import sys, napari_unet; from napari_unet import Model, load, train; "
            "print('torch' in sys.modules, 'napari_unet.api' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]  # the API is there, torch comes when used


@pytest.fixture(scope="module")
def starter():
    import napari_unet

    return napari_unet.load("nuclei")


def test_segment_gives_the_core_routes_labels_and_objects(starter):
    from napari_unet.core.config import PredictConfig
    from napari_unet.core.inference.segment import segment
    from napari_unet.core.progress import drain
    from napari_unet.synthetic import nuclei

    image, _ = nuclei((160, 160), n=8, seed=3)
    api = starter.segment(image, probabilities=True, progress=False)
    core = drain(segment(image[None], starter.bundle, PredictConfig(), probabilities=True))
    np.testing.assert_array_equal(api.labels, core.labels)
    np.testing.assert_array_equal(api.objects, core.labels)  # a starter's labels are objects
    assert api.probabilities.shape == (3, 160, 160)


def test_eight_views_give_a_mirrored_image_the_mirrored_probabilities(starter):
    """views=8 averages the 8 symmetries, so the prediction turns with the image (one view
    does not); at the image's own scale (diameter 0), so that no size estimate or resizing
    can differ between the two."""
    from napari_unet.synthetic import nuclei

    image, _ = nuclei((96, 96), n=6, seed=4)
    flipped = np.ascontiguousarray(image[:, ::-1])
    eight = [starter.segment(im, probabilities=True, progress=False, diameter=0, views=8)
             for im in (image, flipped)]
    np.testing.assert_allclose(eight[1].probabilities, eight[0].probabilities[..., ::-1],
                               atol=1e-5)
    one = [starter.segment(im, probabilities=True, progress=False, diameter=0)
           for im in (image, flipped)]
    assert np.abs(one[1].probabilities - one[0].probabilities[..., ::-1]).max() > 1e-3
    with pytest.raises(ValueError, match="views"):
        starter.segment(image, progress=False, views=4)


def test_eight_views_through_the_zarr_route_equal_eight_views_in_memory(starter, tmp_path):
    from napari_unet.synthetic import nuclei

    image, _ = nuclei((96, 96), n=6, seed=5)
    memory = starter.segment(image, probabilities=True, progress=False, diameter=0, views=8)
    stored = starter.segment(image, probabilities=True, progress=False, diameter=0, views=8,
                             out=tmp_path / "r.zarr")
    np.testing.assert_allclose(np.asarray(stored.probabilities), memory.probabilities, atol=1e-5)
    one = starter.segment(image, probabilities=True, progress=False, diameter=0)
    assert np.abs(one.probabilities - memory.probabilities).max() > 1e-3


def test_a_time_series_is_segmented_frame_by_frame_with_ids_going_on(starter):
    from napari_unet.synthetic import nuclei

    planes = [nuclei((128, 128), n=5, seed=s)[0] for s in (1, 2)]
    seg = starter.segment(np.stack(planes), axes="TYX", progress=False)
    assert seg.objects.shape == (2, 128, 128) and seg.axes == "TYX"
    assert not set(np.unique(seg.objects[0])[1:]) & set(np.unique(seg.objects[1])[1:])
    one = starter.segment(planes[1], progress=False).objects
    np.testing.assert_array_equal(seg.objects[1] > 0, one > 0)


def test_progress_goes_to_the_callback_and_ends_at_one(starter):
    from napari_unet.synthetic import nuclei

    seen = []
    starter.segment(nuclei((96, 96), n=3)[0], progress=seen.append)
    assert seen and seen[-1].fraction == pytest.approx(1.0)


def test_train_from_scratch_on_strokes_gives_a_model_that_saves_and_loads_unchanged(tmp_path):
    import napari_unet
    from napari_unet.synthetic import nuclei, simulate_painting

    image, truth = nuclei((128, 128), n=8, seed=0)
    model = napari_unet.train(image, simulate_painting(truth, n_objects=4), init="none",
                              steps=8, progress=False)
    assert model.mode == "semantic" and model.classes == ["background", "foreground"]
    seg = model.segment(image, progress=False)
    assert seg.labels.shape == (128, 128) and seg.objects is None
    path = model.save(tmp_path / "m.unet")
    np.testing.assert_array_equal(napari_unet.load(path).segment(image, progress=False).labels,
                                  seg.labels)


def test_bad_input_is_one_clear_error():
    import napari_unet
    from napari_unet.core.images import ImageError

    with pytest.raises(ImageError, match="as an array"):
        napari_unet.load("nuclei").segment("image.tif")
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        napari_unet.train([np.zeros((8, 8))] * 2, [np.zeros((8, 8), np.uint8)])
