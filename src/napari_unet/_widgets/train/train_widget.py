"""Dock widget: train a U-Net on painted labels, live, with Stop; then predict.

Thin on purpose: it turns layers into arrays (``training_data.training_arrays``), builds
configs (``train_settings``: strokes of classes or whole objects, see ``modes``), runs the
core's ``Trainer.steps()`` generator in a napari ``thread_worker`` and writes the prediction
back (``prediction``). Nothing it does changes a layer the user painted.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from napari_unet.core.config import ConfigError
from napari_unet.core.images import ImageError
from napari_unet.core.progress import Progress

from ..common.forecast import Forecast
from ..common.layers import current_plane, hidden_by, safe_to_notify, spatial_shape
from ..common.model_panel import ModelPanel
from ..common.prediction import auto_plane, has_results, start_prediction
from ..common.scrolling import VerticalScroll, scrolling_layout, share_column
from ..common.sections import Section
from ..common.session import session_for
from ..common.start_request import AUTO, NONE, StartRequest, sentence
from ..common.tasks import BUILT, CHOSEN, ProgressBar, TaskError, failed, guarded, quit_with, start
from ..common.wording import check_text, choice_said, ran_on, training_said
from .advice import AdvicePanel
from .live import LiveMode
from .loss_plot import LossPlot
from .modes import TRAIN_HINTS
from .train_checks import PaintingChecks
from .train_live import LiveControls
from .train_settings import TrainSettings
from .training_data import TrainingData, training_arrays, training_volumes
from .warmup import Warmup, plane_of

if TYPE_CHECKING:
    import napari


@thread_worker(start_thread=False, ignore_errors=True)  # our errored handler tells the user
def _train(images, labels, model, config, request, class_names, stop, three_d=False,
           warmup=None, train_if_fits=False):
    """Choose the starting model (``request``, a :class:`StartRequest`: first yield, stage
    :data:`CHOSEN` with the choice as payload), build the Trainer (``Trainer3D`` with
    ``three_d``) off the GUI thread, hand it over (second yield, stage :data:`BUILT`), then
    train (the trainer's records). Every yield is a :class:`Progress`. ``model`` is the
    architecture when starting from scratch.

    ``stop`` (a ``threading.Event``) ends training after the running step; the training
    generator is then closed here, in the worker, so that it ends as it would have at the
    end of its budget (the best-scoring weights are kept) before the bundle is returned.
    ``warmup`` (a :class:`~.warmup.Warmup`): what was learnt of the image while the user
    painted; taken over when training starts from scratch.

    A start that already fits the painting (``StartChoice.fits_already``) is not trained
    unless ``train_if_fits``: the worker returns None after the choice (the dock shows
    that model's prediction instead of spending the budget for nothing).
    """
    if three_d:
        from napari_unet.core.training.train3d import Trainer3D as Trainer
    else:
        from napari_unet.core.training.train import Trainer

    choice = request.resolve(images, labels, config.mode)
    yield Progress(CHOSEN, 0, payload=choice)
    if stop.is_set() or (choice.fits_already and not train_if_fits):
        return None
    init = choice.bundle
    if init is not None and not three_d:  # at the size the starter learnt, as it predicts
        from napari_unet.core.training.from_painting import at_model_size

        images, labels, _ = at_model_size(images, labels, init, config.mode)
    warm = warmup.hand_over() if warmup is not None else None  # stops it either way
    extra = {"warm": warm} if warm is not None and init is None and not three_d else {}
    try:
        trainer = Trainer(images, labels, model=None if init is not None else model,
                          config=config, init=init, class_names=class_names, **extra)
    except RuntimeError as e:  # e.g. the chosen device is not available
        raise TaskError(str(e)) from e
    yield Progress(BUILT, 0, payload=trainer)
    return (yield from guarded(_until(trainer, stop)))


TRAIN_TITLE = "Train U-Net"
PLANE_BUTTON = "Only the plane in view"
LIVE_TIP = ("Train without end while you paint: new strokes are used within seconds and the "
            "prediction of what is in view follows. Click again to stop and keep the model.")


def _painting_key(pairs, labels, spec: str, mode: str) -> str:
    """A fingerprint of what Train would learn: the images, the painting and the start
    (a second Train on the same painting, after "already fits", trains anyway)."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    h.update(repr((spec, mode, [id(image) for image, _ in pairs])).encode())
    for lab in labels:
        lab = np.ascontiguousarray(lab)
        h.update(repr((lab.shape, lab.dtype.str)).encode())
        h.update(lab.data)
    return h.hexdigest()


def fits_text(choice, mode: str) -> str:
    """What the dock says when the start already matches the painting (item 6 of issue 23)."""
    from ..common.wording import painted  # a local `painted` array elsewhere in this module

    who = {"current model": "The current model", "none": "The model"}.get(
        choice.name, "The starter" if choice.starter is not None else "The chosen model")
    what = painted(mode)
    return (f"{who} already matches your {what}; training on them would change little. "
            "Paint where the prediction is wrong, or adjust the Objects settings in the "
            "predict dock.")


def _same_kind(a, b) -> bool:
    """Whether bundles ``a`` and ``b`` predict alike given the same weights (a starter
    given a new output layer for more classes is not itself any more)."""
    def norm(n):  # values measured on the training images are used by "fixed" only
        return n if n.mode == "fixed" else (n.mode, n.low_percentile, n.high_percentile)

    return (a.model_config == b.model_config and list(a.class_names) == list(b.class_names)
            and norm(a.norm) == norm(b.norm) and a.mode == b.mode)


def _source_of(bundle) -> str:
    """How the model panel names a starting model kept as it was."""
    from napari_unet.core.files.lineage import starter_name
    from napari_unet.core.files.starters import title

    return (f"Starter: {title(bundle)}" if starter_name(bundle.lineage) is not None
            else "The starting model")


def _free(device) -> None:
    from napari_unet.core.oom import free_device_memory

    free_device_memory(device)


def _until(trainer, stop):
    if stop.is_set():  # stopped while the trainer was being built
        return None
    gen = trainer.steps()
    try:
        for record in gen:
            yield record
            if stop.is_set():
                break
        else:
            return trainer.bundle()
    finally:
        gen.close()
    return trainer.bundle() if trainer.step > 0 else None


class TrainWidget(PaintingChecks, LiveControls, QWidget):
    """Choose image/labels pairs, train (Stop keeps the model so far), see the result."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__()
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self.data = TrainingData(napari_viewer)
        self.settings = TrainSettings()
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop now and keep the model trained so far")
        self.stop_button.setEnabled(False)
        self.live_button = QPushButton("Live")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip(LIVE_TIP)
        self.paint_next = QCheckBox("Show where to paint next")
        self.paint_next.setToolTip(
            "Also show the model's uncertainty ('<image> uncertainty') and a few spots where "
            "painting would help most ('<image> paint here'), refreshed with the prediction"
        )
        self.correct_button = QPushButton("Correct the prediction")
        self.correct_button.setToolTip(
            "Copy the prediction into a new labels layer '<image> corrections', fix its "
            "mistakes there, then Train: the current model is fine-tuned on it")
        self.correct_button.clicked.connect(self.correct)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.plane_button = QPushButton(PLANE_BUTTON)
        self.plane_button.setToolTip("Stop predicting the whole stack and predict only the "
                                     "plane shown")
        self.plane_button.setVisible(False)
        self.plane_button.clicked.connect(self.plane_instead)
        self.forecast = None
        self.plot = LossPlot()
        self.models = ModelPanel(napari_viewer, compact=True)
        self.advice = AdvicePanel()
        self.advice.switch.clicked.connect(self._switch_mode)
        self.advice.anyway.clicked.connect(lambda: self.train(check=False))
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.train_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.live_button)
        layout = scrolling_layout(self, footer=buttons)  # Train always in view
        self.sections = {
            "data": Section("Training data", self.data),
            "settings": Section("Settings", self.settings),
            "training": Section("Training", self.paint_next, self.status, self.plane_button,
                                self.advice,
                                self.plot, self.correct_button),
            "model": Section("Model", self.models),
        }
        for section in self.sections.values():
            layout.addWidget(section)
        layout.addStretch(1)
        self._closed = False

        self.worker = None
        self.trainer = None
        self.last_run: dict = {}
        """Steps, seconds, whether stopped, and device of the last training run."""
        self.predict_worker = None
        self._bundle = None
        self._bar = None
        self._stopped = False
        self._skipped = False
        """The start already fitted the painting: not trained, its prediction shown."""
        self._pairs = []
        self._predict_token = None
        self._note = ""
        self._stop_event = threading.Event()
        self._seen = 0
        """How many of the trainer's events the dock has said."""
        self._live_small = False
        self._request = None
        """The 'Start from' choice of the running training (a StartRequest)."""
        self._key = None
        """The painting the running training learns (:func:`_painting_key`)."""
        self._fits_key = None
        """The painting its start already matched, untrained: a second Train trains."""
        self.start_choice = None
        """What the last training started from (a core ``StartChoice``), and why."""
        self.paint_worker = None
        self.live = LiveMode(napari_viewer, on_progress=self._on_live_progress,
                             on_note=self._on_live_note, on_finished=self._on_live_finished,
                             on_choice=self._on_live_choice)
        self.live_button.clicked.connect(self.set_live)
        self.paint_next.toggled.connect(self.live.set_uncertainty)
        self.train_button.clicked.connect(self.train)
        self.train_button.clicked.connect(self._show_status)
        self.live_button.clicked.connect(self._show_status)
        self.stop_button.clicked.connect(self.stop)
        self.settings.device.currentTextChanged.connect(self._set_device)
        self._set_device(self.settings.device.currentText())
        self.settings.annotation.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()
        self.learning = QLabel()
        self.learning.setWordWrap(True)
        self.learning.setVisible(False)
        self.learning.setToolTip(
            "While you paint, the U-Net learns what this image looks like from the image "
            "alone (no strokes needed); Train then starts from what it learnt")
        self.sections["training"].add(self.learning, 1)  # under "Show where to paint next"
        self.warmup = Warmup(self, on_progress=self._show_learning, viewer=napari_viewer)
        """Learns the image in the background while the user paints (no clicks)."""
        self.session.watch(self, self._model_changed)
        self.session.watch(self, self._jobs_changed, "jobs_changed")
        self.data.rows[0].image.currentIndexChanged.connect(self.learn_image)
        self.learn_image()

    def _show_status(self, *_) -> None:
        """Scroll the dock to the status line (the buttons stay in view below)."""
        self.sections["training"].set_expanded(True)
        area = self.findChild(VerticalScroll)
        if area is not None:
            area.ensureWidgetVisible(self.status)

    def _show_learning(self, steps) -> None:
        """'Learning the image while you paint… (N steps)' while it runs, that it is paused
        while nothing is painted, nothing after."""
        running = steps is not None and self.worker is None and not self.live.running
        try:
            self.learning.setVisible(running)
            if running and self.warmup.paused:
                self.learning.setText(
                    f"Learning the image: paused, nothing was painted for {self.warmup.quiet_s:.0f} s "
                    f"(step {steps}). It goes on when you paint.")
            elif running:
                self.learning.setText(f"Learning the image while you paint… (step {steps})")
        except RuntimeError:  # the dock is gone (napari closed it)
            self.warmup.stop(for_good=True)

    def learn_image(self, *_) -> None:
        """Start learning the first pair's image in the background (the plane in view), if
        the next Train would start from scratch: no model yet, 2-D, nothing running."""
        layer = self.data.rows[0].image.value
        try:
            config = self.settings.train_config()
            model = self.settings.model_config()
        except ConfigError:
            return
        if (layer is None or self.busy or self.session.bundle is not None
                or self.settings.is_3d() or config.self_supervised <= 0
                or self.settings.start_from.spec() not in (AUTO, NONE)):
            self.warmup.stop()
            return

        def read():
            try:
                plane = plane_of(self.viewer, layer)
            except ImageError:
                return []
            return [plane] if plane is not None else []

        key = (id(layer), tuple(layer.data.shape), repr(model))
        self.warmup.follow(key, read, model, config)

    @property
    def busy(self) -> bool:
        """Whether training (also live) or the prediction after it is running."""
        return (self.worker is not None or self.predict_worker is not None
                or self.live.running or self.paint_worker is not None)

    def _enable_start(self) -> None:
        """Train and Live are enabled, unless the predict dock is predicting (then they say
        why in their tooltip and wait for it: one prediction at a time)."""
        other = self.session.job_besides(TRAIN_TITLE)
        self.train_button.setEnabled(not other)
        self.live_button.setEnabled(not other)
        wait = f"Waiting: {other}." if other else ""
        self.train_button.setToolTip(wait or TRAIN_HINTS[self.settings.mode()][0])
        self.live_button.setToolTip(wait or LIVE_TIP)

    def _jobs_changed(self) -> None:
        if not self.busy and not self._closed:
            self._enable_start()

    def _set_device(self, name: str) -> None:
        self.session.device = name

    def _model_changed(self) -> None:
        self.settings.show_model(self.session.bundle)
        self.learn_image()  # a model now: training will continue from it, nothing to learn

    def _mode_changed(self, *_) -> None:
        mode = self.settings.mode()
        self.data.set_mode(mode)
        tip, hint = TRAIN_HINTS[mode]
        self.train_button.setToolTip(tip)
        if not self.busy:
            self.status.setText(hint)

    # -- start ------------------------------------------------------------------------------
    def _prepare(self):
        """Read and check the settings and data: ``(pairs, images, labels, model, config,
        request, names)`` (``model``: the architecture if training starts from scratch;
        ``request``: the 'Start from' choice), or None after telling the user why training
        cannot start."""
        try:
            config = self.settings.train_config()
            pairs = self.data.pairs()
            if self.settings.is_3d():
                images, labels, n_classes = training_volumes(pairs)
            else:
                images, labels, n_classes = training_arrays(pairs, config.mode)
            model = self.settings.model_config()
        except (ImageError, ConfigError) as e:
            self.say_error(f"Cannot train: {e}")
            return None
        self._pairs = pairs
        request = self._start_request(config)
        names = None if config.mode == "instance" else self.settings.class_names(n_classes)
        return pairs, images, labels, model, config, request, names

    def _start_request(self, config) -> StartRequest:
        """The 'Start from' choice, with the current model if it can be continued. Where
        the choice goes without saying, a model that cannot be continued is told now, as
        before starters."""
        current = self.session.bundle
        why = self.settings.cannot_continue(current) if current is not None else ""
        request = StartRequest(self.settings.start_from.spec(), None if why else current,
                               why, self.settings.is_3d(), config.region_margin)
        self._note, self._request = "", request
        if why and request.quiet and request.spec != NONE:
            self._note = self.settings.fresh_reason(current)
            show_info(self._note)
        return request

    def _free_to_start(self) -> bool:
        """False, after saying why, while the predict dock is predicting."""
        other = self.session.job_besides(TRAIN_TITLE)
        if other:
            self.status.setText(f"Waiting: {other}. Train when it has finished, or Cancel it "
                                "there.")
            self._enable_start()
        return not other

    def say_error(self, text: str) -> None:
        """Tell the user why something cannot be done: in the dock's status line (it stays)
        and as a notification (when that is safe: :func:`~.layers.safe_to_notify`)."""
        if safe_to_notify(self.viewer):
            show_error(text)
        self.status.setText(text)

    def train(self, check: bool = True, check_mode: bool = True):
        """Validate, then start training in a worker. Returns the worker (None if refused).

        ``check``: first check that the painting fits the annotation mode (``check_mode``;
        else the dock says why and offers to switch) and, for whole objects, that no
        object in the annotated area looks unpainted; else nothing is trained yet."""
        if self.worker is not None or self.live.running:
            return None
        if not self._free_to_start():
            return None
        prepared = self._prepare()
        if prepared is None:
            return None
        pairs, images, labels, model, config, request, names = prepared
        self._key = _painting_key(pairs, labels, request.spec, config.mode)
        if (check and check_mode and not self.settings.is_3d()
                and self._advised(labels, config.mode)):
            return None
        if check and config.mode == "instance" and self._unpainted(images, labels, config):
            return None
        self.advice.clear()
        self.trainer, self._bundle, self._stopped = None, None, False
        self.plot.clear()
        self._bar = ProgressBar("Training U-Net")
        self.status.setText("Preparing…" if request.quiet else
                            "Trying the starting models on your painting…")
        self._stop_event, self._seen = threading.Event(), 0
        self.start_choice, self._skipped = None, False
        self.worker = _train(images, labels, model, config, request, names, self._stop_event,
                             three_d=self.settings.is_3d(), warmup=self.warmup,
                             train_if_fits=self._key == self._fits_key)
        self.worker.yielded.connect(self._on_yielded)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_errored)
        self.worker.finished.connect(self._on_finished)
        self.train_button.setEnabled(False)
        self.live_button.setEnabled(False)  # one training at a time
        self.stop_button.setEnabled(True)
        start(self.worker, self)  # closing napari stops training
        return self.worker

    def stop(self) -> None:
        """Stop training (or live mode) after the step that is running; the model so far
        is kept."""
        if self.live.running:
            self.set_live(False)
            return
        if self.worker is None and self.predict_worker is not None:  # the prediction after
            self._predict_stopped = True
            self.stop_button.setEnabled(False)
            self.predict_worker.quit()
            return
        if self.worker is not None:
            self._stop_event.set()
            self._stopped = True
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping…")

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        share_column(self)  # both docks in one column: each gets a fair share of it

    def event(self, event) -> bool:  # noqa: N802 (Qt's name)
        """Closing the dock (napari takes the widget out of its dock) stops its work."""
        if event.type() == QEvent.ParentChange:
            self.session.docks_changed()
            if self.parent() is None and not self._closed:
                self.close_down()
        return super().event(event)

    def close_down(self) -> None:
        """The dock is closed: stop training, live mode, background learning and the
        prediction; what was being trained is dropped (nothing appears later) and its
        memory freed."""
        self._closed = True
        self.shutdown()

    def shutdown(self) -> None:
        """Stop training and prediction (used when closing)."""
        self.stop()
        self.warmup.stop(for_good=True)
        if self.worker is not None:
            self.worker.quit()  # also before the first step
        if self.live.running:
            self.live.stop()
        if self.paint_worker is not None:
            self.paint_worker.quit()
        if self.predict_worker is not None:
            self.predict_worker.quit()

    # -- worker signals -------------------------------------------------------------------
    def _on_yielded(self, item: Progress) -> None:
        if item.stage == CHOSEN:
            self._say_choice(item.payload)
            return
        if item.stage == BUILT:
            self.trainer = item.payload
            self._say_events(self.trainer)
            return
        if item.loss is not None:
            self.plot.add(item.done, item.loss)
        if item.validation is not None:
            at = self.trainer.validation_step if self.trainer is not None else item.done
            self.plot.add_score(at, item.validation)
        if not self._stopped:
            budget = self.trainer.config.seconds if self.trainer is not None else None
            of = f" of {budget:.0f} s" if budget else ""
            loss = f" · loss {self.plot.points[-1][1]:.3f}" if self.plot.points else ""
            score = check_text(self.trainer, item.validation)
            self.status.setText(f"Step {item.done} · {item.elapsed:.1f} s{of}{loss}{score}")
        # last: napari's progress bar may process pending events (even ``finished``) here;
        # it also tells the user about an out-of-memory retry
        self._bar.update(item)

    def _say_choice(self, choice, live: bool = False) -> None:
        """Tell which model training starts from, and why (status and a notification)."""
        self.start_choice = choice
        request = self._request
        if choice.fits_already:  # said at once: the user need not wait for the same model
            text = fits_text(choice, self.settings.mode())
            if live:  # live mode trains while the user paints on
                now = ""
            elif self._key != self._fits_key:  # not trained: its prediction is shown instead
                self._skipped, self._fits_key = True, self._key
                text += " Press Train again to train anyway."
                now = " Showing its prediction…"
            else:  # Train pressed again on the same painting
                text = "Training anyway, as asked."
                now = " Stop ends training now and keeps whichever matches better. Training…"
            if safe_to_notify(self.viewer):
                show_info(text)
            self._note = f"{self._note} {text}".strip()  # said again when training ends
            self.status.setText(f"{text}{now}")
            return
        if request is None or request.quiet:
            return
        text = sentence(choice_said(choice))
        again = sentence(choice_said(choice, scores=False))
        if request.spec == AUTO and request.not_current and choice.name != "current model":
            why = f" (The current model cannot be continued: {request.not_current}.)"
            text, again = text + why, again + why
        if safe_to_notify(self.viewer):
            show_info(text)
        self._note = f"{self._note} {again}".strip()
        self.status.setText(f"{text} Preparing…")

    def _say_events(self, trainer) -> None:
        """Say the trainer's events not said yet (:func:`~.wording.training_said`)."""
        new, self._seen = trainer.events[self._seen:], len(trainer.events)
        if new:
            self._add_note(" ".join(sentence(clause) for clause in training_said(new)))

    def _add_note(self, text: str) -> None:
        """Show ``text`` now, and again in the status when training ends."""
        if safe_to_notify(self.viewer):
            show_info(text)
        self._note = f"{self._note} {text}".strip()

    def _on_returned(self, bundle) -> None:
        self._bundle = bundle

    def _on_errored(self, error) -> None:
        self.say_error(failed("Training failed", error))

    def _on_finished(self) -> None:
        self._bar.close()
        self.worker = None
        self._enable_start()
        self.stop_button.setEnabled(False)
        trainer, self.trainer = self.trainer, None  # frees the model and image copies
        bundle = self._bundle
        if self._closed:  # the dock was closed: nothing more to show, memory handed back
            self._bundle = None
            if trainer is not None:
                QTimer.singleShot(0, lambda device=trainer.device: _free(device))
            return
        if bundle is None and self._stopped and trainer is not None and trainer.step > 0:
            bundle = trainer.bundle()
        if trainer is not None:
            self.last_run = {"steps": trainer.step, "seconds": trainer.elapsed,
                             "stopped": self._stopped, "device": trainer.device.type}
            self._guard_message(trainer)
            # hand the GPU's cached blocks back once the trainer is gone (nvidia-smi shows it)
            QTimer.singleShot(0, lambda device=trainer.device: _free(device))
        if bundle is None and self._skipped and not self._stopped:
            self._show_start()
            return
        if bundle is None:
            if self._stopped:
                self.status.setText("Stopped before the first step; the model is unchanged.")
            return
        verb = "Stopped after" if self._stopped else "Trained"
        note = f" {self._note}" if self._note else ""
        self.status.setText(
            f"{verb} {trainer.step} steps in {trainer.elapsed:.1f} s on "
            f"{ran_on(trainer.device.type, trainer.config.threads)}.{note} Predicting…"
        )
        start = self.start_choice.bundle if self.start_choice is not None else None
        if (trainer is not None and getattr(trainer, "kept_start", False) and start is not None
                and _same_kind(start, bundle)):
            # the starting model as it was: not "trained here", nor its steps added up
            bundle = start
            if start is not self.session.bundle:
                self.session.set_model(start, _source_of(start))
        else:
            names = [image.name for image, _ in self._pairs]
            self.session.set_model(bundle, f"Trained here on {', '.join(names)}",
                                   trained_on=names)
        self._predict_first(bundle)

    def _show_start(self) -> None:
        """The start already fitted the painting and was not trained: it becomes the
        current model (as it is) and its prediction is shown."""
        start = self.start_choice.bundle
        if start is not self.session.bundle:
            self.session.set_model(start, _source_of(start))
        self.status.setText(f"{self._note} Predicting…")
        self._predict_first(start)

    def _guard_message(self, trainer) -> None:
        """Tell the user when training kept earlier weights than its last (validation)."""
        self._say_events(trainer)
        if trainer.validation is not None:
            self.plot.add_score(trainer.validation_step, trainer.validation)

    def _predict_first(self, bundle, plane=False) -> None:
        """Predict the first pair's image with ``bundle``: the whole stack when it is small
        (:func:`auto_plane`), or ``plane`` (a plane's index) when given."""
        image = self._pairs[0][0] if self._pairs else None
        if image is None or image not in self.viewer.layers:
            self._prediction_done(None, self._predict_token)
            return
        if self.predict_worker is not None:  # an older model's prediction: not wanted now
            self.predict_worker.quit()
        token = self._predict_token = object()
        self.predict_worker = start_prediction(
            self.viewer, image, bundle,
            device=self.session.device,
            probabilities=has_results(self.viewer, image, "probability"),
            plane=auto_plane(self.viewer, image) if plane is False else plane,
            objects=bundle.mode == "semantic" and has_results(self.viewer, image, "objects"),
            on_done=lambda layer: self._prediction_done(layer, token),
        )
        if self.predict_worker is not None:
            quit_with(self, self.predict_worker)
            self.session.begin(TRAIN_TITLE, f"predicting '{image.name}'")
            self._predict_stopped, self._plane_next = False, False
            whole = auto_plane(self.viewer, image) is None if plane is False else plane is None
            self.forecast = Forecast(self.predict_worker, spatial_shape(image),
                                     lambda said: self._long(image, bundle, whole, said))
            # one job at a time: Stop ends this prediction, Train and Live wait for it
            self.train_button.setEnabled(False)
            self.live_button.setEnabled(False)
            self.stop_button.setEnabled(True)

    def _long(self, image, bundle, whole: bool, said: str) -> None:
        """The prediction after training will take minutes: say how long, and offer the
        plane in view (a 2-D model on a stack, predicted whole)."""
        if self.predict_worker is None or getattr(self, "_predict_stopped", False):
            return
        offer = (whole and len(spatial_shape(image)) > 2
                 and bundle.model_config.spatial_dims == 2)
        then = (f" '{PLANE_BUTTON}' predicts just the plane shown." if offer else
                " Stop ends it; the model is kept.")
        text = self.status.text().replace(" Predicting…", "")
        self.status.setText(f"{text} Predicting '{image.name}': {said}.{then}")
        self.plane_button.setVisible(offer)

    def plane_instead(self) -> None:
        """Stop predicting the whole stack; predict the plane in view instead."""
        self.plane_button.setVisible(False)
        if self.predict_worker is None:
            return
        self._plane_next = True
        self.stop()

    def _prediction_done(self, layer, token) -> None:
        if token is not self._predict_token:
            return
        self.predict_worker = None
        self.session.end(TRAIN_TITLE)
        self.plane_button.setVisible(False)
        if getattr(self, "_plane_next", False) and layer is None and self._pairs:
            self._plane_next = False
            image = self._pairs[0][0]
            if image in self.viewer.layers and self.session.bundle is not None:
                text = self.status.text().split(" Predicting '")[0]
                self.status.setText(f"{text} Predicting the plane in view…")
                self._predict_first(self.session.bundle, current_plane(self.viewer, image))
                if self.predict_worker is not None:
                    return
        if not self._closed:
            self._enable_start()
            self.stop_button.setEnabled(False)
        text = self.status.text().split(" Predicting")[0]
        image = self._pairs[0][0] if self._pairs else None
        if layer is None and getattr(self, "_predict_stopped", False):
            text += " The prediction was stopped: nothing was written."
        elif layer is not None:
            text += f" Prediction in '{layer.name}'.{hidden_by(self.viewer, layer)}"
        elif image is not None and image not in self.viewer.layers:
            text += f" '{image.name}' was removed: the model is kept, nothing was predicted."
        self.status.setText(text)
        bundle = self.session.bundle
        flat = bundle is not None and bundle.model_config.spatial_dims == 2  # paint-next: 2-D
        if self.paint_next.isChecked() and self._pairs and layer is not None and flat:
            self._show_paint_next(self.session.bundle)

    def _show_paint_next(self, bundle) -> None:
        from ..common.paint_next import start_paint_next

        image, labels = self._pairs[0]
        if bundle is None or image not in self.viewer.layers or self.paint_worker is not None:
            return
        plane = current_plane(self.viewer, image)
        painted = np.array(labels.data[plane]) if labels in self.viewer.layers else None
        self.paint_worker = start_paint_next(self.viewer, image, bundle, painted, plane,
                                             device=self.session.device)
        self.paint_worker.finished.connect(self._paint_next_done)
        quit_with(self, self.paint_worker)

    def _paint_next_done(self) -> None:
        self.paint_worker = None
