"""Training and prediction throughput: our core against references built from MONAI parts.

    python benchmarks/speed.py [--device cpu|cuda] [--reference both|tuned|plain] [--depth 4]
                               [--width 16] [--batch 8] [--patch 128] [--steps 20] [--rounds 3]
                               [--image 2048] [--tile N] [--compare-tile 256] [--threads N]
    python benchmarks/speed.py --threads 1 --depth 3 --scan-windows 368x4,960x1,1656x1
    python benchmarks/speed.py --threads 1 --depth 3 --scan-backends 800

Both sides use the same model size, patch size, batch, device and torch threads (one process),
and run alternately (the order rotates every round) so drift of the machine cancels. The
references are what a user would assemble: MONAI's BasicUNet of the same widths (batch norm,
ReLU, transposed convolutions, like ours), Rand2DElasticd + RandFlipd + RandRotate90d in a
DataLoader with worker processes (one loader shared by both references), a plain training
loop; and sliding_window_inference over BasicUNet for prediction.

* ``tuned`` (issue 17): the reference given the same precision and memory format as ours:
  bf16 autocast wherever ours uses it (``device.autocast_dtype``: CUDA, and CPUs with native
  bf16), channels-last model and inputs where ours uses them.
* ``plain`` (issue 5): a reference as a user writes it first: full precision on the CPU (bf16
  autocast on a GPU), default memory format.

The references predict in the windows of 256 px output tiles (``--compare-tile``) with the
overlap that gives the same context as ours; ``monai_tuned_our_window`` also runs the tuned
reference in our planned window, which shows how much of the lead is tile planning.
``ours_tile<N>`` is our prediction with the old fixed tile. Prints one JSON line per figure
(each with ``loadavg``, ``/proc/loadavg`` when it was measured), ending with the summary.
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


def loadavg() -> str | None:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:  # not Linux
        return None


def emit(**record):
    print(json.dumps({**record, "loadavg": loadavg()}), flush=True)


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


def monai_loader(args, image, painted):
    """The reference's data: random crops, MONAI's augmentation, a DataLoader with workers."""
    from monai.transforms import Compose, Rand2DElasticd, RandFlipd, RandRotate90d

    from napari_unet.core.config import NormConfig
    from napari_unet.core.normalize import normalize

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
    return iter(torch.utils.data.DataLoader(
        ds, batch_size=args.batch, num_workers=args.workers,
        pin_memory=args.device.startswith("cuda"), persistent_workers=args.workers > 0,
    ))


def basic_unet(args, device):
    """MONAI's BasicUNet of our widths (depth 4 only)."""
    from monai.networks.nets import BasicUNet

    w = args.width
    if args.depth != 4:
        raise SystemExit("MONAI's BasicUNet has depth 4: run with --depth 4")
    return BasicUNet(spatial_dims=2, in_channels=1, out_channels=2,
                     features=(w, 2 * w, 4 * w, 8 * w, 16 * w, w),
                     act="relu", norm="batch", upsample="deconv").to(device)


def reference_settings(device, tuned: bool):
    """(autocast dtype or None, memory format) of a reference."""
    from napari_unet.core.device import autocast_dtype, prefers_channels_last

    if tuned:  # as ours: the same function decides
        fmt = torch.channels_last if prefers_channels_last(device) else torch.contiguous_format
        return autocast_dtype(device), fmt
    return (torch.bfloat16 if device.type == "cuda" else None), torch.contiguous_format


def monai_pipeline(args, batches, tuned: bool):
    """One training step of the reference, ``tuned`` or plain, on ``batches``."""
    device = torch.device(args.device)
    amp, fmt = reference_settings(device, tuned)
    model = basic_unet(args, device).to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        batch = next(batches)
        x = torch.as_tensor(batch["image"]).to(device, non_blocking=True)
        x = x.contiguous(memory_format=fmt)
        y = torch.as_tensor(batch["label"])[:, 0].long().to(device, non_blocking=True) - 1
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, ignore_index=-1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return model, step


# -- prediction --------------------------------------------------------------------------
def _timed(device, fn, cpu_times=None) -> float:
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    _sync(device)
    if cpu_times is not None:
        cpu_times.append(time.process_time() - c0)
    return time.perf_counter() - t0


def interleaved(sides: dict, rounds: int, device, cpu: dict | None = None) -> dict:
    """Seconds per call of every side, ``rounds`` times, the order rotating each round;
    ``cpu`` (if given) gets this process's CPU seconds per call (a figure that time-sharing
    with other programs hardly changes with ``--threads 1``; worker processes not counted)."""
    names = list(sides)
    times = {n: [] for n in names}
    for name in names:
        if cpu is not None:
            cpu[name] = []
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(_timed(device, sides[name], None if cpu is None else cpu[name]))
    return times


def time_predict(args, bundle, references) -> dict:
    """Prediction MP/s of ours (planned tiles, and the old fixed tile) and of the references."""
    from monai.inferers import sliding_window_inference

    from napari_unet.core.config import PredictConfig
    from napari_unet.core.inference.predict import predict_image
    from napari_unet.core.inference.tiles import plan_tiles
    from napari_unet.core.normalize import normalize

    device = torch.device(args.device)
    rng = np.random.default_rng(1)
    big = rng.random((1, args.image, args.image), dtype=np.float32)
    cfg = PredictConfig(tile_size=args.tile, batch_size=4, device=args.device)
    model = bundle.build_model(device)
    plan = plan_tiles(model, args.image, args.image, cfg)
    old_cfg = PredictConfig(tile_size=args.compare_tile or 256, batch_size=4, device=args.device)
    old = plan_tiles(model, args.image, args.image, old_cfg)
    plans = {"ours": plan}
    sides = {"ours": lambda: predict_image(big, bundle, cfg, model=model, probabilities=True)}
    if args.compare_tile and old.tile != plan.tile:
        name = f"ours_tile{args.compare_tile}"
        plans[name] = old
        sides[name] = lambda: predict_image(big, bundle, old_cfg, model=model, probabilities=True)

    def reference(tuned: bool, window_plan):
        amp, fmt = reference_settings(device, tuned)
        net = basic_unet(args, device).to(memory_format=fmt).eval()
        overlap = 2 * window_plan.context / window_plan.window

        @torch.inference_mode()
        def run():
            x = torch.from_numpy(normalize(big, bundle.norm))[None].to(device)

            def forward(t):
                return torch.softmax(net(t.contiguous(memory_format=fmt)).float(), 1)

            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                probs = sliding_window_inference(x, window_plan.window, 4, forward,
                                                 overlap=overlap, mode="constant",
                                                 padding_mode="reflect")
            probs.argmax(1).cpu().numpy()

        return run

    for kind in references:
        plans[f"monai_{kind}"] = old
        sides[f"monai_{kind}"] = reference(kind == "tuned", old)
    if "tuned" in references and plan.window != old.window:
        plans["monai_tuned_our_window"] = plan
        sides["monai_tuned_our_window"] = reference(True, plan)
    for fn in sides.values():  # warm-up
        fn()
    cpu = {}
    times = interleaved(sides, args.rounds, device, cpu)
    mpx = args.image**2 / 1e6
    best = {k: min(v) for k, v in times.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    for name, p in plans.items():
        emit(figure="predict", side=name, megapixels_per_s=round(mpx / best[name], 3),
             megapixels_per_cpu_s=round(mpx / best_cpu[name], 3),
             seconds=round(best[name], 3), all_rounds_s=[round(t, 3) for t in times[name]],
             image=args.image, window=p.window, tile=p.tile, tiles=p.count,
             overhead=round(p.overhead, 3), overlap=round(2 * p.context / p.window, 3),
             device=args.device)
    ratios = {name: best[name] / best["ours"] for name in best if name != "ours"}
    if device.type == "cpu":
        ratios.update({f"{name}_cpu_time": best_cpu[name] / best_cpu["ours"]
                       for name in best if name != "ours"})
    return ratios


def scan_windows(args, spec: str) -> None:
    """Computed MP per CPU-second of our network alone for each ``SIDExBATCH`` window."""
    from napari_unet.core.config import ModelConfig
    from napari_unet.core.device import autocast_dtype
    from napari_unet.core.networks.model import UNet

    device = torch.device(args.device)
    amp = autocast_dtype(device)
    net = UNet(ModelConfig(depth=args.depth, base_width=args.width)).eval().to(
        device, memory_format=torch.channels_last)
    cases = [tuple(int(v) for v in item.split("x")) for item in spec.split(",")]
    xs = {c: torch.rand(c[1], 1, c[0], c[0], device=device).contiguous(
        memory_format=torch.channels_last) for c in cases}

    @torch.inference_mode()
    def run(x):
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            net(x)

    sides = {c: (lambda x=xs[c]: run(x)) for c in cases}
    for fn in sides.values():
        fn()
    cpu = {}
    times = interleaved(sides, args.rounds, device, cpu)
    for (side, batch) in cases:
        px = batch * side * side / 1e6
        emit(figure="window", window=side, batch=batch, depth=args.depth, width=args.width,
             computed_megapixels_per_s=round(px / min(times[(side, batch)]), 3),
             computed_megapixels_per_cpu_s=round(px / min(cpu[(side, batch)]), 3))


def scan_backends(args, window: int) -> None:
    """Computed MP per CPU-second of each prediction backend on one window, bf16 and fp32."""
    from napari_unet.core.config import ModelConfig, NormConfig
    from napari_unet.core.device import autocast_dtype
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.inference import backends
    from napari_unet.core.networks.model import UNet

    device = torch.device(args.device)
    cfg = ModelConfig(depth=args.depth, base_width=args.width)
    bundle = Bundle(cfg, NormConfig(), UNet(cfg).state_dict())
    model = bundle.build_model(device)
    x = np.random.default_rng(0).random((1, 1, window, window), dtype=np.float32)
    sides = {}
    for amp in {autocast_dtype(device), None}:
        for name in ("torch", "compile", "onnxruntime"):
            if name == "onnxruntime" and (amp is not None or not backends.onnx_available()):
                continue
            t0 = time.perf_counter()
            run = backends.runner(name, model, device, amp, bundle=bundle, threads=args.threads)
            run(x)  # built: exported (ONNX) or compiled (on this first call)
            key = f"{name}_{'bf16' if amp is not None else 'fp32'}"
            emit(figure="backend_build", backend=key, seconds=round(time.perf_counter() - t0, 1))
            sides[key] = lambda run=run: run(x)
    cpu = {}
    times = interleaved(sides, args.rounds, device, cpu)
    px = window * window / 1e6
    for key in sides:
        emit(figure="backend", backend=key, window=window, depth=args.depth, width=args.width,
             computed_megapixels_per_s=round(px / min(times[key]), 3),
             computed_megapixels_per_cpu_s=round(px / min(cpu[key]), 3))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reference", choices=["both", "tuned", "plain"], default="both",
                    help="MONAI reference(s): tuned (our precision and memory format), plain")
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="MONAI DataLoader workers")
    ap.add_argument("--image", type=int, default=2048, help="side of the prediction image")
    ap.add_argument("--tile", type=int, default=None,
                    help="our output tile (default: planned from the memory budget)")
    ap.add_argument("--compare-tile", type=int, default=256,
                    help="the fixed tile of the references and of ours_tile<N> (0: no ours_tile "
                         "row; the references keep 256)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads, all sides")
    ap.add_argument("--skip-train", action="store_true", help="prediction only")
    ap.add_argument("--scan-windows", default=None, metavar="SIDExBATCH,...",
                    help="only time our network per window size, e.g. 480x4,960x1,1656x1")
    ap.add_argument("--scan-backends", type=int, default=None, metavar="WINDOW",
                    help="only time the prediction backends on one window of this side")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.scan_windows or args.scan_backends:
        if args.scan_windows:
            scan_windows(args, args.scan_windows)
        if args.scan_backends:
            scan_backends(args, args.scan_backends)
        return {}
    references = ["tuned", "plain"] if args.reference == "both" else [args.reference]
    device = torch.device(args.device)
    emit(figure="setup", device=args.device, threads=torch.get_num_threads(),
         cuda=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
         torch=torch.__version__, depth=args.depth, width=args.width, batch=args.batch,
         patch=args.patch, references=references)

    image, painted = make_data()
    trainer = ours_trainer(args, image, painted)
    summary = {}
    if not args.skip_train:
        batches = monai_loader(args, image, painted)
        steps = {"ours": trainer.train_step}
        for kind in references:
            steps[f"monai_{kind}"] = monai_pipeline(args, batches, kind == "tuned")[1]
        for _ in range(args.warmup):
            for step in steps.values():
                step()
        sides = {name: (lambda step=step: float(_steps(step, args.steps)))
                 for name, step in steps.items()}
        times = interleaved(sides, args.rounds, device)
        px = args.batch * args.patch**2
        best = {k: min(v) for k, v in times.items()}
        for name in steps:
            emit(figure="train", side=name,
                 patches_per_s=round(args.steps * args.batch / best[name], 2),
                 megapixels_per_s=round(args.steps * px / best[name] / 1e6, 3),
                 seconds_per_step=round(best[name] / args.steps, 4),
                 all_rounds_s=[round(t, 3) for t in times[name]])
        for kind in references:
            summary[f"train_speedup_vs_monai_{kind}"] = round(best[f"monai_{kind}"] / best["ours"], 3)
    for name, ratio in time_predict(args, trainer.bundle(), references).items():
        key = f"predict_speedup_vs_{name}" if name.startswith("monai") else f"predict_gain_over_{name}"
        summary[key] = round(ratio, 3)
    emit(figure="summary", **summary, device=args.device)
    return summary


def _steps(step, n):
    for _ in range(n):
        loss = step()
    return loss  # float() of it waits for the device


if __name__ == "__main__":
    main()
