"""Save, load and export the current model, and show what it was trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .forecast import duration_words
from .layers import channels_text
from .session import session_for

FILE_FILTER = "napari-unet model (*.unet);;All files (*)"
SUFFIX = ".unet"


INSTANCE_TEXT = "Objects: one label per object"


def describe_output(bundle) -> str:
    """What the model predicts: objects (one label each), or its classes as painted."""
    if bundle.mode == "instance":
        return INSTANCE_TEXT
    return f"Classes: {', '.join(f'{k + 1} = {n}' for k, n in enumerate(bundle.class_names))}"


def describe_model(session, compact: bool = False) -> str:
    """What the current model is, for people: source, channels, output, date, training."""
    bundle = session.bundle
    if bundle is None:
        return ("No model yet: 'Use a starter model…' (predict dock) needs no painting; or "
                "paint, then Train; or load a model file.")
    if compact:
        return f"{session.source}: {bundle.summary()}"
    cfg, info = bundle.model_config, bundle.info
    lines = [
        session.source,
        f"Input: {channels_text(cfg.in_channels)}",
        describe_output(bundle),
    ]
    if info.get("date"):
        lines.append(f"Trained: {str(info['date']).replace('T', ' ')}")
    if info.get("started_from"):
        lines.append(f"Started from: {info['started_from']}")
    if "steps" in info:
        lines.append(
            f"{info['steps']} steps, "
            f"{duration_words(float(info.get('seconds', 0))).removeprefix('about ')} on "
            f"{str(info.get('device', '?')).replace('(1 threads)', '(1 thread)')}; network size: {cfg.depth} levels, "
            f"{cfg.base_width} filters"
        )
    if info.get("image_shapes"):
        shapes = ", ".join("x".join(str(v) for v in s) for s in info["image_shapes"][:4])
        more = " ..." if len(info["image_shapes"]) > 4 else ""
        lines.append(f"Training images (C x H x W): {shapes}{more}")
    return "\n".join(line for line in lines if line)


class ModelPanel(QWidget):
    """Model info plus Save / Load / Export buttons, bound to the viewer's session.

    ``runner``: the dock controller's :class:`~.runner.Runner` (the export runs in its
    worker); ``compact`` shows a one-line summary instead of the full description;
    ``starters`` adds a "Starter model" menu: a pretrained model that predicts objects with
    no painting.
    """

    def __init__(self, viewer, runner, compact: bool = False, starters: bool = False,
                 parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.runner = runner
        self.compact = compact
        self.session = session_for(viewer)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.save_button = QPushButton("Save model…")
        self.load_button = QPushButton("Load model…")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the model for other tools: bioimage.io, TorchScript, ONNX")
        from .export import ExportRun

        self.exporting = ExportRun(runner, on_change=self.update_info)
        """The export (headless): its worker, one at a time."""
        self.save_button.clicked.connect(self._ask_save)
        self.load_button.clicked.connect(self._ask_load)
        self.export_button.clicked.connect(self._ask_export)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.export_button)
        self.buttons = QWidget()
        buttons.setContentsMargins(0, 0, 0, 0)
        self.buttons.setLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.info)
        layout.addWidget(self.buttons)
        self.starter_button = None
        if starters:
            self.starter_button = QPushButton("Use a starter model…")
            self.starter_button.setToolTip(
                "A pretrained model that finds objects (nuclei, cells) without any painting: "
                "choose one, then Predict. Train fine-tunes it on your strokes.")
            menu = QMenu(self.starter_button)
            menu.setToolTipsVisible(True)
            menu.aboutToShow.connect(self._fill_starters)
            self.starter_button.setMenu(menu)
            layout.addWidget(self.starter_button)
        self.session.watch(self, self.update_info)
        self.session.add_panel(self)
        self.update_info()

    def is_host(self) -> bool:
        """Whether this panel shows the model in full, with its buttons: the one panel of
        the viewer that does (see :meth:`~.session.Session.host_panel`)."""
        return self.session.host_panel() is self

    def update_info(self) -> None:
        host = self.is_host()
        self.buttons.setVisible(host)
        if self.starter_button is not None:
            self.starter_button.setVisible(host)
        if host:
            self.info.setText(describe_model(self.session, self.compact))
        else:
            self.info.setText(f"{describe_model(self.session, compact=True)}\n"
                              f"Save, load and export it in '{self.session.host_title()}'.")
        bundle = self.session.bundle
        self.info.setToolTip(bundle.info.get("card", "") if bundle is not None else "")
        self.save_button.setEnabled(self.session.bundle is not None)
        self.export_button.setEnabled(self.session.bundle is not None and not self.exporting.busy)

    def save(self, path) -> Path | None:
        """Save the current model to ``path`` (``.unet`` added if it has no suffix)."""
        from napari_unet.core.files.bundle import save_bundle

        if self.session.bundle is None:
            show_error("There is no model to save yet: train one first.")
            return None
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(SUFFIX)
        try:
            saved = save_bundle(self.session.bundle, path)
        except OSError as e:
            show_error(f"Cannot save the model to {path}: {e.strerror or e}")
            return None
        show_info(f"Model saved to {saved}")
        return saved

    def load(self, path) -> bool:
        """Make the model in ``path`` the current one; False (and a message) if it cannot."""
        from napari_unet.core.files.bundle import BundleError, load_bundle

        try:
            bundle = load_bundle(path)
        except BundleError as e:
            show_error(f"Cannot load the model: {e}")
            return False
        self.session.set_model(bundle, f"Loaded from {Path(path).name}")
        show_info(f"Loaded model: {bundle.summary()}")
        return True

    def load_starter(self, name: str) -> bool:
        """Make the starter ``name`` the current model; False (and a message) if it cannot."""
        from napari_unet.core.files.bundle import BundleError
        from napari_unet.core.files.starters import load_starter, title

        try:
            bundle = load_starter(name)
        except BundleError as e:
            show_error(f"Cannot load the starter: {e}")
            return False
        self.session.set_model(bundle, f"Starter: {title(bundle)}")
        show_info(f"Starter model: {title(bundle)}. Predict finds objects; Train fine-tunes it.")
        return True

    def _fill_starters(self) -> None:
        """The menu: one entry per installed starter (its title; its card as tooltip)."""
        from .start_from import installed_starters

        menu = self.starter_button.menu()
        menu.clear()
        found = installed_starters()
        layer, suggested = suggestion(self.viewer)
        found.sort(key=lambda f: f[0] != suggested)  # the one for the image in view first
        for name, title, card in found:
            if name == suggested:
                title = f"{title} (suggested for '{layer.name}')"
            action = menu.addAction(title)
            action.setToolTip(card)
            action.triggered.connect(lambda _=False, n=name: self.load_starter(n))
        if not found:
            menu.addAction("No starter models are installed").setEnabled(False)

    def export(self, path, format: str):
        """Export the current model to ``path`` in a worker (returned; None if no model)."""
        from .export import sample_image

        bundle = self.session.bundle
        if bundle is None:
            show_error("There is no model to export yet: train one first.")
            return None
        sample = sample_image(self.viewer, self.session, bundle.model_config.in_channels)
        return self.exporting.start(bundle, path, format, sample)

    @property
    def export_worker(self):
        """The running export's worker, else None (:attr:`exporting`'s)."""
        return self.exporting.worker

    def _ask_export(self) -> None:
        from .export import ask_export

        choice = ask_export(self)
        if choice:
            self.export(*choice)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save U-Net model", "model.unet", FILE_FILTER)
        if path:
            self.save(path)

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load U-Net model", "", FILE_FILTER)
        if path:
            self.load(path)


def suggestion(viewer):
    """``(image layer, starter name)``: the starter suggested for the selected image (else
    the top visible one), from a plane of it; ``(None, None)`` when there is none."""
    from napari.layers import Image

    active = viewer.layers.selection.active
    images = [active] if isinstance(active, Image) else \
        [lay for lay in reversed(viewer.layers) if isinstance(lay, Image) and lay.visible]
    if not images:
        return None, None
    layer = images[0]
    try:
        from napari_unet.core.files.starters import suggest_starter

        data = layer.data[-1] if layer.multiscale else layer.data
        keep = 3 if layer.rgb else 2
        while data.ndim > keep:
            data = data[data.shape[0] // 2]
        return layer, suggest_starter(np.asarray(data))
    except (ValueError, TypeError, IndexError):  # a plane it cannot read: no suggestion
        return layer, None
