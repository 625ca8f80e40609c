"""What both docks' controllers share (:mod:`..train.controller`, :mod:`..predict.controller`):
a state with its signal, the status line's words, errors said in it and as notifications,
the 'Only the plane in view' offer, and letting go of a deleted dock. Headless (no Qt)."""

from __future__ import annotations

from napari.utils.notifications import show_error
from psygnal import Signal

from .layers import safe_to_notify, spatial_shape

PLANE_BUTTON = "Only the plane in view"


def offers_plane(image, bundle, whole: bool) -> bool:
    """Whether a long prediction of ``image`` can offer :data:`PLANE_BUTTON` instead: a 2-D
    model predicting a whole stack."""
    return (whole and bundle is not None and len(spatial_shape(image)) > 2
            and bundle.model_config.spatial_dims == 2)


class DockController:
    """The base of a dock's controller: :attr:`state` (an Enum of its states) and
    :attr:`status` (the status line), each announced by its signal."""

    state_changed = Signal(object)
    status_changed = Signal(str)
    plane_offered = Signal(bool)
    """Whether the dock shows :data:`PLANE_BUTTON` now."""

    def __init__(self, viewer, runner, idle):
        self.viewer = viewer
        self.runner = runner
        self.state = idle
        self.status = ""

    def _helpers(self) -> tuple:
        """Other objects whose signals the dock shows (detached with this one)."""
        return ()

    def detach(self) -> None:
        """The dock showing this controller is gone (Qt deleted it): nothing is shown any
        more (the workers' last signals still reach the controller)."""
        for owner in (self, *self._helpers()):
            for name in {n for klass in type(owner).__mro__ for n, attr in vars(klass).items()
                         if isinstance(attr, Signal)}:
                getattr(owner, name).disconnect()

    def _to(self, state) -> None:
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)

    def say(self, text: str) -> None:
        """The status line's text."""
        self.status = text
        self.status_changed.emit(text)

    def say_long(self, image, bundle, whole: bool, said: str, before: str, otherwise: str) -> None:
        """A prediction of ``image`` will take minutes (``said``: how long): say so after
        ``before``, and offer :data:`PLANE_BUTTON` when it can (:func:`offers_plane`), else
        say ``otherwise`` (how to end it)."""
        offer = offers_plane(image, bundle, whole)
        then = f" '{PLANE_BUTTON}' predicts just the plane shown." if offer else f" {otherwise}"
        self.say(f"{before}Predicting '{image.name}': {said}.{then}")
        self.plane_offered.emit(offer)

    def say_error(self, text: str) -> None:
        """Tell the user why something cannot be done: in the status line (it stays) and as
        a notification (when that is safe: :func:`~.layers.safe_to_notify`)."""
        if safe_to_notify(self.viewer):
            show_error(text)
        self.say(text)
