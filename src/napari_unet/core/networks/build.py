"""The network for a :class:`~..config.ModelConfig`: the 2-D :class:`~.model.UNet` or the
3-D :class:`~.model3d.UNet3D`, by ``spatial_dims``."""

from __future__ import annotations

from torch import nn

from ..config import ModelConfig


def build_network(config: ModelConfig) -> nn.Module:
    """A freshly initialised network for ``config`` (on torch's current default device)."""
    if config.spatial_dims == 3:
        from .model3d import UNet3D

        return UNet3D(config)
    from .model import UNet

    return UNet(config)
