"""Fixtures for the dock-widget tests: a viewer with a small painted nuclei image, docked
widgets with fast training settings, trained models, and captured notifications.

Widgets are shut down and their workers awaited at teardown, so nothing leaks between tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.synthetic import nuclei, simulate_painting

from .helpers import FAST_STEPS, SHAPE, fast, wait_idle


@pytest.fixture(scope="session", autouse=True)
def _one_thread(one_torch_thread):
    """Every widget test trains with one CPU thread (see ``one_torch_thread``)."""


@pytest.fixture(autouse=True)
def no_starters(monkeypatch, tmp_path_factory):
    """No starter models are installed (an empty folder), unless a test asks for
    ``fake_starter``: the shipped ones would change what 'Start from: Auto' picks."""
    from napari_unet.core.files import starters

    monkeypatch.setattr(starters, "STARTERS_DIR", tmp_path_factory.mktemp("no_starters"))


@pytest.fixture(scope="session")
def fake_starter_dir(tmp_path_factory):
    """A folder holding ``fake.unet``: a tiny objects (instance) model trained on synthetic
    nuclei, with a starter's title and card (about 12 s to train; at 150 steps its match with
    the sample's strokes sat at the 0.6 floor of auto)."""
    from napari_unet.core.config import ModelConfig, TrainConfig
    from napari_unet.core.files.bundle import save_bundle
    from napari_unet.core.files.starters import as_starter
    from napari_unet.core.progress import drain
    from napari_unet.core.training.train import Trainer

    image, truth = nuclei((128, 128), n=12, seed=3)
    config = TrainConfig(mode="instance", steps=300, seconds=None, seed=0)
    bundle = drain(Trainer([image[None]], [truth], model=ModelConfig(depth=2, base_width=8),
                           config=config).steps())
    bundle = as_starter(bundle, "fake")
    bundle.info.update(title="Fake nuclei starter", card="# Fake\nLicence: CC0")
    folder = tmp_path_factory.mktemp("starters")
    save_bundle(bundle, folder / "fake.unet")
    return folder


@pytest.fixture
def fake_starter(monkeypatch, fake_starter_dir):
    """The fake starter is the one installed starter; returns its name. Ask for it before
    the widget fixtures, so that their 'Start from' lists it."""
    from napari_unet.core.files import starters

    monkeypatch.setattr(starters, "STARTERS_DIR", fake_starter_dir)
    return "fake"


@pytest.fixture(scope="session")
def sample():
    """A small nuclei image, its ground truth and simulated painting (1 = bg, 2 = fg)."""
    image, truth = nuclei(SHAPE, n=10, seed=3)
    painted = simulate_painting(truth, n_objects=5, n_background_strokes=4, seed=0)
    return image, truth, painted


def train_bundle(images, labels, steps=FAST_STEPS):
    """A model trained headless by the core (fast settings), for predict-side tests."""
    from napari_unet.core.config import TrainConfig
    from napari_unet.core.progress import drain
    from napari_unet.core.training.train import Trainer

    config = TrainConfig(steps=steps, seconds=None, batch_size=4, patch_size=64)
    return drain(Trainer(images, labels, config=config).steps())


@pytest.fixture(scope="session")
def gray_bundle(sample):
    image, _, painted = sample
    return train_bundle([image[None]], [painted])


@pytest.fixture(scope="session")
def rgb_bundle(sample):
    image, _, painted = sample
    rgb = np.stack([image, 0.5 * image, 0.2 + 0 * image])
    return train_bundle([rgb], [painted])


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def layers(viewer, sample):
    """The sample image and its painted annotations as layers of ``viewer``."""
    image, _, painted = sample
    img = viewer.add_image(image, name="nuclei")
    lab = viewer.add_labels(painted.copy(), name="nuclei annotations")
    return img, lab


@pytest.fixture
def train_widget(viewer, qtbot):
    """The train widget as the Plugins menu opens it (napari hands it a viewer proxy)."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-stroke-unet", "Train U-Net")
    fast(widget.settings)
    yield widget
    widget.shutdown()
    wait_idle(qtbot, widget)


@pytest.fixture
def predict_widget(viewer, qtbot):
    _, widget = viewer.window.add_plugin_dock_widget("napari-stroke-unet", "Predict with U-Net")
    yield widget
    widget.shutdown()
    wait_idle(qtbot, widget)


@pytest.fixture
def notifications():
    """Messages shown to the user during the test, as (severity, text) pairs."""
    from napari.utils.notifications import notification_manager

    got = []

    def grab(notification):
        got.append((str(notification.severity), notification.message))

    notification_manager.notification_ready.connect(grab)
    yield got
    notification_manager.notification_ready.disconnect(grab)


@pytest.fixture(autouse=True)
def no_background_learning(monkeypatch):
    """The docks' background learning of the image (``_widgets/train/warmup.py``) ends at once,
    unless a test asks for ``background_learning``: other tests time and count steps."""
    from napari_unet._widgets.train import warmup

    monkeypatch.setattr(warmup, "MAX_STEPS", 0)


@pytest.fixture
def background_learning(monkeypatch):
    from napari_unet._widgets.train import warmup

    monkeypatch.setattr(warmup, "MAX_STEPS", 10_000)
