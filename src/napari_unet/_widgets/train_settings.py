"""Training settings: a few with good defaults in view, the rest folded under Advanced.

Defaults are read from the core's dataclasses, so the widget, the command line and
notebooks train alike unless the user changes something.
"""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from napari_unet.core.config import ModelConfig, TrainConfig, interactive_threads

DEFAULT_CLASSES = "background, foreground"


def available_devices() -> list[str]:
    """'auto', 'cpu' and the accelerators torch can use here (imports torch)."""
    import torch

    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        names += ["cuda"] + [f"cuda:{i}" for i in range(1, n)]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def describe_device(name: str) -> str:
    from napari_unet.core.device import describe, resolve_device

    try:
        return describe(resolve_device(name))
    except RuntimeError as e:
        return str(e)


def _spin(lo, hi, value, step=1, special=None, suffix="") -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    if special:
        box.setSpecialValueText(special)
    if suffix:
        box.setSuffix(suffix)
    return box


class TrainSettings(QWidget):
    """The form; :meth:`train_config`, :meth:`model_config` and :meth:`class_names` read it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        t, m = TrainConfig(), ModelConfig()
        self.seconds = QDoubleSpinBox()
        self.seconds.setRange(0, 24 * 3600)
        self.seconds.setDecimals(0)
        self.seconds.setSuffix(" s")
        self.seconds.setSpecialValueText("no time limit")
        self.seconds.setValue(t.seconds or 0)
        self.seconds.setToolTip("How long to train. Training can be stopped at any time.")
        self.classes = QLineEdit(DEFAULT_CLASSES)
        self.classes.setToolTip(
            "Names of the painted labels, label 1 first, separated by commas. "
            "Paint label 3, 4, ... for more classes."
        )
        self.fresh = QCheckBox("Start fresh (forget the current model)")
        self.fresh.setToolTip("Unticked, training continues from the current model (fine-tuning).")
        self.device = QComboBox()
        self.device.addItems(available_devices())
        self.device_info = QLabel()
        self.device.currentTextChanged.connect(self._show_device)

        self.depth = _spin(1, 6, m.depth)
        self.width = _spin(4, 256, m.base_width, step=4)
        self.patch = _spin(16, 1024, t.patch_size, step=16, suffix=" px")
        self.batch = _spin(1, 256, t.batch_size)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(t.learning_rate)
        self.augment = QCheckBox("Augment (elastic, flips, intensity)")
        self.augment.setChecked(t.augment)
        self.steps = _spin(0, 10_000_000, t.steps or 0, step=50, special="no step limit")
        self.seed = _spin(-1, 2**31 - 1, -1 if t.seed is None else t.seed, special="random")

        main = QFormLayout()
        main.addRow("Training time", self.seconds)
        main.addRow("Classes", self.classes)
        main.addRow("Device", self.device)
        main.addRow("", self.device_info)
        main.addRow(self.fresh)
        advanced = QWidget()
        form = QFormLayout(advanced)
        form.addRow("U-Net depth", self.depth)
        form.addRow("U-Net width", self.width)
        form.addRow("Patch size", self.patch)
        form.addRow("Batch size", self.batch)
        form.addRow("Learning rate", self.lr)
        form.addRow("Stop after steps", self.steps)
        form.addRow("Random seed", self.seed)
        form.addRow(self.augment)
        self.advanced = QCollapsible("Advanced settings")
        self.advanced.addWidget(advanced)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(main)
        layout.addWidget(self.advanced)
        self._show_device(self.device.currentText())

    def _show_device(self, name: str) -> None:
        self.device_info.setText(describe_device(name))

    def train_config(self) -> TrainConfig:
        """The settings as a :class:`TrainConfig` (raises ConfigError if they cannot work)."""
        return TrainConfig(
            seconds=self.seconds.value() or None,
            steps=self.steps.value() or None,
            batch_size=self.batch.value(),
            patch_size=self.patch.value(),
            learning_rate=self.lr.value(),
            augment=self.augment.isChecked(),
            seed=None if self.seed.value() < 0 else self.seed.value(),
            device=self.device.currentText(),
            threads=interactive_threads(),
        )

    def model_config(self) -> ModelConfig:
        return ModelConfig(depth=self.depth.value(), base_width=self.width.value())

    def class_names(self, n_classes: int) -> list[str]:
        """``n_classes`` names: the typed ones, then 'class k' for labels painted beyond them."""
        names = [s.strip() for s in self.classes.text().split(",") if s.strip()]
        names += [f"class {k}" for k in range(len(names) + 1, n_classes + 1)]
        return names[:n_classes]

    def show_model(self, bundle) -> None:
        """Follow a new current model: its size and class names become the settings."""
        if bundle is None:
            return
        self.depth.setValue(bundle.model_config.depth)
        self.width.setValue(bundle.model_config.base_width)
        self.classes.setText(", ".join(bundle.class_names))
