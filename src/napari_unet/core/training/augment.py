"""Joint image + target augmentation on the torch device, batched, one resampling each.

Every sample's geometry (one of the 8 symmetries of the square, then the paper's elastic
deformation) is folded into a single sampling grid, so the image is resampled once
(bilinear, mirrored at the window's edge) and the target once (nearest neighbour).
Target pixels whose source lies outside the window, or outside the image (those are
already :data:`~napari_unet.core.training.targets.IGNORE` in the window), are ignored in the loss.

Shapes: ``image (B, C, Wn, Wn)``, ``target (B, Wn, Wn)`` windows of side ``Wn = P + 2 * ctx``
-> ``(B, C, P, P)``, ``(B, P, P)``.

The painted 3-D task deforms its volumes the same way (:func:`elastic_context3d`,
:func:`deform3d`): ``(B, C, Wz, Wy, Wx)``, ``(B, Wz, Wy, Wx)`` windows -> ``(B, C, Pz, Py, Px)``,
``(B, Pz, Py, Px)``, image trilinear and target nearest, in one resampling each.
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


def elastic_displacement3d(
    batch: int, shape: tuple[int, int, int], sigma: float, grid: int, generator: torch.Generator,
    device, z_scale: float = 1.0,
) -> torch.Tensor:
    """Dense displacement fields ``(B, 3, Z, Y, X)`` in voxels (x, y, then z): the 3-D
    :func:`elastic_displacement`.

    Random vectors on a coarse ``grid`` x ``grid`` x ``grid`` lattice spanning the patch, of
    standard deviation ``sigma`` voxels in-plane and ``sigma * z_scale`` in z, interpolated
    tricubically (bicubic in-plane, then cubic along z: the cubic kernel is separable).
    """
    coarse = torch.randn(batch, 3, grid, grid, grid, generator=generator, device="cpu") * sigma
    coarse[:, 2] *= z_scale
    coarse = coarse.to(device)
    z, y, x = shape
    plane = F.interpolate(coarse.reshape(batch * 3 * grid, 1, grid, grid), size=(y, x),
                          mode="bicubic", align_corners=True)
    # along z; the second axis (y * x points, as many out as in) is left exactly as it is
    dense = F.interpolate(plane.reshape(batch * 3, 1, grid, y * x), size=(z, y * x),
                          mode="bicubic", align_corners=True)
    return dense.reshape(batch, 3, z, y, x)


def elastic_context3d(params: AugmentParams, anisotropy: float) -> tuple[int, int, int]:
    """Voxels of context per side, ``(z, y, x)``, that a window needs around a patch for
    :func:`deform3d` (three standard deviations of the displacement, as in 2-D); zeros when
    elastic deformation is off."""
    if not (params.elastic and params.elastic_sigma > 0):
        return (0, 0, 0)
    side = int(math.ceil(3 * params.elastic_sigma))
    return (int(math.ceil(3 * params.elastic_sigma * z_scale3d(anisotropy))), side, side)


def z_scale3d(anisotropy: float) -> float:
    """How much of an in-plane displacement a z displacement is, in voxels.

    Why scaled and not skipped: the deformation is meant to be physical (tissue bends the
    same amount in every direction), and a z voxel spans ``anisotropy`` in-plane pixels, so
    a displacement of ``sigma`` pixels is ``sigma / anisotropy`` z voxels. Skipping z would
    leave isotropic volumes (anisotropy 1) undeformed along one axis; scaling keeps them
    fully 3-D and gives coarse z the small displacements it physically gets, which fade
    towards the 2-D deformation of every plane as the anisotropy grows."""
    return 1.0 / max(float(anisotropy), 1.0)


def deform3d(
    image: torch.Tensor,
    target: torch.Tensor,
    out: tuple[int, int, int],
    params: AugmentParams,
    generator: torch.Generator,
    anisotropy: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The centred ``out`` = ``(pz, py, px)`` patch of ``(B, C, Wz, Wy, Wx)`` image and
    ``(B, Wz, Wy, Wx)`` target windows, elastically deformed together (one displacement field
    per patch, :func:`elastic_displacement3d`; the z displacement scaled by
    :func:`z_scale3d`): the image trilinearly (mirrored at the window's edge), the target by
    nearest neighbour, IGNORE where its source lies outside the window. Without elastic
    deformation (or a ``sigma`` of 0) the centred patch as it is."""
    b = image.shape[0]
    window = image.shape[2:]
    lo = [(w - o) // 2 for w, o in zip(window, out)]
    if not (params.elastic and params.elastic_sigma > 0):
        crop = tuple(slice(a, a + o) for a, o in zip(lo, out))
        return image[(..., *crop)], target[(..., *crop)]
    disp = elastic_displacement3d(b, tuple(out), params.elastic_sigma, params.elastic_grid,
                                  generator, image.device, z_scale3d(anisotropy))
    axes = []  # x, y, z: grid_sample's order
    for d in (2, 1, 0):
        offs = torch.arange(out[d], dtype=torch.float32, device=image.device) + lo[d]
        axes.append(offs.view([-1 if a == d else 1 for a in range(3)]))
    pts = torch.stack(torch.broadcast_tensors(*axes), dim=-1)  # (Z, Y, X, 3) window voxels
    pts = pts + disp.permute(0, 2, 3, 4, 1)  # (B, Z, Y, X, 3)
    size = torch.tensor([window[2], window[1], window[0]], dtype=torch.float32,
                        device=image.device)
    grid = pts * (2.0 / (size - 1).clamp_min(1)) - 1.0
    img = F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    return img, _resample_target(target, grid, image.dtype)


def _resample_target(target: torch.Tensor, grid: torch.Tensor, dtype) -> torch.Tensor:
    """``target`` (``(B, H, W)`` or ``(B, D, H, W)``) at ``grid`` by nearest neighbour: the
    values it has (never one between two), IGNORE where the source is outside."""
    shifted = (target + (1 - IGNORE)).unsqueeze(1).to(dtype)  # IGNORE -> 1, outside -> 0
    out = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=True)
    out = out.squeeze(1).round().long() - (1 - IGNORE)
    out[out < IGNORE] = IGNORE
    return out


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
        tgt = _resample_target(target, grid, image.dtype)
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
