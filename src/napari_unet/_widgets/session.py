"""The current model of one viewer, shared by its train and predict widgets."""

from __future__ import annotations

import weakref

from psygnal import Signal

_SESSIONS: weakref.WeakValueDictionary[int, Session] = weakref.WeakValueDictionary()


class Session:
    """Holds the current model (a core ``Bundle``) and where it came from.

    ``changed`` is emitted whenever the model is replaced (trained, loaded). ``device`` is
    the device the user chose in the train widget; prediction uses it too.
    """

    changed = Signal()

    def __init__(self):
        self.bundle = None
        self.source = ""
        self.trained_on: list[str] = []
        self.device = "auto"

    def set_model(self, bundle, source: str, trained_on: list[str] | None = None) -> None:
        self.bundle = bundle
        self.source = source
        self.trained_on = list(trained_on or [])
        self.changed.emit()

    def watch(self, widget, callback) -> None:
        """Call ``callback`` on changes while the Qt ``widget`` exists."""
        self.changed.connect(callback)
        widget.destroyed.connect(lambda *_: self.changed.disconnect(callback, missing_ok=True))


def session_for(viewer) -> Session:
    """The one :class:`Session` of ``viewer``, created on first use.

    napari hands every plugin widget its own public-only proxy of the viewer, so proxies are
    not identical; ``hash(viewer)`` is the same through all of them (napari hashes a viewer
    by identity). The session lives as long as a widget holds it (``widget.session``).
    """
    key = hash(viewer)
    session = _SESSIONS.get(key)
    if session is None:
        session = Session()
        _SESSIONS[key] = session
    return session
