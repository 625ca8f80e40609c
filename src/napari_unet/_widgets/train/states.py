"""The train dock's states (:class:`TrainState`) and the name it holds jobs by; see
:mod:`.controller` for what moves between them."""

from __future__ import annotations

from enum import Enum

TRAIN_TITLE = "Train U-Net"


class TrainState(Enum):
    IDLE = "idle"
    RESOLVING = "resolving"
    """The worker chooses the model to start from (and builds the trainer)."""
    TRAINING = "training"
    STOPPING = "stopping"
    """Stop was asked: training ends after its running step, or the prediction at once."""
    PREDICTING = "predicting"
    """The model just trained (or kept) predicts the first pair's image."""
    LIVE = "live"
    """Live mode trains while the user paints and shows the view's prediction (:mod:`.live`)."""


RUNNING = (TrainState.RESOLVING, TrainState.TRAINING)
