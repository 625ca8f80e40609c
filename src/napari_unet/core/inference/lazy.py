"""Prediction of images larger than memory: read lazily, write tile by tile into zarr.

The input is any sliceable array-like — numpy, dask, zarr — of shape ``(H, W)``,
``(C, H, W)`` or ``(..., C, H, W)``, or a multiscale list of such levels, of which the
full-resolution level 0 is used. :func:`create_outputs` makes a zarr group with

- ``labels``  ``(..., H, W)``: classes as painted (k + 1), chunked like the prediction tiles,
  so every tile is written as whole chunks, never read back;
- ``probability_<k>``  ``(..., H, W)`` float32 per class, when asked, or while objects are
  made (they need them) and deleted afterwards unless asked for;
- ``instances``  ``(..., H, W)`` uint32: objects, one id each (seam-free, see
  :mod:`napari_unet.core.inference.tiled_instances`), when asked (the default for instance models);
- for planes larger than ``PYRAMID_MIN_SIDE``, a pyramid of each: ``<name>_by2``,
  ``<name>_by4``, ... holding every 2nd, 4th, ... pixel (nearest neighbour, right for labels),
  written with every tile, so that a viewer can show the whole image from a small level
  while it fills (napari's multiscale layers).

and :func:`fill` predicts into it. Both are reached through the one prediction route,
``segment(image, bundle, config, out=store)`` (:mod:`.segment`).

zarr writes every chunk atomically, so a viewer may read the store while it fills.
Nothing of full size is ever allocated: :func:`~napari_unet.core.inference.predict.predict` reads one
batch of windows at a time and writes each tile's labels (and probabilities) straight into
the store; percentile normalisation reads a bounded sample (``normalize.percentiles``); the
objects pass reads a few blocks at a time. Peak memory is the model, a batch of windows and
a few blocks, whatever the image size (``docs/large_images.md`` has the measurements).

zarr is an optional dependency (``pip install napari-stroke-unet[scale]``), imported only here.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace

import numpy as np

from ..config import PredictConfig
from ..device import resolve_device
from ..files.bundle import Bundle
from ..images import ImageError
from ..progress import Progress
from .postprocess import label_dtype
from .predict import predict
from .tiled_instances import TiledInstances, tiled_instances

LARGE_PLANE_PIXELS = 4096 * 4096
"""Planes with more pixels than this are predicted into zarr by the widgets."""

OBJECT_BLOCK = 1024
"""Side of the blocks the objects pass works on (a multiple of the tile is used)."""

PYRAMID_MIN_SIDE = 1024
"""Pyramid levels are added, each half the last, until the longer side is at most this."""


def pyramid_factors(height: int, width: int) -> list[int]:
    """Subsampling factors of the levels of a plane: ``[1]``, or ``[1, 2, 4, ...]``."""
    factors = [1]
    while max(height, width) / factors[-1] > PYRAMID_MIN_SIDE:
        factors.append(factors[-1] * 2)
    return factors


def level0(image):
    """The full-resolution level of a multiscale image (a list or tuple of levels), else
    ``image`` itself."""
    if isinstance(image, (list, tuple)):
        if not image:
            raise ImageError("the multiscale image has no levels")
        return image[0]
    return image


class PlaneView:
    """``array[index]`` without reading it: slicing and slice assignment go to ``array``.

    zarr arrays read (and copy) on every ``[]``; this keeps a plane of a stack, or one
    channel, lazy. ``shape``/``dtype``/``ndim`` are those of the plane.
    """

    def __init__(self, array, index: tuple = ()):
        self.array, self.index = array, tuple(index)
        self.shape = tuple(array.shape[len(self.index) :])
        self.dtype = array.dtype
        self.ndim = len(self.shape)

    def _key(self, key):
        return self.index + (key if isinstance(key, tuple) else (key,))

    def __getitem__(self, key):
        return self.array[self._key(key)]

    def __setitem__(self, key, value):
        self.array[self._key(key)] = value


class AddChannel:
    """A ``(1, H, W)`` view of a 2-D array-like (zarr arrays refuse ``array[None]``)."""

    def __init__(self, array):
        self.array = array
        self.shape = (1,) + tuple(array.shape)
        self.dtype = array.dtype
        self.ndim = 3

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (3 - len(key))
        return np.asarray(self.array[key[1:]])[None][key[0]]


class ChannelStack:
    """``(K, H, W)`` over K arrays of ``(..., H, W)`` (one per class) at plane ``index``."""

    def __init__(self, arrays, index: tuple = ()):
        self.arrays, self.index = list(arrays), tuple(index)
        self.shape = (len(self.arrays),) + tuple(self.arrays[0].shape[len(self.index) :])
        self.dtype = self.arrays[0].dtype
        self.ndim = 3

    def _split(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (3 - len(key))
        ks = range(len(self.arrays))[key[0]]
        return ks, self.index + tuple(key[1:])

    def __getitem__(self, key):
        ks, rest = self._split(key)
        if isinstance(ks, int):
            return np.asarray(self.arrays[ks][rest])
        return np.stack([np.asarray(self.arrays[k][rest]) for k in ks])

    def __setitem__(self, key, value):
        ks, rest = self._split(key)
        for i, k in enumerate([ks] if isinstance(ks, int) else ks):
            self.arrays[k][rest] = value if isinstance(ks, int) else value[i]


class Pyramid:
    """Level 0 and its subsampled levels (``level_k = level_0[..., ::f_k, ::f_k]``) as one
    writable array: reads come from level 0; a write of ``[..., y0:y1, x0:x1]`` goes to every
    level (the pixels of the block that fall on each level's grid)."""

    def __init__(self, levels, factors):
        self.levels, self.factors = list(levels), list(factors)
        self.shape, self.dtype = tuple(self.levels[0].shape), self.levels[0].dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        return self.levels[0][key]

    def __setitem__(self, key, value):
        self.levels[0][key] = value
        if len(self.levels) == 1:
            return
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        value = np.asarray(value)
        (y0, y1, _), (x0, x1, _) = (k.indices(n) for k, n in zip(key[-2:], self.shape[-2:]))
        for f, level in zip(self.factors[1:], self.levels[1:]):
            fy, fx = -(-y0 // f) * f, -(-x0 // f) * f  # first rows/columns on the level's grid
            part = value[..., fy - y0 :: f, fx - x0 :: f]
            if part.shape[-2] and part.shape[-1]:
                ly, lx = fy // f, fx // f
                h, w = part.shape[-2:]
                level[key[:-2] + (slice(ly, ly + h), slice(lx, lx + w))] = part


def as_stack(image):
    """``image`` as ``(..., C, H, W)``: level 0 of a multiscale image; a 2-D one gets a
    channel axis (lazily)."""
    image = level0(image)
    if len(image.shape) < 2:
        raise ImageError(f"expected an image with two spatial axes, got shape {tuple(image.shape)}")
    return AddChannel(image) if len(image.shape) == 2 else image


@dataclass
class ZarrPrediction:
    """The arrays of a zarr prediction store (see the module docstring)."""

    group: object
    labels: object
    probabilities: list = field(default_factory=list)
    instances: object | None = None
    objects: TiledInstances | None = None
    """What the objects pass did (the last plane's), when it ran."""
    factors: list[int] = field(default_factory=lambda: [1])
    """Subsampling of the pyramid levels (``[1]``: level 0 only)."""

    def levels(self, array) -> list:
        """``[array, array_by2, ...]``: the pyramid of one of this store's arrays."""
        name = array.basename
        return [array] + [self.group[f"{name}_by{f}"] for f in self.factors[1:]]

    def writer(self, array) -> Pyramid:
        """``array`` and its levels as one writable :class:`Pyramid`."""
        return Pyramid(self.levels(array), self.factors)


def store_chunk(bundle, height: int, width: int, config: PredictConfig, model=None) -> int:
    """The chunk side for a zarr store of a ``height`` x ``width`` prediction: the tiles'
    stride, so that every tile writes whole chunks (planned for ``config.device``; ``model``,
    if given, is the one that will predict, already on that device)."""
    from .tiles import plan_tiles

    if model is not None:
        return plan_tiles(model, height, width, config).stride
    from ..device import resolve_device
    from ..memory import prediction_budget

    budget = prediction_budget(resolve_device(config.device))
    return plan_tiles(bundle.build_model("cpu"), height, width, config, budget=budget).stride


def _zarr():
    try:
        import zarr
    except ImportError as e:  # pragma: no cover - zarr is in the 'scale' extra
        raise ImageError(
            "large images are predicted into zarr stores: pip install 'napari-stroke-unet[scale]'"
        ) from e
    return zarr


def create_outputs(store, shape: tuple[int, ...], n_classes: int, *, chunk: int = 256,
                   probabilities: bool = False, instances: bool = False,
                   mode: str = "w", pyramid: bool = True) -> ZarrPrediction:
    """A new zarr group at ``store`` (a path or zarr store) with zero-filled
    ``labels`` (and ``probability_<k>``, ``instances``) of ``shape = (..., H, W)``, chunked
    ``(1, ..., chunk, chunk)``. ``mode="w"`` deletes what is at ``store`` first: give it
    only a new temporary folder (``segment(out=PATH)`` checks ``PATH`` and writes beside it,
    :mod:`..files.store_target`); ``mode="w-"`` refuses a store that holds anything. A zarr
    group as ``store`` is used as it is (it must be empty). ``pyramid=False``: level 0
    only."""
    zarr = _zarr()
    group = store if isinstance(store, zarr.Group) else zarr.open_group(store, mode=mode)
    factors = pyramid_factors(*shape[-2:]) if pyramid else [1]

    def make(name, dtype):
        for f in factors:
            level = tuple(shape[:-2]) + tuple(-(-n // f) for n in shape[-2:])
            chunks = (1,) * (len(shape) - 2) + tuple(min(chunk, n) for n in level[-2:])
            array = group.create_array(name if f == 1 else f"{name}_by{f}", shape=level,
                                       chunks=chunks, dtype=dtype, fill_value=0)
            if f == 1:
                first = array
        return first

    out = ZarrPrediction(group, make("labels", label_dtype(n_classes)), factors=factors)
    if probabilities or instances:
        out.probabilities = [make(f"probability_{k}", np.float32) for k in range(n_classes)]
    if instances:
        out.instances = make("instances", np.uint32)
    group.attrs["napari_unet"] = {
        "layout": "labels: class k as k + 1; instances: object ids; <name>_by<f>: [::f, ::f]",
        "pyramid": factors,
    }
    return out


def open_outputs(path, objects: TiledInstances | None = None) -> ZarrPrediction:
    """The :class:`ZarrPrediction` of a store that :func:`create_outputs` made and
    :func:`fill` filled, opened again at ``path`` (after it was moved there)."""
    zarr = _zarr()
    group = zarr.open_group(str(path), mode="r+")
    factors = list(group.attrs.get("napari_unet", {}).get("pyramid", [1]))
    names = set(group.array_keys())
    n = 0
    while f"probability_{n}" in names:
        n += 1
    return ZarrPrediction(group, group["labels"],
                          probabilities=[group[f"probability_{k}"] for k in range(n)],
                          instances=group["instances"] if "instances" in names else None,
                          objects=objects, factors=factors)


def fill(out: ZarrPrediction, image, bundle: Bundle, config: PredictConfig | None = None, *,
         model=None, keep_probabilities: bool = True, planes: list[tuple] | None = None
         ) -> Generator[Progress, None, ZarrPrediction]:
    """Predict ``image`` (``(..., C, H, W)``, see :func:`as_stack`) into ``out``, plane by
    plane and tile by tile; then, if ``out`` has ``instances``, split into objects block by
    block. Yields progress; returns ``out``. ``planes`` (indices into the leading axes)
    limits the work to those planes. ``keep_probabilities=False`` deletes the probability
    arrays once the objects are made."""
    config = config or PredictConfig()
    image = as_stack(image)
    lead = tuple(image.shape[:-3])
    if tuple(out.labels.shape) != lead + tuple(image.shape[-2:]):
        raise ImageError(
            f"the store holds {tuple(out.labels.shape)}, the image is {tuple(image.shape)}"
        )
    model = model if model is not None else bundle.build_model(resolve_device(config.device))
    planes = [tuple(p) for p in planes] if planes else list(np.ndindex(*lead)) if lead else [()]
    share = 0.8 if out.instances is not None else 1.0
    for i, idx in enumerate(planes):
        plane = PlaneView(image, idx) if idx else image
        probs = None
        if out.probabilities:
            probs = ChannelStack([out.writer(p) for p in out.probabilities], idx)
        gen = predict(plane, bundle, config, model=model, probabilities=probs is not None,
                      out_labels=PlaneView(out.writer(out.labels), idx), out_probabilities=probs)
        for p in gen:
            yield _plane_progress(p, i, len(planes), 0.0, share, lead)
        if out.instances is not None:
            for p in objects_pass(out, idx, bundle.mode, bundle.postprocess):
                yield _plane_progress(p, i, len(planes), share, 1 - share, lead)
    if out.instances is not None and not keep_probabilities:
        drop_probabilities(out)
    return out


def objects_pass(out: ZarrPrediction, idx: tuple, mode: str, postprocess
                 ) -> Generator[Progress, None, None]:
    """Split plane ``idx`` of ``out``'s probabilities into objects in ``out.instances``,
    block by block (:func:`~.tiled_instances.tiled_instances`); ``out.objects`` says what
    it did."""
    chunk = out.labels.chunks[-1]
    block = chunk * max(1, OBJECT_BLOCK // chunk)
    probs = ChannelStack([out.writer(p) for p in out.probabilities], idx)
    scratch = _scratch(out.group, out.labels.shape[-2:], chunk)
    gen = tiled_instances(probs, mode, postprocess, out=PlaneView(out.writer(out.instances), idx),
                          scratch=scratch, block=block)
    while True:
        try:
            yield next(gen)
        except StopIteration as stop:
            out.objects = stop.value
            break
    del out.group["scratch"]


def drop_probabilities(out: ZarrPrediction) -> None:
    """Delete the probability arrays (and their pyramid levels) of ``out``."""
    for array in out.probabilities:
        for level in out.levels(array):
            del out.group[level.basename]
    out.probabilities = []


def _scratch(group, shape, chunk):
    h, w = shape
    dtype = np.uint32 if h * w // 4 + 1 < 2**32 else np.uint64
    return group.create_array("scratch", shape=(h, w), chunks=(min(chunk, h), min(chunk, w)),
                              dtype=dtype, fill_value=0, overwrite=True)


def _plane_progress(p: Progress, i: int, n: int, start: float, share: float, lead) -> Progress:
    f = (i + start + share * (p.fraction or 0.0)) / n
    msg = f"plane {i + 1} of {n}" if lead else p.message
    return replace(p, fraction=f, message=msg)  # keeps notices for the user
