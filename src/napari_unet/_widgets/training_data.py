"""The training set: (image layer, painted labels layer) pairs, and new annotation layers."""

from __future__ import annotations

from napari.layers import Image, Labels
from napari.utils.notifications import show_error
from qtpy.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from napari_unet.core.images import ImageError

from .layer_combo import LayerCombo
from .layers import is_ours, new_annotation_layer, spatial_shape


def _theirs(layer) -> bool:
    """Layers the user made (this plugin's predictions are never offered as training data)."""
    return not is_ours(layer)


class PairRow:
    """One image combo and one labels combo; the labels follow the image's shape."""

    def __init__(self, viewer):
        self.image = LayerCombo(viewer, Image, accept=_theirs)
        self.labels = LayerCombo(viewer, Labels, accept=_theirs)
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove this pair from the training set")
        self.image.setToolTip("Image to learn from")
        self.labels.setToolTip(
            "Labels painted on it: 0 = unpainted, 1 = background, 2 = foreground, ..."
        )
        self.image.currentIndexChanged.connect(self.match_labels)
        self.labels.currentIndexChanged.connect(self.match_labels)
        self.match_labels()

    def widgets(self):
        return self.image, self.labels, self.remove

    def match_labels(self, *_) -> None:
        """Choose a labels layer of the image's shape if the chosen one does not fit."""
        image = self.image.value
        if image is None:
            return
        shape = spatial_shape(image)
        if self.labels.value is not None and self.labels.value.data.shape == shape:
            return
        fits = [layer for layer in self.labels.choices() if layer.data.shape == shape]
        named = [layer for layer in fits if layer.name == f"{image.name} annotations"]
        if fits:
            self.labels.value = (named or fits)[0]


class TrainingData(QWidget):
    """Rows of pairs, '+ Add pair' and 'New annotation layer' (for the last row's image)."""

    def __init__(self, viewer, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.rows: list[PairRow] = []
        self.grid = QGridLayout()
        self.grid.addWidget(QLabel("Image"), 0, 0)
        self.grid.addWidget(QLabel("Painted labels"), 0, 1)
        self.grid.setColumnStretch(0, 1)
        self.grid.setColumnStretch(1, 1)
        self.new_button = QPushButton("New annotation layer")
        self.new_button.setToolTip(
            "Add an empty labels layer for the image, ready to paint: "
            "label 1 = background, label 2 = foreground"
        )
        self.add_button = QPushButton("+ Add pair")
        self.add_button.setToolTip("Train on several images at once")
        self.new_button.clicked.connect(self.new_annotation_layer)
        self.add_button.clicked.connect(self.add_pair)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.grid)
        layout.addLayout(buttons)
        self.add_pair()

    def add_pair(self) -> PairRow:
        row = PairRow(self.viewer)
        r = self.grid.rowCount()
        for col, w in enumerate(row.widgets()):
            self.grid.addWidget(w, r, col)
        row.remove.clicked.connect(lambda: self.remove_pair(row))
        self.rows.append(row)
        self._update_remove()
        return row

    def remove_pair(self, row: PairRow) -> None:
        if len(self.rows) <= 1:
            return
        self.rows.remove(row)
        for w in row.widgets():
            self.grid.removeWidget(w)
            w.deleteLater()
        self._update_remove()

    def _update_remove(self) -> None:
        for row in self.rows:
            row.remove.setEnabled(len(self.rows) > 1)

    def new_annotation_layer(self) -> Labels | None:
        """Create ``"<image> annotations"`` for the last row's image and pair it there."""
        row = self.rows[-1]
        image = row.image.value
        if image is None:
            show_error(
                "Open an image first (or File > Open Sample > Nuclei), then add annotations."
            )
            return None
        layer = new_annotation_layer(self.viewer, image)
        row.labels.value = layer
        return layer

    def pairs(self) -> list[tuple[Image, Labels]]:
        """The chosen pairs; raises :class:`ImageError` if a row lacks a layer or repeats one."""
        pairs = []
        for i, row in enumerate(self.rows, 1):
            image, labels = row.image.value, row.labels.value
            if image is None or labels is None:
                raise ImageError(
                    f"pair {i} needs an image and a labels layer; use 'New annotation layer' "
                    "to make one, paint, then train"
                )
            pairs.append((image, labels))
        if len({id(p[1]) for p in pairs}) < len(pairs):
            raise ImageError("the same labels layer is chosen twice; give each image its own")
        return pairs
