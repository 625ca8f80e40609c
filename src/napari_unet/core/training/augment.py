"""Joint image + target augmentation on the torch device, batched, one resampling each.

Every sample's geometry (one of the 8 symmetries of the square, then the paper's elastic
deformation) is folded into a single sampling grid, so the image is resampled once
(bilinear, mirrored at the window's edge) and the target once (nearest neighbour).
Target pixels whose source lies outside the window, or outside the image (those are
already :data:`~napari_unet.core.training.targets.IGNORE` in the window), are ignored in the loss.

Shapes: ``image (B, C, Wn, Wn)``, ``target (B, Wn, Wn)`` windows of side ``Wn = P + 2 * ctx``
-> ``(B, C, P, P)``, ``(B, P, P)``.
"""

from __future__ import annotations

import math
from dataclasses import field, make_dataclass

import torch
import torch.nn.functional as F

from ..config import TrainConfig, group_of
from .targets import IGNORE

# The 8 symmetries of the square as 2x2 matrices acting on (x, y) offsets.
_DIHEDRAL = torch.tensor(
    [
        [[1, 0], [0, 1]],
        [[-1, 0], [0, 1]],
        [[1, 0], [0, -1]],
        [[-1, 0], [0, -1]],
        [[0, 1], [1, 0]],
        [[0, -1], [1, 0]],
        [[0, 1], [-1, 0]],
        [[0, -1], [-1, 0]],
    ],
    dtype=torch.float32,
)


class _AugmentMethods:
    """What :class:`AugmentParams` adds to the settings it takes from the config."""

    @property
    def max_zoom(self) -> float:
        """Most source pixels per output pixel (the window must hold ``out * max_zoom``)."""
        return 2.0 ** self.zoom if self.zoom > 0 else 1.0

    @classmethod
    def from_train_config(cls, cfg) -> AugmentParams:
        """``cfg``'s augmentation settings (its ``augmentation`` group); every one off (as it
        declares) if ``augment`` is off."""
        group = cfg.augmentation
        if not group.augment:
            return cls(**{f.name: f.metadata["off"] for f in _SETTINGS if "off" in f.metadata})
        return cls(**{f.name: getattr(group, f.name) for f in _SETTINGS})


_SETTINGS = [f for f in group_of(TrainConfig, "augmentation") if not f.metadata["switch"]]
"""TrainConfig's augmentation settings, less its switch (``augment``)."""

AugmentParams = make_dataclass(
    "AugmentParams", [(f.name, f.type, field(default=f.default)) for f in _SETTINGS],
    bases=(_AugmentMethods,), frozen=True)
AugmentParams.__module__ = __name__  # (make_dataclass's module= is Python 3.12's)
AugmentParams.__doc__ = (
    "What :func:`augment` does: the ``augmentation`` settings of "
    ":class:`~napari_unet.core.config.TrainConfig` (elastic, elastic_sigma, elastic_grid, "
    "flips, intensity_scale, intensity_shift, noise, zoom, gamma, blur; their defaults and "
    "meaning are declared there), made from one by :meth:`from_train_config`.")


def elastic_displacement(
    batch: int, size: int, sigma: float, grid: int, generator: torch.Generator, device
) -> torch.Tensor:
    """Dense displacement fields ``(B, 2, size, size)`` in pixels (x then y).

    Random vectors on a coarse ``grid`` x ``grid`` lattice spanning the patch, drawn from a
    normal distribution with standard deviation ``sigma`` pixels, then bicubically
    interpolated to every pixel (Ronneberger et al. 2015, section 3.1).
    """
    coarse = torch.randn(batch, 2, grid, grid, generator=generator, device="cpu") * sigma
    coarse = coarse.to(device)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)


def sampling_grid(
    batch: int,
    out: int,
    window: int,
    params: AugmentParams,
    generator: torch.Generator,
    device,
) -> torch.Tensor:
    """The normalised grid ``(B, out, out, 2)`` mapping output pixels into the window."""
    offs = torch.arange(out, dtype=torch.float32, device=device) - (out - 1) / 2
    yy, xx = torch.meshgrid(offs, offs, indexing="ij")
    pts = torch.stack([xx, yy], dim=-1).expand(batch, out, out, 2)  # (B, P, P, 2) as (x, y)
    if params.flips:
        idx = torch.randint(0, 8, (batch,), generator=generator)
        mats = _DIHEDRAL[idx].to(device)  # (B, 2, 2)
        pts = torch.einsum("bij,bhwj->bhwi", mats, pts)
    if params.zoom > 0:
        u = (torch.rand(batch, generator=generator) * 2 - 1) * params.zoom
        pts = pts * (2.0 ** u).to(device).view(batch, 1, 1, 1)
    if params.elastic and params.elastic_sigma > 0:
        disp = elastic_displacement(
            batch, out, params.elastic_sigma, params.elastic_grid, generator, device
        )
        pts = pts + disp.permute(0, 2, 3, 1)
    centre = (window - 1) / 2
    return (pts + centre) * (2.0 / (window - 1)) - 1.0


def augment(
    image: torch.Tensor,
    target: torch.Tensor,
    out: int,
    params: AugmentParams,
    generator: torch.Generator,
    weight: torch.Tensor | None = None,
    extra_channels: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Transform image, target (and pixel-weight) windows together.

    Returns ``(B, C, out, out)``, ``(B, out, out)`` and ``(B, out, out)`` or None. The last
    ``extra_channels`` channels of ``image`` (soft targets, e.g. a starting model's
    probabilities) follow the geometry (bilinear) but get no intensity changes.
    """
    b, c, window, _ = image.shape
    if not (params.flips or params.elastic or params.zoom > 0):
        lo = (window - out) // 2
        img = image[..., lo : lo + out, lo : lo + out]
        tgt = target[..., lo : lo + out, lo : lo + out]
        if weight is not None:
            weight = weight[..., lo : lo + out, lo : lo + out]
    else:
        grid = sampling_grid(b, out, window, params, generator, image.device)
        img = F.grid_sample(
            image, grid, mode="bilinear", padding_mode="reflection", align_corners=True
        )
        shifted = (target + (1 - IGNORE)).unsqueeze(1).to(image.dtype)  # IGNORE -> 1, outside -> 0
        tgt = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=True)
        tgt = tgt.squeeze(1).round().long() - (1 - IGNORE)
        tgt[tgt < IGNORE] = IGNORE
        if weight is not None:
            weight = F.grid_sample(
                weight.unsqueeze(1), grid, mode="nearest", padding_mode="zeros", align_corners=True
            ).squeeze(1)
    extra = None
    if extra_channels:
        img, extra = img[:, : c - extra_channels], img[:, c - extra_channels :]
        c = c - extra_channels
    if params.blur > 0:
        img = _random_blur(img, params.blur, generator)
    if params.gamma > 0:
        img = _random_gamma(img, params.gamma, generator)
    if params.intensity_scale or params.intensity_shift:
        scale = 1 + (torch.rand(b, c, 1, 1, generator=generator) * 2 - 1) * params.intensity_scale
        shift = (torch.rand(b, c, 1, 1, generator=generator) * 2 - 1) * params.intensity_shift
        img = img * scale.to(img.device) + shift.to(img.device)
    if params.noise:
        sigma = torch.rand(b, 1, 1, 1, generator=generator) * params.noise
        # noise drawn on the device from a seed taken from our generator: reproducible, no copy
        seed = int(torch.randint(2**62, (1,), generator=generator))
        dev_gen = torch.Generator(device=img.device).manual_seed(seed)
        img = img + torch.randn(img.shape, generator=dev_gen, device=img.device) * sigma.to(img.device)
    if extra is not None:
        img = torch.cat([img, extra], dim=1)
    return img, tgt, weight


def _random_gamma(img: torch.Tensor, gamma: float, generator: torch.Generator) -> torch.Tensor:
    """``lo + (hi - lo) * ((x - lo) / (hi - lo)) ** g`` per patch, ``g = exp(U(-gamma, gamma))``,
    with ``lo``/``hi`` the patch's own minimum and maximum (values stay in the patch's range)."""
    b = img.shape[0]
    g = torch.exp((torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * gamma).to(img.device)
    lo = img.amin(dim=(1, 2, 3), keepdim=True)
    hi = img.amax(dim=(1, 2, 3), keepdim=True)
    span = (hi - lo).clamp_min(1e-6)
    return lo + span * ((img - lo) / span).clamp(0, 1) ** g


def _random_blur(img: torch.Tensor, max_sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur of sigma ``U(0, max_sigma)`` px on a random half of the patches
    (separable, mirrored at the edges; a sigma below 0.3 px leaves the patch as it is)."""
    b, c, h, w = img.shape
    sigma = torch.rand(b, generator=generator) * max_sigma
    sigma[torch.rand(b, generator=generator) < 0.5] = 0.0
    radius = max(1, int(math.ceil(3 * max_sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    s = sigma.clamp_min(0.3).view(b, 1)
    k = torch.exp(-(x.view(1, -1) ** 2) / (2 * s**2))
    k[sigma < 0.3] = (x == 0).float()  # identity kernel
    k = (k / k.sum(1, keepdim=True)).to(img.device, img.dtype)
    k = k.repeat_interleave(c, 0)  # (B*C, K)
    flat = img.reshape(1, b * c, h, w)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, k.view(b * c, 1, 1, -1), groups=b * c)
    flat = F.conv2d(flat, k.view(b * c, 1, -1, 1), groups=b * c)
    return flat.reshape(b, c, h, w)
