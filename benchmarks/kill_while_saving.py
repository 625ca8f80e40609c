"""SIGKILL a process at random moments while it saves a model; the file must stay loadable.

One process imports napari-unet once and, for every trial, forks a child that saves two
different models over the same path in a loop (``save_bundle``: temporary file, fsync,
rename). After a random delay the child gets SIGKILL (no cleanup, no ``finally``). The file
at the path must then load, and be exactly one of the two models. Prints one JSON line:
trials, how many left a loadable file, how many were killed in the middle of a save, and the
temporary files left behind (harmless: hidden, never read).

    python benchmarks/kill_while_saving.py --trials 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path


def _bundles():
    import torch

    from napari_unet.core.config import ModelConfig, NormConfig
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.networks.model import UNet

    out = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        cfg = ModelConfig()  # the default model: about 2 MB on disk
        out.append(Bundle(cfg, NormConfig(), dict(UNet(cfg).state_dict()), info={"seed": seed}))
    return out


_IN_PLACE_BYTES: dict[int, bytes] = {}


def _save_in_place(bundle, path) -> None:
    """The naive way (the control): overwrite the file where it is, on a slow disk.

    The bytes are made once per model, and each 64 KB block takes a millisecond to write (as on
    a network share), so most of a save is spent with the file half written. Without that the
    window is a few microseconds on a fast disk and random kills can miss it in every trial.
    """
    from napari_unet.core.files.bundle import save_bundle

    key = id(bundle)
    if key not in _IN_PLACE_BYTES:
        tmp = Path(str(path) + ".naive")
        save_bundle(bundle, tmp)
        _IN_PLACE_BYTES[key] = tmp.read_bytes()
        tmp.unlink()
    data = _IN_PLACE_BYTES[key]
    with open(path, "wb") as fh:
        for i in range(0, len(data), 1 << 16):
            fh.write(data[i : i + (1 << 16)])
            fh.flush()
            time.sleep(0.001)
        os.fsync(fh.fileno())


def run(trials: int, seed: int = 0, workdir: str | None = None, naive: bool = False) -> dict:
    import torch

    from napari_unet.core.files.bundle import load_bundle
    from napari_unet.core.files.bundle import save_bundle as atomic_save

    save_bundle = _save_in_place if naive else atomic_save

    torch.set_num_threads(1)
    rng = random.Random(seed)
    bundles = _bundles()
    folder = Path(workdir or tempfile.mkdtemp(prefix="kill-save-"))
    path = folder / "model.unet"
    atomic_save(bundles[0], path)
    t0 = time.perf_counter()
    for i in range(6):  # both models, so the control's bytes are made before any fork
        save_bundle(bundles[i % 2], path)
    save_s = (time.perf_counter() - t0) / 6

    loadable = mid_save = 0
    failures = []
    for trial in range(trials):
        marker = folder / "saving"
        pid = os.fork()
        if pid == 0:  # child: save forever, alternating models; mark when inside a save
            try:
                i = 0
                while True:
                    marker.write_text("1")
                    save_bundle(bundles[i % 2], path)
                    marker.write_text("0")
                    i += 1
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 4 * save_s))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        try:
            mid_save += marker.read_text() == "1"
        except FileNotFoundError:
            pass
        try:
            got = load_bundle(path)
            if got.info.get("seed") not in (0, 1):
                raise ValueError(f"unexpected provenance {got.info}")
            want = bundles[got.info["seed"]].state_dict
            if not all(torch.equal(want[k], v) for k, v in got.state_dict.items()):
                raise ValueError("weights differ from the model that was saved")
            loadable += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            failures.append(f"trial {trial}: {e}")
    leftovers = len(list(folder.glob(".model.unet.*.tmp")))
    return {
        "benchmark": "kill_while_saving",
        "saving": "in place (control)" if naive else "save_bundle",
        "trials": trials,
        "loadable_after_kill": loadable,
        "killed_mid_save": mid_save,
        "save_seconds": round(save_s, 4),
        "temporary_files_left": leftovers,
        "failures": failures[:5],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--naive", action="store_true",
                    help="control: overwrite the file in place instead (must lose files)")
    args = ap.parse_args(argv)
    if not hasattr(os, "fork"):
        print("needs os.fork (Linux/macOS)", file=sys.stderr)
        return 2
    result = run(args.trials, args.seed, args.workdir, args.naive)
    print(json.dumps(result))
    return 0 if result["loadable_after_kill"] == result["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
