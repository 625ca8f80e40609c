"""The training set: (image layer, painted labels layer) pairs, and new annotation layers.

What is painted depends on the annotation mode (:meth:`TrainingData.set_mode`): strokes of
classes (1 = background, 2 = foreground, ...) or whole objects, each with its own label.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Labels
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from napari_unet.core.images import ImageError, as_label_array, check_class_labels, check_finite
from napari_unet.core.training.targets import INSTANCE_CLASSES, check_painted

from .layer_combo import LayerCombo
from .layers import is_ours, new_annotation_layer, spatial_shape, training_planes
from .modes import LABELS_TIPS, NEW_LAYER_TIPS, NEW_OBJECTS_LAYER, NO_OBJECTS


def training_volumes(pairs):
    """3-D training arrays from (image, labels) layer ``pairs``: ``(volumes, labels,
    n_classes)``, volumes ``(1, Z, Y, X)`` and labels ``(Z, Y, X)`` copies.

    Raises :class:`ImageError` unless every image is a grayscale ``(Z, Y, X)`` stack with a
    labels layer of its shape painted with at least two classes.
    """
    volumes, labels = [], []
    for image, lab in pairs:
        data = image.data[0] if image.multiscale else image.data
        shape = tuple(data.shape)
        if image.rgb or len(shape) != 3:
            kind = "an RGB image" if image.rgb else f"{len(shape)}-D, shape {shape}"
            raise ImageError(
                f"a 3-D U-Net needs grayscale (Z, Y, X) stacks, but '{image.name}' is {kind}; "
                "untick '3-D U-Net' under Advanced settings to train a 2-D one"
            )
        painted = np.array(lab.data[0] if lab.multiscale else lab.data)  # a copy
        if painted.shape != shape:
            raise ImageError(
                f"labels layer '{lab.name}' has shape {painted.shape} but image '{image.name}' "
                f"has {shape}; paint on a labels layer of the image's size "
                "(use 'New annotation layer')"
            )
        volume = np.asarray(data)[None]
        check_finite(volume)
        check_class_labels(painted)
        volumes.append(volume)
        labels.append(painted)
    return volumes, labels, check_painted(labels)


def training_arrays(pairs, mode: str = "semantic"):
    """The core's arrays from (image, labels) layer ``pairs``: ``(images, labels, n_classes)``.

    Only painted planes of stacks are used; labels are copies. Raises :class:`ImageError`
    saying what to paint: at least two classes for strokes, at least one object for whole
    objects (whose model always has the classes background, interior and border).
    """
    images, labels = [], []
    for image, lab in pairs:
        ims, labs = training_planes(image, lab)
        images += ims
        labels += [as_label_array(l, im.shape[-2:]) for im, l in zip(ims, labs)]
    if mode == "instance":
        if not any(l.any() for l in labels):
            raise ImageError(NO_OBJECTS)
        check_painted(labels, min_classes=1)
        n_classes = len(INSTANCE_CLASSES)
    else:
        for l in labels:
            check_class_labels(l)
        n_classes = check_painted(labels)
    for im in images:
        check_finite(np.asarray(im))
    if len({im.shape[0] for im in images}) > 1:
        raise ImageError("the training images differ in channels (grayscale and RGB?); "
                         "train on images of one kind")
    return images, labels, n_classes


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
        self.labels.setToolTip(LABELS_TIPS["semantic"])
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
        self.mode = "semantic"
        self.add_pair()
        self.set_mode("semantic")

    def set_mode(self, mode: str) -> None:
        """Follow the annotation mode ("semantic" or "instance"): tips and new layers."""
        self.mode = mode
        self.new_button.setToolTip(NEW_LAYER_TIPS[mode])
        for row in self.rows:
            row.labels.setToolTip(LABELS_TIPS[mode])

    def add_pair(self) -> PairRow:
        row = PairRow(self.viewer)
        row.labels.setToolTip(LABELS_TIPS[self.mode])
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
        """Create ``"<image> annotations"`` for the last row's image and pair it there.

        For whole objects label 1 is selected and a tip says to press M for each new object.
        """
        row = self.rows[-1]
        image = row.image.value
        if image is None:
            show_error(
                "Open an image first (or File > Open Sample > Nuclei), then add annotations."
            )
            return None
        instance = self.mode == "instance"
        layer = new_annotation_layer(self.viewer, image, instance=instance)
        row.labels.value = layer
        if instance:
            show_info(NEW_OBJECTS_LAYER)
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
