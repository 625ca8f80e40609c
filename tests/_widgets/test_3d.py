"""The 3-D U-Net option in the widgets: a z-stack is trained on and predicted as one volume;
what a 3-D model cannot do is a clear notification, and no layer is changed."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet._widgets.common.session import session_for

from .helpers import FAST_STEPS, assert_unchanged, foreground_iou, snapshot, wait_idle

SHAPE = (12, 40, 40)


def spheres(shape=SHAPE, n=8, noise=0.2, seed=0):
    """A noisy stack of bright spheres and its truth (as in tests/core/test_train3d.py)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    truth = np.zeros(shape, bool)
    for _ in range(n):
        c, r = rng.uniform(0, shape), rng.uniform(4, 7)
        truth |= (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 < r * r
    image = truth + rng.normal(0, noise, shape)
    return image.astype(np.float32), truth


def _errors(notifications):
    return [text for severity, text in notifications if severity == "error"]


def _set_3d(settings, steps=FAST_STEPS):
    settings.three_d.setChecked(True)
    settings.depth.setValue(2)
    settings.unet_width.setValue(4)
    settings.steps.setValue(steps)
    settings.patch.setValue(64)  # the whole 40 x 40 plane
    settings.batch.setValue(2)
    settings.lr.setValue(0.01)
    settings.seed.setValue(0)


@pytest.fixture(scope="module")
def stack():
    image, truth = spheres()
    painted = np.zeros(SHAPE, np.uint8)
    chosen = np.random.default_rng(1).random(SHAPE) < 0.05  # single voxels, 5 %
    painted[chosen] = truth[chosen] + 1
    return image, truth, painted


def test_a_3d_unet_trains_on_a_stack_and_predicts_it_as_one_volume(
    viewer, train_widget, predict_widget, qtbot, stack
):
    image, truth, painted = stack
    layer = viewer.add_image(image, name="spheres")
    viewer.add_labels(painted.copy(), name="spheres annotations")
    _set_3d(train_widget.settings)
    before = snapshot(viewer)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)

    bundle = session_for(viewer).bundle
    assert bundle.model_config.spatial_dims == 3 and bundle.model_config.anisotropy == 1
    assert train_widget.last_run["steps"] == FAST_STEPS
    prediction = viewer.layers["spheres prediction"]
    assert prediction.data.shape == SHAPE
    unpainted = painted == 0
    iou = foreground_iou(prediction.data, truth, where=unpainted)
    trivial = (truth & unpainted).sum() / unpainted.sum()  # IoU of all-foreground
    assert iou > 0.5 and iou > 2.5 * trivial, (iou, trivial)  # 0.67 seen
    kept = [item for item in before if item[0] != "spheres prediction"]
    after = [item for item in snapshot(viewer) if item[0] != "spheres prediction"]
    assert [n for n, *_ in after] == [n for n, *_ in kept]
    for (name, _, a), (_, _, b) in zip(after, kept):
        assert a.dtype == b.dtype and np.array_equal(a, b), f"layer {name!r} changed"

    first = prediction.data.copy()
    predict_widget.image.value = layer
    predict_widget.probabilities.setChecked(True)
    assert predict_widget.predict() is not None
    wait_idle(qtbot, predict_widget)
    assert viewer.layers["spheres prediction"] is prediction
    assert np.array_equal(prediction.data, first)
    p_fg = viewer.layers["spheres P(foreground)"].data
    assert p_fg.shape == SHAPE and np.array_equal(p_fg > 0.5, first == 2)


def test_a_2d_image_with_the_3d_box_ticked_is_refused(viewer, train_widget, notifications, stack):
    image, _, painted = stack
    viewer.add_image(image[5], name="plane")
    viewer.add_labels(painted[5].copy(), name="plane annotations")
    _set_3d(train_widget.settings)
    before = snapshot(viewer)
    assert train_widget.train() is None
    assert any("3-D U-Net needs grayscale (Z, Y, X)" in text for text in _errors(notifications))
    assert train_widget.worker is None and session_for(viewer).bundle is None
    assert_unchanged(viewer, before)


def test_live_mode_and_whole_objects_are_not_offered_in_3d(
    viewer, train_widget, notifications, stack
):
    image, _, painted = stack
    viewer.add_image(image, name="spheres")
    viewer.add_labels(painted.copy(), name="spheres annotations")
    settings = train_widget.settings
    _set_3d(settings)
    assert train_widget.set_live(True) is None
    assert any("Live mode is 2-D only" in text for text in _errors(notifications))
    assert not train_widget.live_button.isChecked()
    assert settings.model_config().spatial_dims == 3
    settings.set_mode("instance")
    assert not settings.three_d.isEnabled() and settings.model_config().spatial_dims == 2


def test_a_3d_model_on_a_2d_image_is_refused(viewer, predict_widget, notifications, stack):
    from napari_unet.core.config import ModelConfig, TrainConfig
    from napari_unet.core.progress import drain
    from napari_unet.core.training.train3d import Trainer3D

    image, _, painted = stack
    config = TrainConfig(steps=1, seconds=None, batch_size=1, seed=0, device="cpu")
    trainer = Trainer3D(image[None], painted, model=ModelConfig(depth=2, base_width=4),
                        config=config, patch=(4, 16, 16))
    session_for(viewer).set_model(drain(trainer.steps()), "test")
    predict_widget.image.value = viewer.add_image(image[0], name="plane")
    before = snapshot(viewer)
    assert "3-D U-Net" in predict_widget.status.text()
    assert predict_widget.predict() is None
    assert any("(Z, Y, X) stacks" in text for text in _errors(notifications))
    assert_unchanged(viewer, before)
