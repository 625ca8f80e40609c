"""The 3-D U-Net: anisotropic pooling, shapes, receptive radius, bundles, tiled prediction,
and clear errors when 2-D and 3-D models and images are mixed up."""

import numpy as np
import pytest
import torch

from napari_unet.core.config import ConfigError, ModelConfig, NormConfig, PredictConfig
from napari_unet.core.files.bundle import Bundle, load_bundle, save_bundle
from napari_unet.core.images import ImageError
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.inference.predict3d import predict_volume, to_czyx
from napari_unet.core.networks.build import build_network
from napari_unet.core.networks.model import UNet
from napari_unet.core.networks.model3d import UNet3D, level_kernels


def cfg3d(**kw):
    return ModelConfig(**{"spatial_dims": 3, "depth": 2, "base_width": 2, **kw})


@pytest.mark.parametrize(
    "anisotropy, pools, convs",
    [
        (1, [(2, 2, 2)] * 3, [(3, 3, 3)] * 4),
        (2, [(1, 2, 2), (2, 2, 2), (2, 2, 2)], [(3, 3, 3)] * 4),
        (4, [(1, 2, 2), (1, 2, 2), (2, 2, 2)], [(1, 3, 3)] + [(3, 3, 3)] * 3),
        (5, [(1, 2, 2), (1, 2, 2), (2, 2, 2)], [(1, 3, 3)] * 2 + [(3, 3, 3)] * 2),
    ],
)
def test_anisotropic_voxels_pool_in_plane_first(anisotropy, pools, convs):
    got_convs, got_pools = level_kernels(ModelConfig(spatial_dims=3, depth=3, anisotropy=anisotropy))
    assert got_pools == pools and got_convs == convs


def test_3d_shapes_and_granularity():
    model = UNet3D(cfg3d(anisotropy=4, n_classes=3))
    assert model.granularity == (1, 4, 4)
    out = model(torch.zeros(1, 1, 3, 16, 12))  # z needs no pooling multiple here
    assert out.shape == (1, 3, 3, 16, 12)
    iso = UNet3D(cfg3d(upsampling="nearest"))
    assert iso.granularity == (4, 4, 4)
    assert iso(torch.zeros(2, 1, 8, 8, 8)).shape == (2, 2, 8, 8, 8)


def test_isotropic_receptive_radius_equals_the_2d_one():
    for up in ("transpose", "nearest"):
        r3 = UNet3D(ModelConfig(spatial_dims=3, depth=3, upsampling=up)).receptive_radius
        assert r3 == (UNet(ModelConfig(depth=3, upsampling=up)).receptive_radius,) * 3


def test_an_output_voxel_sees_no_further_than_the_receptive_radius():
    torch.manual_seed(0)
    model = UNet3D(cfg3d(anisotropy=2, base_width=4, batch_norm=False)).eval()
    radius = model.receptive_radius
    size = [2 * r + 2 * g + 2 for r, g in zip(radius, model.granularity)]
    size = [s + (-s) % g for s, g in zip(size, model.granularity)]
    x = torch.randn(1, 1, *size, requires_grad=True)
    centre = [s // 2 for s in size]
    model(x)[(0, slice(None), *centre)].sum().backward()
    seen = np.nonzero(x.grad[0, 0].abs().numpy() > 0)
    assert seen[0].size > 0
    for axis in range(3):
        reach = np.abs(seen[axis] - centre[axis]).max()
        assert 0 < reach <= radius[axis]


def test_3d_config_is_checked():
    with pytest.raises(ConfigError, match="same"):
        ModelConfig(spatial_dims=3, padding="valid")
    with pytest.raises(ConfigError, match="3-D"):
        ModelConfig(anisotropy=2)
    with pytest.raises(ConfigError):
        ModelConfig(spatial_dims=4)
    assert ModelConfig.from_dict({"depth": 2}).spatial_dims == 2  # old bundles: 2-D


def _bundle(model_config, seed=0):
    torch.manual_seed(seed)
    net = build_network(model_config)
    return Bundle(model_config, NormConfig(mode="fixed", low=[0.0], high=[1.0]), net.state_dict())


def test_3d_bundle_round_trip(tmp_path):
    bundle = _bundle(cfg3d(anisotropy=2))
    loaded = load_bundle(save_bundle(bundle, tmp_path / "m.unet"))
    assert loaded.model_config == bundle.model_config
    model = loaded.build_model()
    assert isinstance(model, UNet3D) and loaded.summary().startswith("3-D (z spacing 2× the pixel size)")
    x = torch.randn(1, 1, 4, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), bundle.build_model()(x))


def test_tiled_3d_prediction_equals_whole_volume_prediction():
    bundle = _bundle(cfg3d(anisotropy=2, n_classes=3), seed=1)
    model = bundle.build_model()
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    volume = np.random.default_rng(0).random((1, 6, 20, 18)).astype(np.float32)
    config = PredictConfig(amp=False, batch_size=3)
    whole = predict_volume(volume, bundle, config, model=model, tile=(64, 64, 64))
    tiled = predict_volume(volume, bundle, config, model=model, tile=(4, 12, 12))
    assert whole.probabilities.shape == (3, 6, 20, 18)
    np.testing.assert_allclose(tiled.probabilities, whole.probabilities, atol=2e-5)
    assert (tiled.labels == whole.labels).mean() > 0.999
    # and without mirrored context the tiles would differ (the test can fail)
    short = predict_volume(volume, bundle, PredictConfig(amp=False, context=0), model=model,
                           tile=(4, 12, 12))
    assert not np.allclose(short.probabilities, whole.probabilities, atol=1e-3)


def test_2d_and_3d_mix_ups_are_clear_errors():
    b3 = _bundle(cfg3d())
    b2 = _bundle(ModelConfig(depth=2, base_width=2))
    with pytest.raises(ImageError, match="3-D model"):
        predict_image(np.zeros((1, 16, 16), np.float32), b3)
    with pytest.raises(ImageError, match="2-D model"):
        predict_volume(np.zeros((1, 4, 16, 16), np.float32), b2)
    with pytest.raises(ImageError, match="2-D image"):
        to_czyx(np.zeros((16, 16)))


def test_old_bundles_without_the_3d_keys_load_as_2d(tmp_path):
    import json

    from safetensors.torch import load, save

    from napari_unet.core.files.bundle import _read_metadata

    raw = save_bundle(_bundle(ModelConfig(depth=2, base_width=2)), tmp_path / "m.unet").read_bytes()
    meta = _read_metadata(raw)
    old = json.loads(meta["model_config"])
    del old["spatial_dims"], old["anisotropy"]
    meta["model_config"] = json.dumps(old)
    (tmp_path / "old.unet").write_bytes(save(load(raw), metadata=meta))
    loaded = load_bundle(tmp_path / "old.unet")
    assert loaded.model_config.spatial_dims == 2 and isinstance(loaded.build_model(), UNet)
