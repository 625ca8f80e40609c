"""Live mode's core: new painting is trained on without restarting."""

import numpy as np
import pytest

from napari_unet.core.config import ModelConfig, TrainConfig
from napari_unet.core.images import ImageError
from napari_unet.core.training.targets import IGNORE
from napari_unet.core.training.train import Trainer

TINY = ModelConfig(depth=2, base_width=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = TrainConfig(steps=10**6, seconds=None, batch_size=2, patch_size=32,
                     validation_fraction=0.0)


def _counted(trainer):
    return sum(int((t != IGNORE).sum()) for t in trainer.sampler.targets)


def test_new_strokes_are_trained_on_with_the_same_model_and_optimiser(nuclei_case):
    image, _, painted = nuclei_case
    trainer = Trainer([image], [painted], model=TINY, config=CONFIG)
    gen = trainer.steps()
    next(gen), next(gen)
    model, optimizer = trainer.model, trainer.optimizer
    more = painted.copy()
    more[:4, :40] = 1  # a new background stroke along the top
    trainer.set_labels([image], [more])
    assert _counted(trainer) == int((more > 0).sum()) > int((painted > 0).sum())
    assert trainer.model is model and trainer.optimizer is optimizer
    assert next(gen).done == 3  # goes on counting
    gen.close()


def test_a_new_class_is_refused_and_nothing_changes(nuclei_case):
    image, _, painted = nuclei_case
    trainer = Trainer([image], [painted], model=TINY, config=CONFIG)
    sampler = trainer.sampler
    more = painted.copy()
    more[:4, :40] = 3
    with pytest.raises(ImageError, match="3 classes"):
        trainer.set_labels([image], [more])
    erased = np.where(painted == 2, 0, painted)
    with pytest.raises(ImageError):
        trainer.set_labels([image], [erased])
    assert trainer.sampler is sampler
