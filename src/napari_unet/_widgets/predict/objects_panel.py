"""The predict dock's object controls and table: minimum size, fill holes and split
sensitivity change '<image> objects' at once (no retraining: the core's
``refine_objects`` works on the objects themselves), and a table of the objects (count,
area, mean intensity, centroid) is measured with ``skimage.measure.regionprops_table``
into the objects layer's ``features`` (napari's features table: its ``index`` column is
the label, so napari shows an object's row where the pointer is, and its own features
widget lists it). The dock shows the table, and *Save table as CSV…* writes those features.

This panel only shows an :class:`~.objects_controller.ObjectsController` (headless: which
layer, the measuring worker, the summary and the table) and forwards the controls' changes
to it; refining and measuring run in a worker, so the viewer keeps answering while a
control moves.
"""

from __future__ import annotations

from qtpy.QtCore import Signal
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

from .objects_controller import NO_OBJECTS

MAX_ROWS = 500
"""Rows shown in the dock (the CSV has every object)."""


class ObjectsPanel(QWidget):
    """Controls, a one-line summary, the table and 'Save table as CSV…' for the objects
    ``ctl`` (an :class:`~.objects_controller.ObjectsController`) follows; ``image_combo``:
    the dock's image (a new choice is measured at once)."""

    measured = Signal()
    """Emitted on the GUI thread when the table has been measured and shown."""

    def __init__(self, ctl, image_combo, parent=None):
        super().__init__(parent)
        self.ctl = ctl
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
        self.min_size.valueChanged.connect(self._forward)
        self.split.valueChanged.connect(self._forward)
        self.fill_holes.toggled.connect(self._forward)
        image_combo.currentIndexChanged.connect(lambda *_: ctl.update_objects())
        self._rows = None
        ctl.changed.connect(self._show)
        ctl.measured.connect(self._measured)
        self.destroyed.connect(lambda *_: ctl.close())  # (the lambda holds no self)

    def settings(self) -> dict:
        split = self.split.value()
        return {"min_size": self.min_size.value(), "fill_holes": self.fill_holes.isChecked(),
                "split_depth": split if split > 0 else None}

    def _forward(self, *_) -> None:
        """A control moved: the controller measures once they rest."""
        self.ctl.set_settings(self.settings())

    # the controller's, by their earlier names (tests and benchmarks read them)
    busy = property(lambda self: self.ctl.busy)
    table_data = property(lambda self: self.ctl.table_data)

    def update_objects(self) -> None:
        """Measure now, with the controls as they are."""
        self.ctl.settings = self.settings()
        self.ctl.update_objects()

    def shutdown(self) -> None:
        self.ctl.shutdown()

    def save_csv(self, path):
        return self.ctl.save_csv(path)

    def _measured(self) -> None:
        self.measured.emit()

    def _show(self) -> None:
        """Show the controller's summary, table and whether the table can be saved."""
        self.summary.setText(self.ctl.summary)
        if self.ctl.rows is not self._rows:
            self._rows = self.ctl.rows
            self._show_rows(self._rows)
        self.save_button.setEnabled(self.ctl.table_data is not None)

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

    def _ask_save(self) -> None:
        image = self.ctl.image()
        name = f"{image.name} objects.csv" if image is not None else "objects.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Save object table", name,
                                              "CSV table (*.csv);;All files (*)")
        if path:
            self.save_csv(path)
