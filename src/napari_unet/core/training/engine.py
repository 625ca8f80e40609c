"""The training loop, once, for every task: ``for progress in task.steps(): ...``.

:class:`Engine` owns what every training run shares: the device, autocast, the gradient
scaler and the memory format; the seeded generator, the optimiser and the learning-rate
schedule; the budget (steps and/or seconds), out-of-memory halving of the batch, scoring on
held-out data with keep-best, and the :class:`~napari_unet.core.progress.Progress` records.
A task subclasses it and supplies only what differs: its network (built with
:attr:`Engine.generator`, then :meth:`Engine._use_device`), a fresh augmented batch
(:meth:`~Engine.batch`), the forward pass (:meth:`~Engine.forward`, under autocast), the loss
(:meth:`~Engine.batch_loss`), a ``validator`` (or None) and its :meth:`~Engine.bundle`. The
tasks: painted 2-D (:class:`~.train.Trainer`, which live mode drives too), painted 3-D
(:class:`~.train3d.Trainer3D`), blind-spot (:class:`~.selfsup.SelfSupervised`, with its own
open budget) and the starters' pretraining (``scripts/train_starters.py``).

The loop is a method (:meth:`Engine.steps`), not a free ``fit(task)``: live mode trains one
object across new painting (``set_labels``), and the docks, the command line and the API
read the run's state on it (``step``, ``elapsed``, ``events``, ``validation``, ...).
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Iterable
from datetime import datetime, timezone

import torch

from ..._version import __version__
from ..config import TrainConfig
from ..device import autocast_dtype, describe, prefers_channels_last, resolve_device, torch_threads
from ..files.bundle import Bundle
from ..files.starters import lineage_after
from ..oom import OutOfMemory, free_device_memory, is_out_of_memory
from ..progress import Progress
from .events import BatchHalved, Event, KeptEarlier, in_words

WARMUP_STEPS = 20
START_MARGIN = 0.01
"""Fine-tuning keeps the starting model unless the retrained one beats it on the held-out
strokes by more than this (mean IoU): a tie is no reason to change a model that works, and
held-out strokes that a starter already gets right cannot show damage elsewhere (its
objects split less well after fine-tuning on scribbles that it already fitted, see
docs/benchmarks.md)."""
REPORT_EVERY_S = 0.25
SCORES_PER_RUN = 20
"""Held-out scores in a run with a budget of steps only (:meth:`Engine._scoring_gap`)."""


def seeded_generator(seed: int | None) -> torch.Generator:
    """The trainer's random generator: reproducible with a seed, fresh entropy without."""
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    return generator


def snapshot(trainer, patch: list[int], **info) -> Bundle:
    """A :class:`Bundle` of ``trainer``'s model as it is now (weights copied to the CPU) with
    its provenance; steps and seconds add up over fine-tuning. Shared by the 2-D and 3-D
    trainers (same attributes: model, model_config, norm, class_names, config, postprocess,
    init, step, elapsed, device, painted and the training image shapes)."""
    state = {
        k: v.detach().to("cpu", copy=True).contiguous()
        for k, v in trainer.model.state_dict().items()
    }
    prev = trainer.init.info if trainer.init is not None else {}
    return Bundle(
        model_config=trainer.model_config,
        norm=trainer.norm,
        state_dict=state,
        class_names=list(trainer.class_names),
        # a starter fine-tuned on strokes of classes stays a 3-class (instance) model; the
        # runtime settings (device, threads, amp) are dropped by Bundle (how it was run, not made)
        train_config=trainer.config.replace(
            mode=getattr(trainer, "bundle_mode", trainer.config.targets.mode)).to_dict(),
        postprocess=trainer.postprocess,
        lineage=lineage_after(trainer.init),
        info={
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "steps": trainer.step + int(prev.get("steps", 0)),
            "seconds": round(trainer.elapsed + float(prev.get("seconds", 0.0)), 2),
            "device": describe(trainer.device, trainer.config.runtime.threads),  # those it used
            "image_shapes": [list(s) for s in trainer._shapes],
            "painted_pixels": trainer.painted,
            "patch": list(patch),
            **({"started_from": _origin(trainer.init)} if trainer.init is not None else {}),
            **info,
            "napari_unet": __version__,
        },
    )


def _origin(init: Bundle) -> str:
    """What a fine-tuned model started from, for its provenance: a starter's name, or the
    model it continued (itself started from ...)."""
    from ..files.starters import genuine_starter

    name = genuine_starter(init)
    if name is not None:
        return f"starter {name}"
    before = init.info.get("started_from")
    return f"a trained model (from {before})" if before else "a trained model"


class Engine:
    """The loop and its state; a training task subclasses it (see the module doc) and sets
    ``model`` (the network being trained) before calling :meth:`_use_device`.

    After training, ``kept_start`` says whether the starting model (``init``) was kept as it
    was (training did not beat it on the held-out data): the weights are ``init``'s.
    """

    kept_start: bool = False
    """Whether training ended on the starting model's own weights (see the class doc)."""
    init: Bundle | None = None
    validator = None
    """Scores the model on held-out data (``score(model, amp=...)``, ``pixels``); None: off."""
    _freeze_norm: bool = False
    """Batch-norm statistics stay as they are while training (a starter's)."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.events: list[Event] = []
        """What the run decided, in order (:mod:`.events`): :attr:`note` words them."""
        self.device = resolve_device(config.runtime.device)
        self.step = 0
        self.elapsed = 0.0
        self.generator = seeded_generator(config.sampling.seed)
        self.validation: float | None = None
        """The latest validation score (mean IoU on the held-out pixels)."""
        self.start_score: float | None = None
        """The starting model's score on the held-out pixels, before training (fine-tuning)."""
        self._best: tuple[float, int, dict] | None = None
        self._scored_step = -1

    @property
    def note(self) -> str:
        """The :attr:`events` in words, joined with "; " (the command line's and the API's)."""
        return in_words(self.events)

    def _use_device(self, modules: Iterable[torch.nn.Module | None], channels_last) -> None:
        """Move ``modules`` (the model first) to the device, in ``channels_last`` where the
        device prefers it (:data:`torch.channels_last` or ``channels_last_3d``)."""
        self._memory_format = (
            channels_last if prefers_channels_last(self.device) else torch.contiguous_format
        )
        for module in modules:
            if module is not None:
                module.to(self.device, memory_format=self._memory_format)

    def _use_optimiser(self, parameters, amp: bool, fp16: bool = True) -> None:
        """AdamW over ``parameters``; mixed precision when ``amp`` (a scaler for fp16, or
        only bf16 without ``fp16``)."""
        self.optimizer = torch.optim.AdamW(
            parameters, lr=self.config.optimiser.learning_rate,
            weight_decay=self.config.optimiser.weight_decay
        )
        self._amp_dtype = autocast_dtype(self.device) if amp else None
        if self._amp_dtype == torch.float16 and not fp16:
            self._amp_dtype = None
        self._scaler = (
            torch.amp.GradScaler("cuda") if self._amp_dtype == torch.float16 else None
        )

    # -- what a task supplies -------------------------------------------------------------
    def batch(self) -> tuple:
        """A fresh augmented training batch on the device (in the memory format)."""
        raise NotImplementedError

    def forward(self, batch: tuple):
        """The network's outputs for ``batch`` (run under autocast)."""
        raise NotImplementedError

    def batch_loss(self, batch: tuple, outputs) -> torch.Tensor:
        """The 0-d training loss of ``outputs`` on ``batch``."""
        raise NotImplementedError

    def bundle(self) -> Bundle:
        """A snapshot of the model as it is now (weights copied to the CPU)."""
        raise NotImplementedError

    def _after_training(self) -> None:
        """Once training is over (also when abandoned), after keep-best."""

    # -- one step -------------------------------------------------------------------------
    def train_step(self) -> torch.Tensor:
        """One optimiser step on a fresh augmented batch; returns the loss (a 0-d tensor)."""
        self._train_mode()
        batch = self.batch()
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate()
        with torch.autocast(
            self.device.type, dtype=self._amp_dtype or torch.float32, enabled=self._amp_dtype is not None
        ):
            outputs = self.forward(batch)
        return self._optimise(self.batch_loss(batch, outputs))

    def _train_mode(self) -> None:
        """The model in training mode; batch norms in eval mode when fine-tuning a starter."""
        self.model.train()
        if self._freeze_norm:
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()

    # -- budget ---------------------------------------------------------------------------
    def fraction_done(self) -> float:
        cfg = self.config
        parts = []
        if cfg.budget.steps is not None:
            parts.append(self.step / cfg.budget.steps if cfg.budget.steps else 1.0)
        if cfg.budget.seconds is not None:
            parts.append(self.elapsed / cfg.budget.seconds if cfg.budget.seconds else 1.0)
        return min(1.0, max(parts))

    def _learning_rate(self) -> float:
        base = self.config.optimiser.learning_rate
        warm = min(1.0, (self.step + 1) / WARMUP_STEPS)
        cosine = 0.5 * (1 + math.cos(math.pi * self.fraction_done()))
        return base * warm * (0.05 + 0.95 * cosine)

    def _optimise(self, loss: torch.Tensor) -> torch.Tensor:
        """One optimiser step on ``loss`` (scaled for fp16 on CUDA); counts the step."""
        self.optimizer.zero_grad(set_to_none=True)
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.step += 1
        return loss.detach()

    def steps(self) -> Generator[Progress, None, Bundle]:
        """Train until the budget is spent, yielding progress after every step.

        Returns the trained :class:`Bundle`. Abandoning the generator keeps the model as
        it is after the last finished step.
        """
        start = time.perf_counter() - self.elapsed
        last_report = -math.inf
        running, count = None, 0
        next_score = self.elapsed + self.config.validation.validation_every
        step_gap = self._scoring_gap()
        next_step = self.step + (step_gap or 0)
        failed = False
        try:
            with torch_threads(self.config.runtime.threads):
                if self.validator is not None and self.init is not None and self.step == 0:
                    self.score()  # the starting model: a retrain must beat it
                while self.fraction_done() < 1.0:
                    try:
                        loss = self.train_step()
                    except Exception as e:  # noqa: BLE001 - only out-of-memory is handled
                        message = self._after_out_of_memory(e)
                        yield Progress(stage="train", done=self.step, total=self.config.budget.steps,
                                       elapsed=self.elapsed, fraction=self.fraction_done(),
                                       notice=message)
                        continue
                    running = loss if running is None else running + loss
                    count += 1
                    self.elapsed = time.perf_counter() - start
                    report = None
                    if self.elapsed - last_report >= REPORT_EVERY_S or self.fraction_done() >= 1.0:
                        report = float(running) / count  # the only host sync
                        running, count, last_report = None, 0, self.elapsed
                    due = self.step >= next_step if step_gap else self.elapsed >= next_score
                    if self.validator is not None and (due or self.fraction_done() >= 1.0):
                        cost = self.score()  # counts against a time budget, as it takes time
                        every = self.config.validation.validation_every
                        next_score = self.elapsed + (max(every, 4 * cost) if every else 0.0)
                        next_step = self.step + (step_gap or 0)
                    yield Progress(
                        stage="train",
                        done=self.step,
                        total=self.config.budget.steps,
                        elapsed=self.elapsed,
                        loss=report,
                        fraction=self.fraction_done(),
                        validation=self.validation,
                    )
        except Exception:
            failed = True
            raise
        finally:
            self.elapsed = time.perf_counter() - start
            if not failed:  # also when abandoned (Stop): the best model is kept
                self._keep_best()
                self._after_training()
            self.model.eval()
        return self.bundle()

    def _scoring_gap(self) -> int | None:
        """Steps between held-out scores for a budget of steps only (None: by the clock,
        every ``validation_every`` seconds). Scheduled by the clock, a seeded run of so many
        steps scored at other steps on a busier machine, and keep-best returned other
        weights (the same few-shot run: F1 0.786 once, 0.755 the next time); scheduled by
        steps it is the same run anywhere. :data:`SCORES_PER_RUN` scores a run, or every
        step with ``validation_every=0``."""
        cfg = self.config
        if cfg.budget.seconds is not None or not cfg.budget.steps:
            return None
        return 1 if not cfg.validation.validation_every else max(
            1, math.ceil(cfg.budget.steps / SCORES_PER_RUN))

    def _after_out_of_memory(self, error: Exception) -> str:
        """Halve the batch after an out-of-memory error; re-raise anything else, or when the
        batch is already 1. Returns the message for the user."""
        if not is_out_of_memory(error):
            raise error
        self.optimizer.zero_grad(set_to_none=True)
        free_device_memory(self.device)
        if self.config.sampling.batch_size <= 1:
            raise OutOfMemory(
                f"{describe(self.device)} ran out of memory even with one patch per step; "
                "use a smaller patch size or model, or train on the CPU"
            ) from error
        self.config = self.config.replace(batch_size=self.config.sampling.batch_size // 2)
        n = self.config.sampling.batch_size
        self.events.append(BatchHalved(describe(self.device), n))
        return f"Out of memory: training continues with {n} patch{'' if n == 1 else 'es'} per step"

    # -- validation -----------------------------------------------------------------------
    def score(self) -> float:
        """Score the model now on the held-out pixels and remember the best weights.

        Returns the seconds it took (0 without validation)."""
        if self.validator is None:
            return 0.0
        t0 = time.perf_counter()
        was_training = self.model.training
        self.validation = self.validator.score(self.model, amp=self.config.runtime.amp)
        if was_training:
            self._train_mode()
        if self.step == 0 and self.init is not None:
            self.start_score = self.validation
        self._scored_step = self.step
        margin = START_MARGIN if self._best is not None and self._best[1] == 0 and self.init else 0.0
        if self.config.validation.keep_best and (self._best is None or self.validation > self._best[0] + margin):
            state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self._best = (self.validation, self.step, state)
        return time.perf_counter() - t0

    @property
    def validation_step(self) -> int:
        """The step at which :attr:`validation` was measured (-1: not yet)."""
        return self._scored_step

    def _keep_best(self) -> None:
        """At the end: score the final weights; if earlier ones scored better, go back to
        them and say so in :attr:`events` (:class:`~.events.KeptEarlier`)."""
        if self.validator is None or not self.config.validation.keep_best or self.step == 0:
            return
        if self._scored_step != self.step:
            self.score()
        best_score, best_step, state = self._best
        if best_score > self.validation or (best_step == 0 and self.init is not None):
            self.model.load_state_dict(state)
            last = self.validation
            self.validation, self._scored_step = best_score, best_step
            if best_step == 0 and self.init is not None:
                self.kept_start = True
            self.events.append(KeptEarlier(best_step, best_score, last, self.step))
        self._best = None

    def _validation_info(self) -> dict:
        if self.validator is None or self.validation is None:
            return {}
        return {"validation": {"mean_iou": round(self.validation, 4), "step": self._scored_step,
                               "pixels": self.validator.pixels}}
