"""The predict dock's objects without their widgets: which layer holds the chosen image's
objects, refining and measuring them in a worker, and what the Objects section shows (a
summary line and the table). Headless (no Qt): the worker and the short wait before
measuring come from the predict controller's :class:`~..common.runner.Runner`, so
``napari.components.ViewerModel()`` and a ``SyncRunner`` are enough to drive it; the Qt
panel (:mod:`.objects_panel`) shows it and forwards the controls' changes.

The controls always start again from the objects as predicted (kept aside when a new
prediction arrives), so moving a control back undoes it. 2-D images only. The table always
describes the layer it names: a prediction written by any dock (Predict, Train, a retrain,
Live) clears it at once and it is measured again a moment later; removing the layer clears
it. Object ids are 1..n, the same in the table and in the layer (a new prediction's ids are
renumbered so: ids with gaps say nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from napari.utils.notifications import show_error, show_info
from psygnal import Signal

from ..common.layers import ROLE, find_ours, image_stack, is_ours, safe_to_notify, spatial_shape
from ..common.tasks import failed

FOLLOWED = ("objects", "prediction")
"""Our layers whose new data may change the table."""

MAX_PIXELS = 4096 * 4096
AS_PREDICTED = {"min_size": 0, "fill_holes": False, "split_depth": None}
"""The controls' settings that keep the objects as predicted."""
NO_OBJECTS = ("No objects yet: Predict with 'Also split into objects' ticked, or with an "
              "objects model (a starter, or one trained on whole objects).")
DELAY_MS = 250
"""How long the controls (and a new prediction) rest before the objects are measured: a
spin box moved by its arrows measures once, not at every step."""


def objects_layer(viewer, image):
    """The layer holding ``image``'s objects: '<image> objects', or an objects model's
    '<image> prediction' (one id per object); None if there is none."""
    layer = find_ours(viewer, "objects", image)
    if layer is None:
        layer = find_ours(viewer, "prediction", image)
        if layer is not None and layer.metadata[ROLE].get("kind") != "instances":
            layer = None
    return layer


@dataclass
class Measured:
    """What :func:`measure_objects` hands the GUI thread."""

    base: np.ndarray
    """The objects as predicted (ids 1..n): the controls start from them."""
    objects: np.ndarray | None
    """What the layer must show now; None: it shows that already."""
    table: dict
    """``core.inference.object_table``'s columns for those objects."""


def measure_objects(shown: np.ndarray, base: np.ndarray | None, settings: dict, stack,
                    names=None) -> Measured:
    """Headless: the objects ``settings`` make of ``base`` (None: ``shown`` is a new
    prediction, its objects renumbered 1..n are the base) and their table, measured on
    ``stack`` (``(C, H, W)``). Slow on large images: run in a worker."""
    from napari_unet.core.inference.object_table import object_table
    from napari_unet.core.inference.postprocess import refine_objects

    if base is None:
        base = shown
        ids = np.unique(base)
        if ids.size and ids[-1] != len(ids) - (ids[0] == 0):  # gaps: ids 1..n, in the layer too
            base = refine_objects(base).astype(base.dtype)
    if settings == AS_PREDICTED:
        refined = base  # as predicted, ids and all
    else:
        refined = refine_objects(base, **settings)
        if refined.max() <= np.iinfo(base.dtype).max:
            refined = refined.astype(base.dtype)
    same = refined.shape == shown.shape and np.array_equal(refined, shown)
    objects = None if same else (refined.copy() if refined is base else refined)
    table = object_table(shown if same else objects, np.asarray(stack), names)
    return Measured(base, objects, table)


def _measure_worker(shown, base, settings, stack, names):
    """:func:`measure_objects` as a worker's generator (it yields nothing)."""
    return measure_objects(shown, base, settings, stack, names)
    yield  # unreachable: makes this a generator, what a runner's worker runs


class ObjectsController:
    """The objects of the image ``image()`` gives (the dock's choice), with the controls'
    :attr:`settings`. :attr:`summary`, :attr:`rows` (the table shown, or None) and
    :attr:`table_data` (the table that can be saved, or None) change together, announced by
    :attr:`changed`."""

    changed = Signal()
    """:attr:`summary`, :attr:`rows` or :attr:`table_data` changed."""
    measured = Signal()
    """The table has been measured and shown."""

    def __init__(self, viewer, runner, image):
        self.viewer = viewer
        self.runner = runner
        self.image = image
        self.settings = dict(AS_PREDICTED)
        """The controls' settings (``refine_objects``' keywords); :meth:`set_settings`."""
        self.summary = NO_OBJECTS
        self.rows = None
        """The table the dock shows (``core.inference.object_table``'s columns), or None."""
        self.table_data = None
        """The last table measured for the layer named, or None (nothing to save)."""
        self.layer = None
        """The layer the table describes (its features hold the table), or None."""
        self.worker = None
        """The worker refining and measuring the objects, while it runs."""
        self._base = self._written = None
        self._token = self._soon = None
        self._again = self._writing = self.closed = False
        viewer.layers.events.inserted.connect(self._inserted)
        viewer.layers.events.removed.connect(self._removed)
        for layer in viewer.layers:
            self._follow(layer)

    @property
    def busy(self) -> bool:
        """Whether the objects are being refined and measured (in a worker)."""
        return self.worker is not None

    @property
    def pending(self) -> bool:
        """Whether a measurement waits for the controls to rest (:data:`DELAY_MS`)."""
        return self._soon is not None

    def _show(self, summary=None, rows=False, table=False) -> None:
        """Change what the section shows (``False``: as it is) and say so."""
        if summary is not None:
            self.summary = summary
        if rows is not False:
            self.rows = rows
        if table is not False:
            self.table_data = table
        self.changed.emit()

    # -- what the user changes ----------------------------------------------------------------
    def set_settings(self, settings: dict) -> None:
        """The controls moved: measure with ``settings`` once they rest."""
        self.settings = dict(settings)
        self.soon()

    def soon(self) -> None:
        """Measure once nothing has asked for it for :data:`DELAY_MS` (a later call waits
        again)."""
        token = self._soon = object()

        def due():
            if token is self._soon and not self.closed:
                self._soon = None
                self.update_objects()

        self.runner.later(due, DELAY_MS)

    # -- following the predictions -----------------------------------------------------------
    def _mine(self, layer) -> bool:
        """Whether ``layer`` is one of our result layers of the image chosen."""
        image = self.image()
        return (image is not None and any(is_ours(layer, role) for role in FOLLOWED)
                and layer.metadata[ROLE].get("image") == image.name)

    def _follow(self, layer) -> None:
        if any(is_ours(layer, role) for role in FOLLOWED):
            layer.events.data.connect(self._data_changed)

    def _inserted(self, event) -> None:
        self._follow(event.value)
        if self._mine(event.value):
            self._stale()

    def _removed(self, event) -> None:
        layer = event.value
        if any(is_ours(layer, role) for role in FOLLOWED):
            layer.events.data.disconnect(self._data_changed)
            if self._mine(layer):
                self._stale()

    def _data_changed(self, event=None) -> None:
        if not self._writing and self._mine(event.source):
            self._stale()

    def _stale(self) -> None:
        """A new prediction (or none): clear the table now, measure it again shortly."""
        if self.closed:
            return
        self._show("A new prediction: measuring its objects…", rows=None, table=None)
        self.soon()

    # -- measuring ---------------------------------------------------------------------------
    def update_objects(self) -> None:
        """Apply the settings to the objects as predicted, write them back, and measure.

        The refining and measuring run in a worker (:func:`measure_objects`; a second or
        more on a 1024 x 1024 image); here only the layer's data is copied and, when the
        worker returns, the layer's data, its features and the table assigned. A change
        while the worker runs is applied when it ends."""
        image = self.image()
        layer = objects_layer(self.viewer, image) if image is not None else None
        self.layer = None
        if self.worker is not None:  # its result is outdated: measure again when it ends
            self._token, self._again = object(), True
            self._show(table=None)
            return
        if layer is None:
            self._show(NO_OBJECTS, rows=None, table=None)
            return
        if len(spatial_shape(image)) != 2 or not isinstance(layer.data, np.ndarray):
            self._show("Object controls and the table work on 2-D images held in memory; "
                       "this one is a stack or a large image.", rows=None, table=None)
            return
        if int(np.prod(layer.data.shape)) > MAX_PIXELS:
            self._show("The image is too large for the object table here.", table=None)
            return
        new = layer.data is not self._written  # a new prediction: its objects are the base
        shown = layer.data
        token = self._token = object()
        self._show("Measuring the objects…", table=None)
        names = ["red", "green", "blue"] if image.rgb else None
        self.worker = self.runner.worker(
            _measure_worker, np.array(shown, copy=True), None if new else self._base,
            dict(self.settings), image_stack(image), names)
        self.worker.returned.connect(lambda out: self._measured(out, layer, shown, token))
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._worker_done)
        self.runner.start(self.worker)

    def _measured(self, out: Measured, layer, shown, token) -> None:
        """Assign what the worker made (only if still wanted)."""
        if token is not self._token or layer not in self.viewer.layers or layer.data is not shown:
            return
        self._base = out.base
        if out.objects is not None:
            self._writing = True
            try:
                layer.data = out.objects
            finally:
                self._writing = False
        self._written = layer.data
        layer.features = {"index": out.table["label"], **out.table}
        self.layer = layer
        n = len(out.table["label"])
        area = out.table["area_px"]
        mean_area = f", mean area {area.mean():.0f} px" if n else ""
        self._show(f"{n} object{'' if n == 1 else 's'} in '{layer.name}'{mean_area}.",
                   rows=out.table, table=out.table)
        self.measured.emit()

    def _failed(self, error) -> None:
        """Said in the summary and as a notification (the Objects section may be closed);
        the layer is left as it was (nothing is written) and there is no table to save."""
        line = failed("The objects could not be measured", error)
        if safe_to_notify(self.viewer):
            show_error(line)
        self._show(line, table=None)

    def _worker_done(self) -> None:
        self.worker = None
        if self._again and not self.closed:
            self._again = False
            self.update_objects()

    def shutdown(self) -> None:
        """Forget a running measurement (its result is not written) and one waiting."""
        self._token, self._again, self._soon = object(), False, None
        if self.worker is not None:
            self.worker.quit()

    def close(self) -> None:
        """The dock is gone: stop, and follow the layers no more. Nothing if already
        closed, or already torn down by Python's collector with the dock (its Qt
        ``destroyed`` can come after that)."""
        if vars(self).get("closed", True):
            return
        self.closed = True
        self.shutdown()
        self.viewer.layers.events.inserted.disconnect(self._inserted)
        self.viewer.layers.events.removed.disconnect(self._removed)
        for layer in self.viewer.layers:
            if any(is_ours(layer, role) for role in FOLLOWED):
                layer.events.data.disconnect(self._data_changed)

    # -- the table as CSV --------------------------------------------------------------------
    def save_csv(self, path) -> Path | None:
        """Save the objects layer's features to ``path`` (``.csv`` added if it has no
        suffix; napari's ``index`` column is left out: it repeats ``label``)."""
        from napari_unet.core.inference.object_table import write_csv

        layer = self.layer
        if self.table_data is None or layer is None or layer not in self.viewer.layers:
            show_error("There is no object table yet: predict objects first.")
            return None
        features = layer.features
        table = {k: features[k].to_numpy() for k in features.columns if k != "index"}
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".csv")
        try:
            saved = write_csv(table, path)
        except OSError as e:
            show_error(f"Cannot save the table to {path}: {e.strerror or e}")
            return None
        show_info(f"Object table saved to {saved}")
        return saved
