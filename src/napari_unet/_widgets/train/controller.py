"""The train dock without its widgets: a state machine that owns the training worker and the
prediction after it, and says what happens in words (the status line, notifications).

States (:class:`TrainState`) and what moves between them::

    IDLE --train--> RESOLVING --trainer built--> TRAINING
    RESOLVING, TRAINING --stop--> STOPPING
    RESOLVING, TRAINING, STOPPING --worker finished--> PREDICTING (a model to show) or IDLE
    IDLE --predict_first (live mode off)--> PREDICTING
    PREDICTING --train--> RESOLVING (the old model's prediction is quit first)
    PREDICTING --stop--> STOPPING --prediction ended--> IDLE
    PREDICTING --prediction ended--> IDLE, or PREDICTING again ('Only the plane in view')
    IDLE --start_live--> LIVE --stop_live (Stop)--> STOPPING
    LIVE, STOPPING --live worker finished--> PREDICTING (a model to show) or IDLE

Train while training or live mode runs is refused, and live mode while training runs; Stop
while training (or live mode) runs ends it after the running step and keeps the model.
Headless: the workers (training's, live mode's) and timers come from a
:class:`~..common.runner.Runner` (napari's ``thread_worker`` in the dock, a synchronous one in
tests), so
``napari.components.ViewerModel()`` is enough to drive it. The dock (:mod:`.train_widget`) only
shows it: buttons follow :attr:`TrainController.state`, the status line
:attr:`~TrainController.status`, the loss plot its ``loss_added``/``score_added``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from napari.utils.notifications import show_error, show_info
from psygnal import Signal

from ..common.dock_controller import DockController
from ..common.layers import safe_to_notify
from ..common.paint_next_run import PaintNextRun
from ..common.session import session_for
from ..common.start_request import AUTO, sentence
from ..common.tasks import BUILT, CHOSEN, ProgressBar, failed
from ..common.wording import check_text, choice_said, ran_on, training_said
from .live import LIVE_SMALL, LiveMode
from .predict_after import PredictAfter
from .states import RUNNING, TRAIN_TITLE, TrainState
from .train_run import fits_text, free, painting_key, same_kind, source_of, train_run
from .warmup import Warmup


@dataclass
class TrainJob:
    """What the dock read from its settings and layers: what :meth:`TrainController.train`
    trains on (``model``: the architecture if training starts from scratch)."""

    pairs: list
    images: list
    labels: list
    model: object
    config: object
    request: object
    names: list | None
    three_d: bool = False
    warmup: object = field(default=None, repr=False)


class TrainController(PredictAfter, DockController):
    """See the module docstring. :attr:`live` runs live mode (its worker, through the same
    runner)."""

    loss_added = Signal(int, float)
    score_added = Signal(int, float)
    plot_cleared = Signal()
    advised = Signal(object)
    """A :class:`~napari_unet.core.training.painting_check.PaintingAdvice`, or None: clear it."""
    predicted = Signal(object)
    """The prediction after training ended: its layer, or None."""
    learning = Signal(object)
    """Background learning's steps done (:mod:`.warmup`: every few steps, and when it pauses
    or goes on), None at its end."""

    def __init__(self, viewer, runner):
        super().__init__(viewer, runner, TrainState.IDLE)
        self.session = session_for(viewer)
        self.live = LiveMode(viewer, runner, on_progress=self._on_live_progress,
                             on_note=show_info, on_finished=self._on_live_finished,
                             on_choice=self._on_live_choice)
        """Live mode (:mod:`.live`): its worker, timers and frames."""
        self.live_small = False
        """Whether live mode was started with the smaller CPU U-Net (from scratch)."""
        self.warmup = Warmup(runner, on_progress=self.learning.emit, viewer=viewer,
                             on_error=self._quiet_error)
        """Learns the image in the background while the user paints (no clicks)."""
        self.paint_next = PaintNextRun(viewer, runner, one_at_a_time=True,
                                       on_error=self._quiet_error)
        """'Show where to paint next' after the prediction (:mod:`..common.paint_next_run`)."""
        self.closed = False
        self.worker = None
        self.trainer = None
        self.predict_worker = None
        self.forecast = None
        self.last_run: dict = {}
        """Steps, seconds, whether stopped, and device of the last training run."""
        self.start_choice = None
        """What the last training started from (a core ``StartChoice``), and why."""
        self.pairs: list = []
        self.request = None
        """The 'Start from' choice of the running training (a StartRequest)."""
        self.note = ""
        """What training said on its way, said again when it ends."""
        self.mode = None
        self.last_loss = None
        self._bundle = self._bar = None
        self._stopped = self._skipped = self._predict_stopped = self._plane_next = False
        self._stop_event = threading.Event()
        self._seen = 0
        self._key = self._fits_key = self._predict_token = None

    # -- state and words --------------------------------------------------------------------
    def _add_note(self, text: str, again: str | None = None) -> None:
        """Show ``text`` now, and ``again`` (``text`` itself unless given) in the status
        when training ends."""
        if safe_to_notify(self.viewer):
            show_info(text)
        self.note = f"{self.note} {text if again is None else again}".strip()

    def _quiet_error(self, text: str) -> None:
        """A helper's failure (background learning, where to paint next): in the status line
        while the dock is idle, else (training's line is in use) as a notification only."""
        if self.state is TrainState.IDLE:
            self.say_error(text)
        elif safe_to_notify(self.viewer):
            show_error(text)

    @property
    def busy(self) -> bool:
        """Whether training or the prediction after it runs."""
        return self.worker is not None or self.predict_worker is not None

    # -- start ------------------------------------------------------------------------------
    def free_to_start(self) -> bool:
        """Whether Train may start now: nothing of this dock runs (else refused quietly),
        and the predict dock predicts nothing (else said)."""
        if self.state in (*RUNNING, TrainState.STOPPING, TrainState.LIVE) or self.live.running:
            return False
        other = self.session.job_besides(TRAIN_TITLE)
        if other:
            self.say(f"Waiting: {other}. Train when it has finished, or Cancel it there.")
            self.state_changed.emit(self.state)  # the buttons say why they wait
        return not other

    def take(self, pairs, request, mode: str, note: str = "") -> None:
        """The layers, 'Start from' choice and annotation mode the next run uses (Train or
        live mode); ``note``: why the current model cannot be continued, shown now and at
        the end."""
        self.pairs, self.request, self.mode, self.note = pairs, request, mode, note
        if note:
            show_info(note)

    def train(self, job: TrainJob, check: bool = True, check_mode: bool = True):
        """Check the painting (``check``; its annotation mode with ``check_mode``), then
        start training in a worker; returns it (None if refused, after saying why)."""
        if not self.free_to_start():
            return None
        self.pairs, self.mode = job.pairs, job.config.targets.mode
        self._key = painting_key(job.pairs, job.labels, job.request.spec, job.config.targets.mode)
        if check and check_mode and not job.three_d and self.advised_against(job.labels, job.config.targets.mode):
            return None
        if check and job.config.targets.mode == "instance" and self.unpainted(
                job.pairs, job.images, job.labels, job.config):
            return None
        self.advised.emit(None)
        self._quit_prediction()
        self.trainer, self._bundle, self._stopped, self.last_loss = None, None, False, None
        self.plot_cleared.emit()
        self._bar = ProgressBar("Training U-Net")
        self.say("Preparing…" if job.request.quiet else "Trying the starting models on your painting…")
        self._stop_event, self._seen = threading.Event(), 0
        self.start_choice, self._skipped = None, False
        self.worker = self.runner.worker(
            train_run, job.images, job.labels, job.model, job.config, job.request, job.names,
            self._stop_event, three_d=job.three_d, warmup=job.warmup,
            train_if_fits=self._key == self._fits_key)
        worker = self.worker
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(lambda e: self.say_error(failed("Training failed", e)))
        worker.finished.connect(self._on_finished)
        self._to(TrainState.RESOLVING)
        self.runner.start(worker)  # closing napari stops training
        return worker

    def advised_against(self, labels, mode: str) -> bool:
        """Whether the painting looks made for the other annotation mode: then the dock
        says so (``advised``) and nothing is trained yet."""
        from napari_unet.core.training.painting_check import check_painting

        advice = check_painting(labels, mode)
        self.advised.emit(advice)
        if advice is None:
            return False
        self.say("Not trained yet: the painting looks made for the other annotation mode "
                 "(see below).")
        show_info(advice.message)
        return True

    def unpainted(self, pairs, images, labels, config) -> bool:
        """Whole objects: show the annotated area; whether objects inside it look
        unpainted (then the dock says so, and nothing is trained yet)."""
        from napari_unet.core.training.painting_check import PaintingAdvice

        from .region import check_regions

        text = check_regions(self.viewer, pairs, images, labels, config.targets.region_margin)
        if not text:
            return False
        self.advised.emit(PaintingAdvice(None, text, ()))
        self.say("Not trained yet: some objects in the annotated area look unpainted (see "
                 "below).")
        show_info(text)
        return True

    def stop(self) -> None:
        """Stop training after the step that is running (the model so far is kept), or the
        prediction after it, or live mode (:meth:`stop_live`)."""
        if self.live.running:
            self.stop_live()
        elif self.state in RUNNING:
            self._stop_event.set()
            self._stopped = True
            self._to(TrainState.STOPPING)
            self.say("Stopping…")
        elif self.state is TrainState.PREDICTING and self.predict_worker is not None:
            self._predict_stopped = True
            self._to(TrainState.STOPPING)
            self.predict_worker.quit()

    def close(self) -> None:
        """The dock is closed: stop everything; what was being trained is dropped (nothing
        appears later) and its memory freed."""
        self.closed = True
        self.shutdown()
        self.warmup.stop(for_good=True)

    def shutdown(self) -> None:
        """Stop training, live mode and the prediction, also before the first step."""
        self.stop()
        if self.live.running:
            self.live.stop()
        if self.worker is not None:
            self.worker.quit()  # also before the first step
        if self.predict_worker is not None:
            self.predict_worker.quit()
        self.paint_next.stop()

    # -- the worker's signals ---------------------------------------------------------------
    def _on_yielded(self, item) -> None:
        if item.stage == CHOSEN:
            self.say_choice(item.payload)
            return
        if item.stage == BUILT:
            self.trainer = item.payload
            self._say_events(self.trainer)
            if self.state is TrainState.RESOLVING:
                self._to(TrainState.TRAINING)
            return
        if item.loss is not None:
            self.loss_added.emit(item.done, item.loss)
            if math.isfinite(item.loss) and item.loss > 0:  # the losses the plot keeps
                self.last_loss = item.loss
        if item.validation is not None:
            at = self.trainer.validation_step if self.trainer is not None else item.done
            self.score_added.emit(at, item.validation)
        if not self._stopped:
            budget = self.trainer.config.budget.seconds if self.trainer is not None else None
            of = f" of {budget:.0f} s" if budget else ""
            loss = f" · loss {self.last_loss:.3f}" if self.last_loss is not None else ""
            score = check_text(self.trainer, item.validation)
            self.say(f"Step {item.done} · {item.elapsed:.1f} s{of}{loss}{score}")
        # last: napari's progress bar may process pending events (even ``finished``) here;
        # it also tells the user about an out-of-memory retry
        self._bar.update(item)

    def say_choice(self, choice, live: bool = False) -> None:
        """Tell which model training starts from, and why (status and a notification)."""
        self.start_choice = choice
        request = self.request
        if choice.fits_already:  # said at once: the user need not wait for the same model
            text = fits_text(choice, self.mode)
            if live:  # live mode trains while the user paints on
                now = ""
            elif self._key != self._fits_key:  # not trained: its prediction is shown instead
                self._skipped, self._fits_key = True, self._key
                text += " Press Train again to train anyway."
                now = " Showing its prediction…"
            else:  # Train pressed again on the same painting
                text = "Training anyway, as asked."
                now = " Stop ends training now and keeps whichever matches better. Training…"
            self._add_note(text)  # said again when training ends
            self.say(f"{text}{now}")
            return
        if request is None or request.quiet:
            return
        text = sentence(choice_said(choice))
        again = sentence(choice_said(choice, scores=False))
        if request.spec == AUTO and request.not_current and choice.name != "current model":
            why = f" (The current model cannot be continued: {request.not_current}.)"
            text, again = text + why, again + why
        self._add_note(text, again)
        self.say(f"{text} Preparing…")

    def _say_events(self, trainer) -> None:
        """Say the trainer's events not said yet (:func:`~..common.wording.training_said`)."""
        new, self._seen = trainer.events[self._seen:], len(trainer.events)
        if new:
            self._add_note(" ".join(sentence(clause) for clause in training_said(new)))

    def _on_returned(self, bundle) -> None:
        self._bundle = bundle

    def _on_finished(self) -> None:
        self._bar.close()
        self.worker = None
        trainer, self.trainer = self.trainer, None  # frees the model and image copies
        bundle, self._bundle = self._bundle, None
        if trainer is not None:  # hand the GPU's cached blocks back once the trainer is gone
            self.runner.later(lambda device=trainer.device: free(device))
        if self.closed:  # the dock was closed: nothing more to show
            self._to(TrainState.IDLE)
            return
        if bundle is None and self._stopped and trainer is not None and trainer.step > 0:
            bundle = trainer.bundle()
        if trainer is not None:
            self.last_run = {"steps": trainer.step, "seconds": trainer.elapsed,
                             "stopped": self._stopped, "device": trainer.device.type}
            self._say_events(trainer)  # e.g. earlier weights kept (validation)
            if trainer.validation is not None:
                self.score_added.emit(trainer.validation_step, trainer.validation)
        self._to(TrainState.IDLE)
        if bundle is None and self._skipped and not self._stopped:
            self._show_start()
        elif bundle is None:
            if self._stopped:
                self.say("Stopped before the first step; the model is unchanged.")
        else:
            self._keep(bundle, trainer)

    def _keep(self, bundle, trainer) -> None:
        """The trained model becomes the current model; its prediction is shown."""
        verb = "Stopped after" if self._stopped else "Trained"
        note = f" {self.note}" if self.note else ""
        self.say(f"{verb} {trainer.step} steps in {trainer.elapsed:.1f} s on "
                 f"{ran_on(trainer.device.type, trainer.config.runtime.threads)}.{note} Predicting…")
        start = self.start_choice.bundle if self.start_choice is not None else None
        if (getattr(trainer, "kept_start", False) and start is not None
                and same_kind(start, bundle)):
            # the starting model as it was: not "trained here", nor its steps added up
            bundle = start
            if start is not self.session.bundle:
                self.session.set_model(start, source_of(start))
        else:
            names = [image.name for image, _ in self.pairs]
            self.session.set_model(bundle, f"Trained here on {', '.join(names)}",
                                   trained_on=names)
        self.predict_first(bundle)

    def _show_start(self) -> None:
        """The start already fitted the painting and was not trained: it becomes the
        current model (as it is) and its prediction is shown."""
        start = self.start_choice.bundle
        if start is not self.session.bundle:
            self.session.set_model(start, source_of(start))
        self.say(f"{self.note} Predicting…")
        self.predict_first(start)

    # -- live mode --------------------------------------------------------------------------
    def start_live(self, pairs, images, labels, model, config, request, names, device_type,
                   small: bool = False, uncertainty: bool = False):
        """Start live mode on what the dock read (as :meth:`take` and :meth:`train` get it;
        its checks done): returns its worker, or None if refused (something of this dock
        runs). ``small``: ``model`` is the smaller CPU U-Net (used from scratch only);
        ``uncertainty``: also show where to paint next."""
        if not self.free_to_start():
            return None
        self.warmup.stop()  # live mode starts at once: the two would share the CPU
        self._quit_prediction()
        self.live_small = small
        self.last_loss = None
        self.plot_cleared.emit()
        self.live.set_uncertainty(uncertainty)
        worker = self.live.start(pairs, images, labels, model, config, request, names,
                                 device_type)
        self._to(TrainState.LIVE)
        self.say("Live: preparing… paint on, the prediction follows." if request.quiet
                 else "Live: trying the starting models on your painting…")
        return worker

    def stop_live(self) -> None:
        """Turn live mode off after the running step; the model is kept and predicted as
        after training."""
        if self.live.running:
            self.live.stop()
            self._to(TrainState.STOPPING)
            self.say("Live: stopping…")

    def _on_live_choice(self, choice) -> None:
        self.say_choice(choice, live=True)
        if not self.live.stopping:
            small = self.live_small and choice.bundle is None
            size = " (a smaller U-Net on the CPU)" if small else ""
            said = f"{self.note} " if not self.request.quiet else ""
            self.say(f"Live: {said}Preparing{size}… paint on, the prediction follows.")

    def _on_live_progress(self, item) -> None:
        if item.loss is not None:
            self.loss_added.emit(item.done, item.loss)
            if math.isfinite(item.loss) and item.loss > 0:  # the losses the plot keeps
                self.last_loss = item.loss
        if not self.live.stopping:
            loss = f" · loss {self.last_loss:.3f}" if self.last_loss is not None else ""
            self.say(
                f"Live · step {item.done}{loss} · view predicted {self.live.frames}× · "
                f"new painting picked up {self.live.picked}×"
            )

    def _on_live_finished(self, bundle, trainer) -> None:
        self._to(TrainState.IDLE)
        if trainer is not None:
            self.last_run = {"steps": trainer.step, "seconds": trainer.elapsed,
                             "stopped": True, "device": trainer.device.type}
        if self.live.error is not None and not self.closed:  # nothing of it is kept
            self.say_error(f"{self.live.error.rstrip('.')}. Live mode is off; the model is "
                           "unchanged.")
            return
        if bundle is None or self.closed:
            if not self.closed:
                self.say("Live mode off before the first step; the model is unchanged.")
            return
        small = self.live_small and self.start_choice is not None and self.start_choice.bundle is None
        if small:  # the settings keep their U-Net size (see TrainSettings.show_model)
            bundle.info[LIVE_SMALL] = True
        names = [image.name for image, _ in self.pairs]
        self.session.set_model(bundle, f"Trained live on {', '.join(names)}", trained_on=names)
        size = (f" Live used a smaller network on the CPU ({bundle.model_config.depth} "
                f"levels, {bundle.model_config.base_width} filters): Train goes on training "
                "it; 'Start from: From scratch' trains one of the size under Advanced "
                "settings."
                if small else "")
        self.say(f"Live mode off after {trainer.step} steps; the model is kept.{size} Predicting…")
        self.note = ""
        self.predict_first(bundle)
