import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig
from napari_unet.core.images import ImageError
from napari_unet.core.inference.predict import predict, predict_image
from napari_unet.core.inference.segment import segment
from napari_unet.core.inference.tiles import plan_tiles
from napari_unet.core.networks.model import UNet
from napari_unet.core.normalize import fit_normalization
from napari_unet.core.progress import drain


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("upsampling", ["transpose", "nearest"])
def test_tiled_prediction_equals_whole_image_prediction(padding, upsampling, random_bundle):
    bundle = random_bundle(depth=2, padding=padding, upsampling=upsampling)
    image = np.random.default_rng(0).random((1, 83, 101)).astype(np.float32)
    whole = predict_image(image, bundle, PredictConfig(tile_size=512, amp=False))
    model = bundle.build_model()
    assert len(plan_tiles(model, 83, 101, PredictConfig(tile_size=512)).origins()) == 1
    tiled = predict_image(image, bundle, PredictConfig(tile_size=24, batch_size=3, amp=False))
    assert len(plan_tiles(model, 83, 101, PredictConfig(tile_size=24)).origins()) > 9
    np.testing.assert_allclose(tiled.probabilities, whole.probabilities, atol=2e-5)
    assert (tiled.labels != whole.labels).mean() < 1e-3  # ties may flip
    assert tiled.probabilities.shape == (2, 83, 101)
    np.testing.assert_allclose(tiled.probabilities.sum(0), 1, atol=1e-5)


def test_mixed_precision_prediction_stays_close_to_full_precision(random_bundle):
    bundle = random_bundle(depth=2)
    image = np.random.default_rng(5).random((1, 64, 64)).astype(np.float32)
    full = predict_image(image, bundle, PredictConfig(amp=False)).probabilities
    mixed = predict_image(image, bundle, PredictConfig(amp=True)).probabilities
    assert np.abs(full - mixed).mean() < 0.01


def test_image_smaller_than_the_receptive_field_is_mirrored_not_refused(random_bundle):
    bundle = random_bundle(depth=3, padding="valid")
    image = np.random.default_rng(1).random((1, 5, 7)).astype(np.float32)
    pred = predict_image(image, bundle)
    assert pred.labels.shape == (5, 7) and set(np.unique(pred.labels)) <= {1, 2}


def test_labels_use_the_painted_values(random_bundle):
    bundle = random_bundle(depth=1, n_classes=3)
    pred = predict_image(np.random.default_rng(2).random((1, 16, 16)).astype(np.float32), bundle)
    np.testing.assert_array_equal(pred.labels, pred.probabilities.argmax(0) + 1)


def test_wrong_channel_count_is_a_clear_error(random_bundle):
    bundle = random_bundle(depth=1, in_channels=3)
    with pytest.raises(ImageError, match="3-channel"):
        predict_image(np.zeros((1, 16, 16), np.float32), bundle)


def test_fixed_normalisation_uses_training_values():
    rng = np.random.default_rng(3)
    norm = fit_normalization([rng.random((2, 20, 20)) * 100], NormConfig(mode="fixed"))
    assert len(norm.low) == 2 and norm.high[0] > 90


def test_planes_are_predicted_one_by_one(random_bundle):
    bundle = random_bundle(depth=1)
    stack = np.random.default_rng(4).random((3, 1, 16, 20)).astype(np.float32)
    pred = drain(segment(stack, bundle, probabilities=True))
    assert pred.labels.shape == (3, 16, 20) and pred.probabilities.shape == (3, 2, 16, 20)
    single = predict_image(stack[1], bundle)
    np.testing.assert_array_equal(pred.labels[1], single.labels)


# -- tiles planned from a memory budget (issue 17) ---------------------------------------
from napari_unet.core import memory  # noqa: E402
from napari_unet.core.inference.tiles import TilePlan  # noqa: E402

PLANNED = PredictConfig(tile_size=None, amp=False, device="cpu", threads=1)


def _budget(monkeypatch, nbytes):
    monkeypatch.setattr(memory, "prediction_budget", lambda device=None: nbytes)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("budget, tiles", [(2**20, 12), (2**21, 4), (2**30, 1)])
def test_tiles_planned_from_the_memory_budget_give_the_whole_image_prediction(
    padding, budget, tiles, monkeypatch, random_bundle
):
    """Whatever tile the budget allows, the output is the whole-image prediction: the same
    probabilities up to float rounding and the same labels."""
    bundle = random_bundle(seed=2, depth=2, padding=padding)
    image = np.random.default_rng(6).random((1, 83, 101)).astype(np.float32)
    whole = predict_image(image, bundle, PredictConfig(tile_size=512, amp=False))
    _budget(monkeypatch, budget)
    plan = plan_tiles(bundle.build_model(), 83, 101, PLANNED)
    assert plan.count >= tiles if tiles > 1 else plan.count == 1, plan
    if plan.count > 1:
        assert memory.prediction_bytes(bundle.model_config, plan.batch, plan.window) <= budget
    tiled = predict_image(image, bundle, PLANNED)
    np.testing.assert_allclose(tiled.probabilities, whole.probabilities, atol=2e-5)
    np.testing.assert_array_equal(tiled.labels, whole.labels)


def test_budget_plans_compute_little_twice_and_cover_the_image():
    """The issue's case: depth 4 (context 112 px). Fixed 256 px tiles compute 3.5x the
    image; a 2 GiB plan (a GPU's) at most 1.5x on images of 2048 px and more, and never more
    than the fixed tiles; the tiles cover the image, on the network's grid, and fit the budget."""
    model = UNet(ModelConfig(depth=4, base_width=16))
    g = model.granularity
    for h, w in [(2048, 2048), (8192, 8192), (40000, 40000), (3000, 1000), (2100, 70), (300, 300)]:
        fixed = plan_tiles(model, h, w, PredictConfig(tile_size=256))
        plan = plan_tiles(model, h, w, PredictConfig(tile_size=None), budget=2 * 2**30)
        assert plan.overhead <= fixed.overhead + 1e-9, (h, w)
        if min(h, w) >= 2048:
            assert fixed.overhead > 3.4 and plan.overhead < 1.5, (h, w, plan)
        assert plan.stride % g == 0 and plan.context == fixed.context
        assert (plan.count == len(plan.origins())
                and max(y for y, _ in plan.origins()) + plan.stride >= h
                and max(x for _, x in plan.origins()) + plan.stride >= w)
        assert memory.prediction_bytes(model.config, plan.batch, plan.window) <= 2 * 2**30
    assert plan_tiles(model, 2048, 2048, PredictConfig(tile_size=None),
                      budget=2**20).window == 240, "a tiny budget: the smallest tile"


def test_a_given_tile_size_is_kept_as_it_was():
    model = UNet(ModelConfig(depth=3, base_width=16))
    plan = plan_tiles(model, 2048, 2048, PredictConfig(tile_size=256, batch_size=3))
    assert (plan.tile, plan.stride, plan.context, plan.window) == (256, 256, 56, 368)
    assert isinstance(plan, TilePlan) and plan.count == 64 and plan.batch is None


def test_the_cpu_budget_is_capped_and_a_power_of_two(monkeypatch):
    """Plans do not change with every megabyte freed: the CPU's cap, else a power of two."""
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 64 * 2**30)
    assert memory.prediction_budget("cpu") == memory.CPU_PREDICT_BUDGET
    assert memory.prediction_budget("cpu") == memory.prediction_budget(None)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 1000 * 2**20)
    assert memory.prediction_budget("cpu") == memory.CPU_PREDICT_BUDGET  # 800 MiB usable
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 900 * 2**20)
    budget = memory.prediction_budget("cpu")
    assert budget == 512 * 2**20 and budget <= memory.USABLE * 900 * 2**20


def test_out_of_memory_with_a_planned_tile_retries_with_half_of_it(monkeypatch, random_bundle):
    bundle = random_bundle(seed=3, depth=2)
    image = np.random.default_rng(7).random((1, 96, 96)).astype(np.float32)
    _budget(monkeypatch, 2**30)
    expected = predict_image(image, bundle, PLANNED)
    real = UNet.forward

    def forward(self, x):  # windows over 100 px do not fit, as on a small GPU
        if x.shape[-1] > 100:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, x)

    monkeypatch.setattr(UNet, "forward", forward)
    records = []
    got = drain(predict(image, bundle, PLANNED), records.append)
    assert [r.notice for r in records if r.notice] == [
        "Out of memory: predicting again with 48-px tiles"]
    np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=2e-5)
    np.testing.assert_array_equal(got.labels, expected.labels)


def test_objects_across_planned_tiles_equal_whole_image_objects(tmp_path, monkeypatch, random_bundle):
    """Objects cut by the tiles of a budget plan (and by the zarr chunks, which follow the
    plan's stride) are the whole image's objects, pixel for pixel."""
    zarr = pytest.importorskip("zarr")
    from scipy import ndimage as ndi

    from napari_unet.core.config import PostprocessConfig
    from napari_unet.core.inference.postprocess import to_instances

    bundle = random_bundle(seed=5, depth=2)
    bundle.norm = NormConfig(mode="fixed", low=[0.0], high=[1.0])
    bundle.postprocess = PostprocessConfig(threshold=0.52)
    rng = np.random.default_rng(8)
    image = ndi.gaussian_filter(rng.random((230, 250)), 4).astype(np.float32)
    image = (image - image.min()) / np.ptp(image)
    _budget(monkeypatch, 2**21)
    plan = plan_tiles(bundle.build_model(), 230, 250, PLANNED)
    assert plan.count >= 9, "several tiles"
    out = drain(segment(zarr.array(image), bundle, PLANNED, out=tmp_path / "o.zarr",
                        objects=True)).store
    assert out.labels.chunks == (plan.stride, plan.stride)
    whole = predict_image(image[None], bundle, PredictConfig(tile_size=512, amp=False))
    objects = to_instances(whole.probabilities, bundle.mode, bundle.postprocess)
    got = out.instances[:]
    borders = np.zeros(objects.shape, bool)  # pixels on both sides of every tile border
    for k in range(plan.stride, max(objects.shape), plan.stride):
        borders[k - 1 : k + 1, :] = borders[:, k - 1 : k + 1] = True
    cut = set(np.unique(objects[borders])) - {0}
    assert len(np.unique(objects)) > 20 and len(cut) > 2, "objects, some across a tile border"
    m = got > 0
    assert np.array_equal(m, objects > 0)
    pairs = np.unique(np.stack([got[m], objects[m]]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))
