"""The one prediction route: every way in gives the same labels.

Invariants: in memory, into a zarr store and into caller-made arrays give identical classes;
a stack is its planes predicted one by one; objects of an instance model are its labels, a
semantic model's are split only when asked; a 3-D model predicts the volume and refuses
objects and stores with one clear error.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig
from napari_unet.core.files.bundle import Bundle
from napari_unet.core.images import ImageError
from napari_unet.core.inference.segment import Into, segment
from napari_unet.core.networks.build import build_network
from napari_unet.core.progress import drain

CONFIG = PredictConfig(amp=False, device="cpu", batch_size=2, threads=1, tile_size=64)


def _bundle(mode="semantic", seed=0, **model):
    torch.manual_seed(seed)
    cfg = ModelConfig(depth=2, base_width=4, n_classes=3 if mode == "instance" else 2, **model)
    net = build_network(cfg)
    with torch.no_grad():  # statistics that make the output vary over the image
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
        net.eval()  # the head's bias puts the classes' boundary at the median pixel
        logits = net(torch.from_numpy(_image((1, cfg.in_channels) + (32,) * cfg.spatial_dims)))
        net.head.bias -= logits.flatten(2).median(-1).values[0] - logits.flatten(2).median()
    return Bundle(cfg, NormConfig(), {k: v.clone() for k, v in net.state_dict().items()},
                  train_config={"mode": mode})


def _image(shape, seed=0):
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    return ndi.gaussian_filter(rng.random(shape), 2).astype(np.float32)


def test_in_memory_into_a_store_and_into_arrays_give_identical_classes(tmp_path):
    pytest.importorskip("zarr")
    bundle, image = _bundle(), _image((1, 150, 170))
    memory = drain(segment(image, bundle, CONFIG, probabilities=True))
    stored = drain(segment(image, bundle, CONFIG, probabilities=True, out=tmp_path / "p.zarr"))
    into = Into(np.zeros((150, 170), np.uint8), np.zeros((2, 150, 170), np.float32))
    arrays = drain(segment(image, bundle, CONFIG, probabilities=True, out=into))
    assert memory.labels.shape == (150, 170) and len(np.unique(memory.labels)) == 2
    np.testing.assert_array_equal(np.asarray(stored.labels), memory.labels)
    np.testing.assert_array_equal(into.labels, memory.labels)
    assert arrays.labels is into.labels
    np.testing.assert_allclose(np.stack([np.asarray(p) for p in stored.probabilities]),
                               memory.probabilities, atol=1e-6)
    assert memory.objects is None and stored.store is not None


def test_a_stack_is_its_planes_predicted_one_by_one():
    bundle, stack = _bundle(), _image((3, 1, 80, 90))
    whole = drain(segment(stack, bundle, CONFIG, probabilities=True))
    assert whole.labels.shape == (3, 80, 90) and whole.probabilities.shape == (3, 2, 80, 90)
    for z in range(3):
        plane = drain(segment(stack[z], bundle, CONFIG))
        np.testing.assert_array_equal(whole.labels[z], plane.labels)


def test_objects_are_an_instance_models_labels_and_a_semantic_models_only_when_asked():
    image = _image((1, 96, 96))
    instance = drain(segment(image, _bundle("instance"), CONFIG))
    assert instance.labels.dtype == np.uint32 and instance.objects is None
    semantic = _bundle()
    plain = drain(segment(image, semantic, CONFIG))
    split = drain(segment(image, semantic, CONFIG, objects=True))
    np.testing.assert_array_equal(plain.labels, split.labels)
    assert split.objects.shape == (96, 96) and split.objects.max() >= 1
    assert np.all((split.objects > 0) <= (split.labels == 2))  # objects lie on the foreground


def test_ids_go_on_from_plane_to_plane_so_no_two_objects_of_a_stack_share_one():
    stack = np.stack([_image((1, 96, 96), seed=s) for s in range(2)])
    seg = drain(segment(stack, _bundle(), CONFIG, objects=True))
    first, second = (set(np.unique(seg.objects[z])) - {0} for z in range(2))
    assert first and second and not first & second


def test_a_3d_model_predicts_the_volume_and_refuses_objects_and_stores(tmp_path):
    bundle = _bundle(spatial_dims=3)
    volume = _image((1, 12, 40, 40))
    seg = drain(segment(volume, bundle, CONFIG, probabilities=True))
    assert seg.labels.shape == (12, 40, 40) and seg.probabilities.shape == (2, 12, 40, 40)
    with pytest.raises(ImageError, match="classes only"):
        drain(segment(volume, bundle, CONFIG, objects=True))
    with pytest.raises(ImageError, match="in memory"):
        drain(segment(volume, bundle, CONFIG, out=tmp_path / "v.zarr"))
