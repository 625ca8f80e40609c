"""The current model of one viewer, shared by its train and predict widgets."""

from __future__ import annotations

import weakref

from psygnal import Signal

_SESSIONS: weakref.WeakValueDictionary[int, Session] = weakref.WeakValueDictionary()


PREDICT_TITLE = "Predict with U-Net"


def _docked(widget) -> bool:
    """Whether ``widget`` sits in a window (a dock of napari's), not alone (closed)."""
    from qtpy.QtWidgets import QMainWindow  # the controllers use sessions without Qt

    root = widget
    while root.parentWidget() is not None:
        root = root.parentWidget()
    return isinstance(root, QMainWindow)


class Session:
    """Holds the current model (a core ``Bundle``) and where it came from.

    ``changed`` is emitted whenever the model is replaced (trained, loaded). ``device`` is
    the device the user chose in the train widget; prediction uses it too.

    One model panel: each dock has a :class:`~.model_panel.ModelPanel`, but only one of
    them (:meth:`host_panel`: the predict dock's while it is open, else the train dock's)
    shows the model with Save / Load / Export; the other says where they are (each dock
    can still be opened alone, and then has them).
    """

    changed = Signal()
    jobs_changed = Signal()
    """A dock began or ended a prediction (:meth:`begin`, :meth:`end`)."""

    def __init__(self):
        self.bundle = None
        self.source = ""
        self.trained_on: list[str] = []
        self.device = "auto"
        self._panels: list[weakref.ref] = []
        self._jobs: dict[str, str] = {}

    # -- one prediction at a time -----------------------------------------------------------
    def begin(self, owner: str, what: str) -> None:
        """``owner`` (a dock's title) runs ``what`` ("predicting 'stack'"): the other
        dock starts nothing meanwhile (issue 23, item 4)."""
        self._jobs[owner] = what
        self.jobs_changed.emit()

    def end(self, owner: str) -> None:
        if self._jobs.pop(owner, None) is not None:
            self.jobs_changed.emit()

    def job_besides(self, owner: str) -> str:
        """What another dock runs, as "'Train U-Net' is predicting 'stack'"; "" if nothing."""
        for who, what in self._jobs.items():
            if who != owner:
                return f"'{who}' is {what}"
        return ""

    def add_panel(self, panel) -> None:
        self._panels.append(weakref.ref(panel))
        panel.destroyed.connect(lambda *_: self.docks_changed())
        self.docks_changed()

    def panels(self) -> list:
        alive = []
        for ref in self._panels:
            panel = ref()
            try:
                if panel is not None:
                    panel.isVisible()  # raises once Qt deleted it
                    alive.append(panel)
            except RuntimeError:
                pass
        return alive

    def host_panel(self):
        """The panel that shows the model in full: the predict dock's (the one with
        starters) while it is docked, else the train dock's; docked panels first."""
        panels = self.panels()
        docked = [p for p in panels if _docked(p)]
        pool = docked or panels
        with_starters = [p for p in pool if p.starter_button is not None]
        return (with_starters or pool or [None])[0]

    def host_title(self) -> str:
        host = self.host_panel()
        return PREDICT_TITLE if host is not None and host.starter_button is not None else "Train U-Net"

    def docks_changed(self) -> None:
        """A dock was opened or closed: the panels decide again which one shows the model."""
        from qtpy.QtCore import QTimer

        QTimer.singleShot(0, self._emit_panels)

    def _emit_panels(self) -> None:
        for panel in self.panels():
            try:
                panel.update_info()
            except RuntimeError:  # deleted meanwhile
                pass

    def set_model(self, bundle, source: str, trained_on: list[str] | None = None) -> None:
        self.bundle = bundle
        self.source = source
        self.trained_on = list(trained_on or [])
        self.changed.emit()

    def watch(self, widget, callback, signal: str = "changed") -> None:
        """Call ``callback`` on changes (or on ``signal``) while the Qt ``widget`` exists."""
        sig = getattr(self, signal)
        sig.connect(callback)
        widget.destroyed.connect(lambda *_: sig.disconnect(callback, missing_ok=True))


def existing_session(viewer) -> Session | None:
    """The :class:`Session` of ``viewer`` if a widget holds one, else None."""
    return _SESSIONS.get(hash(viewer))


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
