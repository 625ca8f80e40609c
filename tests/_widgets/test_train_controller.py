"""The train dock's controller without Qt: a ``ViewerModel``, the synchronous runner, and the
states it goes through. Invariant: the user's Labels layer is never modified; a model and a
prediction appear as new things (the session's model, a new layer) or not at all."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_unet._widgets.common.runner import SyncRunner
from napari_unet._widgets.common.session import session_for
from napari_unet._widgets.common.start_request import NONE, StartRequest
from napari_unet._widgets.train.controller import TrainController, TrainJob, TrainState

STEPS = 6


@pytest.fixture
def setup(sample):
    """A viewer model with the sample image and its painting, a controller, its runner, and
    the states it enters (a list)."""
    from napari_unet.core.config import ModelConfig, TrainConfig

    image, _, painted = sample
    viewer = ViewerModel()
    img = viewer.add_image(image, name="nuclei")
    lab = viewer.add_labels(painted.copy(), name="nuclei annotations")
    runner = SyncRunner()
    ctl = TrainController(viewer, runner)
    states = []
    ctl.state_changed.connect(states.append)
    config = TrainConfig(steps=STEPS, seconds=None, batch_size=2, patch_size=64, device="cpu")
    job = TrainJob([(img, lab)], [image[None]], [np.asarray(lab.data)],
                   ModelConfig(depth=2, base_width=8), config, StartRequest(NONE), None)
    ctl.take(job.pairs, job.request, config.targets.mode)
    yield viewer, ctl, runner, job, states
    session_for(viewer).set_model(None, "")


def test_train_goes_idle_resolving_training_predicting_idle_and_adds_new_layers(setup, sample):
    viewer, ctl, runner, job, states = setup
    painted = sample[2]
    assert ctl.state is TrainState.IDLE
    assert ctl.train(job) is not None
    assert ctl.state is TrainState.RESOLVING and ctl.busy
    runner.drain()
    assert states == [TrainState.RESOLVING, TrainState.TRAINING, TrainState.IDLE,
                      TrainState.PREDICTING, TrainState.IDLE]
    assert session_for(viewer).bundle.info["steps"] == STEPS
    assert ctl.last_run["steps"] == STEPS and ctl.last_run["stopped"] is False
    assert [layer.name for layer in viewer.layers] == [
        "nuclei", "nuclei prediction", "nuclei annotations"]
    assert viewer.layers["nuclei prediction"].data.shape == painted.shape
    np.testing.assert_array_equal(viewer.layers["nuclei annotations"].data, painted)
    assert ctl.status.startswith(f"Trained {STEPS} steps")
    assert ctl.status.endswith("Prediction in 'nuclei prediction'.")
    assert not ctl.busy and ctl.trainer is None


def test_stop_mid_run_keeps_the_model_so_far_and_ends_idle(setup, sample):
    viewer, ctl, runner, job, states = setup
    job.config = job.config.replace(steps=1000)
    at_stop = []

    def stop_after_three(_text):  # said on each of the trainer's records
        if ctl.trainer is not None and ctl.trainer.step >= 3 and not at_stop:
            at_stop.append(ctl.trainer.step)
            ctl.stop()

    ctl.status_changed.connect(stop_after_three)
    ctl.train(job)
    runner.drain()
    assert TrainState.STOPPING in states and ctl.state is TrainState.IDLE
    steps = at_stop[0]
    assert ctl.last_run["steps"] == steps and ctl.last_run["stopped"] is True  # no step more
    assert session_for(viewer).bundle.info["steps"] == steps
    assert ctl.status.startswith(f"Stopped after {steps} steps")
    assert "nuclei prediction" in viewer.layers
    np.testing.assert_array_equal(viewer.layers["nuclei annotations"].data, sample[2])


def test_stop_before_the_first_step_changes_nothing(setup, sample):
    viewer, ctl, runner, job, states = setup
    ctl.train(job)
    ctl.stop()
    assert ctl.state is TrainState.STOPPING
    runner.drain()
    assert ctl.state is TrainState.IDLE
    assert session_for(viewer).bundle is None
    assert [layer.name for layer in viewer.layers] == ["nuclei", "nuclei annotations"]
    assert ctl.status == "Stopped before the first step; the model is unchanged."


def test_stop_while_predicting_writes_nothing_and_keeps_the_model(setup, sample):
    viewer, ctl, runner, job, states = setup
    ctl.state_changed.connect(lambda state: state is TrainState.PREDICTING and ctl.stop())
    ctl.train(job)
    runner.drain()
    assert ctl.state is TrainState.IDLE and ctl.predict_worker is None
    assert session_for(viewer).bundle.info["steps"] == STEPS
    assert "nuclei prediction" not in viewer.layers
    assert ctl.status.endswith("The prediction was stopped: nothing was written.")
    assert session_for(viewer).job_besides("Predict with U-Net") == ""  # its job has ended


def test_a_second_train_while_training_is_refused(setup):
    viewer, ctl, runner, job, states = setup
    first = ctl.train(job)
    assert ctl.train(job) is None
    ctl.stop()
    assert ctl.train(job) is None  # nor while stopping
    assert runner.started == [first]
    runner.drain()
    assert ctl.state is TrainState.IDLE
    assert ctl.train(job) is not None  # idle again: Train starts
    runner.drain()


def test_train_waits_while_the_predict_dock_predicts(setup):
    viewer, ctl, runner, job, states = setup
    session = session_for(viewer)
    session.begin("Predict with U-Net", "predicting 'nuclei'")
    try:
        assert ctl.train(job) is None
        assert runner.started == []
        assert ctl.status.startswith("Waiting: 'Predict with U-Net' is predicting 'nuclei'.")
    finally:
        session.end("Predict with U-Net")


# -- live mode ---------------------------------------------------------------------------------
def _start_live(ctl, job):
    return ctl.start_live(job.pairs, job.images, job.labels, job.model, job.config, job.request,
                          job.names, "cpu")


def test_live_goes_idle_live_stopping_predicting_idle_keeps_a_model_and_the_painting(setup, sample):
    viewer, ctl, runner, job, states = setup
    painted = sample[2]
    steps = []

    def on_loss(step, _loss):
        steps.append(step)
        if step >= 4 and ctl.state is TrainState.LIVE:
            ctl.stop()  # Stop ends live mode after the running step

    ctl.loss_added.connect(on_loss)
    assert _start_live(ctl, job) is not None
    assert ctl.state is TrainState.LIVE and ctl.live.running
    assert ctl.status == "Live: preparing… paint on, the prediction follows."
    runner.drain()
    assert states == [TrainState.LIVE, TrainState.STOPPING, TrainState.IDLE,
                      TrainState.PREDICTING, TrainState.IDLE]
    assert not ctl.live.running and ctl.live.timer is None
    assert ctl.live.frames >= 1  # the view was predicted while live
    bundle = session_for(viewer).bundle
    assert bundle is not None and session_for(viewer).source.startswith("Trained live on nuclei")
    assert ctl.last_run["stopped"] is True and ctl.last_run["steps"] == bundle.info["steps"] >= 4
    assert ctl.status.startswith(f"Live mode off after {ctl.last_run['steps']} steps; the model is kept.")
    assert ctl.status.endswith("Prediction in 'nuclei prediction'.")
    assert [layer.name for layer in viewer.layers] == [
        "nuclei", "nuclei prediction", "nuclei annotations"]
    np.testing.assert_array_equal(viewer.layers["nuclei annotations"].data, painted)


def test_train_is_refused_while_live_and_live_while_training(setup):
    viewer, ctl, runner, job, states = setup
    assert _start_live(ctl, job) is not None
    assert ctl.train(job) is None and ctl.state is TrainState.LIVE  # refused quietly
    assert _start_live(ctl, job) is None
    ctl.stop()
    assert ctl.state is TrainState.STOPPING and ctl.status == "Live: stopping…"
    assert ctl.train(job) is None  # still stopping
    runner.drain()
    assert ctl.state is TrainState.IDLE and not ctl.live.running
    assert ctl.status == "Live mode off before the first step; the model is unchanged."
    assert session_for(viewer).bundle is None
    assert ctl.train(job) is not None and ctl.state is TrainState.RESOLVING
    assert _start_live(ctl, job) is None and ctl.state is TrainState.RESOLVING
    ctl.stop()
    runner.drain()
    assert ctl.state is TrainState.IDLE


# -- background learning (warm-up) -------------------------------------------------------------
def test_background_learning_runs_through_the_runner_and_stops(setup, sample, background_learning):
    from napari_unet.core.config import ModelConfig, TrainConfig

    viewer, ctl, runner, job, states = setup
    reported = []

    def on_learning(steps):
        reported.append(steps)
        if steps is not None:  # the first step's report
            ctl.warmup.stop()

    ctl.learning.connect(on_learning)
    image = sample[0][None].astype(np.float32)
    config = TrainConfig(batch_size=2, patch_size=64, device="cpu", self_supervised=1.0)
    ctl.warmup.follow("key", lambda: [image], ModelConfig(depth=2, base_width=8), config)
    assert ctl.warmup.running and len(runner.started) == 1
    errors = []
    ctl.warmup.worker.errored.connect(errors.append)
    runner.drain()
    assert errors == [] and reported == [1, None]
    assert not ctl.warmup.running and ctl.warmup.warm is None and ctl.warmup.worker is None
    assert reported == [1, None]
    assert states == []  # the dock's state is not background learning's
    assert _start_live(ctl, job) is not None  # live mode stops it first
    ctl.stop()
    runner.drain()


def test_where_to_paint_next_runs_one_at_a_time_and_shutdown_writes_nothing(
    setup, sample, gray_bundle
):
    viewer, ctl, runner, job, states = setup
    before = np.array(viewer.layers["nuclei annotations"].data)
    ctl.show_paint_next(gray_bundle)
    ctl.show_paint_next(gray_bundle)  # while the first runs: dropped
    assert len(runner.started) == 1 and ctl.paint_next.busy
    ctl.shutdown()  # the dock closes before it ends
    runner.drain()
    assert not ctl.paint_next.busy
    assert [layer.name for layer in viewer.layers] == ["nuclei", "nuclei annotations"]
    ctl.show_paint_next(gray_bundle)
    runner.drain()
    assert [layer.name for layer in viewer.layers] == [
        "nuclei", "nuclei uncertainty", "nuclei paint here", "nuclei annotations"]
    spots = viewer.layers["nuclei paint here"].data.astype(int)
    assert len(spots) > 0 and not (before[spots[:, 0], spots[:, 1]] > 0).any()  # not on paint
    np.testing.assert_array_equal(viewer.layers["nuclei annotations"].data, before)


# -- errors: said in plain words, nothing left half-done -----------------------------------
def test_a_background_learning_failure_is_said_and_nothing_of_it_is_kept(
    setup, sample, background_learning, monkeypatch, notifications
):
    from napari_unet.core.config import ModelConfig, TrainConfig
    from napari_unet.core.progress import Progress
    from napari_unet.core.training.selfsup import SelfSupervised

    def failing_steps(self, max_steps=None):
        yield Progress("training", 1)
        raise RuntimeError("CUDA out of memory\ndetails for the log")

    monkeypatch.setattr(SelfSupervised, "steps", failing_steps)
    viewer, ctl, runner, job, states = setup
    reported = []
    ctl.learning.connect(reported.append)
    image = sample[0][None].astype(np.float32)
    config = TrainConfig(batch_size=2, patch_size=64, device="cpu", self_supervised=1.0)
    model = ModelConfig(depth=2, base_width=8)
    ctl.warmup.follow("key", lambda: [image], model, config)
    runner.drain()
    said = ("Learning the image in the background stopped: CUDA out of memory. Train works "
            "without it.")
    assert ctl.status == said and ("error", said) in notifications
    assert reported[-1] is None and states == [] and ctl.state is TrainState.IDLE
    assert not ctl.warmup.running and ctl.warmup.warm is None and ctl.warmup.worker is None
    ctl.warmup.follow("key", lambda: [image], model, config)  # the same image: not again
    assert len(runner.started) == 1
    assert ctl.warmup.hand_over() is None  # Train does not take a half-done network
    ctl.warmup.follow("other", lambda: [image], model, config)  # another one is learnt
    assert len(runner.started) == 2 and ctl.warmup.running
    ctl.warmup.stop()
    runner.drain()


def test_a_live_failure_is_said_and_live_mode_ends_idle_with_the_model_unchanged(
    setup, monkeypatch, notifications
):
    from napari_unet._widgets.train import live

    def broken_worker(*args, **kwargs):
        raise ValueError("the painting could not be read")
        yield  # a generator, as the real one

    monkeypatch.setattr(live, "live_worker", broken_worker)
    viewer, ctl, runner, job, states = setup
    assert _start_live(ctl, job) is not None
    runner.drain()
    said = ("Live training failed: the painting could not be read. Live mode is off; the "
            "model is unchanged.")
    assert ctl.status == said and ("error", said) in notifications
    assert states == [TrainState.LIVE, TrainState.IDLE] and not ctl.live.running
    assert session_for(viewer).bundle is None
    assert [layer.name for layer in viewer.layers if "prediction" in layer.name] in (
        [], ["nuclei prediction"])  # the live layer may exist; nothing else was added
    assert _start_live(ctl, job) is not None  # not stuck: live mode starts again
    ctl.stop()
    runner.drain()


def test_a_paint_next_failure_is_said_while_idle_and_writes_nothing(
    setup, gray_bundle, monkeypatch, notifications
):
    from napari_unet._widgets.common import paint_next

    def broken(*args, **kwargs):
        raise MemoryError("no memory for the uncertainty")
        yield

    monkeypatch.setattr(paint_next, "_plane_uncertainty", broken)
    viewer, ctl, runner, job, states = setup
    ctl.show_paint_next(gray_bundle)
    runner.drain()
    said = "Where to paint next could not be shown: no memory for the uncertainty"
    assert ctl.status == said and ("error", said) in notifications
    assert not ctl.paint_next.busy and ctl.state is TrainState.IDLE
    assert [layer.name for layer in viewer.layers] == ["nuclei", "nuclei annotations"]
