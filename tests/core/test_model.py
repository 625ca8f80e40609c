import pytest
import torch

from napari_unet.core.config import ConfigError, ModelConfig
from napari_unet.core.networks.model import UNet


def test_paper_sizes_valid_depth4_maps_572_to_388():
    model = UNet(ModelConfig(depth=4, base_width=2, padding="valid"))
    assert model.output_size(572) == 388
    assert model.margin == 92
    assert model.input_size_for(388) == 572


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("upsampling", ["transpose", "nearest"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_forward_returns_logits_of_documented_shape(padding, upsampling, depth):
    cfg = ModelConfig(in_channels=3, n_classes=4, depth=depth, base_width=4,
                      padding=padding, upsampling=upsampling, dropout=0.1)
    model = UNet(cfg).eval()
    n = model.input_size_for(40)
    out = model.output_size(n)
    y = model(torch.randn(2, 3, n, n))
    assert y.shape == (2, 4, out, out)
    assert out >= 40
    if padding == "valid":
        assert n - out == 2 * model.margin


def test_same_padding_rejects_sizes_not_multiple_of_granularity():
    model = UNet(ModelConfig(depth=3, base_width=2))
    assert model.granularity == 8
    with pytest.raises(ValueError):
        model.output_size(30)


def test_he_initialisation_scales_with_fan_in():
    model = UNet(ModelConfig(depth=2, base_width=32, batch_norm=False))
    w = model.inc[0].weight  # fan_in = 1 * 3 * 3
    assert abs(w.std().item() - (2 / 9) ** 0.5) < 0.15
    assert all(m.bias.abs().sum() == 0 for m in model.modules()
               if isinstance(m, torch.nn.Conv2d) and m.bias is not None)


@pytest.mark.parametrize("bad", [dict(depth=0), dict(n_classes=1), dict(padding="reflect"),
                                 dict(upsampling="bilinear"), dict(dropout=1.5)])
def test_bad_model_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        ModelConfig(**bad)


def test_config_round_trips_through_dict():
    cfg = ModelConfig(in_channels=3, n_classes=5, depth=2, padding="valid", dropout=0.2)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict({**cfg.to_dict(), "future_option": 1}) == cfg
