"""The train dock's live mode controls: Live on and off, its progress and its end.

A mixin of :class:`~.train_widget.TrainWidget`: it reads and checks what live mode runs on,
then hands it to the controller (:meth:`~.controller.TrainController.start_live`, its
``LIVE`` state), which owns the work (:class:`~.live.LiveMode`) and says what happens.
Live waits for the same painting checks as Train, Stop ends it too, it is off while Train
runs, and a smaller U-Net it trains on the CPU does not become the settings' size.
"""

from __future__ import annotations

from napari_unet.core.config import ModelConfig

from .live import LIVE_CPU_MODEL


class LiveControls:
    """Methods of the train dock; see the module docstring."""

    def set_live(self, on: bool):
        """Turn live mode on (returns its worker, or None if it cannot start) or off (stops
        after the running step; the model is kept and predicted as after training)."""
        if not on:
            self.ctl.stop_live()
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
        return self.ctl.start_live(pairs, images, labels, model, config, request, names,
                                   device.type, small=small,
                                   uncertainty=self.paint_next.isChecked())
