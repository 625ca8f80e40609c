"""The U-Net of Ronneberger et al. (2015), built from the small blocks of :mod:`.blocks`.

Shapes (B = batch, C = in_channels, K = n_classes, d = depth)::

    x: (B, C, H, W)  ->  logits: (B, K, H', W')

With ``padding="same"``, ``H`` and ``W`` must be multiples of ``2**d`` and ``H' = H``.
With ``padding="valid"`` (the paper), every 3x3 convolution trims one pixel per side, so
``H' = H - 2 * margin``; :meth:`UNet.output_size` and :meth:`UNet.input_size_for` give the
sizes the network accepts (the paper's 572 -> 388 for d = 4).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import ModelConfig
from .blocks import add_u


class UNet(nn.Module):
    """Contracting path, expanding path, skip connections; forward returns logits."""

    def __init__(self, config: ModelConfig | None = None, **overrides):
        super().__init__()
        cfg = config or ModelConfig(**overrides)
        self.config = cfg
        add_u(self, cfg, same=cfg.padding == "same")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He (Kaiming) initialisation, as the paper recommends for ReLU networks."""
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> logits (B, K, H', W'); see the module docstring for sizes."""
        return unet_forward(self, x)

    # -- sizes -------------------------------------------------------------------------
    @property
    def granularity(self) -> int:
        """Input sizes and tile origins must be multiples of this (``2**depth``)."""
        return 2**self.config.depth

    def output_size(self, n: int) -> int:
        """Output side for an input side ``n``; raises ValueError if ``n`` is not accepted."""
        cfg = self.config
        if cfg.padding == "same":
            if n % self.granularity or n <= 0:
                raise ValueError(f"input size {n} is not a positive multiple of {self.granularity}")
            return n
        trim = 4  # two valid 3x3 convolutions
        sizes = [n - trim]
        for _ in range(cfg.depth):
            if sizes[-1] <= 0 or sizes[-1] % 2:
                raise ValueError(f"input size {n} does not fit a valid U-Net of depth {cfg.depth}")
            sizes.append(sizes[-1] // 2 - trim)
        s = sizes[-1]
        if s <= 0:
            raise ValueError(f"input size {n} is too small for a valid U-Net of depth {cfg.depth}")
        up_trim = 0 if cfg.upsampling == "transpose" else 2
        for _ in range(cfg.depth):
            s = 2 * s - up_trim - trim
        if s <= 0:
            raise ValueError(f"input size {n} is too small")
        return s

    def input_size_for(self, out: int) -> int:
        """Smallest accepted input side whose output side is at least ``out``."""
        g = self.granularity
        n = max(g, math.ceil(out / g) * g)
        if self.config.padding == "same":
            return n
        n = out + 2 * self.margin - 2 * g
        n = max(n, g)
        while True:
            try:
                if self.output_size(n) >= out:
                    return n
            except ValueError:
                pass
            n += 1

    @property
    def margin(self) -> int:
        """Pixels per side that a valid U-Net trims (paper, d = 4: 92); also the radius of
        the receptive field, so it is the context that makes tiling exact for ``same``."""
        g = self.granularity
        # 2 px per 3x3 conv pair at every scale, plus 1 px at each up-sampling conv for
        # "nearest": sum over levels of (scale * px trimmed per side).
        extra = 0 if self.config.upsampling == "transpose" else g - 1
        return 6 * g - 4 + extra

    @property
    def receptive_radius(self) -> int:
        """How far (px) an output pixel of a ``same`` U-Net sees: the margin plus up to
        ``2**depth - 1`` pixels from where the max-pooling cells fall (measured by gradients
        in the tests). Context of at least this makes tiled prediction exact."""
        return self.margin + self.granularity - 1


def load_body(net: nn.Module, state_dict: dict) -> None:
    """Load every weight of ``state_dict`` but the output layer (``head.*``) into ``net``: a
    trained body under a new head (a starter with other classes, a network that learnt the
    image alone)."""
    body = {k: v for k, v in state_dict.items() if not k.startswith("head.")}
    missing, _ = net.load_state_dict(body, strict=False)
    assert all(k.startswith("head.") for k in missing), missing


def he_init(net: nn.Module) -> None:
    """He (Kaiming) initialisation of every (transposed) convolution, 2-D or 3-D; batch
    norms start as the identity."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.ConvTranspose3d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def unet_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The U without its head: ``net.inc``, then ``net.downs`` keeping each level for its
    skip connection, then ``net.ups`` joining them back (2-D and 3-D networks alike).
    ``(B, C, ...) -> (B, base_width, ...)``: what the head (and a second head) reads."""
    skips = [net.inc(x)]
    for down in net.downs:
        skips.append(down(skips[-1]))
    x = skips.pop()
    for up in net.ups:
        x = up(x, skips.pop())
    return x


def unet_forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """:func:`unet_features`, then ``net.head``: the logits."""
    return net.head(unet_features(net, x))
