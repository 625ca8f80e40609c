"""The model panel says how long a model trained in words a person reads at a glance."""

from types import SimpleNamespace

from napari_unet.core.config import ModelConfig, NormConfig
from napari_unet.core.files.bundle import Bundle


def test_the_training_time_is_said_in_minutes_and_hours_not_thousands_of_seconds():
    from napari_unet._widgets.common.model_panel import describe_model

    bundle = Bundle(ModelConfig(depth=2, base_width=8), NormConfig(), {},
                    info={"steps": 17735, "seconds": 9000.3, "device": "cpu (1 threads)"})
    text = describe_model(SimpleNamespace(bundle=bundle, source="Starter: nuclei"))
    assert "17735 steps, 2 h 30 min on cpu (1 thread)" in text
    bundle.info["seconds"] = 41.6
    assert "steps, 42 s on" in describe_model(SimpleNamespace(bundle=bundle, source="x"))
