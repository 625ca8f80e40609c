"""The train dock's live mode controls: Live on and off, its progress and its end.

A mixin of :class:`~.train_widget.TrainWidget`; the work itself is :class:`~.live.LiveMode`.
Live waits for the same painting checks as Train, Stop ends it too, it is off while Train
runs, and a smaller U-Net it trains on the CPU does not become the settings' size.
"""

from __future__ import annotations

from napari.utils.notifications import show_info

from napari_unet.core.config import ModelConfig

from ..common.tasks import quit_with
from .live import LIVE_CPU_MODEL
from .train_settings import LIVE_SMALL


class LiveControls:
    """Methods of the train dock; see the module docstring."""

    def set_live(self, on: bool):
        """Turn live mode on (returns its worker, or None if it cannot start) or off (stops
        after the running step; the model is kept and predicted as after training)."""
        if not on:
            if self.live.running:
                self.live.stop()
                self.live_button.setEnabled(False)
                self.ctl.say("Live: stopping…")
            return None
        if not self.ctl.free_to_start():
            self.live_button.setChecked(self.live.running)
            return None
        if self.settings.is_3d():
            self.say_error("Live mode is 2-D only: untick '3-D U-Net' under Advanced "
                           "settings, or use Train for a 3-D U-Net")
            self.live_button.setChecked(False)
            return None
        prepared = self._prepare()
        if prepared is None:
            self.live_button.setChecked(False)
            return None
        pairs, images, labels, model, config, request, names = prepared
        if self.ctl.advised_against(labels, config.targets.mode) or (
                config.targets.mode == "instance" and self.ctl.unpainted(pairs, images, labels, config)):
            self.live_button.setChecked(False)
            return None
        self.warmup.stop()  # live mode starts at once: the two would share the CPU
        from napari_unet.core.device import resolve_device

        try:
            device = resolve_device(config.runtime.device)
        except RuntimeError as e:
            self.say_error(f"Cannot train: {e}")
            self.live_button.setChecked(False)
            return None
        default = ModelConfig()
        small = (device.type == "cpu"
                 and (model.depth, model.base_width) == (default.depth, default.base_width))
        if small:  # used only if training starts from scratch
            model = ModelConfig(**LIVE_CPU_MODEL)
        self._live_small = small
        self.plot.clear()
        self.live.set_uncertainty(self.paint_next.isChecked())
        worker = self.live.start(pairs, images, labels, model, config, request, names,
                                 device.type)
        quit_with(self, worker)
        self.live_button.setChecked(True)
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)  # Stop ends live mode too
        self.ctl.say("Live: preparing… paint on, the prediction follows." if request.quiet
                            else "Live: trying the starting models on your painting…")
        return worker

    def _on_live_choice(self, choice) -> None:
        self.ctl.say_choice(choice, live=True)
        if not self.live.stopping:
            small = self._live_small and choice.bundle is None
            size = " (a smaller U-Net on the CPU)" if small else ""
            said = f"{self.ctl.note} " if not self.ctl.request.quiet else ""
            self.ctl.say(f"Live: {said}Preparing{size}… paint on, the prediction follows.")

    def _on_live_progress(self, item) -> None:
        if item.loss is not None:
            self.plot.add(item.done, item.loss)
        if not self.live.stopping:
            loss = f" · loss {self.plot.points[-1][1]:.3f}" if self.plot.points else ""
            self.ctl.say(
                f"Live · step {item.done}{loss} · view predicted {self.live.frames}× · "
                f"new painting picked up {self.live.picked}×"
            )

    def _on_live_note(self, text: str) -> None:
        show_info(text)

    def _on_live_finished(self, bundle, trainer) -> None:
        self.live_button.setChecked(False)
        self._enable_start()
        self.stop_button.setEnabled(False)
        if trainer is not None:
            self.ctl.last_run = {"steps": trainer.step, "seconds": trainer.elapsed,
                             "stopped": True, "device": trainer.device.type}
        if bundle is None or self._closed:
            if not self._closed:
                self.ctl.say("Live mode off before the first step; the model is "
                                    "unchanged.")
            return
        small = self._live_small and self.start_choice is not None and self.start_choice.bundle is None
        if small:  # the settings keep their U-Net size (see TrainSettings.show_model)
            bundle.info[LIVE_SMALL] = True
        names = [image.name for image, _ in self.ctl.pairs]
        self.session.set_model(bundle, f"Trained live on {', '.join(names)}", trained_on=names)
        size = (f" Live used a smaller network on the CPU ({bundle.model_config.depth} "
                f"levels, {bundle.model_config.base_width} filters): Train goes on training "
                "it; 'Start from: From scratch' trains one of the size under Advanced "
                "settings."
                if small else "")
        self.ctl.say(
            f"Live mode off after {trainer.step} steps; the model is kept.{size} Predicting…"
        )
        self.ctl.note = ""
        self.ctl.predict_first(bundle)
