"""Training a 3-D U-Net on painted volumes: ``for progress in Trainer3D(...).steps(): ...``.

The painted 3-D task of the training :class:`~.engine.Engine`, which owns the loop (budget,
schedule, precision, out-of-memory halving of the batch, progress), so it has the public
surface of :class:`~.train.Trainer` (``steps()``, ``bundle()``, ``step``, ``elapsed``,
``events``, ``note``, ``painted``, ``device``, ``model_config``, ``validation``), with these choices:

* semantic mode only (0 = unpainted = ignored, k = class k): whole-object (instance) training
  needs 3-D weight maps and is refused with a :class:`~..config.ConfigError`;
* held-out strokes (26-connected, ``TrainConfig.validation.validation_fraction`` of each class's
  voxels) score the model every ``validation_every`` seconds by mean IoU, predicted on boxes
  around them (:class:`~.validation.VolumeValidator`), and the best weights are kept
  (``keep_best``), as in 2-D;
* patches of ``(pz, py, px)`` voxels (``TrainConfig.sampling.patch_size`` in-plane, divided by the
  anisotropy in z, rounded up to the network's granularity and capped at the volume),
  a share ``painted_fraction`` centred on a painted voxel of a uniformly chosen class;
  mirrored where they leave the volume, with IGNORE targets there;
* mixed precision on CUDA only: on the CPU, torch 2.13's bf16 Conv3d weight gradient
  (oneDNN) is sometimes NaN for the same inputs, so 3-D training there runs in float32;
* augmentation on the device: flips of z, y and x (a z flip is a symmetry whatever the
  anisotropy), 90-degree rotations in-plane (square patches), intensity ``x * s + t``, and
  the paper's elastic deformation (``TrainConfig.augmentation``: ``elastic``,
  ``elastic_sigma``, ``elastic_grid``) in 3-D: patches are read with ``3 * elastic_sigma`` of context and
  resampled once, the image trilinearly and the target by nearest neighbour (IGNORE where
  the source lies outside the window), the z displacement scaled down by the anisotropy
  (:func:`~.augment.deform3d`).

Reproducible with ``TrainConfig.sampling.seed``. Nothing here modifies the arrays it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..config import ConfigError, ModelConfig, NormConfig, PostprocessConfig, TrainConfig
from ..files.bundle import Bundle, default_class_names
from ..images import ImageError, check_class_labels, check_finite
from ..inference.predict3d import as_planes, check_volume, read_block
from ..networks.model3d import UNet3D
from ..normalize import fit_normalization, normalize
from .augment import AugmentParams, deform3d, elastic_context3d
from .engine import Engine, snapshot
from .events import StartedFresh
from .losses import masked_cross_entropy
from .targets import IGNORE, check_painted, class_weights, semantic_target
from .validation import VolumeValidator, choose_holdout


def as_volume_labels(labels, shape) -> np.ndarray:
    """Validate painted ``(Z, Y, X)`` labels of the volume's ``shape``; int64 copy-free where possible."""
    arr = np.asarray(labels)
    if arr.shape != tuple(shape):
        raise ImageError(f"labels of shape {arr.shape} do not match the volume's {tuple(shape)}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ImageError("labels must be whole numbers (a Labels layer), not a float image")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise ImageError(f"labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ImageError("labels must not be negative (0 = unpainted, 1, 2, ... = classes)")
    return arr


def crop_target(target: np.ndarray, origin, size) -> np.ndarray:
    """``target[z0:z0+sz, ...]`` with IGNORE where the window leaves the volume."""
    out = np.full(tuple(size), IGNORE, np.int64)
    src, dst = [], []
    for o, s, d in zip(origin, size, target.shape):
        a, b = max(o, 0), min(o + s, d)
        src.append(slice(a, max(a, b)))
        dst.append(slice(a - o, a - o + max(0, b - a)))
    out[tuple(dst)] = target[tuple(src)]
    return out


class Trainer3D(Engine):
    """Fit a 3-D U-Net to painted volumes: the painted 3-D task of the training
    :class:`~.engine.Engine`.

    Parameters
    ----------
    images: ``(C, Z, Y, X)`` volumes (or one such array).
    labels: ``(Z, Y, X)`` painted labels, one per volume: 0 = unpainted, k = class k.
    model: architecture (``spatial_dims`` is set to 3; ``anisotropy`` is kept);
        ``in_channels``/``n_classes`` come from the data.
    config, norm, init, class_names: as for :class:`~.train.Trainer`.
    patch: ``(pz, py, px)`` patch size, overriding the one derived from ``config.sampling.patch_size``.
    """

    def __init__(
        self,
        images,
        labels,
        model: ModelConfig | None = None,
        config: TrainConfig | None = None,
        norm: NormConfig | None = None,
        init: Bundle | None = None,
        class_names: Sequence[str] | None = None,
        patch: tuple[int, int, int] | None = None,
    ):
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images, labels = [images], [labels]
        if len(images) == 0 or len(images) != len(labels):
            raise ImageError("give one labels volume per image volume (and at least one pair)")
        self.config = config or TrainConfig()
        if self.config.targets.mode != "semantic":
            raise ConfigError("3-D models train in semantic mode only (0 = unpainted, "
                              "k = class k); whole-object (instance) training is 2-D only")
        for im in images:
            check_volume(im)
            check_finite(np.asarray(im))
        channels = {im.shape[0] for im in images}
        if len(channels) != 1:
            raise ImageError(f"all training volumes need the same channels, got {sorted(channels)}")
        lab = [as_volume_labels(l, im.shape[1:]) for im, l in zip(images, labels)]
        for l in lab:
            check_class_labels(l)
        n_classes = check_painted(lab)
        super().__init__(self.config)
        base = model or (init.model_config if init is not None else ModelConfig(spatial_dims=3))
        self.model_config = ModelConfig.from_dict({
            **base.to_dict(), "in_channels": channels.pop(), "n_classes": n_classes,
            "spatial_dims": 3,
        })
        if init is not None and init.model_config != self.model_config:
            self.events.append(StartedFresh("volumes"))
            init = None
        self.init = init
        self.class_names = list(class_names or (init.class_names if init else []))
        if len(self.class_names) != n_classes:
            self.class_names = default_class_names(n_classes)
        self.postprocess = init.postprocess if init is not None else PostprocessConfig()
        self.norm = fit_normalization([as_planes(im) for im in images],
                                      norm or (init.norm if init else NormConfig()))
        self._shapes = [tuple(im.shape) for im in images]
        self.rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=self.generator)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=self.generator)))
            self.model = UNet3D(self.model_config)
        if init is not None:
            self.model.load_state_dict(init.state_dict)
        self._use_device([self.model], torch.channels_last_3d)

        self.patch = self._patch_size(patch, [im.shape[1:] for im in images])
        self._augment = AugmentParams.from_train_config(self.config)
        self._context = elastic_context3d(self._augment, self.model_config.anisotropy)
        """Voxels read around every patch, per side (z, y, x), for the elastic deformation."""
        self.volumes = [normalize(as_planes(im), self.norm).reshape(im.shape)
                        for im in images]
        self._use_data(lab, n_classes)
        # no bf16 on the CPU in 3-D: with torch 2.13, oneDNN's bf16 Conv3d weight gradient
        # is sometimes NaN (72 of 200 repeats of one recorded case; the fp32 result is finite)
        self._use_optimiser(self.model.parameters(),
                            amp=self.config.runtime.amp and self.device.type != "cpu")

    def _use_data(self, lab, n_classes) -> None:
        """Targets, held-out strokes, where the painting is and the class weights."""
        targets = [semantic_target(l) for l in lab]
        self.painted = np.bincount(
            np.concatenate([t[t != IGNORE] for t in targets]), minlength=n_classes
        ).tolist()
        self.holdout = choose_holdout(lab, self.config.validation.validation_fraction,
                                      seed=self.config.sampling.seed or 0)
        """The held-out voxels (:class:`~.validation.Holdout`), or None."""
        self.validator = None if self.holdout is None else VolumeValidator(
            self.volumes, targets, self.holdout, n_classes, self.model.receptive_radius,
            self.model_config)
        """Scores the model on held-out strokes; None when validation is off."""
        if self.holdout is not None:
            targets = self.holdout.training_targets(targets)
        self.targets = targets
        self._where = [[np.flatnonzero(t == k) for k in range(n_classes)] for t in targets]
        w_c = class_weights(targets, n_classes) if self.config.targets.class_balance else None
        self.class_weight = torch.as_tensor(w_c, device=self.device) if w_c is not None else None

    def _patch_size(self, patch, shapes) -> tuple[int, int, int]:
        g = self.model.granularity
        if patch is None:
            side = self.config.sampling.patch_size
            patch = (side / self.model_config.anisotropy, side, side)
        largest = [max(s[a] for s in shapes) for a in range(3)]
        return tuple(
            max(gi, math.ceil(min(p, d) / gi) * gi) for p, d, gi in zip(patch, largest, g)
        )

    # -- sampling and augmentation ----------------------------------------------------------
    def _origin(self) -> tuple[int, tuple[int, int, int]]:
        """(volume index, window origin): centred on a painted voxel of a random class, or
        placed uniformly."""
        rng, half = self.rng, [p // 2 for p in self.patch]
        if rng.random() < self.config.sampling.painted_fraction:
            classes = [k for k in range(len(self.painted)) if self.painted[k] > 0]
            k = classes[rng.integers(len(classes))]
            counts = np.array([len(w[k]) for w in self._where], np.float64)
            i = int(rng.choice(len(counts), p=counts / counts.sum()))
            flat = self._where[i][k][rng.integers(len(self._where[i][k]))]
            centre = np.unravel_index(flat, self.targets[i].shape)
            return i, tuple(int(c) - h for c, h in zip(centre, half))
        i = int(rng.integers(len(self.volumes)))
        dims = self.targets[i].shape
        return i, tuple(int(rng.integers(-h, max(-h + 1, d - h))) for d, h in zip(dims, half))

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of ``(B, C, wz, wy, wx)`` windows and ``(B, wz, wy, wx)`` targets on the
        device: the patches with the context the elastic deformation needs around them (none
        without it)."""
        window = [p + 2 * c for p, c in zip(self.patch, self._context)]
        imgs, tgts = [], []
        for _ in range(batch):
            i, origin = self._origin()
            origin = [o - c for o, c in zip(origin, self._context)]
            imgs.append(read_block(self.volumes[i], origin, window))
            tgts.append(crop_target(self.targets[i], origin, window))
        img = torch.from_numpy(np.stack(imgs)).to(self.device)
        return img, torch.from_numpy(np.stack(tgts)).to(self.device)

    def augment(self, img: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows of :meth:`sample` -> ``(B, C, pz, py, px)`` and ``(B, pz, py, px)`` patches:
        flips (z, y, x), in-plane 90-degree rotations and intensity per window (its context
        is the same on opposite sides, so the patch stays centred), then the elastic
        deformation of all of them at once."""
        cfg = self.config.augmentation
        if not cfg.augment:
            return img, tgt
        g = self.generator
        out_i, out_t = [], []
        for b in range(img.shape[0]):
            x, t = img[b], tgt[b]
            if cfg.flips:
                axes = [a for a in range(3) if torch.rand((), generator=g) < 0.5]
                if axes:
                    x, t = x.flip([a + 1 for a in axes]), t.flip(axes)
                if self.patch[1] == self.patch[2]:
                    k = int(torch.randint(4, (), generator=g))
                    x, t = torch.rot90(x, k, (2, 3)), torch.rot90(t, k, (1, 2))
            s = 1 + cfg.intensity_scale * (2 * torch.rand((), generator=g) - 1)
            sh = cfg.intensity_shift * (2 * torch.rand((), generator=g) - 1)
            out_i.append(x * s.to(x.device) + sh.to(x.device))
            out_t.append(t)
        return deform3d(torch.stack(out_i), torch.stack(out_t), self.patch, self._augment, g,
                        self.model_config.anisotropy)

    # -- the task: batches, forward pass and loss ------------------------------------------
    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented ``(image, target)`` windows (see :meth:`sample` and :meth:`augment`)."""
        img, tgt = self.augment(*self.sample(self.config.sampling.batch_size))
        return img.contiguous(memory_format=self._memory_format), tgt

    def forward(self, batch: tuple) -> torch.Tensor:
        return self.model(batch[0])

    def batch_loss(self, batch: tuple, outputs: torch.Tensor) -> torch.Tensor:
        return masked_cross_entropy(outputs, batch[1], self.class_weight)

    def bundle(self) -> Bundle:
        """A snapshot of the model as it is now (weights copied to the CPU)."""
        return snapshot(self, self.patch, **self._validation_info())
