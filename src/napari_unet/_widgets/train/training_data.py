"""The training set: (image layer, painted labels layer) pairs, and new annotation layers.

What is painted depends on the annotation mode (:meth:`TrainingData.set_mode`): strokes of
classes (1 = background, 2 = foreground, ...) or whole objects, each with its own label.
"""

from __future__ import annotations

import re

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

from ..common.channel_pick import ChannelPick
from ..common.layer_combo import LayerCombo
from ..common.layers import is_ours, new_annotation_layer, spatial_shape, training_planes
from .modes import LABELS_TIPS, NEW_LAYER_TIPS, NEW_OBJECTS_LAYER, NO_OBJECTS, NO_STROKES


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
    if not any(l.any() for l in labels):
        names = " or ".join(f"'{lab.name}'" for _, lab in pairs)
        what = NO_OBJECTS if mode == "instance" else NO_STROKES
        raise ImageError(what.replace("nothing is painted", f"nothing is painted on {names}"))
    if mode == "instance":
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


def fits(image, labels) -> bool:
    return image is not None and labels is not None and labels.data.shape == spatial_shape(image)


_MADE_FOR = re.compile(r"^(?P<image>.+) (annotations|corrections)( \d+)?( \[\d+\])?$")


def made_for(labels) -> str | None:
    """The name of the image ``labels`` was made for, read from its name ("<image>
    annotations", "<image> corrections", as the docks name them), or None."""
    m = _MADE_FOR.match(labels.name)
    return m["image"] if m else None


def belongs(image, labels) -> bool:
    """Whether ``labels`` may be paired with ``image`` without asking: it fits, and it was
    not made for another image (its shape alone says nothing: images of one size abound)."""
    return fits(image, labels) and made_for(labels) in (None, image.name)


def _why_none(image, labels_layers) -> str:
    """Why none of ``labels_layers`` was chosen for ``image`` ("" if there are none)."""
    for labels in labels_layers:
        if not fits(image, labels):
            return (f" ('{labels.name}' has shape {tuple(labels.data.shape)} but the image has "
                    f"{spatial_shape(image)}; paint on a labels layer of the image's size)")
    for labels in labels_layers:
        return (f" ('{labels.name}' was made for '{made_for(labels)}'; choose it yourself if "
                "it is meant for this image)")
    return ""


class PairRow:
    """One image combo and one labels combo. A new image gets a labels layer of its shape
    that was not made for another image (its "<image> annotations" first), or none; a
    labels layer the user chooses is kept, and :meth:`misfit` says when it does not fit the
    image. The pair follows its image: when the image is removed, ``on_gone(row, image,
    labels)`` is called and the labels layer is no longer chosen."""

    def __init__(self, viewer, on_change=None, on_gone=None):
        self.viewer = viewer
        self.image = LayerCombo(viewer, Image, accept=_theirs)
        self.labels = LayerCombo(viewer, Labels, accept=_theirs, keep_none=True)
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove this pair from the training set")
        self.image.setToolTip("Image to learn from")
        self.labels.setToolTip(LABELS_TIPS["semantic"])
        self.on_change = on_change or (lambda: None)
        self.on_gone = on_gone or (lambda row, image, labels: None)
        self._image_before = self.image.value
        self.image.currentIndexChanged.connect(self._image_changed)
        self.labels.currentIndexChanged.connect(self._labels_changed)
        viewer.layers.events.inserted.connect(self._inserted)
        self.match_labels()

    def widgets(self):
        return self.image, self.labels, self.remove

    def take(self, other: PairRow) -> None:
        """Choose ``other``'s image and labels here (rows move up when one goes)."""
        self.image.value = other.image.value
        if other.labels.value is None:
            self.labels.setCurrentIndex(-1)
        self.labels.value = other.labels.value

    def _image_changed(self, *_) -> None:
        before, self._image_before = self._image_before, self.image.value
        if before is not None and before not in self.viewer.layers:  # the image was removed
            labels = self.labels.value
            self.labels.setCurrentIndex(-1)  # its annotations go with it
            self.on_gone(self, before, labels)
        self.match_labels()

    def _labels_changed(self, *_) -> None:
        if self.labels.value is None:  # its layer was removed: another of the image's?
            self.match_labels()
        self.on_change()

    def _inserted(self, event=None) -> None:
        """A new layer: the image's labels layer, if none is chosen yet."""
        if self.labels.value is None:
            self.labels.refresh()
            self.match_labels()

    def match_labels(self, *_) -> None:
        """Choose a labels layer that belongs to the image (:func:`belongs`) if the chosen
        one does not; none if there is none."""
        image = self.image.value
        if image is not None and not belongs(image, self.labels.value):
            own = [layer for layer in self.labels.choices() if belongs(image, layer)]
            named = [layer for layer in own if made_for(layer) == image.name]
            if own:
                self.labels.value = (named or own)[0]
            else:
                self.labels.setCurrentIndex(-1)
        self.on_change()

    def misfit(self) -> str:
        """Why the chosen labels layer does not fit the image ("" if it does, or if one of
        the two is not chosen)."""
        image, labels = self.image.value, self.labels.value
        if image is None or labels is None or fits(image, labels):
            return ""
        size = lambda shape: " x ".join(str(v) for v in shape)  # noqa: E731
        return (f"'{labels.name}' is {size(labels.data.shape)} px but '{image.name}' is "
                f"{size(spatial_shape(image))}: choose its annotations, or press 'New "
                "annotation layer'.")


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
        self.fit_note = QLabel()
        self.fit_note.setWordWrap(True)
        self.fit_note.setStyleSheet("QLabel { color: #f0b000; }")
        self.fit_note.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.grid)
        layout.addWidget(self.fit_note)
        layout.addLayout(buttons)
        self.mode = "semantic"
        self.gone = ""
        """What left the training set with its image (said until the user chooses again)."""
        self.add_pair()
        self.channels = ChannelPick(viewer, self.rows[0].image)  # the first pair's image
        layout.insertWidget(1, self.channels)
        self.set_mode("semantic")

    def set_mode(self, mode: str) -> None:
        """Follow the annotation mode ("semantic" or "instance"): tips and new layers."""
        self.mode = mode
        self.new_button.setToolTip(NEW_LAYER_TIPS[mode])
        for row in self.rows:
            row.labels.setToolTip(LABELS_TIPS[mode])

    def show_fit(self) -> None:
        """Say, under the pairs, which pair left with its image and which chosen labels
        layer does not fit its image."""
        notes = [self.gone] + [row.misfit() for row in getattr(self, "rows", [])]
        text = " ".join(n for n in notes if n)
        self.fit_note.setText(text)
        self.fit_note.setVisible(bool(text))

    def add_pair(self) -> PairRow:
        row = PairRow(self.viewer, on_change=self.show_fit, on_gone=self._pair_gone)
        row.labels.setToolTip(LABELS_TIPS[self.mode])
        r = self.grid.rowCount()
        for col, w in enumerate(row.widgets()):
            self.grid.addWidget(w, r, col)
        row.remove.clicked.connect(lambda: self.remove_pair(row))
        for combo in (row.image, row.labels):  # the user chooses: what went is old news
            combo.activated.connect(self._forget_gone)
        self.rows.append(row)
        self._update_remove()
        return row

    def _forget_gone(self, *_) -> None:
        self.gone = ""
        self.show_fit()

    def _pair_gone(self, row: PairRow, image, labels) -> None:
        """``image`` was removed: its pair leaves the training set (its row, if there are
        others), and the dock says so."""
        with_labels = f" with '{labels.name}'" if labels is not None else ""
        self.gone = (f"'{image.name}' was removed, so its pair{with_labels} left the "
                     "training set.")
        if len(self.rows) > 1:
            self.remove_pair(row)
        self.show_fit()

    def remove_pair(self, row: PairRow) -> None:
        """Drop ``row``'s pair: the rows below move up, the last row goes (the first row's
        widgets stay, others follow them)."""
        if len(self.rows) <= 1 or row not in self.rows:
            return
        i = self.rows.index(row)
        for upper, lower in zip(self.rows[i:], self.rows[i + 1:]):
            upper.take(lower)
        last = self.rows.pop()
        self.viewer.layers.events.inserted.disconnect(last._inserted)
        for w in last.widgets():
            self.grid.removeWidget(w)
            w.deleteLater()
        self._update_remove()
        self.show_fit()

    def _update_remove(self) -> None:
        for row in self.rows:
            row.remove.setEnabled(len(self.rows) > 1)

    def target_image(self):
        """The image a new annotation layer is for: the selected image layer, else the
        top visible one (the one in view), else the last row's."""
        choices = self.rows[-1].image.choices()
        active = self.viewer.layers.selection.active
        if active in choices:
            return active
        shown = [layer for layer in self.viewer.layers if layer in choices and layer.visible]
        return shown[-1] if shown else self.rows[-1].image.value

    def new_annotation_layer(self) -> Labels | None:
        """Pair ``"<image> annotations"`` with the image in view (:meth:`target_image`),
        made if it is not there yet (a second press selects it again, it makes no empty
        second layer), in that image's row (the last row if it has none).

        For whole objects label 1 is selected and a tip says to press M for each new object.
        """
        image = self.target_image()
        if image is None:
            show_error(
                "Open an image first (or File > Open Sample > Nuclei), then add annotations."
            )
            return None
        self._forget_gone()
        row = next((r for r in self.rows if r.image.value is image), self.rows[-1])
        row.image.value = image
        name = f"{image.name} annotations"
        instance = self.mode == "instance"
        there = [layer for layer in row.labels.choices()
                 if layer.name == name and fits(image, layer)]
        if there:
            layer = there[0]
            self.viewer.layers.selection.active = layer
            layer.mode = "paint"
            show_info(f"'{name}' is already there, chosen for training: paint on it.")
        else:
            layer = new_annotation_layer(self.viewer, image, instance=instance)
            if instance:
                show_info(NEW_OBJECTS_LAYER)
        row.labels.value = layer
        return layer

    def pairs(self) -> list[tuple[Image, Labels]]:
        """The chosen pairs; raises :class:`ImageError` if a row lacks a layer or repeats one."""
        pairs = []
        for i, row in enumerate(self.rows, 1):
            image, labels = row.image.value, row.labels.value
            where = f" in row {i} of 'Training data'" if len(self.rows) > 1 else ""
            if image is None:
                raise ImageError(f"choose an image to learn from{where} (open one first, or "
                                 "File > Open Sample > Nuclei)")
            if labels is None:
                raise ImageError(f"'{image.name}' has no painted labels layer chosen{where}"
                                 f"{_why_none(image, row.labels.choices())}: press 'New "
                                 "annotation layer', paint on it, then train")
            pairs.append((image, labels))
        if len({id(p[1]) for p in pairs}) < len(pairs):
            raise ImageError("the same labels layer is chosen twice; give each image its own")
        return pairs
