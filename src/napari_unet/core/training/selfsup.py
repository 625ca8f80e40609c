"""Learning the image itself: Noise2Void's blind-spot denoising as a second head (DenoiSeg).

Every unpainted pixel carries signal. A few pixels of each input patch get the value of a
random neighbour (the blind spot), and a second 1x1 head on the U-Net's last features
predicts the value that was there, which it can only do from the surrounding texture: the
network learns what nuclei, membranes and background look like without a stroke
(Krull et al. 2019, Noise2Void; joint with segmentation from few annotations: Buchholz et
al. 2020, DenoiSeg). Nothing here reads labels: the loss is a function of the image alone.

* :func:`blind_spot` and :func:`denoise_loss`: the masking and its loss, on any batch.
* :class:`SelfSupervised`: training on whole images before any stroke exists (warm-up, as
  soon as an image is chosen); :class:`~napari_unet.core.training.train.Trainer` takes its network
  over (``warm=``) and continues with the stroke loss and this one together.

Shapes: images ``(B, C, H, W)``; mask ``(B, 1, H, W)`` (bool).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig, NormConfig, TrainConfig
from ..device import torch_threads
from ..networks.model import UNet, load_body
from ..normalize import fit_normalization, normalize
from ..progress import Progress
from .engine import Engine

BLIND_FRACTION = 0.02
"""Share of the pixels of a patch that are blind spots (Noise2Void uses 0.2 %; more spots
give more signal per step, which a budget of seconds needs)."""
WARMUP_SHARE = 0.3
"""Where nobody paints first (command line, scripts), this share of the training budget
learns the image before the strokes: with 300 of 700 steps on DSB2018 it beat 700 steps of
strokes alone (F1@0.5 whole objects 0.38 -> 0.51, scribbles 0.51 -> 0.53; docs/benchmarks.md)."""
MIN_WARMUP = (100, 5.0)
"""Budgets under this many steps or seconds go to the strokes alone."""
BLIND_RADIUS = 2
"""A blind spot takes the value of a pixel at most this far away (a 5 x 5 window)."""


def blind_spot(x: torch.Tensor, generator: torch.Generator, fraction: float = BLIND_FRACTION,
               radius: int = BLIND_RADIUS) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` with a random ``fraction`` of its pixels replaced (all channels at once) by a
    random neighbour's within ``radius`` (never itself); returns ``(masked, mask)``."""
    b, c, h, w = x.shape
    mask = torch.rand((b, 1, h, w), generator=generator) < fraction
    offsets = torch.randint(-radius, radius + 1, (2, b, 1, h, w), generator=generator)
    still = (offsets[0] == 0) & (offsets[1] == 0)
    offsets[0][still] = 1  # never the pixel itself: move one row down (mirrored at the edge)
    y0, x0 = torch.arange(h).view(1, 1, h, 1), torch.arange(w).view(1, 1, 1, w)
    ys, xs = y0 + offsets[0], x0 + offsets[1]
    ys = torch.where(ys < 0, -ys, torch.where(ys >= h, 2 * (h - 1) - ys, ys))
    xs = torch.where(xs < 0, -xs, torch.where(xs >= w, 2 * (w - 1) - xs, xs))
    # mirrored back onto itself (one pixel from the edge, two away): the other side instead
    ys = torch.where((ys == y0) & (xs == x0), y0 - offsets[0], ys)
    index = (ys * w + xs).to(x.device).flatten(1).expand(b, h * w)
    neighbour = x.flatten(2).gather(2, index.unsqueeze(1).expand(b, c, h * w)).view_as(x)
    mask = mask.to(x.device)
    return torch.where(mask, neighbour, x), mask


def denoise_loss(prediction: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error at the blind spots only (0 when there are none)."""
    m = mask.to(prediction.dtype)
    err = (prediction.float() - image.float()) ** 2 * m
    return err.sum() / (m.sum() * image.shape[1]).clamp(min=1.0)


def denoise_head(model: UNet) -> nn.Conv2d:
    """The second head: the U-Net's last features -> one value per input channel."""
    return nn.Conv2d(model.config.base_width, model.config.in_channels, 1)


def joint_forward(model: UNet, head: nn.Module, x: torch.Tensor, generator: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Blind-spot ``x``, one pass through the U; returns ``(logits, denoised, mask)``."""
    masked, mask = blind_spot(x, generator)
    features = []  # what the head reads, caught on the way: one pass, through model.forward
    hook = model.head.register_forward_hook(lambda _m, inputs, _out: features.append(inputs[0]))
    try:
        logits = model(masked)
    finally:
        hook.remove()
    return logits, head(features[0]), mask


def take_over(model: UNet, warm: SelfSupervised | None) -> bool:
    """Load ``warm``'s network body into ``model`` (same architecture, any head); returns
    whether it did."""
    if warm is None or warm.model_config != ModelConfig.from_dict(
            {**model.config.to_dict(), "n_classes": warm.model_config.n_classes}):
        return False
    load_body(model, warm.model.state_dict())
    return True


class WholeImagePatches:
    """Uniform random ``(B, C, P, P)`` windows of whole normalised images, mirrored at the
    edges, in one of the 8 symmetries of the square (no labels involved)."""

    def __init__(self, images: Sequence[np.ndarray], patch: int, device, generator):
        self.patch, self.generator = patch, generator
        self.images = [
            torch.as_tensor(np.pad(im, ((0, 0), (patch, patch), (patch, patch)), mode="symmetric"),
                            dtype=torch.float32).to(device)
            for im in images
        ]
        area = torch.tensor([im.shape[-1] * im.shape[-2] for im in images], dtype=torch.float64)
        self.weights = area / area.sum()

    def sample(self, batch: int) -> torch.Tensor:
        g, p, out = self.generator, self.patch, []
        for _ in range(batch):
            im = self.images[int(torch.multinomial(self.weights, 1, generator=g))]
            h, w = im.shape[-2] - 2 * p, im.shape[-1] - 2 * p
            # the window's centre anywhere on the image (its edge mirrored)
            y = int(torch.randint(0, h + 1, (1,), generator=g)) + p // 2
            x = int(torch.randint(0, w + 1, (1,), generator=g)) + p // 2
            win = im[:, y : y + p, x : x + p]
            k, flip = int(torch.randint(4, (1,), generator=g)), bool(torch.randint(2, (1,), generator=g))
            win = torch.rot90(win, k, (1, 2))
            out.append(win.flip(2) if flip else win)
        return torch.stack(out)


class SelfSupervised(Engine):
    """Train a U-Net on images alone (the blind-spot loss), until stopped or a budget: the
    blind-spot task of the training :class:`~.engine.Engine` (a constant learning rate, its
    own open budget; an out-of-memory error halves the batch).

    ``steps()`` yields a :class:`Progress` after every step and can be abandoned between
    any two; :class:`~napari_unet.core.training.train.Trainer` (``warm=self``) then starts from
    :attr:`model` and :attr:`head` instead of random weights. ``config`` gives the
    architecture's patch size, batch, learning rate, seed, device and threads; its budget
    is ignored (``steps(max_steps=..., seconds=...)`` has its own).
    """

    def __init__(self, images: Sequence[np.ndarray], model: ModelConfig | None = None,
                 config: TrainConfig | None = None, norm: NormConfig | None = None):
        self.config = config or TrainConfig()
        channels = {im.shape[0] for im in images}
        if len(images) == 0 or len(channels) != 1:
            raise ValueError("give one or more images with the same channels")
        self.model_config = ModelConfig.from_dict(
            {**(model or ModelConfig()).to_dict(), "in_channels": channels.pop()})
        self.norm = fit_normalization(images, norm or NormConfig())
        super().__init__(self.config)
        # its own stream (not the Trainer's that starts from it)
        self.generator = torch.Generator().manual_seed(
            (self.config.sampling.seed if self.config.sampling.seed is not None else 0) + 7919)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=self.generator)))
            self.model = UNet(self.model_config)
            self.head = denoise_head(self.model)
        # the precision and memory format the Trainer uses (bf16 where the device is fast
        # at it, channels-last): without them a step cost 1.7x a training step
        self._use_device([self.model, self.head], torch.channels_last)
        self.patch = self.model.input_size_for(self.config.sampling.patch_size)
        self.patches = WholeImagePatches(
            [normalize(np.asarray(im), self.norm) for im in images], self.patch, self.device,
            self.generator)
        self._use_optimiser([*self.model.parameters(), *self.head.parameters()],
                            amp=self.config.runtime.amp, fp16=False)  # fp16 would need a grad scaler
        self.loss: float | None = None
        """The latest step's loss."""

    # -- the task: batches, forward pass and loss ------------------------------------------
    def _learning_rate(self) -> float:
        return self.config.optimiser.learning_rate  # constant: the budget is open

    def batch(self) -> tuple[torch.Tensor]:
        """Uniform windows of the whole images (:class:`WholeImagePatches`)."""
        return (self.patches.sample(self.config.sampling.batch_size)
                .contiguous(memory_format=self._memory_format),)

    def forward(self, batch: tuple) -> tuple:
        return joint_forward(self.model, self.head, batch[0], self.generator)

    def batch_loss(self, batch: tuple, outputs: tuple) -> torch.Tensor:
        """The blind-spot loss on the output's centre crop."""
        x, (_, denoised, mask) = batch[0], outputs
        out = denoised.shape[-1]
        lo = (x.shape[-1] - out) // 2
        return denoise_loss(denoised, x[..., lo : lo + out, lo : lo + out],
                            mask[..., lo : lo + out, lo : lo + out])

    def steps(self, max_steps: int | None = None, seconds: float | None = None
              ) -> Generator[Progress, None, None]:
        """Train until ``max_steps`` or ``seconds`` more (None: until abandoned)."""
        begun, first = time.perf_counter(), self.step
        start = begun - self.elapsed
        try:
            with torch_threads(self.config.runtime.threads):
                while True:
                    if max_steps is not None and self.step - first >= max_steps:
                        break
                    if seconds is not None and time.perf_counter() - begun >= seconds:
                        break
                    try:
                        self.loss = float(self.train_step())
                    except Exception as e:  # noqa: BLE001 - only out-of-memory is handled
                        notice = self._after_out_of_memory(e)
                        yield Progress(stage="learn the image", done=self.step,
                                       elapsed=self.elapsed, notice=notice)
                        continue
                    self.elapsed = time.perf_counter() - start
                    yield Progress(stage="learn the image", done=self.step, elapsed=self.elapsed,
                                   loss=self.loss)
        finally:  # also when abandoned
            self.model.eval()


def learn_first(images: Sequence[np.ndarray], model: ModelConfig | None, config: TrainConfig,
                share: float = WARMUP_SHARE
                ) -> Generator[Progress, None, tuple[SelfSupervised | None, TrainConfig]]:
    """Spend ``share`` of ``config``'s budget learning ``images`` alone; return the run (for
    ``Trainer(warm=...)``, None if nothing was learnt) and ``config`` with what is left.

    For training with no painting time before it (command line, scripts); the docks learn
    while the user paints instead. Nothing is done with ``self_supervised`` off or a budget
    under :data:`MIN_WARMUP`. Progress has ``fraction`` of the whole budget."""
    budget = config.budget
    steps = int(budget.steps * share) if budget.steps and budget.steps >= MIN_WARMUP[0] else None
    seconds = (budget.seconds * share
               if budget.seconds and budget.seconds >= MIN_WARMUP[1] else None)
    if config.regularisers.self_supervised <= 0 or share <= 0 or (
            (budget.steps is not None and steps is None)
            or (budget.seconds is not None and seconds is None)):
        return None, config
    warm = SelfSupervised(images, model=model, config=config)
    for p in warm.steps(max_steps=steps, seconds=seconds):
        parts = [p.done / steps if steps else 0.0, p.elapsed / seconds if seconds else 0.0]
        yield replace(p, fraction=share * min(1.0, max(parts)))
    rest = config.replace(steps=budget.steps - warm.step if budget.steps is not None else None,
                          seconds=budget.seconds - warm.elapsed if budget.seconds is not None else None)
    return (warm if warm.step else None), rest
