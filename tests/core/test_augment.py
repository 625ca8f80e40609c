import numpy as np
import torch

from napari_unet.core.training.augment import AugmentParams, augment, elastic_displacement
from napari_unet.core.training.targets import IGNORE


def _blocks(n=96, batch=4):
    """An image whose intensity equals its label: 8x8 blocks of classes 0..3."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 4, size=(batch, n // 8, n // 8))
    lab = np.kron(coarse, np.ones((8, 8), int))
    return torch.tensor(lab, dtype=torch.float32)[:, None], torch.tensor(lab)


def test_elastic_deformation_keeps_image_and_labels_aligned():
    img, tgt = _blocks()
    params = AugmentParams(elastic=True, flips=True, intensity_scale=0, intensity_shift=0)
    out_img, out_tgt, _ = augment(img, tgt, 64, params, torch.Generator().manual_seed(1))
    valid = out_tgt != IGNORE
    assert valid.float().mean() > 0.5
    agree = (out_img[:, 0].round() == out_tgt.float()) & valid
    # bilinear image vs nearest labels differ only on a thin band at block edges
    assert agree.sum() / valid.sum() > 0.9
    # and the deformation really moved things
    centre = tgt[:, 16:80, 16:80]
    assert (out_tgt != centre).float().mean() > 0.05


def test_flips_alone_are_exact_symmetries():
    img, tgt = _blocks()
    params = AugmentParams(elastic=False, flips=True, intensity_scale=0, intensity_shift=0)
    out_img, out_tgt, _ = augment(img, tgt, 96, params, torch.Generator().manual_seed(2))
    assert torch.allclose(out_img[:, 0], out_tgt.float(), atol=1e-4)
    for b in range(4):  # each sample is one of the 8 symmetries of its input
        cands = [torch.rot90(t, k, (0, 1)) for t in (tgt[b], tgt[b].flip(1)) for k in range(4)]
        assert any(torch.equal(out_tgt[b], c) for c in cands)


def test_pixels_from_outside_the_window_are_ignored():
    img = torch.zeros(8, 1, 32, 32)
    tgt = torch.zeros(8, 32, 32, dtype=torch.long)
    params = AugmentParams(elastic=True, elastic_sigma=10, flips=False)
    _, out, _ = augment(img, tgt, 32, params, torch.Generator().manual_seed(0))
    assert (out == IGNORE).any()  # displacements of ~10 px pull from outside
    assert set(out.unique().tolist()) <= {IGNORE, 0}


def test_unpainted_stays_unpainted():
    img, tgt = _blocks()
    tgt = torch.where(tgt == 3, torch.full_like(tgt, IGNORE), tgt)
    params = AugmentParams()
    _, out, _ = augment(img, tgt, 64, params, torch.Generator().manual_seed(3))
    assert set(out.unique().tolist()) <= {IGNORE, 0, 1, 2}


def test_displacement_field_has_requested_sigma_on_coarse_grid():
    g = torch.Generator().manual_seed(0)
    d = elastic_displacement(2000, 9, sigma=10.0, grid=3, generator=g, device="cpu")
    # corners are coarse grid points (align_corners=True): their spread is sigma
    assert abs(d[:, :, 0, 0].std().item() - 10.0) < 0.5
    assert abs(d[:, :, 4, 4].std().item() - 10.0) < 0.5


def test_noise_changes_the_image_but_never_the_labels():
    img, tgt = _blocks()
    quiet = AugmentParams(elastic=False, flips=False, intensity_scale=0, intensity_shift=0)
    noisy = AugmentParams(elastic=False, flips=False, intensity_scale=0, intensity_shift=0, noise=0.5)
    a_img, a_tgt, _ = augment(img, tgt, 64, quiet, torch.Generator().manual_seed(4))
    b_img, b_tgt, _ = augment(img, tgt, 64, noisy, torch.Generator().manual_seed(4))
    assert torch.equal(a_tgt, b_tgt)
    diff = (b_img - a_img)
    assert diff.abs().max() > 0 and diff.std() < 0.5


def test_zoom_gamma_and_blur_keep_image_and_target_together():
    """A bright square labelled 1 on 0: after zoom, gamma and blur the target still marks
    where the square went (nearest neighbour, only 0/1/IGNORE), and values stay in range."""
    from napari_unet.core.training.augment import AugmentParams, augment
    from napari_unet.core.training.targets import IGNORE

    window, out = 160, 64
    image = torch.zeros(4, 1, window, window)
    target = torch.zeros(4, window, window, dtype=torch.long)
    image[:, :, 60:100, 60:100] = 1.0
    target[:, 60:100, 60:100] = 1
    params = AugmentParams(elastic=False, flips=True, intensity_scale=0.0, intensity_shift=0.0,
                           zoom=1.0, gamma=0.5, blur=0.0)
    g = torch.Generator().manual_seed(0)
    img, tgt, _ = augment(image, target, out, params, g)
    assert img.shape == (4, 1, out, out) and set(tgt.unique().tolist()) <= {IGNORE, 0, 1}
    assert img.min() >= 0 and img.max() <= 1
    inside = tgt == 1
    # bilinear image against nearest target: they differ only on the square's edge
    assert inside.any() and (img[:, 0][inside] > 0.5).float().mean() > 0.9
    assert (img[:, 0][tgt == 0] < 0.5).float().mean() > 0.9
    sizes = inside.flatten(1).sum(1).float()
    assert sizes.max() / sizes.min() > 1.5  # zoom changed the square's size between samples


def test_blur_smooths_some_patches_and_leaves_others():
    from napari_unet.core.training.augment import _random_blur

    g = torch.Generator().manual_seed(1)
    noise = torch.randn(16, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    out = _random_blur(noise, 2.0, g)
    std = out.flatten(1).std(1)
    assert (std < 0.6).any() and torch.isclose(std, noise.flatten(1).std(1)).any()


def test_augment_params_are_the_configs_augmentation_settings():
    """AugmentParams is made from TrainConfig's ``augmentation`` fields (issue 25, item 5):
    the same names and defaults, the config's values, and all off with ``augment=False``."""
    from dataclasses import fields

    from napari_unet.core.config import TrainConfig, group_of

    group = [f.name for f in group_of(TrainConfig, "augmentation")]
    assert group[0] == "augment"  # the group's switch
    names = group[1:]
    assert names == ["elastic", "elastic_sigma", "elastic_grid", "flips", "intensity_scale",
                     "intensity_shift", "noise", "zoom", "gamma", "blur"]
    assert [f.name for f in fields(AugmentParams)] == names
    config = TrainConfig(elastic_sigma=7.0, noise=0.1, zoom=1.0, gamma=0.2, blur=1.5)
    made = AugmentParams.from_train_config(config)
    assert all(getattr(made, n) == getattr(config.augmentation, n) for n in names)
    assert AugmentParams() == AugmentParams.from_train_config(TrainConfig())
    assert AugmentParams.from_train_config(TrainConfig(augment=False, zoom=1.0, noise=0.1)) == \
        AugmentParams(elastic=False, flips=False, intensity_scale=0.0, intensity_shift=0.0)


# -- 3-D elastic deformation (the painted 3-D task's) ---------------------------------------

def _blocks3d(n=24, batch=3):
    """A volume whose intensity equals its label: 4x4x4 blocks of labels 0..3, and -1
    (IGNORE, unpainted) for label 3."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 4, size=(batch, n // 4, n // 4, n // 4))
    lab = np.kron(coarse, np.ones((4, 4, 4), int))
    tgt = torch.tensor(lab)
    tgt[tgt == 3] = IGNORE
    return torch.tensor(lab, dtype=torch.float32)[:, None], tgt


def test_3d_elastic_deformation_keeps_image_and_labels_aligned_and_invents_no_label():
    """Nearest-neighbour targets take only the values painted (no interpolated ids) and
    follow the trilinear image; the deformation does move things."""
    from napari_unet.core.training.augment import deform3d

    img, tgt = _blocks3d()
    params = AugmentParams(elastic=True, elastic_sigma=3.0)
    out_img, out_tgt = deform3d(img, tgt, (12, 12, 12), params, torch.Generator().manual_seed(1))
    assert out_img.shape == (3, 1, 12, 12, 12) and out_tgt.shape == (3, 12, 12, 12)
    assert set(out_tgt.unique().tolist()) <= {IGNORE, 0, 1, 2}
    painted = out_tgt != IGNORE
    agree = (out_img[:, 0].round() == out_tgt.float()) & painted
    assert agree.sum() / painted.sum() > 0.85  # they differ on a thin band at block faces
    assert (out_tgt != tgt[:, 6:18, 6:18, 6:18]).float().mean() > 0.05


def test_3d_elastic_padding_is_unpainted():
    """Where a displaced voxel's source lies outside the window, the target is IGNORE
    (unpainted, never a class), while the image is mirrored."""
    from napari_unet.core.training.augment import deform3d

    img = torch.ones(4, 1, 12, 12, 12)
    tgt = torch.zeros(4, 12, 12, 12, dtype=torch.long)
    params = AugmentParams(elastic=True, elastic_sigma=4.0)
    out_img, out_tgt = deform3d(img, tgt, (12, 12, 12), params, torch.Generator().manual_seed(0))
    assert (out_tgt == IGNORE).any() and set(out_tgt.unique().tolist()) <= {IGNORE, 0}
    assert torch.allclose(out_img, torch.ones_like(out_img))


def test_3d_zero_displacement_is_the_identity(monkeypatch):
    """No displacement: the centred patch exactly (image and target), through the sampling
    path as well as without elastic deformation."""
    from napari_unet.core.training import augment as aug

    img, tgt = _blocks3d()
    img = img + torch.rand(img.shape, generator=torch.Generator().manual_seed(5))
    centre = (slice(None), slice(4, 20), slice(2, 22), slice(6, 18))
    for sigma in (0.0, 10.0):  # 0: the crop; 10 with the field zeroed: the sampling path
        monkeypatch.setattr(aug, "elastic_displacement3d",
                            lambda b, shape, *a, **k: torch.zeros(b, 3, *shape))
        params = AugmentParams(elastic=True, elastic_sigma=sigma)
        out_img, out_tgt = aug.deform3d(img, tgt, (16, 20, 12), params, torch.Generator())
        assert torch.allclose(out_img[:, 0], img[:, 0][centre], atol=1e-5)
        assert torch.equal(out_tgt, tgt[centre])


def test_3d_elastic_deformation_is_reproducible_and_z_is_scaled_by_the_anisotropy():
    from napari_unet.core.training.augment import deform3d, elastic_displacement3d

    img, tgt = _blocks3d()
    params = AugmentParams(elastic=True, elastic_sigma=3.0)
    a, b = (deform3d(img, tgt, (12, 12, 12), params, torch.Generator().manual_seed(7), 2)
            for _ in range(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = deform3d(img, tgt, (12, 12, 12), params, torch.Generator().manual_seed(8), 2)
    assert not torch.equal(a[0], c[0])
    d = elastic_displacement3d(2000, (5, 9, 9), 10.0, 3, torch.Generator().manual_seed(0), "cpu",
                               z_scale=0.25)
    # grid points (align_corners=True): in-plane spread sigma, z spread sigma / anisotropy
    assert abs(d[:, :2, 0, 0, 0].std().item() - 10.0) < 0.5
    assert abs(d[:, 2, 0, 0, 0].std().item() - 2.5) < 0.15
    assert abs(d[:, 0, 2, 4, 4].std().item() - 10.0) < 0.5
