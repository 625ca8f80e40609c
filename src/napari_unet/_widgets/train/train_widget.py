"""Dock widget: train a U-Net on painted labels, live, with Stop; then predict.

A view: it reads its settings and layers (``train_settings``: strokes of classes or whole
objects, see ``modes``; ``training_data.training_arrays``) into a :class:`~.controller.TrainJob`
and hands it to its :class:`~.controller.TrainController`, which runs the core's
``Trainer.steps()`` in a worker and writes the prediction back; the dock shows the
controller's state (buttons), words (status line) and losses (plot). Nothing it does
changes a layer the user painted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from napari_unet.core.config import ConfigError
from napari_unet.core.images import ImageError

from ..common.dock_controller import PLANE_BUTTON
from ..common.model_panel import ModelPanel
from ..common.qt_runner import QtRunner
from ..common.scrolling import VerticalScroll, scrolling_layout, share_column
from ..common.sections import Section
from ..common.session import session_for
from ..common.start_request import AUTO, NONE, StartRequest
from .advice import AdvicePanel
from .controller import TrainController, TrainJob
from .loss_plot import LossPlot
from .modes import TRAIN_HINTS
from .states import RUNNING, TRAIN_TITLE, TrainState
from .train_checks import PaintingChecks
from .train_live import LiveControls
from .train_settings import TrainSettings
from .training_data import TrainingData, training_arrays, training_volumes
from .warmup import plane_of

if TYPE_CHECKING:
    import napari

__all__ = ["PLANE_BUTTON", "TRAIN_TITLE", "TrainWidget"]

LIVE_TIP = ("Train without end while you paint: new strokes are used within seconds and the "
            "prediction of what is in view follows. Click again to stop and keep the model.")


class TrainWidget(PaintingChecks, LiveControls, QWidget):
    """Choose image/labels pairs, train (Stop keeps the model so far), see the result."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__()
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self.data = TrainingData(napari_viewer)
        self.settings = TrainSettings()
        self._make_controls()
        runner = QtRunner(self)
        self.models = ModelPanel(napari_viewer, runner, compact=True)
        self.advice = AdvicePanel()
        self.advice.switch.clicked.connect(self._switch_mode)
        self.advice.anyway.clicked.connect(lambda: self.train(check=False))
        self._lay_out()
        self._closed = False
        self.ctl = TrainController(napari_viewer, runner)
        """The dock's state machine: training, live mode and the prediction after them
        (:mod:`.controller`)."""
        self._connect_controller()
        self._connect_controls()
        self._add_learning_note()
        self.session.watch(self, self._model_changed)
        self.session.watch(self, self._jobs_changed, "jobs_changed")

    def _make_controls(self) -> None:
        """The buttons, the status line and the loss plot of the Training section."""
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
        self.plot = LossPlot()

    def _lay_out(self) -> None:
        """The four sections, scrolling, with Train, Stop and Live always in view."""
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

    def _connect_controls(self) -> None:
        """The buttons and settings to what they do."""
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

    def _add_learning_note(self) -> None:
        """The line that says the U-Net is learning the image while the user paints."""
        self.learning = QLabel()
        self.learning.setWordWrap(True)
        self.learning.setVisible(False)
        self.learning.setToolTip(
            "While you paint, the U-Net learns what this image looks like from the image "
            "alone (no strokes needed); Train then starts from what it learnt")
        self.sections["training"].add(self.learning, 1)  # under "Show where to paint next"
        self.ctl.learning.connect(self._show_learning)  # background learning (ctl.warmup)
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
                or self.settings.is_3d() or config.regularisers.self_supervised <= 0
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
        return self.ctl.busy or self.live.running or self.ctl.paint_next.busy

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
            self.ctl.say(hint)

    # -- start ------------------------------------------------------------------------------
    def _prepare(self):
        """Read and check the settings and data: ``(pairs, images, labels, model, config,
        request, names)`` (``model``: the architecture if training starts from scratch;
        ``request``: the 'Start from' choice), handed to the controller too; or None after
        telling the user why training cannot start."""
        try:
            config = self.settings.train_config()
            pairs = self.data.pairs()
            if self.settings.is_3d():
                images, labels, n_classes = training_volumes(pairs)
            else:
                images, labels, n_classes = training_arrays(pairs, config.targets.mode)
            model = self.settings.model_config()
        except (ImageError, ConfigError) as e:
            self.say_error(f"Cannot train: {e}")
            return None
        request, note = self._start_request(config)
        self.ctl.take(pairs, request, config.targets.mode, note)
        names = None if config.targets.mode == "instance" else self.settings.class_names(n_classes)
        return pairs, images, labels, model, config, request, names

    def _start_request(self, config) -> tuple[StartRequest, str]:
        """The 'Start from' choice, with the current model if it can be continued; and,
        where the choice goes without saying, why a model that cannot be continued is not
        (told now, as before starters)."""
        current = self.session.bundle
        why = self.settings.cannot_continue(current) if current is not None else ""
        request = StartRequest(self.settings.start_from.spec(), None if why else current,
                               why, self.settings.is_3d(), config.targets.region_margin)
        note = ""
        if why and request.quiet and request.spec != NONE:
            note = self.settings.fresh_reason(current)
        return request, note

    def say_error(self, text: str) -> None:
        """Tell the user why something cannot be done (:meth:`TrainController.say_error`)."""
        self.ctl.say_error(text)

    def train(self, check: bool = True, check_mode: bool = True):
        """Validate, then start training in a worker. Returns the worker (None if refused).

        ``check``: first check that the painting fits the annotation mode (``check_mode``;
        else the dock says why and offers to switch) and, for whole objects, that no
        object in the annotated area looks unpainted; else nothing is trained yet."""
        if not self.ctl.free_to_start():
            return None
        prepared = self._prepare()
        if prepared is None:
            return None
        job = TrainJob(*prepared, three_d=self.settings.is_3d(), warmup=self.warmup)
        return self.ctl.train(job, check=check, check_mode=check_mode)

    def stop(self) -> None:
        """Stop training (or live mode) after the step that is running; the model so far
        is kept."""
        if self.live.running:
            self.set_live(False)
            return
        self.ctl.stop()

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
        if self.live.running:
            self.set_live(False)
        if self._closed:
            self.ctl.close()
        else:
            self.ctl.shutdown()
        self.warmup.stop(for_good=True)
        if self.live.running:
            self.live.stop()

    # -- showing the controller -------------------------------------------------------------
    def _connect_controller(self) -> None:
        ctl = self.ctl
        ctl.status_changed.connect(lambda text: self.status.setText(text))  # Qt's: no signature
        ctl.state_changed.connect(self._show_state)
        ctl.loss_added.connect(self.plot.add)
        ctl.score_added.connect(self.plot.add_score)
        ctl.plot_cleared.connect(self.plot.clear)
        ctl.advised.connect(lambda advice: self.advice.clear() if advice is None
                            else self.advice.offer(advice))
        ctl.plane_offered.connect(lambda offer: self.plane_button.setVisible(offer))
        ctl.predicted.connect(self._predicted)
        # napari closing deletes the dock: its controller stops and shows nothing more
        self.destroyed.connect(lambda *_: (ctl.detach(), ctl.close()))

    def _show_state(self, state: TrainState) -> None:
        """Train and Live wait while the dock trains or predicts (one job at a time); Stop
        ends either, once."""
        if self._closed:
            return
        if state is TrainState.LIVE:
            self.live_button.setChecked(True)
        elif state is not TrainState.STOPPING:
            self.live_button.setChecked(False)
        if state is TrainState.IDLE:
            self._enable_start()
            self.stop_button.setEnabled(False)
            return
        self.train_button.setEnabled(False)
        self.live_button.setEnabled(state is TrainState.LIVE)
        # Stop ends live mode too (pressed again while it stops: nothing more)
        self.stop_button.setEnabled(state in (*RUNNING, TrainState.PREDICTING, TrainState.LIVE)
                                    or (state is TrainState.STOPPING and self.live.running))

    def _predicted(self, layer) -> None:
        if self.paint_next.isChecked() and layer is not None:
            self.ctl.show_paint_next(self.session.bundle)

    def plane_instead(self) -> None:
        """Stop predicting the whole stack; predict the plane in view instead."""
        self.ctl.plane_instead()

    # the controller's, by their earlier names (tests and benchmarks read them)
    worker = property(lambda self: self.ctl.worker)
    live = property(lambda self: self.ctl.live)
    warmup = property(lambda self: self.ctl.warmup)
    trainer = property(lambda self: self.ctl.trainer)
    predict_worker = property(lambda self: self.ctl.predict_worker)
    last_run = property(lambda self: self.ctl.last_run)
    start_choice = property(lambda self: self.ctl.start_choice)
    forecast = property(lambda self: self.ctl.forecast)

    @property
    def _pairs(self) -> list:
        return self.ctl.pairs

    @_pairs.setter
    def _pairs(self, pairs) -> None:
        self.ctl.pairs = pairs

    def _predict_first(self, bundle, plane=False) -> None:
        self.ctl.predict_first(bundle, plane)
