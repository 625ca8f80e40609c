"""Training and prediction throughput: our core against a reference built from MONAI parts.

    python benchmarks/speed.py [--device cpu|cuda] [--depth 4] [--width 16] [--batch 8]
                               [--patch 128] [--steps 20] [--rounds 3] [--image 2048]

Both sides use the same model size, patch size, batch and device, and run alternately
(ours, MONAI, MONAI, ours, ...) so drift of the machine cancels. The reference is what a user
would assemble: MONAI's BasicUNet of the same widths (batch norm, ReLU, transposed
convolutions, like ours), Rand2DElasticd + RandFlipd + RandRotate90d in a DataLoader with
worker processes, a plain training loop (AMP on a GPU); and sliding_window_inference with
*our* model, tile and overlap for prediction. Prints one JSON line per figure, ending with
``train_speedup_vs_monai`` and ``predict_speedup_vs_monai``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def emit(**record):
    print(json.dumps(record), flush=True)


def make_data(size=512, seed=0):
    from napari_unet.synthetic import nuclei, simulate_painting

    image, truth = nuclei((size, size), n=size * size // 2500, seed=seed)
    painted = simulate_painting(truth, n_objects=40, n_background_strokes=20, seed=seed)
    return image[None], painted


# -- ours --------------------------------------------------------------------------------
def ours_trainer(args, image, painted):
    from napari_unet.core.config import ModelConfig, TrainConfig
    from napari_unet.core.training.train import Trainer

    return Trainer(
        [image], [painted],
        model=ModelConfig(depth=args.depth, base_width=args.width),
        config=TrainConfig(steps=10**9, seconds=None, batch_size=args.batch,
                           patch_size=args.patch, device=args.device, amp=True),
    )


def time_ours(trainer, steps):
    _sync(trainer.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = trainer.train_step()
    float(loss)
    _sync(trainer.device)
    return time.perf_counter() - t0


# -- MONAI reference ---------------------------------------------------------------------
class _Crops(torch.utils.data.IterableDataset):
    def __init__(self, image, target, window, transform, seed):
        self.image, self.target, self.window = image, target, window
        self.transform, self.seed = transform, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng(self.seed + (info.id if info else 0))
        self.transform.set_random_state(seed=int(rng.integers(2**31)))
        painted = np.argwhere(self.target >= 0)
        h, w = self.target.shape
        n = self.window
        while True:
            y, x = painted[rng.integers(len(painted))]
            y0 = int(np.clip(y - n // 2, 0, h - n))
            x0 = int(np.clip(x - n // 2, 0, w - n))
            d = {"image": self.image[:, y0:y0 + n, x0:x0 + n].copy(),
                 "label": (self.target[None, y0:y0 + n, x0:x0 + n] + 1).astype(np.float32)}
            yield self.transform(d)


def monai_pipeline(args, image, painted):
    from monai.networks.nets import BasicUNet
    from monai.transforms import Compose, Rand2DElasticd, RandFlipd, RandRotate90d

    from napari_unet.core.normalize import normalize
    from napari_unet.core.config import NormConfig

    device = torch.device(args.device)
    w = args.width
    if args.depth != 4:
        raise SystemExit("MONAI's BasicUNet has depth 4: run with --depth 4")
    model = BasicUNet(spatial_dims=2, in_channels=1, out_channels=2,
                      features=(w, 2 * w, 4 * w, 8 * w, 16 * w, w),
                      act="relu", norm="batch", upsample="deconv").to(device)
    keys = ["image", "label"]
    transform = Compose([
        Rand2DElasticd(keys, spacing=args.patch // 2, magnitude_range=(1, 2), prob=1.0,
                       spatial_size=(args.patch, args.patch), mode=["bilinear", "nearest"],
                       padding_mode=["reflection", "zeros"]),
        RandFlipd(keys, prob=0.5, spatial_axis=1),
        RandRotate90d(keys, prob=0.75),
    ])
    ds = _Crops(normalize(image, NormConfig()), painted.astype(np.int64) - 1,
                args.patch + 64, transform, seed=0)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=args.batch, num_workers=args.workers,
        pin_memory=device.type == "cuda", persistent_workers=args.workers > 0,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler_dtype = torch.bfloat16 if device.type == "cuda" else None
    it = iter(loader)

    def step():
        batch = next(it)
        x = torch.as_tensor(batch["image"]).to(device, non_blocking=True)
        y = torch.as_tensor(batch["label"])[:, 0].long().to(device, non_blocking=True) - 1
        with torch.autocast(device.type, dtype=scaler_dtype or torch.float32,
                            enabled=scaler_dtype is not None):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, ignore_index=-1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return model, step


def time_monai(step, steps, device):
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    float(loss)
    _sync(device)
    return time.perf_counter() - t0


# -- prediction --------------------------------------------------------------------------
def time_predict(args, bundle):
    from monai.inferers import sliding_window_inference

    from napari_unet.core.config import PredictConfig
    from napari_unet.core.normalize import normalize
    from napari_unet.core.inference.predict import plan_tiles, predict_image

    device = torch.device(args.device)
    rng = np.random.default_rng(1)
    big = rng.random((1, args.image, args.image), dtype=np.float32)
    cfg = PredictConfig(tile_size=args.tile, batch_size=4, device=args.device)
    model = bundle.build_model(device)
    plan = plan_tiles(model, args.image, args.image, cfg)
    overlap = 2 * plan.context / plan.window
    amp = torch.bfloat16 if device.type == "cuda" else None

    def ours():
        predict_image(big, bundle, cfg, model=model, probabilities=True)

    # the reference runs the same weights as a user would load them: default memory format,
    # full precision on the CPU, bf16 autocast on a GPU
    ref_model = bundle.build_model(device).to(memory_format=torch.contiguous_format)

    @torch.inference_mode()
    def monai():
        x = torch.from_numpy(normalize(big, bundle.norm))[None].to(device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            probs = sliding_window_inference(x, plan.window, 4, lambda t: torch.softmax(ref_model(t).float(), 1),
                                             overlap=overlap, mode="constant", padding_mode="reflect")
        probs.argmax(1).cpu().numpy()

    times = {"ours": [], "monai": []}
    for fn in (ours, monai):  # warm-up
        fn()
    for r in range(args.rounds):
        order = (("ours", ours), ("monai", monai)) if r % 2 == 0 else (("monai", monai), ("ours", ours))
        for name, fn in order:
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    mpx = args.image**2 / 1e6
    best = {k: min(v) for k, v in times.items()}
    for name in ("ours", "monai"):
        emit(figure="predict", side=name, megapixels_per_s=round(mpx / best[name], 3),
             seconds=round(best[name], 3), image=args.image, window=plan.window, tile=plan.tile,
             overlap=round(overlap, 3), device=args.device)
    return best["monai"] / best["ours"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="MONAI DataLoader workers")
    ap.add_argument("--image", type=int, default=2048, help="side of the prediction image")
    ap.add_argument("--tile", type=int, default=256)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    emit(figure="setup", device=args.device, threads=torch.get_num_threads(),
         cuda=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
         torch=torch.__version__, depth=args.depth, width=args.width, batch=args.batch,
         patch=args.patch)

    image, painted = make_data()
    trainer = ours_trainer(args, image, painted)
    _, monai_step = monai_pipeline(args, image, painted)
    for _ in range(args.warmup):
        trainer.train_step()
        monai_step()
    times = {"ours": [], "monai": []}
    for r in range(args.rounds):
        order = ("ours", "monai") if r % 2 == 0 else ("monai", "ours")
        for name in order:
            if name == "ours":
                times[name].append(time_ours(trainer, args.steps))
            else:
                times[name].append(time_monai(monai_step, args.steps, device))
    px = args.batch * args.patch**2
    best = {k: min(v) for k, v in times.items()}
    for name in ("ours", "monai"):
        emit(figure="train", side=name, patches_per_s=round(args.steps * args.batch / best[name], 2),
             megapixels_per_s=round(args.steps * px / best[name] / 1e6, 3),
             seconds_per_step=round(best[name] / args.steps, 4),
             all_rounds_s=[round(t, 3) for t in times[name]])
    train_speedup = best["monai"] / best["ours"]
    predict_speedup = time_predict(args, trainer.bundle())
    emit(figure="summary", train_speedup_vs_monai=round(train_speedup, 3),
         predict_speedup_vs_monai=round(predict_speedup, 3), device=args.device)


if __name__ == "__main__":
    main()
