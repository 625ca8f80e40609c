"""Live mode: train without end while the user paints, and show what the model sees now.

One long-running worker trains (the core's ``Trainer.steps()`` with no budget). The GUI
thread only copies: every :data:`RELABEL_S` seconds, if the labels layer changed, a copy of
its painted planes goes to the worker, which rebuilds targets and sampler between two
steps (:meth:`Trainer.set_labels`: the model and optimiser go on). Every refresh (about
:data:`REFRESH_S` seconds on a CPU, less on a GPU) the worker predicts only the part of the
current plane in view (the image layer's ``corner_pixels``, at most :data:`MAX_VIEW` px a
side around its centre; the whole plane when nothing is drawn yet) and hands the result
to the GUI thread, which writes that region into ``"<image> prediction"`` (and, with
'Show where to paint next', into the uncertainty and spots layers). Turning live mode off
stops after the running step and keeps the model.

Headless: the worker and the timers come from the train controller's
:class:`~..common.runner.Runner` (napari's ``thread_worker`` and Qt timers in the dock, a
synchronous one in tests); :class:`LiveMode` is owned by the
:class:`~.controller.TrainController` (its ``LIVE`` state).

Live mode trains on every stroke at once (no strokes are held out for validation, which
runs with Train). It starts from the model the train dock's 'Start from' chooses (in the
worker); from scratch on a CPU with the default U-Net size, it uses the smaller
:data:`LIVE_CPU_MODEL` so that the prediction follows the painting quickly.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from napari_unet.core.progress import Progress

from ..common.tasks import BUILT, CHOSEN, TaskError, failed, guarded

RELABEL_S = 2.0
"""Seconds between looks at the labels layer (when it changed)."""
REFRESH_S = {"cpu": 3.0, "other": 1.0}
"""Seconds between predictions of the view: on a CPU, and on a GPU (or MPS)."""
MAX_VIEW = 1024
"""At most this many px a side of the view are predicted (around its centre)."""
LIVE_CPU_MODEL = {"depth": 2, "base_width": 8}
"""U-Net size for live mode on a CPU when the settings hold the default size."""
FRAME, NOTE, PICKED = "view predicted", "note", "painting picked up"
"""The live worker's own stages (besides :data:`~.tasks.CHOSEN`, :data:`~.tasks.BUILT` and
the trainer's): a :class:`Frame` as payload, a message for the user (``message``), and new
painting taken up."""
MAKE_GAP_MS = 60
"""Live's result layers are made this far apart, one at a time (see ``_make_layers``)."""
LIVE_STEPS = 10**9
"""A step budget that never ends (the learning rate stays at its warm value)."""
LIVE_SMALL = "live_small_unet"
"""Key in a bundle's ``info``: live mode trained it from scratch as a smaller U-Net on the
CPU. The settings then keep their U-Net size, and Train may still continue it."""
TICK_MS = 250
"""How often the labels and the view are looked at (:meth:`LiveMode._tick`)."""


@dataclass
class View:
    """What the GUI wants predicted: ``plane`` (leading index) and ``box`` (y0, y1, x0, x1);
    ``painted``: the labels there (a copy), for the spots to avoid."""

    plane: tuple
    box: tuple[int, int, int, int]
    painted: np.ndarray | None = None


@dataclass
class Frame:
    """A prediction of a :class:`View`: class labels (k + 1) and, if asked, uncertainty
    and spots (coordinates within the box)."""

    view: View
    labels: np.ndarray
    step: int
    uncertainty: np.ndarray | None = None
    spots: np.ndarray | None = None
    unsure: list | None = None
    """What the model hesitates between at each spot ("background or foreground")."""


class Inbox:
    """GUI -> worker mailbox; only the latest labels and view count."""

    def __init__(self):
        self._lock = threading.Lock()
        self._labels = None
        self._view = None
        self.uncertainty = False

    def post_labels(self, images, labels) -> None:
        with self._lock:
            self._labels = (images, labels)

    def take_labels(self):
        with self._lock:
            out, self._labels = self._labels, None
        return out

    def post_view(self, view: View) -> None:
        with self._lock:
            self._view = view

    def view(self) -> View | None:
        with self._lock:
            return self._view


def predict_view(trainer, stack, view: View, stats: dict, with_uncertainty: bool) -> Frame:
    """Predict ``view`` of ``stack`` (``(..., C, H, W)``) with the trainer's model as it is.

    The crop is read with the network's receptive field around it (so the region equals a
    whole-image prediction) and normalised with the whole plane's statistics (cached in
    ``stats``)."""
    from napari_unet.core.config import NormConfig, PredictConfig
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.inference.predict import predict_image
    from napari_unet.core.normalize import stats_for

    image = stack[view.plane] if view.plane else stack
    _, h, w = image.shape
    y0, y1, x0, x1 = view.box
    ctx = trainer.model.receptive_radius
    ry0, ry1, rx0, rx1 = max(0, y0 - ctx), min(h, y1 + ctx), max(0, x0 - ctx), min(w, x1 + ctx)
    if view.plane not in stats:
        stats[view.plane] = stats_for(image, trainer.norm)
    low, high = stats[view.plane]
    bundle = Bundle(
        model_config=trainer.model_config,
        norm=NormConfig(mode="fixed", low=[float(v) for v in low], high=[float(v) for v in high]),
        state_dict={},
    )
    crop = np.asarray(image[:, ry0:ry1, rx0:rx1])
    pred = predict_image(crop, bundle, PredictConfig(amp=trainer.config.runtime.amp, tile_size=512),
                         model=trainer.model, probabilities=with_uncertainty)
    inner = (slice(y0 - ry0, y1 - ry0), slice(x0 - rx0, x1 - rx0))
    frame = Frame(view, pred.labels[inner].copy(), trainer.step)
    if with_uncertainty:
        from ..common.paint_next import spots_for

        probs = pred.probabilities[(slice(None),) + inner]
        frame.uncertainty, frame.spots, _, frame.unsure = spots_for(
            probs, view.painted, trainer.class_names)
    return frame


def _same(a, b) -> bool:
    if a is None or b is None or len(a[1]) != len(b[1]):
        return False
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a[1], b[1]))


def live_worker(images, labels, model, config, request, class_names, stack, inbox, stop,
                refresh_s):
    """Choose the starting model (``request``, a ``start_from.StartRequest``: first yield,
    its choice; ``model`` is the architecture from scratch), build the trainer (second
    yield), then train until ``stop`` is set, taking new labels from ``inbox`` and yielding
    :class:`Frame`s of its view every ``refresh_s``; returns the model's bundle. Every
    yield is a :class:`Progress`, told apart by ``stage`` (:data:`FRAME`, ...)."""
    from napari_unet.core.images import ImageError
    from napari_unet.core.training.train import Trainer

    choice = request.resolve(images, labels, config.targets.mode)
    yield Progress(CHOSEN, 0, payload=choice)
    if stop.is_set():
        return None
    init = choice.bundle
    try:
        trainer = Trainer(images, labels, model=None if init is not None else model,
                          config=config, init=init, class_names=class_names)
    except RuntimeError as e:
        raise TaskError(str(e)) from e
    yield Progress(BUILT, 0, payload=trainer)
    current = (images, labels)
    refused = ""  # the last message about painting that cannot be used (said once)
    stats: dict = {}
    last = -math.inf
    gen = trainer.steps()
    try:
        for record in guarded(gen):
            if stop.is_set():
                break
            new = inbox.take_labels()
            if new is not None and not _same(new, current):
                current = new
                try:
                    trainer.set_labels(*new)
                    refused = ""
                    yield Progress(PICKED, trainer.step)
                except ImageError as e:
                    if str(e) != refused:
                        refused = str(e)
                        said = f"Live: {e} (training goes on with the earlier painting)"
                        yield Progress(NOTE, trainer.step, message=said)
            view = inbox.view()
            if view is not None and time.perf_counter() - last >= refresh_s:
                try:
                    frame = predict_view(trainer, stack, view, stats, inbox.uncertainty)
                    yield Progress(FRAME, trainer.step, payload=frame)
                except RuntimeError as e:
                    raise TaskError(str(e)) from e
                last = time.perf_counter()
            yield record
    finally:
        gen.close()
    return trainer.bundle() if trainer.step > 0 else None


def current_view(viewer, image, labels=None, max_view: int = MAX_VIEW) -> View:
    """The part of the current plane of ``image`` in view (public ``corner_pixels``; the
    whole plane when the last two axes are not the ones shown or nothing is drawn yet),
    at most ``max_view`` px a side around its centre, with a copy of ``labels`` there."""
    from ..common.layers import current_plane, spatial_shape

    plane = current_plane(viewer, image)
    h, w = spatial_shape(image)[-2:]
    y0, y1, x0, x1 = 0, h, 0, w
    dims = viewer.dims
    corners = np.asarray(image.corner_pixels)
    if dims.ndisplay == 2 and list(dims.displayed) == [dims.ndim - 2, dims.ndim - 1]:
        (cy0, cx0), (cy1, cx1) = corners[0, -2:], corners[1, -2:]
        if cy1 > cy0 and cx1 > cx0:
            y0, y1 = max(0, int(cy0)), min(h, int(cy1) + 1)
            x0, x1 = max(0, int(cx0)), min(w, int(cx1) + 1)
    if y1 - y0 > max_view:
        y0 = (y0 + y1) // 2 - max_view // 2
        y1 = y0 + max_view
    if x1 - x0 > max_view:
        x0 = (x0 + x1) // 2 - max_view // 2
        x1 = x0 + max_view
    painted = None
    if labels is not None and tuple(labels.data.shape) == tuple(spatial_shape(image)):
        painted = np.array(labels.data[tuple(plane) + (slice(y0, y1), slice(x0, x1))])
    return View(tuple(plane), (y0, y1, x0, x1), painted)


class LiveMode:
    """The GUI side of live mode, owned by the train controller: a timer that posts copies
    of the labels (when they changed) and the current view to the worker, and the writing
    of the worker's frames into our layers. Nothing heavier runs on the GUI thread. The
    worker and the timers come from ``runner`` (a :class:`~..common.runner.Runner`)."""

    def __init__(self, viewer, runner, on_progress=None, on_note=None, on_finished=None,
                 on_choice=None):
        self.viewer = viewer
        self.runner = runner
        self.on_progress, self.on_note, self.on_finished = on_progress, on_note, on_finished
        self.on_choice = on_choice
        """Called with the worker's ``StartChoice`` (the model training starts from)."""
        self.worker = None
        self.trainer = None
        self.pairs = []
        self.frames = 0
        """Frames written so far (predictions of the view)."""
        self.picked = 0
        """Times new painting was picked up by the running training."""
        self.uncertainty = False
        self.error = None
        """One line for the user if the last run failed (its traceback is in the log)."""
        self._bundle = None
        self._making = False
        """Whether the result layers are being made (one per turn of the event loop)."""
        self._pending = None
        """The latest frame that came meanwhile."""
        self._dirty = False
        self._last_post = 0.0
        self._inbox = Inbox()
        self._stop = threading.Event()
        self.timer = None
        """Calls :meth:`_tick` every :data:`TICK_MS` while the worker runs."""

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, pairs, images, labels, model, config, request, class_names, device_type):
        """Start the worker (``request``: the 'Start from' choice, resolved there);
        ``config`` is made endless here. Returns the worker."""
        config = config.replace(steps=LIVE_STEPS, seconds=None, validation_fraction=0.0,
                                keep_best=False)
        self.pairs, self.trainer, self._bundle = list(pairs), None, None
        self.frames, self.picked, self.error = 0, 0, None
        self._inbox, self._stop = Inbox(), threading.Event()
        self._inbox.uncertainty = self.uncertainty
        from ..common.layers import image_stack

        refresh = REFRESH_S["cpu" if device_type == "cpu" else "other"]
        self.worker = self.runner.worker(live_worker, images, labels, model, config, request,
                                         class_names, image_stack(self.image), self._inbox,
                                         self._stop, refresh)
        self.worker.yielded.connect(self._yielded)
        self.worker.returned.connect(self._returned)
        self.worker.errored.connect(self._errored)
        self.worker.finished.connect(self._finished)
        for _, lab in self.pairs:
            for name in ("paint", "data", "labels_update", "set_data"):
                getattr(lab.events, name).connect(self._changed)
        self._dirty = False
        self._make_layers(class_names, config.targets.mode)
        self._tick()
        self.timer = self.runner.every(TICK_MS, self._tick)
        return self.runner.start(self.worker)

    def _make_layers(self, class_names, mode) -> None:
        """Make missing result layers, empty, soon after the click, one per turn of the
        event loop (:data:`MAKE_GAP_MS` apart): making a layer is the slowest thing napari
        does here (a few hundred ms each on a CPU), so the viewer redraws and answers between
        two, instead of freezing for all of them at once; better now than while painting.
        A frame that comes meanwhile waits for the last one (:meth:`_write`)."""
        steps = self._layer_steps(class_names, mode)
        worker = self.worker

        def next_step():
            image = self.image
            if self.worker is not worker or image is None or image not in self.viewer.layers:
                steps.clear()
            else:
                steps.pop(0)(image)
            if steps:
                self.runner.later(next_step, MAKE_GAP_MS)
                return
            if self.worker is worker:  # (a later start has its own layers to make)
                self._making = False
                frame, self._pending = self._pending, None
                if frame is not None:
                    self._write(frame)

        self._making, self._pending = bool(steps), None
        if steps:
            self.runner.later(next_step, MAKE_GAP_MS)

    def _layer_steps(self, class_names, mode) -> list:
        """The layers to make, one callable (taking the image) each."""
        from napari_unet.core.files.bundle import default_class_names
        from napari_unet.core.inference.postprocess import label_dtype
        from napari_unet.core.training.targets import INSTANCE_CLASSES

        from ..common.layers import find_ours, spatial_shape, write_result
        from ..common.paint_next import make_spots_layer, make_uncertainty_layer

        if mode == "instance":
            class_names = INSTANCE_CLASSES
        elif not class_names:
            return []
        viewer, names = self.viewer, list(class_names)
        dtype = label_dtype(len(class_names or default_class_names(2)))

        def prediction(image):
            if find_ours(viewer, "prediction", image) is None:
                write_result(viewer, image, np.zeros(spatial_shape(image), dtype), None, names)

        def uncertainty(image):
            if self.uncertainty and find_ours(viewer, "uncertainty", image) is None:
                make_uncertainty_layer(viewer, image)

        def spots(image):
            if self.uncertainty and find_ours(viewer, "paint here", image) is None:
                make_spots_layer(viewer, image)

        return [prediction, uncertainty, spots]

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def image(self):
        return self.pairs[0][0] if self.pairs else None

    def set_uncertainty(self, on: bool) -> None:
        self.uncertainty = on
        self._inbox.uncertainty = on

    def stop(self) -> None:
        """Stop after the running step (or prediction); the model is kept."""
        self._stop.set()
        if self.worker is not None and self.trainer is None:
            self.worker.quit()  # still building the trainer

    # -- GUI thread: copies only -------------------------------------------------------
    def _changed(self, *_) -> None:
        self._dirty = True

    def _tick(self) -> None:
        from napari_unet.core.images import ImageError

        from ..common.layers import training_planes

        if self.image is None or self.image not in self.viewer.layers:
            return
        now = time.perf_counter()
        if self._dirty and now - self._last_post >= RELABEL_S:
            self._dirty, self._last_post = False, now
            images, labels = [], []
            try:
                for image, lab in self.pairs:
                    if image in self.viewer.layers and lab in self.viewer.layers:
                        ims, labs = training_planes(image, lab)  # label copies, image views
                        images += ims
                        labels += labs
            except ImageError as e:
                if self.on_note:
                    self.on_note(f"Live: {e}")
                return
            self._inbox.post_labels(images, labels)
        self._inbox.post_view(current_view(self.viewer, self.image, self.pairs[0][1]))

    # -- worker signals ----------------------------------------------------------------
    def _yielded(self, item: Progress) -> None:
        if item.stage == CHOSEN:
            if self.on_choice:
                self.on_choice(item.payload)
        elif item.stage == BUILT:
            self.trainer = item.payload
        elif item.stage == FRAME:
            self._write(item.payload)
        elif item.stage == NOTE:
            if self.on_note:
                self.on_note(item.message)
        elif item.stage == PICKED:
            self.picked += 1
        elif self.on_progress:
            self.on_progress(item)

    def _write(self, frame: Frame) -> None:
        from ..common.layers import ROLE, find_ours, spatial_shape, write_result
        from ..common.paint_next import write_uncertainty

        image = self.image
        if image is None or image not in self.viewer.layers or self.trainer is None:
            return
        if self._making:  # the result layers are still being made: written after the last
            self._pending = frame
            return
        names = self.trainer.class_names
        y0, y1, x0, x1 = frame.view.box
        index = frame.view.plane + (slice(y0, y1), slice(x0, x1))
        shape = spatial_shape(image)
        layer = find_ours(self.viewer, "prediction", image)
        fits = (
            layer is not None
            and layer.metadata[ROLE].get("kind") == f"{len(names)} classes"
            and isinstance(layer.data, np.ndarray)
            and layer.data.shape == shape
            and layer.data.dtype == frame.labels.dtype
        )
        if fits:
            layer.data[index] = frame.labels
            layer.refresh()
        else:
            full = np.zeros(shape, frame.labels.dtype)
            full[index] = frame.labels
            write_result(self.viewer, image, full, None, names)
        if frame.uncertainty is not None:
            write_uncertainty(self.viewer, image, frame.uncertainty, frame.spots,
                              plane=frame.view.plane, box=frame.view.box, unsure=frame.unsure)
        self.frames += 1

    def _returned(self, bundle) -> None:
        self._bundle = bundle

    def _errored(self, error) -> None:
        """Kept for ``on_finished`` (:attr:`error`), which says it: nothing is kept of a
        run that failed."""
        self.error = failed("Live training failed", error)

    def _finished(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        for _, lab in self.pairs:
            for name in ("paint", "data", "labels_update", "set_data"):
                getattr(lab.events, name).disconnect(self._changed)
        trainer, self.trainer, self.worker = self.trainer, None, None
        if self.on_finished:
            self.on_finished(self._bundle, trainer)
