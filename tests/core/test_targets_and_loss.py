import numpy as np
import pytest
import torch

from napari_unet.core.images import ImageError, as_label_array, to_chw
from napari_unet.core.training.losses import masked_cross_entropy
from napari_unet.core.training.targets import IGNORE, check_painted, class_weights, semantic_target


def test_label_zero_is_unpainted_and_k_is_class_k_minus_1():
    labels = np.array([[0, 1], [2, 3]])
    assert semantic_target(labels).tolist() == [[IGNORE, 0], [1, 2]]


def test_unpainted_pixels_get_zero_gradient():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 16, 16, requires_grad=True)
    target = torch.randint(0, 3, (2, 16, 16))
    target[:, :8] = IGNORE
    loss = masked_cross_entropy(logits, target, torch.tensor([1.0, 2.0, 0.5]))
    loss.backward()
    grad = logits.grad
    assert torch.all(grad[:, :, :8] == 0)
    assert torch.any(grad[:, :, 8:] != 0)


def test_changing_unpainted_logits_does_not_change_the_loss():
    logits = torch.randn(1, 2, 8, 8)
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[..., :4] = IGNORE
    a = masked_cross_entropy(logits, target)
    logits2 = logits.clone()
    logits2[..., :4] = 100 * torch.randn(1, 2, 8, 4)
    assert torch.allclose(a, masked_cross_entropy(logits2, target))


def test_all_ignored_batch_gives_zero_loss_not_nan():
    loss = masked_cross_entropy(torch.randn(1, 2, 4, 4), torch.full((1, 4, 4), IGNORE))
    assert loss.item() == 0.0


def test_class_weights_balance_painted_classes():
    t = np.full((10, 10), IGNORE)
    t[0, :2] = 0  # 2 px of class 0
    t[1, :8] = 1  # 8 px of class 1
    w = class_weights([t], 3)
    assert w[2] == 0
    assert w[0] * 2 == pytest.approx(w[1] * 8)


def test_nothing_painted_and_one_class_are_clear_errors():
    with pytest.raises(ImageError, match="nothing is painted"):
        check_painted([np.zeros((4, 4), int)])
    with pytest.raises(ImageError, match="only label 2"):
        check_painted([np.full((4, 4), 2)])
    assert check_painted([np.array([[0, 1], [3, 0]])]) == 3


def test_label_validation():
    with pytest.raises(ImageError, match="do not match"):
        as_label_array(np.zeros((4, 5), int), (4, 4))
    with pytest.raises(ImageError, match="whole numbers"):
        as_label_array(np.full((4, 4), 0.5), (4, 4))
    with pytest.raises(ImageError, match="negative"):
        as_label_array(np.full((4, 4), -1), (4, 4))
    assert as_label_array(np.ones((4, 4), np.float32), (4, 4)).dtype == np.int64


def test_to_chw_layouts():
    assert to_chw(np.zeros((5, 6))).shape == (1, 5, 6)
    assert to_chw(np.zeros((5, 6, 3))).shape == (3, 5, 6)
    assert to_chw(np.zeros((5, 6, 4))).shape == (3, 5, 6)  # alpha dropped
    assert to_chw(np.zeros((2, 5, 6)), channel_axis=0).shape == (2, 5, 6)
    with pytest.raises(ImageError):
        to_chw(np.zeros((2, 5, 6)))


def test_inner_distance_is_one_at_each_centre_and_low_where_objects_touch():
    from napari_unet.core.training.targets import inner_distance

    ids = np.zeros((11, 20), int)
    ids[2:9, 2:9] = 1
    ids[2:9, 9:16] = 2  # touches 1 along a column
    d = inner_distance(ids)
    assert d[5, 5] == pytest.approx(1.0) and d[5, 12] == pytest.approx(1.0)
    assert d[5, 8] < 0.5 and d[5, 9] < 0.5  # the two sides of the shared edge
    assert (d[ids == 0] == 0).all() and (d[ids > 0] > 0).all()
    assert d[5, 3] < d[5, 4] < d[5, 5]  # it grows towards the centre


def test_inner_distance_goes_on_past_the_array_edge_and_over_pixels_outside_the_image():
    from napari_unet.core.training.targets import inner_distance

    ids = np.zeros((9, 9), int)
    ids[1:8, 3:] = 1  # cut by the array's right edge
    d = inner_distance(ids)
    assert d[4, 8] == pytest.approx(1.0) and d[4, 3] < d[4, 4] < d[4, 6]
    outside = np.zeros((9, 9), bool)
    outside[:, 7:] = True
    cut = ids.copy()
    cut[:, 7:] = IGNORE  # the image ends at column 7: the object goes on into it
    assert inner_distance(cut, outside)[4, 6] == pytest.approx(1.0)
    assert inner_distance(np.where(outside, 0, ids))[4, 6] < 1.0  # else it ends there


def test_soft_cross_entropy_of_one_hot_targets_is_the_weighted_cross_entropy():
    from napari_unet.core.training.losses import soft_cross_entropy

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 6, generator=g)
    target = torch.randint(0, 3, (2, 5, 6), generator=g)
    target[0, 0] = IGNORE
    weight = torch.tensor([1.0, 1.0, 2.0])
    pixel = torch.rand(2, 5, 6, generator=g)
    soft = torch.nn.functional.one_hot(target.clamp_min(0), 3).permute(0, 3, 1, 2).float()
    soft[:, :, ][target.unsqueeze(1).expand_as(soft) == IGNORE] = 0.0  # no mass: not counted
    assert soft_cross_entropy(logits, soft, weight, pixel).item() == pytest.approx(
        masked_cross_entropy(logits, target, weight, pixel).item(), rel=1e-5)
    changed = logits.clone()
    changed[0, :, 0] += 5.0  # the pixels with no target
    assert soft_cross_entropy(changed, soft, weight, pixel).item() == pytest.approx(
        soft_cross_entropy(logits, soft, weight, pixel).item(), rel=1e-6)


def test_soft_cross_entropy_is_least_at_the_target_itself():
    from napari_unet.core.training.losses import soft_cross_entropy

    target = torch.tensor([0.0, 0.3, 0.7]).view(1, 3, 1, 1).expand(1, 3, 2, 2).clone()
    at = soft_cross_entropy(target.clamp_min(1e-6).log(), target)
    hard = soft_cross_entropy(torch.tensor([-9.0, -9.0, 9.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2),
                              target)
    assert at.item() < hard.item()
    none = soft_cross_entropy(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))
    assert none.item() == 0.0
