"""Channel choice for a multichannel image layer that napari shows as a stack.

A ``(C, Y, X)`` image opened without a channel axis is one layer whose first axis napari
(and the docks) take for z or time: the U-Net would learn and predict each channel as a
plane. Under the image choice the docks then ask; choosing "channel k" adds the layer
``"<image> channel k"`` (a view of that channel, no copy) and chooses it, so training and
prediction use the nuclear channel alone, as the CLI's ``--channel-axis`` does for files.
"""

from __future__ import annotations

from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

MAX_CHANNELS = 8
"""A first axis at most this long may be channels (longer ones are taken for z or time)."""


def maybe_channels(layer) -> int:
    """How many channels ``layer``'s first axis may hold (0 when it cannot be channels:
    RGB, multiscale, not 3-D, or longer than :data:`MAX_CHANNELS`)."""
    if layer is None or layer.rgb or layer.multiscale or layer.data.ndim != 3:
        return 0
    n = int(layer.data.shape[0])
    return n if 2 <= n <= MAX_CHANNELS else 0


def channel_layer(viewer, layer, k: int):
    """The layer ``"<image> channel k+1"``: channel ``k`` of ``layer`` (a view), added the
    first time."""
    name = f"{layer.name} channel {k + 1}"
    for existing in viewer.layers:
        if existing.name == name and tuple(existing.data.shape) == tuple(layer.data.shape[1:]):
            return existing
    return viewer.add_image(layer.data[k], name=name, scale=layer.scale[1:],
                            translate=layer.translate[1:], colormap="gray")


class ChannelPick(QWidget):
    """'Channels?' and a combo under an image combo; hidden unless the image may hold
    channels."""

    def __init__(self, viewer, image_combo, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.image_combo = image_combo
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.choice = QComboBox()
        self.choice.setToolTip("Use one channel of the image as a grayscale image")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.choice)
        self.choice.activated.connect(self.use)
        image_combo.currentIndexChanged.connect(lambda *_: self.follow())
        self.follow()

    def follow(self) -> None:
        """Show the choice when the chosen image may hold channels."""
        layer = self.image_combo.value
        n = maybe_channels(layer)
        self.setVisible(bool(n))
        if not n:
            return
        self.text.setText(f"'{layer.name}' has {n} planes. If they are channels (not z or "
                          "time), use one:")
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItem("all, as planes")
        self.choice.addItems([f"channel {k + 1}" for k in range(n)])
        self.choice.blockSignals(False)

    def use(self, index: int):
        """Choose channel ``index`` (1-based in the combo; 0: the planes as they are)."""
        layer = self.image_combo.value
        if layer is None or index <= 0 or index > maybe_channels(layer):
            return None
        channel = channel_layer(self.viewer, layer, index - 1)
        self.image_combo.value = channel
        return channel
