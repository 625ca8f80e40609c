"""npe2 reader: a ``.unet`` model file dropped onto napari (or opened with File > Open)
becomes the current model of the docks, as *Load model…* does. It opens no layer.

:func:`get_reader` is called for every file napari opens, so it only looks at the name;
the model is read (and torch imported) only once the file is ours.
"""

from __future__ import annotations

from pathlib import Path

SUFFIX = ".unet"
PLUGIN = "napari-stroke-unet"
NULL_LAYERS = [(None,)]  # napari's "read, and no layer to add" (as its own .py reader)


def get_reader(path):
    """The reader for one ``.unet`` file; None for anything else (a list of several
    files included), so napari asks its other readers."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    if not str(path).lower().endswith(SUFFIX):
        return None
    return read_model


def read_model(path):
    """Load the model in ``path`` as the current model of the current viewer's docks.

    With no dock open, the predict dock is opened first: it shows the model and predicts
    with it. A file that is not a valid model raises (napari says so, and nothing changes).
    """
    import napari
    from napari.utils.notifications import show_info

    from napari_unet.core.files.bundle import load_bundle

    if isinstance(path, (list, tuple)):
        path = path[0]
    viewer = napari.current_viewer()
    if viewer is None:
        raise ValueError("a model file is opened into a viewer: open napari first")
    bundle = load_bundle(path)  # BundleError (a ValueError) before anything changes
    session = _open_session(viewer)
    session.set_model(bundle, f"Loaded from {Path(path).name}")
    show_info(f"Loaded model: {bundle.summary()}")
    return NULL_LAYERS


def _open_session(viewer):
    """The viewer's session, with a dock holding it (the predict dock opened if none is)."""
    from .session import PREDICT_TITLE, existing_session

    session = existing_session(viewer)
    if session is None or not session.panels():
        viewer.window.add_plugin_dock_widget(PLUGIN, PREDICT_TITLE)
        session = existing_session(viewer)
    return session
