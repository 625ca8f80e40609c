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
