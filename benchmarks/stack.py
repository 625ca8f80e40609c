"""Z-stacks with a 2-D starter, and where a 3-D U-Net's prediction time goes (issue 22).

    python benchmarks/stack.py                       # (40, 1024, 1024) with the nuclei starter
    python benchmarks/stack.py --shape 4 256 256 --threads 1
    python benchmarks/stack.py --plan3d              # the 3-D tile plan of a (5, 1024, 1024) stack

Default: a synthetic nuclei stack of ``--shape`` (uint8, made in memory) is predicted plane by
plane with the starter through the one prediction route (objects, stitched over Z) and one
JSON line says the seconds, megavoxels per second, peak resident memory (``ru_maxrss``), the
objects found with and without stitching and their 3-D object F1 at IoU 0.5 against the known
spheres (``core.metrics.match_instances``), and ``/proc/loadavg`` before and after.

``--plan3d``: the tile plan :func:`~napari_unet.core.inference.predict3d.plan_tiles3d` makes
for a default 3-D U-Net over ``--shape`` (tile, context, window, number of windows, voxels
computed per voxel of the stack), and with ``--time`` one forward pass of one window.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time

import numpy as np


def _loadavg():
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=3, default=None, metavar=("Z", "Y", "X"))
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--plan3d", action="store_true", help="the 3-D tile plan instead")
    p.add_argument("--anisotropy", type=int, default=1, help="--plan3d: the 3-D model's")
    p.add_argument("--time", action="store_true", help="--plan3d: time one window's forward")
    return p.parse_args(argv)


def stack_of_nuclei(shape, seed=0):
    """A (Z, Y, X) uint8 stack of synthetic nuclei (ellipsoids, z half as long: blurred in
    plane, noisy) and its (Z, Y, X) object ids (the known 3-D objects)."""
    from scipy import ndimage

    z, h, w = shape
    rng = np.random.default_rng(seed)
    n = max(1, int(h * w / 2500))
    vol = np.zeros(shape, np.float32)
    truth = np.zeros(shape, np.uint32)
    zz = np.arange(z)[:, None, None]
    for k, (cz, cy, cx, r) in enumerate(zip(rng.uniform(0, z, n), rng.uniform(0, h, n), rng.uniform(0, w, n),
                             rng.uniform(6, 12, n)), 1):
        y0, y1, x0, x1 = int(max(0, cy - r)), int(min(h, cy + r + 1)), int(max(0, cx - r)), \
            int(min(w, cx + r + 1))
        yy, xx = np.mgrid[y0:y1, x0:x1]
        inside = (zz - cz) ** 2 * 4 + (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        vol[:, y0:y1, x0:x1] = np.maximum(vol[:, y0:y1, x0:x1], inside)
        truth[:, y0:y1, x0:x1][inside & (truth[:, y0:y1, x0:x1] == 0)] = k
    vol = ndimage.gaussian_filter(vol, (0, 1.5, 1.5)) + rng.normal(0, 0.08, shape)
    return (vol.clip(0, 1) * 255).astype(np.uint8), truth


def predict_stack(shape, threads):
    import torch

    import napari_unet

    if threads:
        torch.set_num_threads(threads)
    from napari_unet.core.metrics import match_instances

    stack, truth = stack_of_nuclei(shape)
    model = napari_unet.load("nuclei")
    before = _loadavg()
    t0 = time.perf_counter()
    seg = model.segment(stack, progress=False)
    seconds = time.perf_counter() - t0
    flat = model.segment(stack, stitch=False, progress=False).objects
    return {
        "shape": list(shape), "axes": seg.axes, "seconds": round(seconds, 2),
        "megavoxels_per_s": round(math.prod(shape) / 1e6 / seconds, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "objects_stitched": int(len(np.unique(seg.objects)) - 1),
        "objects_per_plane": int(len(np.unique(flat)) - 1),
        "true_objects": int(len(np.unique(truth)) - 1),
        "f1_at_0.5_stitched": round(match_instances(seg.objects, truth, (0.5,))[0].f1, 3),
        "f1_at_0.5_per_plane": round(match_instances(flat, truth, (0.5,))[0].f1, 3),
        "threads": torch.get_num_threads(), "loadavg_before": before, "loadavg_after": _loadavg(),
    }


def plan3d(shape, anisotropy, timed, threads):
    import torch

    from napari_unet.core.config import ModelConfig, PredictConfig
    from napari_unet.core.inference.predict3d import MAX_BATCH_VOXELS, plan_tiles3d
    from napari_unet.core.networks.model3d import UNet3D

    if threads:
        torch.set_num_threads(threads)
    model = UNet3D(ModelConfig(spatial_dims=3, anisotropy=anisotropy)).eval()
    plan = plan_tiles3d(model, shape, PredictConfig())
    n, window = len(plan.origins()), math.prod(plan.window)
    out = {"shape": list(shape), "anisotropy": anisotropy, "tile": plan.tile,
           "context": plan.context, "window": plan.window, "windows": n,
           "windows_per_batch": max(1, min(PredictConfig().batch_size,
                                           MAX_BATCH_VOXELS // window)),
           "computed_per_stack_voxel": round(n * window / math.prod(shape), 1)}
    if timed:
        x = torch.zeros((1, 1) + plan.window)
        with torch.inference_mode():
            model(x)
            t0 = time.perf_counter()
            model(x)
        out["seconds_per_window"] = round(time.perf_counter() - t0, 2)
        out["estimated_seconds"] = round(out["seconds_per_window"] * n)
        out["loadavg"] = _loadavg()
    return out


def main(argv=None):
    args = parse_args(argv)
    if args.plan3d:
        result = plan3d(tuple(args.shape or (5, 1024, 1024)), args.anisotropy, args.time,
                        args.threads)
    else:
        result = predict_stack(tuple(args.shape or (40, 1024, 1024)), args.threads)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
