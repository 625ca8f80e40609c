"""Training settings: a few with good defaults in view, the rest folded under Advanced.

Defaults are read from the core's dataclasses, so the widget, the command line and
notebooks train alike unless the user changes something.

The annotation choice in view is the core's training mode: strokes of classes (semantic)
or whole objects, each with its own label (instance). "Start from" picks the model training
starts from (see ``start_from``: the best-fitting starter by default).
"""

from __future__ import annotations

from napari.utils.notifications import show_info
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_unet.core.config import ModelConfig, TrainConfig, bounds, interactive_threads

from ..common.sections import Section
from ..common.start_from import StartFrom
from .live import LIVE_SMALL
from .modes import ANNOTATIONS, CLASSES_TIPS, KINDS, annotation_help

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
    """The device as the dock trains on it: on the CPU, with the threads it uses (all
    cores but one, the rest is left to napari)."""
    from napari_unet.core.device import describe, resolve_device

    try:
        device = resolve_device(name)
    except RuntimeError as e:
        return str(e)
    if device.type == "cpu":
        import os

        n, cores = interactive_threads(), os.cpu_count() or 1
        if n < cores:
            return f"cpu ({n} of {cores} cores; one is left to napari)"
        return f"cpu ({n} core{'' if n == 1 else 's'})"
    return describe(device)


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


RANGED = {
    "seconds": (TrainConfig, "seconds"),
    "steps": (TrainConfig, "steps"),
    "depth": (ModelConfig, "depth"),
    "unet_width": (ModelConfig, "base_width"),
    "patch": (TrainConfig, "patch_size"),
    "batch": (TrainConfig, "batch_size"),
    "lr": (TrainConfig, "learning_rate"),
    "anisotropy": (ModelConfig, "anisotropy"),
    "seed": (TrainConfig, "seed"),
    "margin": (TrainConfig, "region_margin"),
}
"""The spin boxes (attributes of :class:`TrainSettings`) and the config fields whose declared
range they take (:func:`ranged`)."""

INT_MAX = 2**31 - 1
"""The largest number a QSpinBox holds (a seed above it is set in Python, not in the dock)."""


def ranged(name: str, value, step=1, special=None, suffix="") -> QSpinBox:
    """The spin box of :data:`RANGED`'s ``name``, its range the config field's."""
    low, high = bounds(*RANGED[name])
    lo = low - 1 if name == "seed" else low  # -1, below the range: a random seed (None)
    return _spin(lo, min(high, INT_MAX), value, step=step, special=special, suffix=suffix)


def _grid(rows) -> QGridLayout:
    """A form as a grid: ``(label, widget)`` rows, a widget alone (label None) spans both
    columns. (A QFormLayout clips a word-wrapped label that spans a row.)"""
    grid = QGridLayout()
    grid.setColumnStretch(1, 1)
    for r, (text, widget) in enumerate(rows):
        if text is None:
            grid.addWidget(widget, r, 0, 1, 2)
        else:
            grid.addWidget(QLabel(text), r, 0)
            grid.addWidget(widget, r, 1)
    return grid


class TrainSettings(QWidget):
    """The form; :meth:`train_config`, :meth:`model_config` and :meth:`class_names` read it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        t, m = TrainConfig(), ModelConfig()
        self._make_main(t)
        self._make_advanced(t, m)
        main = _grid([
            ("Annotation", self.annotation),
            (None, self.annotation_help),
            ("Training time", self.seconds),
            ("Classes", self.classes),
            ("Device", self.device),
            ("", self.device_info),
            ("Start from", self.start_from),
        ])
        self.advanced = Section("Advanced settings", self._advanced_form(), expanded=False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(main)
        layout.addWidget(self.advanced)
        self._show_device(self.device.currentText())
        self.annotation.currentIndexChanged.connect(self._show_mode)
        self.margin.valueChanged.connect(self._show_mode)
        self.three_d.toggled.connect(self._show_mode)
        self._show_mode()

    def _make_main(self, t: TrainConfig) -> None:
        """The settings always shown: annotation, time, classes, device, start."""
        self.seconds = QDoubleSpinBox()
        self.seconds.setRange(*bounds(*RANGED["seconds"]))
        self.seconds.setDecimals(0)
        self.seconds.setSuffix(" s")
        self.seconds.setSpecialValueText("no time limit")
        self.seconds.setValue(t.budget.seconds or 0)
        self.seconds.setToolTip("How long to train. Training can be stopped at any time.")
        self.annotation = QComboBox()
        for i, (mode, text) in enumerate(ANNOTATIONS.items()):
            self.annotation.addItem(text, mode)
            self.annotation.setItemData(i, text, Qt.ToolTipRole)  # the dock may cut it short
        self.annotation.setToolTip("How the labels layer is painted")
        self.annotation.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.annotation.setMinimumContentsLength(16)
        self.annotation_help = QLabel()
        self.annotation_help.setWordWrap(True)
        self.classes = QLineEdit(DEFAULT_CLASSES)
        self.start_from = StartFrom()
        self.device = QComboBox()
        self.device.addItems(available_devices())
        self.device_info = QLabel()
        self.device_info.setWordWrap(True)
        self.device.currentTextChanged.connect(self._show_device)

    def _make_advanced(self, t: TrainConfig, m: ModelConfig) -> None:
        """The settings under 'Advanced settings', from the configs' defaults and ranges."""
        self.depth = ranged("depth", m.depth)
        self.unet_width = ranged("unet_width", m.base_width, step=4)
        self.patch = ranged("patch", t.sampling.patch_size, step=16, suffix=" px")
        self.batch = ranged("batch", t.sampling.batch_size)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(*bounds(*RANGED["lr"]))
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(t.optimiser.learning_rate)
        self.three_d = QCheckBox("3-D U-Net (z-stacks)")
        self.three_d.setToolTip(
            "Train a 3-D U-Net on (Z, Y, X) grayscale stacks, each with a labels layer of "
            "its shape (strokes of classes only; no live mode)"
        )
        self.three_d.setChecked(m.spatial_dims == 3)
        self.anisotropy = ranged("anisotropy", m.anisotropy)
        self.anisotropy.setToolTip(
            "3-D: how far apart the planes are, in times the pixel size (1 when a voxel is "
            "as deep as it is wide; 4 when planes are 2 µm apart and pixels 0.5 µm)")
        self.anisotropy.setSuffix(" × pixel")
        self.augment = QCheckBox("Augment (elastic, flips, intensity)")
        self.augment.setChecked(t.augmentation.augment)
        self.steps = ranged("steps", t.budget.steps or 0, step=50, special="no step limit")
        self.seed = ranged("seed", -1 if t.sampling.seed is None else t.sampling.seed, special="random")
        self.margin = ranged("margin", t.targets.region_margin, suffix=" px")
        self.margin.setToolTip(
            "Whole objects: the annotated area is the painted objects' bounding box grown by "
            "this much; unpainted pixels in it are background, outside it nothing counts"
        )

    def _advanced_form(self) -> QWidget:
        """The advanced settings, labelled, one per row."""
        advanced = QWidget()
        form = QFormLayout(advanced)
        self.depth.setToolTip("Network size: how many times the U-Net halves the image "
                              "(more levels see more around each pixel)")
        self.unet_width.setToolTip("Network size: filters of its first level (doubled at "
                                   "each level below); more learn more, slower")
        form.addRow("Network levels", self.depth)
        form.addRow("Network filters", self.unet_width)
        form.addRow("Patch size", self.patch)
        form.addRow("Batch size", self.batch)
        form.addRow("Learning rate", self.lr)
        form.addRow("Stop after steps", self.steps)
        form.addRow("Random seed", self.seed)
        form.addRow("Object area margin", self.margin)
        form.addRow(self.augment)
        form.addRow(self.three_d)
        form.addRow("Z spacing", self.anisotropy)
        return advanced

    def mode(self) -> str:
        """The training mode chosen: "semantic" or "instance"."""
        return self.annotation.currentData()

    def set_mode(self, mode: str) -> None:
        self.annotation.setCurrentIndex(self.annotation.findData(mode))

    def _show_mode(self, *_) -> None:
        instance = self.mode() == "instance"
        self.annotation_help.setText(annotation_help(self.mode(), self.margin.value()))
        self.classes.setEnabled(not instance)
        self.classes.setToolTip(CLASSES_TIPS[self.mode()])
        self.margin.setEnabled(instance)
        self.three_d.setEnabled(not instance)  # 3-D models learn classes only
        self.anisotropy.setEnabled(self.is_3d())

    def is_3d(self) -> bool:
        """Whether a 3-D U-Net is trained (the box is ticked, in classes mode)."""
        return self.three_d.isChecked() and self.mode() == "semantic"

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
            mode=self.mode(),
            region_margin=self.margin.value(),
        )

    def model_config(self) -> ModelConfig:
        if self.is_3d():
            return ModelConfig(depth=self.depth.value(), base_width=self.unet_width.value(),
                               spatial_dims=3, anisotropy=self.anisotropy.value())
        return ModelConfig(depth=self.depth.value(), base_width=self.unet_width.value())

    def class_names(self, n_classes: int) -> list[str]:
        """``n_classes`` names: the typed ones, then 'class k' for labels painted beyond them."""
        names = [s.strip() for s in self.classes.text().split(",") if s.strip()]
        names += [f"class {k}" for k in range(len(names) + 1, n_classes + 1)]
        return names[:n_classes]

    def fresh_reason(self, bundle) -> str:
        """Why training with these settings cannot continue from ``bundle`` ("" if it can)."""
        why = self.cannot_continue(bundle)
        return f"Starting fresh: {why}." if why else ""

    def cannot_continue(self, bundle) -> str:
        """:meth:`fresh_reason` without "Starting fresh" ("" if ``bundle`` can be continued).

        An objects model (a starter, or one trained on whole objects) also learns from
        strokes of classes in 2-D (the core trains it through background / object)."""
        new = self.model_config()
        old = bundle.model_config
        if old.spatial_dims != new.spatial_dims:  # the first difference a user made (3-D ticked)
            return (f"the current model is a {old.spatial_dims}-D U-Net, this training a "
                    f"{new.spatial_dims}-D one ('3-D U-Net' under Advanced settings)")
        strokes_on_objects = (bundle.mode == "instance" and self.mode() == "semantic"
                              and new.spatial_dims == 2)
        if bundle.mode != self.mode() and not strokes_on_objects:
            old, now = KINDS.get(bundle.mode, bundle.mode), KINDS[self.mode()]
            return f"the current model learnt {old}, this training {now}"
        resized = (old.depth, old.base_width) != (self.depth.value(), self.unet_width.value())
        if resized and not bundle.info.get(LIVE_SMALL):
            return "the network size differs from the current model's"
        if old.anisotropy != new.anisotropy:
            return (f"the current model has planes {old.anisotropy}× the pixel size apart, "
                    f"this training {new.anisotropy}× ('Z spacing' under Advanced settings)")
        return ""

    def show_model(self, bundle) -> None:
        """Follow a new current model: its size, annotation kind and class names become the
        settings (so training again continues from it); the user is told if the kind changes.
        An objects model keeps strokes of classes in 2-D (it learns from them too)."""
        self.start_from.set_has_model(bundle is not None)
        if bundle is None:
            return
        if not bundle.info.get(LIVE_SMALL):  # live's small U-Net is not the size to train
            self.depth.setValue(bundle.model_config.depth)
            self.unet_width.setValue(bundle.model_config.base_width)
        self.three_d.setChecked(bundle.model_config.spatial_dims == 3)
        self.anisotropy.setValue(bundle.model_config.anisotropy)
        keep = bundle.mode == "instance" and self.mode() == "semantic" and not self.is_3d()
        if bundle.mode != self.mode() and not keep and self.annotation.findData(bundle.mode) >= 0:
            self.set_mode(bundle.mode)
            show_info(f"Annotation set to '{self.annotation.currentText()}', as the model's")
        if bundle.mode == "semantic":
            self.classes.setText(", ".join(bundle.class_names))
