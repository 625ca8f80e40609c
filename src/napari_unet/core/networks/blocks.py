"""The U-Net's small blocks, for 2-D and 3-D alike (``dims``, as MONAI's ``spatial_dims``).

Shapes (B = batch, S = the ``dims`` spatial axes)::

    DoubleConv: (B, c_in, *S) -> (B, c_out, *S')   S' = S ("same"), S - 4 per axis ("valid")
    Down:       (B, c_in, *S) -> (B, c_out, *S / pool, then as DoubleConv)
    Up:         (B, c_in, *s), skip (B, c_in / 2, *S) -> (B, c_out, *S' ) after cropping the skip

``kernel`` and ``pool`` are an int (every axis) or one value per axis (the anisotropic 3-D
network's ``(1, 3, 3)``). "same" padding is ``kernel // 2`` per axis; "valid" is none.
"""

from __future__ import annotations

import torch
from torch import nn

Size = int | tuple[int, ...]

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_POOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}
_DROP = {2: nn.Dropout2d, 3: nn.Dropout3d}
_UP = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def _padding(kernel: Size, same: bool) -> Size:
    if not same:
        return 0
    return kernel // 2 if isinstance(kernel, int) else tuple(k // 2 for k in kernel)


class DoubleConv(nn.Sequential):
    """(conv ``kernel`` -> [batch norm] -> ReLU) x 2."""

    def __init__(self, c_in: int, c_out: int, *, dims: int = 2, kernel: Size = 3,
                 same: bool = True, batch_norm: bool = True):
        pad = _padding(kernel, same)
        layers: list[nn.Module] = []
        for c in (c_in, c_out):
            layers.append(_CONV[dims](c, c_out, kernel, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(_NORM[dims](c_out))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Down(nn.Sequential):
    """Max-pool by ``pool``, then :class:`DoubleConv` (and dropout, if any)."""

    def __init__(self, c_in: int, c_out: int, *, dims: int = 2, pool: Size = 2, kernel: Size = 3,
                 same: bool = True, batch_norm: bool = True, dropout: float = 0.0):
        layers: list[nn.Module] = [
            _POOL[dims](pool),
            DoubleConv(c_in, c_out, dims=dims, kernel=kernel, same=same, batch_norm=batch_norm),
        ]
        if dropout > 0:
            layers.append(_DROP[dims](dropout))
        super().__init__(*layers)


class Up(nn.Module):
    """Up-sample by ``scale`` (transposed convolution, or nearest then a convolution),
    concatenate the skip (centre-cropped to match, for "valid"), :class:`DoubleConv`."""

    def __init__(self, c_in: int, c_out: int, *, dims: int = 2, scale: Size = 2, kernel: Size = 3,
                 same: bool = True, batch_norm: bool = True, upsampling: str = "transpose"):
        super().__init__()
        if upsampling == "transpose":
            self.up = _UP[dims](c_in, c_in // 2, scale, stride=scale)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=scale, mode="nearest"),
                _CONV[dims](c_in, c_in // 2, kernel, padding=_padding(kernel, same)),
            )
        self.conv = DoubleConv(c_in, c_out, dims=dims, kernel=kernel, same=same,
                               batch_norm=batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if skip.shape[2:] != x.shape[2:]:  # "valid": the skip is larger, crop its centre
            starts = [(s - n) // 2 for s, n in zip(skip.shape[2:], x.shape[2:])]
            skip = skip[(..., *(slice(a, a + n) for a, n in zip(starts, x.shape[2:])))]
        return self.conv(torch.cat([skip, x], dim=1))


def add_u(net: nn.Module, cfg, *, dims: int = 2, kernels: list[Size] | None = None,
          pools: list[Size] | None = None, same: bool = True) -> None:
    """Give ``net`` the U of ``cfg``: ``inc``, ``downs``, ``ups`` and a 1x1 ``head``.

    ``kernels``: the convolution kernel per level ``0..depth`` (default 3); ``pools``: the
    pooling below each level ``0..depth-1`` (default 2), also the up-sampling back to it.
    Dropout is on the two deepest levels. Widths double at every level from ``base_width``.
    """
    depth, norm = cfg.depth, cfg.batch_norm
    kernels = kernels or [3] * (depth + 1)
    pools = pools or [2] * depth
    widths = [cfg.base_width * 2**i for i in range(depth + 1)]
    net.inc = DoubleConv(cfg.in_channels, widths[0], dims=dims, kernel=kernels[0], same=same,
                         batch_norm=norm)
    net.downs = nn.ModuleList(
        Down(widths[i], widths[i + 1], dims=dims, pool=pools[i], kernel=kernels[i + 1],
             same=same, batch_norm=norm, dropout=cfg.dropout if i >= depth - 2 else 0.0)
        for i in range(depth)
    )
    net.ups = nn.ModuleList(
        Up(widths[i + 1], widths[i], dims=dims, scale=pools[i], kernel=kernels[i], same=same,
           batch_norm=norm, upsampling=cfg.upsampling)
        for i in reversed(range(depth))
    )
    net.head = _CONV[dims](widths[0], cfg.n_classes, 1)
