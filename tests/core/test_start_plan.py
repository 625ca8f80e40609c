"""How training uses the model it starts from: ``plan_start`` decides from configs and
provenance alone, so these tests need no weights (model files with an empty state dict)."""

import pytest

from napari_unet.core.config import ModelConfig, NormConfig, TrainConfig
from napari_unet.core.files.bundle import Bundle
from napari_unet.core.training.events import LUMINANCE_NOTE
from napari_unet.core.training.start_plan import plan_start

ARCH = ModelConfig(depth=2, base_width=8)


def model_file(mode="instance", channels=1, classes=3, starter=True, arch=ARCH, **info):
    """A model file without weights: a starter (its provenance says so) or a trained model."""
    config = ModelConfig.from_dict({**arch.to_dict(), "in_channels": channels, "n_classes": classes})
    info = {**({"starter": "nuclei"} if starter else {}), **info}
    return Bundle(config, NormConfig(), {}, train_config={"mode": mode}, info=info)


def semantic(**k):
    return TrainConfig(**{"mode": "semantic", **k})


def test_from_scratch_builds_the_painted_shape_with_a_denoiser_and_no_note():
    plan = plan_start(None, semantic(), in_channels=2, n_classes=4, model=ARCH)
    assert plan.init is None and plan.fresh is None and plan.note == ""
    assert (plan.model_config.in_channels, plan.model_config.n_classes) == (2, 4)
    assert plan.class_names == ("background", "class 2", "class 3", "class 4")
    assert plan.denoiser and not (plan.teacher or plan.freeze_norms or plan.luminance)
    assert plan.class_weight is None and plan.groups is None and not plan.new_head


def test_no_denoiser_when_self_supervision_is_off():
    assert not plan_start(None, semantic(self_supervised=0), 1, 2, ARCH).denoiser


def test_two_classes_on_a_starter_train_its_three_outputs_through_the_marginal():
    starter = model_file()
    plan = plan_start(starter, semantic(), in_channels=1, n_classes=2)
    assert plan.init is starter and plan.groups == ((0,), (1, 2)) and not plan.new_head
    assert plan.model_config == starter.model_config and plan.n_target_classes == 2
    assert plan.class_names == ("background", "interior", "border")
    assert plan.freeze_norms and plan.teacher and not plan.denoiser
    assert plan.note == ""


def test_no_teacher_when_keep_starter_is_off():
    plan = plan_start(model_file(), semantic(keep_starter=0), 1, 2)
    assert plan.freeze_norms and not plan.teacher


def test_more_classes_on_a_starter_give_its_body_a_new_head_and_say_so():
    plan = plan_start(model_file(), semantic(), in_channels=1, n_classes=4)
    assert plan.new_head and plan.groups is None and plan.model_config.n_classes == 4
    assert not plan.teacher and plan.freeze_norms
    assert plan.class_names == ("background", "class 2", "class 3", "class 4")
    assert plan.note == "4 classes: the starting model's body with a new output layer"


def test_a_colour_image_on_a_grayscale_starter_is_its_luminance():
    plan = plan_start(model_file(), semantic(), in_channels=3, n_classes=2)
    assert plan.luminance and plan.model_config.in_channels == 1 and plan.init is not None
    assert plan.note == LUMINANCE_NOTE


def test_a_grayscale_model_not_made_from_a_starter_does_not_take_colour():
    plan = plan_start(model_file("semantic", classes=2, starter=False), semantic(), 3, 2)
    assert not plan.luminance and plan.fresh == "shape" and plan.init is None
    assert plan.note == ("started fresh: the data have 3 channel(s) and 2 classes, "
                         "the previous model 1 and 2")


def test_a_starter_of_another_architecture_is_not_used_and_the_note_says_why():
    plan = plan_start(model_file(), semantic(), 1, 2, model=ModelConfig(depth=3, base_width=8))
    assert plan.fresh == "architecture" and plan.init is None and plan.groups is None
    assert plan.model_config.n_classes == 2 and plan.denoiser and not plan.freeze_norms
    assert plan.note == "started fresh: the starting model has 1 channel(s) and another architecture"


def test_a_model_of_the_other_mode_is_not_used():
    plan = plan_start(model_file("semantic", classes=2, starter=False),
                      TrainConfig(mode="instance"), 1, 3)
    assert plan.fresh == "mode" and plan.init is None
    assert plan.note == ("started fresh: the previous model was a semantic model, "
                         "this training is instance")


def test_a_trained_model_of_the_same_shape_is_continued_with_its_class_names():
    trained = model_file("semantic", classes=2, starter=False)
    trained.class_names = ["sky", "tree"]
    plan = plan_start(trained, semantic(), 1, 2)
    assert plan.init is trained and plan.class_names == ("sky", "tree")
    assert not (plan.freeze_norms or plan.teacher or plan.denoiser)
    assert plan_start(trained, semantic(), 1, 2, class_names=["a", "b"]).class_names == ("a", "b")


@pytest.mark.parametrize("info, weight", [({}, (1.0, 1.0, 2.0)),
                                          ({"class_weight": [1, 3, 5]}, (1.0, 3.0, 5.0))])
def test_whole_objects_on_a_starter_keep_the_class_weights_it_learnt_with(info, weight):
    plan = plan_start(model_file(**info), TrainConfig(mode="instance"), 1, 3)
    assert plan.class_weight == weight and plan.teacher and plan.init is not None


def test_a_model_fine_tuned_from_a_starter_counts_as_one():
    tuned = model_file(starter=False, started_from="starter nuclei")
    plan = plan_start(tuned, TrainConfig(mode="instance"), 1, 3)
    assert plan.freeze_norms and plan.teacher and plan.class_weight == (1.0, 1.0, 2.0)
