"""The Python API: train a U-Net on painted images, segment images with it, save and load it.

Importable from the package itself (``from napari_unet import train, load``); torch is
imported only when one of these is first used. Everything here runs on the same core as the
dock widgets and the command line, so a model gives the same labels in all of them.

Examples
--------
>>> import napari_unet
>>> from napari_unet.synthetic import nuclei
>>> image, truth = nuclei(size=256, n=12, seed=0)
>>> model = napari_unet.load("nuclei")           # a starter: objects with no painting
>>> masks = model.segment(image).objects          # (256, 256), one id per nucleus
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["Model", "load", "train"]

Progress = Callable[[Any], None]
"""A callable given each progress record (``.stage``, ``.fraction`` from 0 to 1, ``.message``)."""


class Model:
    """A trained U-Net: segment images with :meth:`segment`, keep it with :meth:`save`.

    Made by :func:`train` or :func:`load`. ``bundle`` is the core's model file object.
    """

    def __init__(self, bundle, notes: Sequence[str] = ()):
        self.bundle = bundle
        self.notes = list(notes)
        """What training said: where it started, which model it kept and why."""

    @property
    def classes(self) -> list[str]:
        """Class names; label value ``k + 1`` is class ``k``."""
        return list(self.bundle.class_names)

    @property
    def mode(self) -> str:
        """``"semantic"`` (classes) or ``"instance"`` (objects, one id each)."""
        return self.bundle.mode

    @property
    def is_3d(self) -> bool:
        """Whether this is a 3-D U-Net (it segments ``(Z, Y, X)`` volumes whole)."""
        return self.bundle.model_config.spatial_dims == 3

    def __repr__(self) -> str:
        return f"<napari_unet.Model: {self.bundle.summary()}>"

    def segment(self, image, *, axes: str | None = None, objects: bool | None = None,
                probabilities: bool = False, stitch: float | bool | None = None,
                out: str | os.PathLike | None = None, channel_axis: int | None = None,
                rgb: bool | None = None, device: str = "auto",
                progress: Progress | bool | None = None, overwrite: bool = False,
                diameter: float | str | None = "auto", views: int = 1):
        """Segment ``image``; returns a :class:`~napari_unet.core.inference.segment.Segmentation`.

        Parameters
        ----------
        image : array-like
            ``(H, W)``, ``(H, W, 3)`` colour, a multichannel image, or a stack of them: a 2-D
            model segments Z stacks and time series plane by plane. A 3-D model takes a
            ``(Z, Y, X)`` volume. numpy, dask and zarr arrays are read tile by tile.
        axes : str, optional
            Which axis is which, e.g. ``"ZYX"``, ``"TYX"``, ``"CYX"``, ``"YXC"``,
            ``"TZYX"``, ``"TCZYX"`` (T time, Z depth, C channels). Always wins over a guess;
            without it the axes are guessed only where the answer is plain (a leading axis
            longer than 4 is never channels for a one-channel model), else ImageError says
            which to choose from.
        objects : bool, optional
            Split the foreground into objects (one id each). Default: yes for models that
            make objects (instance models, the starters), no for classes.
        probabilities : bool
            Also return the class probabilities, ``(..., K, H, W)``.
        stitch : float or bool, optional
            Z stacks: join objects of adjacent planes whose intersection over union is at
            least this into 3-D objects (Cellpose's ``stitch_threshold``). Default (None or
            True): 0.25 for an image with a Z axis; False or 0: each plane's own objects. Time
            points are never joined (that is tracking: trackastra, ultrack).
        out : path, optional
            A zarr store to write the results into, tile by tile, for images larger than
            memory; the returned arrays are then zarr arrays. It must be a new path: what
            exists there is never replaced, except an earlier result of ``segment`` with
            ``overwrite=True``, and a path that is, holds or lies inside the input is
            refused. The store appears at ``out`` only once complete.
        overwrite : bool
            Replace an earlier ``segment`` result at ``out``.
        diameter : "auto", float or 0
            The size of the objects in px, as Cellpose's diameter: the image is resized so
            that its objects have the size the model learnt, and the result mapped back to
            the image's pixels. ``"auto"`` (default) estimates it from the image for the
            starters and the models made from them (``Segmentation.diameter`` says what was
            used); ``0`` predicts at the image's own scale. With ``out`` too: the image is
            resized window by window, never whole.
        views : 1 or 8
            8: also predict the image rotated and mirrored (the 8 symmetries of the square)
            and average the probabilities (test-time augmentation, Cellpose's ``augment``):
            objects a little more often right, for 8 times the work. Default 1.
        channel_axis, rgb
            Shorthands for ``axes``: which axis holds channels, or whether the last one is
            colour (as on the CLI).
        device : str
            ``"auto"`` (GPU if there is one), ``"cpu"``, ``"cuda"`` or ``"mps"``.
        progress : callable or bool, optional
            Called with each progress record; default a progress bar in a terminal.

        Returns
        -------
        Segmentation
            ``.labels`` (class ``k`` as ``k + 1``, or object ids for an instance model),
            ``.objects`` (object ids, when objects are made), ``.probabilities`` (if asked),
            ``.axes`` (the labels' axes, e.g. ``"ZYX"``).
        """
        from .core.axes import labels_axes
        from .core.inference.segment import segment

        instance = self.mode == "instance"
        objects = instance if objects is None else objects
        layout, axes = self._layout(image, axes, channel_axis, rgb)
        config, stitching = self._core_options(axes, stitch, device, diameter, views)
        gen = segment(layout, self.bundle, config, objects=objects and not instance,
                      probabilities=probabilities, out=out, overwrite=overwrite, **stitching)
        result = _run(gen, progress, "segment")
        if instance:
            result.objects = result.labels
        _say_axes(result, labels_axes(axes, 3 if self.is_3d else 2))
        return result

    def _core_options(self, axes: str, stitch, device: str, diameter, views: int):
        """:meth:`segment`'s options as the core takes them: the prediction settings, and
        the keywords that join objects over Z (none for a 3-D model)."""
        from .core.axes import stitch_axis
        from .core.config import PredictConfig
        from .core.inference.stitch import STITCH_THRESHOLD

        config = PredictConfig(device=device, diameter=_diameter(diameter), views=views)
        threshold = STITCH_THRESHOLD if stitch is None or stitch is True else float(stitch)
        return config, {"stitch_axis": None if self.is_3d else stitch_axis(axes),
                        "stitch_threshold": threshold}

    def _layout(self, image, axes, channel_axis, rgb):
        """``image`` in the core's layout (``(..., C, H, W)``, or ``(C, Z, Y, X)`` for a 3-D
        model) and its axes (:mod:`napari_unet.core.axes`)."""
        from .core.axes import arrange, parse, resolve
        from .core.files.bundle import takes_luminance

        image = _as_array(image, channel_axis)
        if self.is_3d:
            if axes is None:
                from .core.inference.predict3d import to_czyx

                return to_czyx(image, rgb=rgb), "CZYX"
            axes = parse(axes, image.shape)
            return arrange(image, axes, 3), axes
        axes = resolve(image.shape, axes, channels=self.bundle.model_config.in_channels,
                       colour=takes_luminance(self.bundle), rgb=rgb, channel_axis=channel_axis)
        return arrange(image, axes), axes

    def save(self, path: str | os.PathLike) -> str:
        """Write the model to one file (atomically); returns its path."""
        from .core.files.bundle import save_bundle

        return str(save_bundle(self.bundle, path))


def load(name_or_path: str | os.PathLike) -> Model:
    """A model from a file saved by :meth:`Model.save` (or the docks, or the CLI), or a starter
    by name (``"nuclei"``, ``"cells"``; ``napari-unet starters`` lists them)."""
    from .core.files.starters import load_model

    return Model(load_model(str(name_or_path)))


def train(images, labels, *, mode: str = "semantic", init: str | Model | None = "auto",
          seconds: float | None = None, steps: int | None = None, device: str = "auto",
          seed: int = 0, channel_axis: int | None = None, rgb: bool | None = None,
          axes: str | None = None, three_d: bool = False,
          progress: Progress | bool | None = None) -> Model:
    """Train a U-Net on painted images; returns the :class:`Model`.

    Parameters
    ----------
    images, labels : array or list of arrays
        Images (layouts as :meth:`Model.segment` takes them) and their painted labels of the
        same height and width. In ``"semantic"`` mode label 0 is unpainted (ignored) and
        ``k`` is class ``k`` (1 = background, 2 = foreground, ...); in ``"instance"`` mode
        every painted object has its own id.
    mode : str
        ``"semantic"`` (classes) or ``"instance"`` (whole objects painted, objects out).
    init : str or Model, optional
        ``"auto"``: fine-tune the starter that fits the painting best, or train from scratch
        if none fits; ``"none"`` (or None): from scratch; a starter's name or a model file,
        or a :class:`Model` to continue.
    seconds, steps : optional
        The budget; default the docks' (``TrainConfig().budget.seconds``).
    device, seed, channel_axis, rgb
        As on the command line.
    axes : str, optional
        The images' axes (``"ZYX"``, ``"TYX"``, ``"CYX"``, ...): a 2-D model trains on the
        painted planes of stacks (labels: the image's shape without ``C``); with
        ``three_d``, ``"ZYX"``, ``"CZYX"`` or ``"ZYXC"``.
    three_d : bool
        Train a 3-D U-Net on ``(Z, Y, X)`` volumes.
    progress : callable or bool, optional
        Called with each progress record; default a progress bar in a terminal.
    """
    from .core.config import ModelConfig, TrainConfig
    from .core.training.from_painting import at_model_size, train_on_painting, trainer_for
    from .core.training.start import Painting, resolve_start

    images, labels = _as_list(images), _as_list(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels: give one each")
    pairs = [p for im, lab in zip(images, labels)
             for p in _pairs(im, lab, channel_axis, rgb, axes, three_d)]
    ims, labs = [p[0] for p in pairs], [p[1] for p in pairs]
    if seconds is None and steps is None:
        seconds = TrainConfig().budget.seconds
    config = TrainConfig(steps=steps, seconds=seconds, device=device, seed=seed, mode=mode)
    current = init.bundle if isinstance(init, Model) else None  # continued as it is
    spec = "current" if current is not None else "none" if init is None else str(init)
    choice = resolve_start(spec, current, Painting(ims, labs, three_d, config.targets.region_margin), mode)
    start, said = choice.bundle, "" if choice.quiet else choice.message
    model = None if start is not None else ModelConfig(**({"spatial_dims": 3} if three_d else {}))
    ims, labs, sized = at_model_size(ims, labs, start, mode)
    said = "; ".join(x for x in (said, sized) if x)
    trainer = trainer_for(ims, labs, config, init=start, model=model)
    warning = _painting_warning(labs, mode)
    trained = _run(train_on_painting(trainer, ims, model=model, said=said), progress, "train")
    return Model(trained.bundle, ([warning] if warning else []) + trained.notes)


def _diameter(diameter: float | str | None) -> float | None:
    """``Model.segment``'s ``diameter`` as :class:`~.core.config.PredictConfig` takes it
    (``"auto"``: None, estimated)."""
    if isinstance(diameter, str):
        if diameter != "auto":
            raise ValueError(f"diameter must be 'auto', 0 or a size in px, not {diameter!r}")
        return None
    return diameter


def _say_axes(result, axes: str) -> None:
    """Record the labels' ``axes`` on ``result``, and in its zarr store when it has one."""
    result.axes = axes
    if result.store is not None:
        group = result.store.group
        group.attrs["napari_unet"] = {**dict(group.attrs.get("napari_unet", {})),
                                      "axes": result.axes}


def _painting_warning(labels, mode: str) -> str:
    """One line on stderr, and a note, when the painting looks made for the other mode (the
    train dock's check; issue 26, item 4); "" when it fits."""
    from .core.training.painting_check import check_painting, one_line

    advice = check_painting(labels, mode)
    if advice is None:
        return ""
    print(one_line(advice, "mode="), file=sys.stderr)
    return one_line(advice, "mode=")


def _pairs(image, labels, channel_axis, rgb, axes, three_d):
    """The training pairs of one image (several for the painted planes of a stack)."""
    from .core.images import as_label_array, to_chw

    image = _as_array(image, channel_axis)
    labels = _as_array(labels, None, "labels")
    if three_d:
        from .core.axes import arrange, parse
        from .core.inference.predict3d import to_czyx

        if axes:
            return [(np.asarray(arrange(image, parse(axes, image.shape), 3)), np.asarray(labels))]
        return [(to_czyx(np.asarray(image), rgb=rgb), np.asarray(labels))]
    if axes:
        from .core.training.stack_planes import painted_planes

        return painted_planes(image, labels, axes)
    return [(np.asarray(to_chw(image, channel_axis=channel_axis, rgb=rgb)),
             as_label_array(labels))]


def _as_array(image, channel_axis, what: str = "image"):
    """``image`` as an array-like (a torch tensor as numpy), ``channel_axis`` a whole number
    or None: clear errors instead of numpy's or torch's (issue 26, item 7)."""
    import numbers

    from .core.images import check_array

    if type(image).__module__.split(".")[0] == "torch" and hasattr(image, "detach"):
        image = image.detach().cpu().numpy()  # numpy cannot read a tensor's dtype
    check_array(image, what)
    if channel_axis is not None and (not isinstance(channel_axis, numbers.Integral)
                                     or isinstance(channel_axis, bool)):
        raise TypeError(f"channel_axis must be a whole number (the axis that holds the "
                        f"channels) or None, not {channel_axis!r:.40}")
    return image


def _run(gen, progress, label: str):
    """Drain ``gen``: to ``progress`` if callable, a tqdm bar in a terminal by default."""
    from .core.progress import drain

    if callable(progress):
        return drain(gen, progress)
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return drain(gen)
    try:
        from tqdm import tqdm
    except ImportError:
        return drain(gen)
    with tqdm(total=100, desc=label, unit="%", file=sys.stderr) as bar:
        def update(p):
            if p.fraction is not None:
                bar.update(round(100 * p.fraction, 1) - bar.n)

        return drain(gen, update)


def _as_list(x) -> list:
    """One array, or a list of them, as a list."""
    return [x] if hasattr(x, "shape") else list(x)
