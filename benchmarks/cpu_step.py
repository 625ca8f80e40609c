"""Seconds per training step on this machine: memory layout x precision, and threads.

    python benchmarks/cpu_step.py layouts [--depth 3] [--width 16] [--patch 128]
    python benchmarks/cpu_step.py threads --threads 1 [--patch 64]

``layouts`` times a bare forward/backward/AdamW step of the U-Net on random data in NCHW and
channels-last, fp32 and bf16 autocast. ``threads`` times the core's ``Trainer.train_step`` (the
real step: sampling, augmentation, loss) with ``torch.set_num_threads(N)``; run it while
another process keeps a core busy to see the cost of oversubscription.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F


def layouts(args):
    from napari_unet.core.config import ModelConfig
    from napari_unet.core.networks.model import UNet

    def run(channels_last, bf16, steps=6):
        torch.manual_seed(0)
        m = UNet(ModelConfig(depth=args.depth, base_width=args.width))
        opt = torch.optim.AdamW(m.parameters(), 1e-3)
        x = torch.randn(8, 1, args.patch, args.patch)
        y = torch.randint(0, 2, (8, args.patch, args.patch))
        if channels_last:
            m = m.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = m(x)
            loss = F.cross_entropy(out.float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        step(), step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - t) / steps

    for cl in (False, True):
        for bf in (False, True):
            print(f"channels_last={cl} bf16={bf}: {run(cl, bf):.3f} s/step", flush=True)


def threads(args):
    from napari_unet.core.config import TrainConfig
    from napari_unet.core.training.train import Trainer
    from napari_unet.synthetic import nuclei, simulate_painting

    torch.set_num_threads(args.threads)
    img, inst = nuclei((256, 256), n=30, seed=1)
    paint = simulate_painting(inst, 8, 5, seed=0)
    tr = Trainer([img[None]], [paint], config=TrainConfig(steps=100, seconds=None, patch_size=args.patch))
    for _ in range(3):
        tr.train_step()
    t = time.perf_counter()
    for _ in range(30):
        tr.train_step()
    print(f"threads={args.threads} patch={args.patch}: {(time.perf_counter() - t) / 30:.4f} s/step")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["layouts", "threads"])
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    (layouts if args.what == "layouts" else threads)(args)


if __name__ == "__main__":
    main()
