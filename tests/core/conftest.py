"""Fixtures shared by the core's tests: untrained models with random weights, and images
written as other tools write them."""

import pytest


def _random_bundle(seed=0, norm=None, *, affine=False, **model):
    import torch

    from napari_unet.core.config import ModelConfig, NormConfig
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.networks.model import UNet

    torch.manual_seed(seed)
    cfg = ModelConfig(**{"base_width": 4, **model})
    net = UNet(cfg)
    with torch.no_grad():  # batch norm that is not the identity, so the output varies over the image
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                if affine:  # and whose scale and shift matter too (folding it must keep them)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
    return Bundle(cfg, norm or NormConfig(), {k: v.clone() for k, v in net.state_dict().items()})


@pytest.fixture(scope="session")
def random_bundle():
    """``random_bundle(seed=0, norm=None, *, affine=False, **model)``: an untrained 2-D model
    (width 4 unless ``model`` says otherwise) whose weights and batch-norm statistics are
    drawn from ``seed``; ``norm`` defaults to per-image percentiles. Prediction only has to
    be deterministic and vary over the image, not be good."""
    return _random_bundle


def _write_ngff_04(path, array, axes: str, scale: list[float]):
    import zarr

    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=array, chunks=array.shape)
    group.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": a, "type": {"t": "time", "c": "channel"}.get(a, "space")} for a in axes],
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
    }]


@pytest.fixture(scope="session")
def write_ngff_04():
    """``write_ngff_04(path, array, axes, scale)``: a minimal NGFF 0.4 image (Zarr v2, one
    level) written with plain zarr, as other tools write it."""
    return _write_ngff_04
