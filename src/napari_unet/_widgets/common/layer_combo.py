"""A combo box listing the viewer's layers of one type, kept in sync with the layer list.

Why Qt here and not magicgui (issue 14 asked; since issue 24 it is not declared, as nothing
imports it): magicgui's layer combo follows the layer list too, but only once it finds the
viewer through its parents (after docking),
and these combos need more than it gives: a filter (this plugin's own result layers are
never offered as training data), a ``value`` that can be set to a layer seen through
napari's viewer proxy, and the labels combo of a pair following its image's shape while a
user's choice is kept. The file pickers are one button each that opens Qt's dialog (a
magicgui FileEdit adds a path field the docks have no room for), and the settings forms
show a chosen few fields of the config dataclasses with special values ("no time limit",
"random", "keep all", "as predicted") that magicgui's spin boxes do not have. So the docks
stay plain Qt; the config dataclasses remain the single source of defaults."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtWidgets import QComboBox


class LayerCombo(QComboBox):
    """Choose a layer of ``layer_type`` from ``viewer``; ``accept`` filters further.

    The choice follows the layer list (layers added, removed, renamed) and keeps the chosen
    layer as long as it exists. ``value`` is the chosen layer or None. With ``keep_none``
    no choice stays no choice (the removed layer is not replaced by the first one listed);
    else the first layer listed is chosen.
    """

    def __init__(self, viewer, layer_type, accept: Callable | None = None, parent=None,
                 keep_none: bool = False):
        super().__init__(parent)
        self.viewer = viewer
        self.keep_none = keep_none
        self.layer_type = layer_type
        self.accept = accept or (lambda layer: True)
        self._layers: list = []
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(8)
        events = viewer.layers.events
        for emitter in (events.inserted, events.removed, events.moved, events.reordered):
            emitter.connect(self.refresh)
        self.refresh()

    @property
    def value(self):
        i = self.currentIndex()
        return self._layers[i] if 0 <= i < len(self._layers) else None

    @value.setter
    def value(self, layer) -> None:
        self.refresh()
        if layer in self._layers:
            self.setCurrentIndex(self._layers.index(layer))

    def choices(self) -> list:
        return list(self._layers)

    def refresh(self, event=None) -> None:
        """Re-read the layer list, keeping the current choice when it still exists."""
        current = self.value
        layers = [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, self.layer_type) and self.accept(layer)
        ]
        for layer in layers:
            layer.events.name.connect(self._rename)
        self.blockSignals(True)
        try:
            self.clear()
            self._layers = layers
            self.addItems([layer.name for layer in layers])
            if current in layers:
                self.setCurrentIndex(layers.index(current))
            elif self.keep_none:
                self.setCurrentIndex(-1)
        finally:
            self.blockSignals(False)
        if current != self.value:
            self.currentIndexChanged.emit(self.currentIndex())

    def _rename(self, event=None) -> None:
        for i, layer in enumerate(self._layers):
            self.setItemText(i, layer.name)
