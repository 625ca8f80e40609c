"""The train dock's "Start from" choice, and resolving it in the training worker.

The choices (``spec``): ``"auto"`` (try every starter model, and the current model, on the
painting before any training and start from the best fit, or from scratch if none fits),
a starter's name, ``"current"`` (go on training the current model) and ``"none"`` (random
start). The decision is the core's (``core.training.start.resolve_start``, as for the
command line and the API); scoring runs forward passes, so :meth:`StartRequest.resolve`
runs in the worker.

Starters are 2-D models: for a 3-D U-Net (and when no starter is installed) ``auto``
continues the current model if it fits, else trains from scratch.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox

from .start_request import AUTO, CURRENT, NONE, StartRequest, sentence

__all__ = ["AUTO", "CHOICES", "CURRENT", "NONE", "StartFrom", "StartRequest", "installed_starters",
           "sentence"]

CHOICES = {
    AUTO: ("Auto (best fit)",
           "Before training, each starter model (and the current model) is tried on your "
           "painting; training starts from the one that fits best, or from scratch if none "
           "fits well enough. The dock says which was chosen and why."),
    CURRENT: ("Current model", "Go on training the current model (fine-tuning)"),
    NONE: ("From scratch", "Start from random weights: the current model and "
           "the starters are not used"),
}

_CACHE: dict = {}


def installed_starters() -> list[tuple[str, str, str]]:
    """``(name, title, card)`` of each installed starter (each file is read once)."""
    from napari_unet.core.files import starters as core_starters  # imports torch: not at start-up

    out = []
    for name in core_starters.starter_names():
        path = core_starters.starter_path(name)
        try:
            key = (str(path), path.stat().st_mtime_ns)
            if key not in _CACHE:
                bundle = core_starters.load_starter(name)
                _CACHE[key] = (core_starters.title(bundle), core_starters.card_text(bundle))
        except (OSError, ValueError):  # BundleError is a ValueError: a damaged file is left out
            continue
        out.append((name, *_CACHE[key]))
    return out


class StartFrom(QComboBox):
    """Auto, one entry per installed starter (its title; its card as tooltip), Current
    model (enabled when there is one), Nothing. :meth:`spec` is the choice."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        self.setToolTip("The model training starts from")
        self._has_model = False
        self.refresh()

    def _add(self, text, tip, spec) -> None:
        self.addItem(text, spec)
        self.setItemData(self.count() - 1, tip, Qt.ToolTipRole)

    def refresh(self) -> None:
        """List the starters installed now, keeping the choice if it is still there."""
        spec = self.spec() if self.count() else AUTO
        self.blockSignals(True)
        self.clear()
        self._add(*CHOICES[AUTO], AUTO)
        for name, title, card in installed_starters():
            self._add(f"Starter: {title}", card, name)
        for key in (CURRENT, NONE):
            self._add(*CHOICES[key], key)
        self.set_has_model(self._has_model)
        self.blockSignals(False)
        self.set_spec(spec)

    def showPopup(self) -> None:  # noqa: N802 (Qt's name): starters installed since show up
        self.refresh()
        super().showPopup()

    def spec(self) -> str:
        return self.currentData()

    def set_spec(self, spec: str) -> None:
        index = self.findData(spec)
        self.setCurrentIndex(index if index >= 0 else 0)

    def set_has_model(self, has: bool) -> None:
        """Enable 'Current model' only when the session has a model."""
        self._has_model = has
        item = self.model().item(self.findData(CURRENT))
        if item is not None:
            item.setEnabled(has)
        if not has and self.spec() == CURRENT:
            self.set_spec(AUTO)
