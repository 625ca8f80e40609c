"""Dock widget: train a U-Net on painted labels, live, with Stop; then predict.

Thin on purpose: it turns layers into arrays (``training_data.training_arrays``), builds
configs (``train_settings``: strokes of classes or whole objects, see ``modes``), runs the
core's ``Trainer.steps()`` generator in a napari ``thread_worker`` and writes the prediction
back (``prediction``). Nothing it does changes a layer the user painted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_unet.core.config import ConfigError
from napari_unet.core.images import ImageError

from .loss_plot import LossPlot
from .model_panel import ModelPanel
from .modes import TRAIN_HINTS
from .prediction import auto_plane, has_results, start_prediction
from .session import session_for
from .tasks import ProgressBar, TaskError, guarded
from .train_settings import TrainSettings
from .training_data import TrainingData, training_arrays

if TYPE_CHECKING:
    import napari


@thread_worker(start_thread=False)
def _train(images, labels, model, config, init, class_names):
    """Build the Trainer off the GUI thread, hand it over (first yield), then train."""
    from napari_unet.core.train import Trainer

    try:
        trainer = Trainer(images, labels, model=model, config=config, init=init,
                          class_names=class_names)
    except RuntimeError as e:  # e.g. the chosen device is not available
        raise TaskError(str(e)) from e
    yield trainer
    return (yield from guarded(trainer.steps()))


def _group(title: str, *widgets) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    for w in widgets:
        layout.addWidget(w)
    return box


class TrainWidget(QWidget):
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
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.plot = LossPlot()
        self.models = ModelPanel(napari_viewer, compact=True)
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.train_button)
        row.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addWidget(_group("Training data", self.data))
        layout.addWidget(_group("Settings", self.settings))
        layout.addWidget(_group("Training", buttons, self.status, self.plot))
        layout.addWidget(_group("Model", self.models))
        layout.addStretch(1)

        self.worker = None
        self.trainer = None
        self.last_run: dict = {}
        """Steps, seconds, whether stopped, and device of the last training run."""
        self.predict_worker = None
        self._bundle = None
        self._bar = None
        self._stopped = False
        self._pairs = []
        self._predict_token = None
        self._note = ""
        self.train_button.clicked.connect(self.train)
        self.stop_button.clicked.connect(self.stop)
        self.settings.device.currentTextChanged.connect(self._set_device)
        self._set_device(self.settings.device.currentText())
        self.settings.annotation.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()
        self.session.watch(self, self._model_changed)

    @property
    def busy(self) -> bool:
        """Whether training or the prediction after it is running."""
        return self.worker is not None or self.predict_worker is not None

    def _set_device(self, name: str) -> None:
        self.session.device = name

    def _model_changed(self) -> None:
        self.settings.show_model(self.session.bundle)

    def _mode_changed(self, *_) -> None:
        mode = self.settings.mode()
        self.data.set_mode(mode)
        tip, hint = TRAIN_HINTS[mode]
        self.train_button.setToolTip(tip)
        if not self.busy:
            self.status.setText(hint)

    # -- start ------------------------------------------------------------------------------
    def train(self):
        """Validate, then start training in a worker. Returns the worker (None if refused)."""
        if self.worker is not None:
            return None
        try:
            config = self.settings.train_config()
            pairs = self.data.pairs()
            images, labels, n_classes = training_arrays(pairs, config.mode)
            model = self.settings.model_config()
        except (ImageError, ConfigError) as e:
            show_error(f"Cannot train: {e}")
            return None
        self._pairs = pairs
        init = None if self.settings.fresh.isChecked() else self.session.bundle
        self._note = self.settings.fresh_reason(init) if init is not None else ""
        if self._note:
            show_info(self._note)
            init = None
        elif init is not None:
            model = None  # continue with the current model's architecture
        names = None if config.mode == "instance" else self.settings.class_names(n_classes)
        self.trainer, self._bundle, self._stopped = None, None, False
        self.plot.clear()
        self._bar = ProgressBar("Training U-Net")
        self.status.setText("Preparing…")
        self.worker = _train(images, labels, model, config, init, names)
        self.worker.yielded.connect(self._on_yielded)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_errored)
        self.worker.finished.connect(self._on_finished)
        self.destroyed.connect(self.worker.quit)  # closing napari stops training
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.worker.start()
        return self.worker

    def stop(self) -> None:
        """Stop training after the step that is running; the model so far is kept."""
        if self.worker is not None:
            self.worker.quit()
            self._stopped = True
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping…")

    def shutdown(self) -> None:
        """Stop training and prediction (used when closing)."""
        self.stop()
        if self.predict_worker is not None:
            self.predict_worker.quit()

    # -- worker signals -------------------------------------------------------------------
    def _on_yielded(self, item) -> None:
        if not hasattr(item, "stage"):
            self.trainer = item
            if item.note:
                self._note = f"Training {item.note}."
                show_info(self._note)
            return
        self._bar.set_fraction(item.fraction)
        if item.loss is not None:
            self.plot.add(item.done, item.loss)
        if self._stopped:
            return
        budget = self.trainer.config.seconds if self.trainer is not None else None
        of = f" of {budget:.0f} s" if budget else ""
        loss = f" · loss {self.plot.points[-1][1]:.3f}" if self.plot.points else ""
        self.status.setText(f"Step {item.done} · {item.elapsed:.1f} s{of}{loss}")

    def _on_returned(self, bundle) -> None:
        self._bundle = bundle

    def _on_errored(self, error) -> None:
        show_error(f"Training failed: {error}")
        self.status.setText(f"Training failed: {error}")

    def _on_finished(self) -> None:
        self._bar.close()
        self.worker = None
        self.train_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        trainer, self.trainer = self.trainer, None  # frees the model and image copies
        bundle = self._bundle
        if bundle is None and self._stopped and trainer is not None and trainer.step > 0:
            bundle = trainer.bundle()
        if trainer is not None:
            self.last_run = {"steps": trainer.step, "seconds": trainer.elapsed,
                             "stopped": self._stopped, "device": trainer.device.type}
        if bundle is None:
            if self._stopped:
                self.status.setText("Stopped before the first step; the model is unchanged.")
            return
        verb = "Stopped after" if self._stopped else "Trained"
        note = f" {self._note}" if self._note else ""
        self.status.setText(
            f"{verb} {trainer.step} steps in {trainer.elapsed:.1f} s on "
            f"{bundle.info.get('device', '')}.{note} Predicting…"
        )
        names = [image.name for image, _ in self._pairs]
        self.session.set_model(bundle, f"Trained here on {', '.join(names)}", trained_on=names)
        self._predict_first(bundle)

    def _predict_first(self, bundle) -> None:
        image = self._pairs[0][0] if self._pairs else None
        if image is None or image not in self.viewer.layers:
            return
        if self.predict_worker is not None:  # an older model's prediction: not wanted now
            self.predict_worker.quit()
        token = self._predict_token = object()
        self.predict_worker = start_prediction(
            self.viewer, image, bundle,
            device=self.session.device,
            probabilities=has_results(self.viewer, image, "probability"),
            plane=auto_plane(self.viewer, image),
            objects=bundle.mode == "semantic" and has_results(self.viewer, image, "objects"),
            on_done=lambda layer: self._prediction_done(layer, token),
        )
        if self.predict_worker is not None:
            self.destroyed.connect(self.predict_worker.quit)

    def _prediction_done(self, layer, token) -> None:
        if token is not self._predict_token:
            return
        self.predict_worker = None
        text = self.status.text().replace(" Predicting…", "")
        if layer is not None:
            text += f" Prediction in '{layer.name}'."
        self.status.setText(text)

