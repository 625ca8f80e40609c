"""The predict dock's object controls and table: minimum size, fill holes and split
sensitivity change '<image> objects' at once (no retraining: the core's
``refine_objects`` works on the objects themselves), and a table of the objects (count,
area, mean intensity, centroid) is measured with ``skimage.measure.regionprops_table``
into the objects layer's ``features`` (napari's features table: its ``index`` column is
the label, so napari shows an object's row where the pointer is, and its own features
widget lists it). The dock shows the table, and *Save table as CSV…* writes those features.

The controls always start again from the objects as predicted (kept aside when a new
prediction arrives), so moving a control back undoes it. 2-D images only.

Refining and measuring take a second or more on a 1024 x 1024 image, so they run in a
worker (:func:`measure_objects`, headless; started through the predict controller's
:class:`~..common.runner.Runner`); the GUI thread only copies the layer's data
and then assigns the results (the layer's data, its features, the table's rows), so the
viewer keeps answering while a control moves.

The table always describes the layer it names: a prediction written by any dock (Predict,
Train, a retrain, Live) clears it at once and it is measured again a moment later; removing
the layer clears it. Object ids are 1..n, the same in the table and in the layer (a new
prediction's ids are renumbered so: ids with gaps say nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..common.layers import ROLE, find_ours, image_stack, is_ours, spatial_shape
from ..common.tasks import failed

FOLLOWED = ("objects", "prediction")
"""Our layers whose new data may change the table."""

MAX_ROWS = 500
"""Rows shown in the dock (the CSV has every object)."""
MAX_PIXELS = 4096 * 4096
AS_PREDICTED = {"min_size": 0, "fill_holes": False, "split_depth": None}
"""The controls' settings that keep the objects as predicted."""
NO_OBJECTS = ("No objects yet: Predict with 'Also split into objects' ticked, or with an "
              "objects model (a starter, or one trained on whole objects).")


def objects_layer(viewer, image):
    """The layer holding ``image``'s objects: '<image> objects', or an objects model's
    '<image> prediction' (one id per object); None if there is none."""
    layer = find_ours(viewer, "objects", image)
    if layer is None:
        layer = find_ours(viewer, "prediction", image)
        if layer is not None and layer.metadata[ROLE].get("kind") != "instances":
            layer = None
    return layer


@dataclass
class Measured:
    """What :func:`measure_objects` hands the GUI thread."""

    base: np.ndarray
    """The objects as predicted (ids 1..n): the controls start from them."""
    objects: np.ndarray | None
    """What the layer must show now; None: it shows that already."""
    table: dict
    """``core.inference.object_table``'s columns for those objects."""


def measure_objects(shown: np.ndarray, base: np.ndarray | None, settings: dict, stack,
                    names=None) -> Measured:
    """Headless: the objects ``settings`` make of ``base`` (None: ``shown`` is a new
    prediction, its objects renumbered 1..n are the base) and their table, measured on
    ``stack`` (``(C, H, W)``). Slow on large images: run in a worker."""
    from napari_unet.core.inference.object_table import object_table
    from napari_unet.core.inference.postprocess import refine_objects

    if base is None:
        base = shown
        ids = np.unique(base)
        if ids.size and ids[-1] != len(ids) - (ids[0] == 0):  # gaps: ids 1..n, in the layer too
            base = refine_objects(base).astype(base.dtype)
    if settings == AS_PREDICTED:
        refined = base  # as predicted, ids and all
    else:
        refined = refine_objects(base, **settings)
        if refined.max() <= np.iinfo(base.dtype).max:
            refined = refined.astype(base.dtype)
    same = refined.shape == shown.shape and np.array_equal(refined, shown)
    objects = None if same else (refined.copy() if refined is base else refined)
    table = object_table(shown if same else objects, np.asarray(stack), names)
    return Measured(base, objects, table)


def _measure_worker(shown, base, settings, stack, names):
    """:func:`measure_objects` as a worker's generator (it yields nothing)."""
    return measure_objects(shown, base, settings, stack, names)
    yield  # unreachable: makes this a generator, what a runner's worker runs


class ObjectsPanel(QWidget):
    """Controls, a one-line summary, the table and 'Save table as CSV…' for the objects of
    the image chosen in ``image_combo``."""

    measured = Signal()
    """Emitted on the GUI thread when the table has been measured and shown."""

    def __init__(self, viewer, image_combo, runner, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.runner = runner
        """The predict controller's :class:`~..common.runner.Runner`: it runs the measuring."""
        self.image_combo = image_combo
        self.min_size = QSpinBox()
        self.min_size.setRange(0, 10**7)
        self.min_size.setSuffix(" px")
        self.min_size.setSpecialValueText("keep all")
        self.min_size.setToolTip("Drop objects smaller than this (area in pixels)")
        self.fill_holes = QCheckBox("Fill holes")
        self.fill_holes.setToolTip("Each object takes in the background it encloses")
        self.split = QDoubleSpinBox()
        self.split.setRange(0, 50)
        self.split.setSingleStep(0.5)
        self.split.setDecimals(1)
        self.split.setSpecialValueText("as predicted")
        self.split.setSuffix(" px")
        self.split.setToolTip(
            "Split touching objects again: how deep the dent between two of them must be "
            "(px). Smaller splits more; 'as predicted' keeps the prediction's objects")
        self.summary = QLabel(NO_OBJECTS)
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        # columns share the dock's width (no sideways scrolling); short headers, long tips
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setHorizontalHeaderLabels(["Object", "Area (px)", "Mean intensity"])
        self.table.horizontalHeaderItem(0).setToolTip(
            "The object's label in the layer named above (1 to the number of objects)")
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(160)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.save_button = QPushButton("Save table as CSV…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._ask_save)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.addWidget(QLabel("Minimum size"), 0, 0)
        grid.addWidget(self.min_size, 0, 1)
        grid.addWidget(QLabel("Split touching"), 1, 0)
        grid.addWidget(self.split, 1, 1)
        grid.addWidget(self.fill_holes, 2, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addWidget(self.save_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.update_objects)
        self.min_size.valueChanged.connect(self._timer.start)
        self.split.valueChanged.connect(self._timer.start)
        self.fill_holes.toggled.connect(self._timer.start)
        self.image_combo.currentIndexChanged.connect(lambda *_: self.update_objects())
        self._base = None
        self._written = None
        self.worker = None
        """The worker refining and measuring the objects, while it runs."""
        self._token = None
        self._again = False
        self._layer = None
        self._writing = False
        self.table_data = None
        """The last table (``core.inference.object_table``'s columns), or None."""
        viewer.layers.events.inserted.connect(self._inserted)
        viewer.layers.events.removed.connect(self._removed)
        for layer in viewer.layers:
            self._follow(layer)

    # -- following the predictions -----------------------------------------------------------
    def _mine(self, layer) -> bool:
        """Whether ``layer`` is one of our result layers of the image chosen."""
        image = self.image_combo.value
        return (image is not None and any(is_ours(layer, role) for role in FOLLOWED)
                and layer.metadata[ROLE].get("image") == image.name)

    def _follow(self, layer) -> None:
        if any(is_ours(layer, role) for role in FOLLOWED):
            layer.events.data.connect(self._data_changed)

    def _inserted(self, event) -> None:
        self._follow(event.value)
        if self._mine(event.value):
            self._stale()

    def _removed(self, event) -> None:
        layer = event.value
        if any(is_ours(layer, role) for role in FOLLOWED):
            layer.events.data.disconnect(self._data_changed)
            if self._mine(layer):
                self._stale()

    def _data_changed(self, event=None) -> None:
        if not self._writing and self._mine(event.source):
            self._stale()

    def _stale(self) -> None:
        """A new prediction (or none): clear the table now, measure it again shortly."""
        self.table_data = None
        self.save_button.setEnabled(False)
        self._show_rows(None)
        self.summary.setText("A new prediction: measuring its objects…")
        self._timer.start()

    def settings(self) -> dict:
        split = self.split.value()
        return {"min_size": self.min_size.value(), "fill_holes": self.fill_holes.isChecked(),
                "split_depth": split if split > 0 else None}

    @property
    def busy(self) -> bool:
        """Whether the objects are being refined and measured (in a worker)."""
        return self.worker is not None

    def update_objects(self) -> None:
        """Apply the controls to the objects as predicted, write them back, and measure.

        The refining and measuring run in a worker (:func:`measure_objects`; a second or
        more on a 1024 x 1024 image); the GUI thread only reads the controls, copies the
        layer's data and, when the worker returns, assigns the layer's data, its features
        and the table's rows. A change while the worker runs is applied when it ends."""

        image = self.image_combo.value
        layer = objects_layer(self.viewer, image) if image is not None else None
        self.table_data = None
        self._layer = None
        self.save_button.setEnabled(False)
        if self.worker is not None:  # its result is outdated: measure again when it ends
            self._token, self._again = object(), True
            return
        if layer is None:
            self._show_rows(None)
            self.summary.setText(NO_OBJECTS)
            return
        if len(spatial_shape(image)) != 2 or not isinstance(layer.data, np.ndarray):
            self._show_rows(None)
            self.summary.setText("Object controls and the table work on 2-D images held in "
                                 "memory; this one is a stack or a large image.")
            return
        if int(np.prod(layer.data.shape)) > MAX_PIXELS:
            self.summary.setText("The image is too large for the object table here.")
            return
        new = layer.data is not self._written  # a new prediction: its objects are the base
        shown = layer.data
        token = self._token = object()
        self.summary.setText("Measuring the objects…")
        names = ["red", "green", "blue"] if image.rgb else None
        self.worker = self.runner.worker(
            _measure_worker, np.array(shown, copy=True), None if new else self._base,
            self.settings(), image_stack(image), names)
        self.worker.returned.connect(lambda out: self._measured(out, layer, shown, token))
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._worker_done)
        self.runner.start(self.worker)

    def _measured(self, out: "Measured", layer, shown, token) -> None:
        """GUI thread: assign what the worker made (only if still wanted)."""
        if token is not self._token or layer not in self.viewer.layers or layer.data is not shown:
            return
        self._base = out.base
        if out.objects is not None:
            self._writing = True
            try:
                layer.data = out.objects
            finally:
                self._writing = False
        self._written = layer.data
        self.table_data = out.table
        layer.features = {"index": out.table["label"], **out.table}
        self._layer = layer
        self._show_rows(out.table)
        n = len(out.table["label"])
        area = out.table["area_px"]
        mean_area = f", mean area {area.mean():.0f} px" if n else ""
        self.summary.setText(f"{n} object{'' if n == 1 else 's'} in '{layer.name}'{mean_area}.")
        self.save_button.setEnabled(True)
        self.measured.emit()

    def _failed(self, error) -> None:
        self.summary.setText(failed("The objects could not be measured", error))

    def _worker_done(self) -> None:
        self.worker = None
        if self._again:
            self._again = False
            self.update_objects()

    def shutdown(self) -> None:
        """Forget a running measurement (its result is not written)."""
        self._token, self._again = object(), False
        if self.worker is not None:
            self.worker.quit()

    def _show_rows(self, table) -> None:
        self.table.setRowCount(0)
        if table is None:
            return
        self.table.setUpdatesEnabled(False)  # one repaint for all the rows
        try:
            self._fill_rows(table)
        finally:
            self.table.setUpdatesEnabled(True)

    def _fill_rows(self, table) -> None:
        means = [k for k in table if k.startswith("mean")]
        self.table.setColumnCount(2 + len(means))
        self.table.setHorizontalHeaderLabels(
            ["Object", "Area (px)"] + [k.replace("mean_intensity", "Mean intensity")
                                       .replace("mean_", "").capitalize() for k in means])
        self.table.horizontalHeaderItem(0).setToolTip(
            "The object's label in the layer named above (1 to the number of objects)")
        for c, k in enumerate(means, 2):
            self.table.horizontalHeaderItem(c).setToolTip(
                "Mean intensity" + ("" if k == "mean_intensity" else f" of {k[5:]}"))
        n = min(len(table["label"]), MAX_ROWS)
        self.table.setRowCount(n)
        for r in range(n):
            values = [str(int(table["label"][r])), str(int(table["area_px"][r]))]
            values += [f"{float(table[k][r]):.3g}" for k in means]
            for c, text in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(text))

    def save_csv(self, path) -> Path | None:
        """Save the objects layer's features to ``path`` (``.csv`` added if it has no
        suffix; napari's ``index`` column is left out: it repeats ``label``)."""
        from napari_unet.core.inference.object_table import write_csv

        layer = self._layer
        if self.table_data is None or layer is None or layer not in self.viewer.layers:
            show_error("There is no object table yet: predict objects first.")
            return None
        features = layer.features
        table = {k: features[k].to_numpy() for k in features.columns if k != "index"}
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".csv")
        try:
            saved = write_csv(table, path)
        except OSError as e:
            show_error(f"Cannot save the table to {path}: {e.strerror or e}")
            return None
        show_info(f"Object table saved to {saved}")
        return saved

    def _ask_save(self) -> None:
        image = self.image_combo.value
        name = f"{image.name} objects.csv" if image is not None else "objects.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Save object table", name,
                                              "CSV table (*.csv);;All files (*)")
        if path:
            self.save_csv(path)
