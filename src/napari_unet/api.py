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

    def segment(self, image, *, objects: bool | None = None, probabilities: bool = False,
                out: str | os.PathLike | None = None, channel_axis: int | None = None,
                rgb: bool | None = None, device: str = "auto",
                progress: Progress | bool | None = None):
        """Segment ``image``; returns a :class:`~napari_unet.core.inference.segment.Segmentation`.

        Parameters
        ----------
        image : array-like
            ``(H, W)``, ``(H, W, 3)`` colour, or with ``channel_axis`` a multichannel image; a
            ``(Z, H, W)`` stack of grayscale planes is segmented plane by plane. A 3-D model
            takes a ``(Z, Y, X)`` volume. numpy, dask and zarr arrays are read tile by tile.
        objects : bool, optional
            Split the foreground into objects (one id each). Default: yes for models that
            make objects (instance models, the starters), no for classes.
        probabilities : bool
            Also return the class probabilities, ``(..., K, H, W)``.
        out : path, optional
            A zarr store to write the results into, tile by tile, for images larger than
            memory; the returned arrays are then zarr arrays.
        channel_axis, rgb
            Which axis holds channels, or whether the last one is colour (as on the CLI).
        device : str
            ``"auto"`` (GPU if there is one), ``"cpu"``, ``"cuda"`` or ``"mps"``.
        progress : callable or bool, optional
            Called with each progress record; default a progress bar in a terminal.

        Returns
        -------
        Segmentation
            ``.labels`` (class ``k`` as ``k + 1``, or object ids for an instance model),
            ``.objects`` (object ids, when objects are made), ``.probabilities`` (if asked).
        """
        from .core.config import PredictConfig
        from .core.inference.segment import segment

        instance = self.mode == "instance"
        objects = instance if objects is None else objects
        config = PredictConfig(device=device)
        gen = segment(self._layout(image, channel_axis, rgb), self.bundle, config,
                      objects=objects and not instance, probabilities=probabilities, out=out)
        result = _run(gen, progress, "segment")
        if instance:
            result.objects = result.labels
        return result

    def _layout(self, image, channel_axis, rgb):
        """``image`` in the core's layout: ``(C, H, W)``, ``(Z, C, H, W)`` or ``(C, Z, Y, X)``."""
        from .core.images import ImageError, add_channel, to_chw

        image = _as_array(image, channel_axis)
        cfg = self.bundle.model_config
        if self.is_3d:
            from .core.inference.predict3d import to_czyx

            return to_czyx(image, rgb=rgb)
        if len(image.shape) == 3 and channel_axis is None and not rgb:
            if cfg.in_channels > 1 and image.shape[0] == cfg.in_channels:
                channel_axis = 0  # (C, H, W) as the model was trained
            elif image.shape[-1] <= 4 and not (rgb is None and image.shape[-1] in (3, 4)):
                # (H, W, 1) or (H, W, 2): not H planes of width 1 or 2 (0 objects, issue 26)
                raise ImageError(
                    f"cannot tell which axis of shape {tuple(image.shape)} holds channels; "
                    "say which: channel_axis=-1 if the last one does")
            elif not (rgb is None and image.shape[-1] in (3, 4)):
                return add_channel(image)  # (Z, H, W) grayscale planes
        return to_chw(image, channel_axis=channel_axis, rgb=rgb)

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
          three_d: bool = False, progress: Progress | bool | None = None) -> Model:
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
        The budget; default the docks' (``TrainConfig().seconds``).
    device, seed, channel_axis, rgb
        As on the command line.
    three_d : bool
        Train a 3-D U-Net on ``(Z, Y, X)`` volumes.
    progress : callable or bool, optional
        Called with each progress record; default a progress bar in a terminal.
    """
    from .core.config import ModelConfig, TrainConfig
    from .core.training.from_painting import start_for, train_on_painting, trainer_for

    images, labels = _as_list(images), _as_list(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels: give one each")
    pairs = [_pair(im, lab, channel_axis, rgb, three_d) for im, lab in zip(images, labels)]
    ims, labs = [p[0] for p in pairs], [p[1] for p in pairs]
    if seconds is None and steps is None:
        seconds = TrainConfig().seconds
    config = TrainConfig(steps=steps, seconds=seconds, device=device, seed=seed, mode=mode)
    if isinstance(init, Model):
        start, said = init.bundle, ""
    else:
        start, said = start_for("none" if init is None else str(init), ims, labs, mode, three_d,
                                sized=False)
    model = None if start is not None else ModelConfig(**({"spatial_dims": 3} if three_d else {}))
    trainer = trainer_for(ims, labs, config, init=start, model=model)
    warning = _painting_warning(labs, mode)
    trained = _run(train_on_painting(trainer, ims, model=model, said=said), progress, "train")
    return Model(trained.bundle, ([warning] if warning else []) + trained.notes)


def _painting_warning(labels, mode: str) -> str:
    """One line on stderr, and a note, when the painting looks made for the other mode (the
    train dock's check; issue 26, item 4); "" when it fits."""
    from .core.training.painting_check import check_painting, one_line

    advice = check_painting(labels, mode)
    if advice is None:
        return ""
    print(one_line(advice, "mode="), file=sys.stderr)
    return one_line(advice, "mode=")


def _pair(image, labels, channel_axis, rgb, three_d):
    from .core.images import as_label_array, to_chw

    image = _as_array(image, channel_axis)
    labels = _as_array(labels, None, "labels")
    if three_d:
        from .core.inference.predict3d import to_czyx

        return to_czyx(np.asarray(image), rgb=rgb), np.asarray(labels)
    return np.asarray(to_chw(image, channel_axis=channel_axis, rgb=rgb)), as_label_array(labels)


def _as_array(image, channel_axis, what: str = "image"):
    """``image`` as an array-like (a torch tensor as numpy), ``channel_axis`` a whole number
    or None: clear errors instead of numpy's or torch's (issue 26, item 7)."""
    import numbers

    from .core.images import check_array

    if type(image).__module__.split(".")[0] == "torch" and hasattr(image, "detach"):
        image = image.detach().cpu().numpy()  # segment() gave "Cannot interpret torch.float32"
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
