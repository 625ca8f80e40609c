"""A 3-D U-Net (Çiçek et al. 2016) for painted volumes, from the 2-D one's blocks (:mod:`.blocks`).

Shapes (B = batch, C = in_channels, K = n_classes)::

    x: (B, C, Z, Y, X)  ->  logits: (B, K, Z, Y, X)

Only ``"same"`` padding: a valid 3-D U-Net trims so much in z (tens of planes) that small
painted stacks could not be trained on; :class:`~..config.ModelConfig` refuses ``"valid"``.
``Z`` must be a multiple of :attr:`UNet3D.granularity` ``[0]`` and ``Y``, ``X`` of ``[1]``/``[2]``.

Anisotropic voxels (z spacing ``anisotropy`` times the in-plane spacing): with ``r`` the
current z/xy spacing ratio (``anisotropy`` at full resolution, halved at every level that
pools in-plane only), a level pools ``(1, 2, 2)`` while ``r >= 2`` and ``(2, 2, 2)`` once the
voxels are about isotropic; its convolutions are ``(1, 3, 3)`` while ``r > 2`` (a z
neighbour is then more than twice as far as an in-plane one) and ``3x3x3`` otherwise.
This is nnU-Net's rule (Isensee et al. 2021). E.g. anisotropy 4, depth 3: pooling
(1,2,2), (1,2,2), (2,2,2); convolutions (1,3,3) at the first level only.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .blocks import add_u
from .model import he_init, unet_forward

Triple = tuple[int, int, int]


def level_kernels(config: ModelConfig) -> tuple[list[Triple], list[Triple]]:
    """Per level ``0..depth``: the convolution kernel, and (levels ``0..depth-1``) the
    pooling kernel below it; see the module docstring for the rule."""
    r = float(config.anisotropy)
    convs, pools = [], []
    for level in range(config.depth + 1):
        convs.append((1, 3, 3) if r > 2 else (3, 3, 3))
        if level < config.depth:
            if r >= 2:
                pools.append((1, 2, 2))
                r /= 2
            else:
                pools.append((2, 2, 2))
    return convs, pools


class UNet3D(nn.Module):
    """Contracting path, expanding path, skip connections over volumes; forward returns logits."""

    def __init__(self, config: ModelConfig | None = None, **overrides):
        super().__init__()
        cfg = config or ModelConfig(**{"spatial_dims": 3, **overrides})
        if cfg.spatial_dims != 3:
            raise ValueError("UNet3D needs a ModelConfig with spatial_dims=3")
        self.config = cfg
        convs, pools = level_kernels(cfg)
        self.conv_kernels, self.pool_kernels = convs, pools
        add_u(self, cfg, dims=3, kernels=convs, pools=pools)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He (Kaiming) initialisation, as for the 2-D network."""
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, Z, Y, X) -> logits (B, K, Z, Y, X); sizes multiples of :attr:`granularity`."""
        return unet_forward(self, x)

    # -- sizes -------------------------------------------------------------------------
    @property
    def granularity(self) -> Triple:
        """Per axis (z, y, x): input sizes and tile origins must be multiples of this."""
        g = [1, 1, 1]
        for pool in self.pool_kernels:
            g = [a * b for a, b in zip(g, pool)]
        return tuple(g)

    @property
    def receptive_radius(self) -> Triple:
        """Per axis: how far (voxels) an output voxel sees, counting the pooling cells'
        misalignment (``granularity - 1``). Context of at least this makes tiled prediction
        exact. For isotropic voxels it equals the 2-D network's ``receptive_radius``.

        Per level at scale ``s`` (the voxel size there): 2 convolutions down, 2 up (and
        one more for "nearest" up-sampling), each reaching ``k // 2`` voxels of that level.
        """
        extra = 0 if self.config.upsampling == "transpose" else 1
        radius = []
        for axis in range(3):
            scale, total = 1, 0
            for level, kernel in enumerate(self.conv_kernels):
                per = 2 if level == self.config.depth else 4 + extra
                total += per * (kernel[axis] // 2) * scale
                if level < self.config.depth:
                    scale *= self.pool_kernels[level][axis]
            radius.append(total + self.granularity[axis] - 1)
        return tuple(radius)
