"""Longest event-loop stall of the viewer during a live-mode session.

Opens napari (a shown window), a synthetic nuclei image with a few painted strokes, docks
'Train U-Net', turns Live on (default settings: on a CPU the smaller live U-Net) with
'Show where to paint next', adds a new stroke every few seconds the way painting does
(``Labels.paint``), and measures with a 10 ms QTimer the longest gap between its ticks
while live. The gaps are split into: before the first prediction of the view is shown
(making the result layers the first time), and afterwards (steady live painting). Also
times the GUI-thread work of live mode itself (posting copies, writing frames).

Then three more measurements of the longest GUI-thread stall (the same 10 ms heartbeat):

* ``live_start``: from the click on Live until the first prediction of the view is shown;
* ``writing_predictions``: the whole-image prediction written after live mode ends, and a
  Predict-dock prediction with 'Also split into objects' (its objects and their table);
* ``objects_controls``: moving the predict dock's Objects controls (minimum size, split
  touching, fill holes) and waiting until the objects and the table follow.

Run under a display; headless::

    xvfb-run -a -s "-screen 0 1600x1200x24" python benchmarks/live_stall.py --seconds 30
    xvfb-run -a -s "-screen 0 1600x1200x24" python benchmarks/live_stall.py --size 1024

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="live session length")
    ap.add_argument("--size", type=int, default=512, help="image side in px")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--every", type=float, default=3.0, help="seconds between new strokes")
    ap.add_argument("--no-paint-next", action="store_true",
                    help="without 'Show where to paint next' (no uncertainty layers)")
    ap.add_argument("--verbose", action="store_true", help="also print the long gaps")
    args = ap.parse_args(argv)

    os.environ.setdefault("NAPARI_APPLICATION_GUI_NOTIFICATION_LEVEL", "error")
    import napari
    import numpy as np
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_unet.synthetic import nuclei, simulate_painting

    load_start = round(os.getloadavg()[0], 2)
    image, truth = nuclei((args.size, args.size), n=max(10, args.size // 12), seed=3)
    painted = simulate_painting(truth, n_objects=5, n_background_strokes=4, seed=0)
    viewer = napari.Viewer(title="napari-unet live")
    viewer.window.resize(1400, 1000)
    viewer.add_image(image, name="nuclei")
    lab = viewer.add_labels(painted.copy(), name="nuclei annotations")
    _, widget = viewer.window.add_plugin_dock_widget("napari-stroke-unet", "Train U-Net")
    widget.settings.device.setCurrentText(args.device)
    widget.paint_next.setChecked(not args.no_paint_next)
    app = QApplication.instance()
    app.processEvents()
    viewer.camera.zoom *= 1.5  # part of the image in view

    gui = {"tick": [], "write": []}
    for name, key in (("_tick", "tick"), ("_write", "write")):
        original = getattr(widget.live, name)

        def timed(*a, _f=original, _k=key):
            t0 = time.perf_counter()
            out = _f(*a)
            gui[_k].append(time.perf_counter() - t0)
            if _k == "write":
                log.append((round(t0 - start, 2), round(gui[_k][-1], 3), "write"))
            return out

        setattr(widget.live, name, timed)  # live mode's timer, made at Live, calls it

    gaps = {"before_first_frame": 0.0, "live": 0.0, "writing_predictions": 0.0,
            "objects_controls": 0.0, "setup": 0.0}
    last = [time.perf_counter(), "before_first_frame"]
    phase = [None]  # set after live mode: the phase a gap counts in
    log = []

    def probe():
        now = time.perf_counter()
        gaps[last[1]] = max(gaps[last[1]], now - last[0])
        if now - last[0] > 0.1:
            log.append((round(last[0] - start, 2), round(now - last[0], 3), last[1]))
        last[0] = now
        # a gap counts as live once the result layers exist (after the first frame)
        last[1] = phase[0] or ("live" if widget.live.frames >= 1 else "before_first_frame")

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(probe)

    rng = np.random.default_rng(0)
    ys, xs = np.nonzero(truth > 0)

    def dab():
        i = rng.integers(len(ys))  # a short foreground dab, as a brush would
        lab.brush_size = 6
        lab.paint((ys[i], xs[i]), 2, refresh=True)

    # baseline: the same dabs with live mode off (napari's own redraw after a stroke)
    base = {"gap": 0.0}
    t_last = [time.perf_counter()]

    def base_probe():
        now = time.perf_counter()
        base["gap"] = max(base["gap"], now - t_last[0])
        t_last[0] = now

    base_timer = QTimer()
    base_timer.setInterval(10)
    base_timer.timeout.connect(base_probe)
    for _ in range(20):  # settle the first draw
        app.processEvents()
        time.sleep(0.05)
    t_last[0] = time.perf_counter()
    base_timer.start()
    for _ in range(4):
        end = time.perf_counter() + 1.0
        dab()
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)
    base_timer.stop()
    start = time.perf_counter()
    last[0] = time.perf_counter()
    timer.start()
    widget.set_live(True)  # the click (makes the result layers) counts before the first frame
    next_stroke = start + args.every
    while time.perf_counter() - start < args.seconds:
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() >= next_stroke:
            next_stroke += args.every
            t0 = time.perf_counter()
            dab()
            log.append((round(t0 - start, 2), round(time.perf_counter() - t0, 3), "paint"))
    steps = widget.live.trainer.step if widget.live.trainer is not None else 0
    t_stop = time.perf_counter()
    widget.set_live(False)
    while widget.live.running:
        app.processEvents()
        time.sleep(0.002)
    stop_s = time.perf_counter() - t_stop
    phase[0] = "writing_predictions"
    while widget.busy:  # the whole-image prediction after live mode
        app.processEvents()
        time.sleep(0.01)
    pump(app, 1.0)
    phase[0] = "setup"  # docking the predict widget is not measured

    # a Predict-dock prediction with objects: writing it, its objects and their table
    _, pw = viewer.window.add_plugin_dock_widget("napari-stroke-unet", "Predict with U-Net")
    pump(app, 1.0)
    phase[0] = "writing_predictions"
    last[0] = time.perf_counter()
    pw.image.value = viewer.layers["nuclei"]
    pw.objects.setChecked(True)
    pw.predict()
    panel = pw.objects_panel
    settle(app, lambda: pw.busy or getattr(panel, "busy", False))
    n_objects = len(panel.table_data["label"]) if panel.table_data is not None else None

    # the Objects controls, one change at a time, each until the table follows
    phase[0] = "objects_controls"
    last[0] = time.perf_counter()
    changes = [(panel.min_size.setValue, 30), (panel.min_size.setValue, 80),
               (panel.split.setValue, 2.0), (panel.fill_holes.setChecked, True),
               (panel.split.setValue, 0.0), (panel.min_size.setValue, 0),
               (panel.fill_holes.setChecked, False)]
    for change, value in changes:
        change(value)
        settle(app, lambda: getattr(panel, "busy", False) or panel.ctl.pending)
    timer.stop()
    out = {
        "seconds": args.seconds,
        "size": args.size,
        "device": args.device,
        "paint_next": not args.no_paint_next,
        "load_average_start": load_start,
        "load_average": round(os.getloadavg()[0], 2),
        "steps": steps,
        "frames": widget.live.frames,
        "picked_up": widget.live.picked,
        "baseline_longest_stall_ms_painting_without_live": round(base["gap"] * 1000, 1),
        "longest_stall_ms_live_start": round(gaps["before_first_frame"] * 1000, 1),
        "longest_stall_ms_live": round(gaps["live"] * 1000, 1),
        "longest_stall_ms_writing_predictions": round(gaps["writing_predictions"] * 1000, 1),
        "longest_stall_ms_objects_controls": round(gaps["objects_controls"] * 1000, 1),
        "objects": n_objects,
        "gui_tick_ms_max": round(max(gui["tick"], default=0) * 1000, 1),
        "gui_write_ms_max": round(max(gui["write"], default=0) * 1000, 1),
        "gui_write_ms_median": round(float(np.median(gui["write"] or [0])) * 1000, 1),
        "stop_seconds": round(stop_s, 2),
    }
    print(json.dumps(out))
    if args.verbose:
        print(sorted(log))
    viewer.close()
    return out


def pump(app, seconds: float) -> None:
    """Let the event loop run for ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)


def settle(app, busy, quiet: float = 1.0, timeout: float = 600.0) -> None:
    """Run the event loop until ``busy()`` has been false for ``quiet`` seconds."""
    end = time.perf_counter() + timeout
    calm = None
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)
        if busy():
            calm = None
        elif calm is None:
            calm = time.perf_counter()
        elif time.perf_counter() - calm >= quiet:
            return


if __name__ == "__main__":
    main()
