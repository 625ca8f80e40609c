"""Training as a generator: ``for progress in trainer.steps(): ...``.

The generator yields a :class:`~napari_unet.core.progress.Progress` after every optimiser
step and can be abandoned between any two (``close()``, or napari's ``worker.quit()``);
:meth:`Trainer.bundle` then returns the model trained so far. Nothing here touches the
arrays it is given: images are normalised into copies, labels into new target arrays.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Sequence
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import torch
from skimage.segmentation import relabel_sequential

from ..._version import __version__
from ..config import ModelConfig, NormConfig, PostprocessConfig, PredictConfig, TrainConfig
from ..device import (
    autocast_dtype,
    describe,
    prefers_channels_last,
    resolve_device,
    torch_threads,
)
from ..files.bundle import Bundle, default_class_names, starter_based, takes_luminance
from ..files.starters import lineage_after
from ..grayscale import chw_to_gray
from ..images import ImageError, as_label_array, check_array, check_class_labels, check_finite, check_image
from ..networks.model import UNet, load_body
from ..normalize import fit_normalization, normalize
from ..oom import OutOfMemory, free_device_memory, is_out_of_memory
from ..progress import Progress
from .augment import AugmentParams, augment
from .losses import masked_cross_entropy, starter_kl
from .sampling import PatchSampler
from .selfsup import SelfSupervised, denoise_head, denoise_loss, joint_forward, take_over
from .targets import (
    IGNORE,
    INSTANCE_CLASSES,
    annotated_region,
    border_weight,
    check_painted,
    class_weights,
    instance_target,
    semantic_target,
)
from .validation import MIN_OBJECTS, Validator, all_objects, choose_holdout

WARMUP_STEPS = 20
START_MARGIN = 0.01
"""Fine-tuning keeps the starting model unless the retrained one beats it on the held-out
strokes by more than this (mean IoU): a tie is no reason to change a model that works, and
held-out strokes that a starter already gets right cannot show damage elsewhere (its
objects split less well after fine-tuning on scribbles that it already fitted, see
docs/benchmarks.md)."""
REPORT_EVERY_S = 0.25


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
        # a starter fine-tuned on strokes of classes stays a 3-class (instance) model
        train_config={**trainer.config.to_dict(),
                      "mode": getattr(trainer, "bundle_mode", trainer.config.mode)},
        postprocess=trainer.postprocess,
        lineage=lineage_after(trainer.init),
        info={
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "steps": trainer.step + int(prev.get("steps", 0)),
            "seconds": round(trainer.elapsed + float(prev.get("seconds", 0.0)), 2),
            "device": describe(trainer.device, trainer.config.threads),  # those it used
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


def adapt_to_init(init: Bundle | None, mode: str, n_classes: int):
    """How painting with ``n_classes`` classes in ``mode`` uses ``init``.

    Returns ``(model_classes, groups, new_head)``: a 3-class instance model (a starter)
    painted with 2 classes keeps its 3 outputs and learns through the marginal (groups
    ``[[0], [1, 2]]``: foreground = interior + border); with more classes its body gets a new
    head; anything else is trained as painted.
    """
    if init is not None and init.mode == "instance" and mode == "semantic":
        if n_classes == 2:
            return 3, [[0], [1, 2]], False
        return n_classes, None, True
    return n_classes, None, False


class Trainer:
    """Fit a U-Net to painted labels.

    After training, ``kept_start`` says whether the starting model (``init``) was kept as it
    was (training did not beat it on the held-out pixels): the weights are ``init``'s.

    Parameters
    ----------
    images: ``(C, H, W)`` arrays (see :func:`~napari_unet.core.images.to_chw`).
    labels: ``(H, W)`` painted labels, one per image: 0 = unpainted, k = class k.
    model: architecture overrides; ``in_channels``/``n_classes`` come from the data.
    config: training settings.
    norm: normalisation settings (values are measured on ``images``).
    init: a trained :class:`Bundle` to continue from (fine-tuning). It is used when it has
        the same channels and classes as the data; otherwise training starts fresh and
        :attr:`note` says why. A 3-class instance model (a starter) also takes strokes of
        classes: two classes train it through the marginal (foreground = interior + border,
        so the result still splits touching objects), more give its body a new head. A
        colour image with a grayscale ``init`` is trained as its luminance.
    class_names: names of the classes, label 1 first.
    regions: instance mode only: per image, a boolean mask of the annotated region (or
        None for the painted objects' bounding box grown by ``config.region_margin``).
    warm: a :class:`~napari_unet.core.training.selfsup.SelfSupervised` run on these images (while
        the user painted): training starts from its network instead of random weights
        (not when ``init`` is given), and its denoising head continues with
        ``config.self_supervised``.
    """

    kept_start: bool = False
    """Whether training ended on the starting model's own weights (see the class doc)."""

    def __init__(
        self,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        model: ModelConfig | None = None,
        config: TrainConfig | None = None,
        norm: NormConfig | None = None,
        init: Bundle | None = None,
        class_names: Sequence[str] | None = None,
        regions: Sequence[np.ndarray | None] | None = None,
        warm: SelfSupervised | None = None,
    ):
        if len(images) == 0 or len(images) != len(labels):
            raise ImageError("give one labels array per image (and at least one pair)")
        self.config = config or TrainConfig()
        channels = {check_array(im).shape[0] for im in images}  # a list or None: ImageError
        if len(channels) != 1:
            raise ImageError(f"all training images need the same channels, got {sorted(channels)}")
        (in_channels,) = channels
        instance = self.config.mode == "instance"
        lab, n_classes = self._checked(images, labels)
        self.note = ""
        if (init is not None and takes_luminance(init) and in_channels in (3, 4)
                and init.model_config.spatial_dims == 2):
            images = [chw_to_gray(im) for im in images]
            in_channels = 1
            self.note = "the colour image is used as its luminance (the starting model is grayscale)"
        model_classes, self.groups, new_head = adapt_to_init(init, self.config.mode, n_classes)
        self.n_target_classes = n_classes
        """Classes of the training targets (painted); the network may have more (marginal)."""
        base = model or (init.model_config if init is not None else ModelConfig())
        self.model_config = ModelConfig.from_dict(
            {**base.to_dict(), "in_channels": in_channels, "n_classes": model_classes}
        )
        if init is not None and (self.groups is not None or new_head):
            if init.model_config != ModelConfig.from_dict(
                {**self.model_config.to_dict(), "n_classes": init.model_config.n_classes}
            ):
                self.note = (f"started fresh: the starting model has {init.model_config.in_channels}"
                             f" channel(s) and another architecture")
                init, self.groups, new_head = None, None, False
                self.model_config = ModelConfig.from_dict(
                    {**self.model_config.to_dict(), "n_classes": n_classes})
        elif init is not None and init.mode != self.config.mode:
            self.note = (
                f"started fresh: the previous model was a {init.mode} model, "
                f"this training is {self.config.mode}"
            )
            init = None
        elif init is not None and init.model_config != self.model_config:
            self.note = (
                f"started fresh: the data have {in_channels} channel(s) and {n_classes} classes, "
                f"the previous model {init.model_config.in_channels} and "
                f"{init.model_config.n_classes}"
            )
            init = None
        self.init = init
        self.class_names = list(class_names or (init.class_names if init else []))
        if instance or self.groups is not None:
            self.class_names = list(INSTANCE_CLASSES)
        elif new_head and class_names is None:
            self.class_names = default_class_names(n_classes)
        elif len(self.class_names) != n_classes:
            self.class_names = default_class_names(n_classes)
        self.postprocess = init.postprocess if init is not None else PostprocessConfig()
        self.norm = fit_normalization(images, norm or (init.norm if init else NormConfig()))
        self.device = resolve_device(self.config.device)
        self.step = 0
        self.elapsed = 0.0
        self._shapes = [tuple(im.shape) for im in images]

        seed = self.config.seed
        self.generator = seeded_generator(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=self.generator)))
            self.model = UNet(self.model_config)
        self._teacher = None
        self._soft: dict = {}
        """The starting model's probabilities per training image, by content (live mode
        hands the same images over every few seconds: predicted once, not each time)."""
        """The starting model, frozen, when its predictions are kept where nothing is painted
        (``config.keep_starter``: a starter or a model made from one, same outputs)."""
        if (init is not None and not new_head and self.config.keep_starter > 0
                and starter_based(init) and init.model_config == self.model_config):
            self._teacher = init.build_model("cpu")
        self._freeze_norm = init is not None and starter_based(init)
        """Batch-norm statistics stay the starter's: updated from a few patches of one or two
        images they shift, and the starter's objects fall apart even with no weight change
        (F1@0.5 on DSB2018 fluorescence 0.85 -> 0.78 after 100 steps at learning rate 0)."""
        if init is not None and new_head:  # the starter's body, a new (random) head
            load_body(self.model, init.state_dict)
            self.note = (f"{self.note}; " if self.note else "") + (
                f"{n_classes} classes: the starting model's body with a new output layer")
        elif init is not None:
            self.model.load_state_dict(init.state_dict)
        self.denoiser = None
        """The second head (blind-spot denoising), trained with ``config.self_supervised``."""
        if self.config.self_supervised > 0 and init is None:  # a starter keeps its own loss
            with torch.random.fork_rng(devices=[]):  # reproducible, as the U-Net is
                torch.manual_seed(int(torch.randint(2**31, (1,), generator=self.generator)))
                self.denoiser = denoise_head(self.model)
        self.start_from_warm(warm)
        self._memory_format = (
            torch.channels_last if prefers_channels_last(self.device) else torch.contiguous_format
        )
        self.model.to(self.device, memory_format=self._memory_format)
        if self.denoiser is not None:
            self.denoiser.to(self.device, memory_format=self._memory_format)
        if self._teacher is not None:
            self._teacher.to(self.device, memory_format=self._memory_format)

        self.validation: float | None = None
        """The latest validation score (mean IoU on the held-out pixels)."""
        self.start_score: float | None = None
        """The starting model's score on the held-out pixels, before training (fine-tuning)."""
        self._best: tuple[float, int, dict] | None = None
        self._scored_step = -1
        self.augment = AugmentParams.from_train_config(self.config)
        self.patch_in = self.model.input_size_for(self.config.patch_size)
        self.patch_out = self.model.output_size(self.patch_in)
        self._use_data(images, lab, regions, n_classes)
        self.optimizer = torch.optim.AdamW(
            [*self.model.parameters(), *(self.denoiser.parameters() if self.denoiser else ())],
            lr=self.config.learning_rate,
            weight_decay=self.config.weight_decay,
        )
        self._amp_dtype = autocast_dtype(self.device) if self.config.amp else None
        self._scaler = (
            torch.amp.GradScaler("cuda") if self._amp_dtype == torch.float16 else None
        )

    def start_from_warm(self, warm: SelfSupervised | None) -> bool:
        """Before the first step: start from what ``warm`` learnt of the images alone (its
        network body and denoising head); returns whether it did (not when fine-tuning, or
        for another architecture). :attr:`note` says so."""
        if warm is None or self.init is not None or self.step > 0:
            return False
        if not take_over(self.model, warm):
            return False
        if self.denoiser is not None:
            self.denoiser.load_state_dict(warm.head.state_dict())
        self.note = (f"{self.note}; " if self.note else "") + (
            f"started from what it learnt of the image alone ({warm.step} steps)")
        return True

    def _checked(self, images, labels) -> tuple[list[np.ndarray], int]:
        """Checked label arrays (instance ids numbered 1..N) and the number of classes."""
        lab = [as_label_array(l, im.shape[-2:]) for im, l in zip(images, labels)]
        for im in images:
            check_image(im)
            check_finite(np.asarray(im))
        if self.config.mode == "instance":
            check_painted(lab, min_classes=1, instance=True)
            # object ids may be any size (2**40 too): number them 1..N for the weight map
            # (on a copy: skimage cannot read a read-only array, e.g. a memory-mapped file)
            lab = [relabel_sequential(np.array(l))[0] for l in lab]
            n_classes = len(INSTANCE_CLASSES)
        else:
            for l in lab:
                check_class_labels(l)
            n_classes = check_painted(lab)
        return lab, n_classes

    def set_labels(self, images, labels, regions=None) -> None:
        """Train on new painting from the next step on, keeping the model and optimiser
        (live mode). Raises :class:`ImageError` as the constructor does, and also when the
        data now have other channels or classes than the model (then nothing changes)."""
        if len(images) == 0 or len(images) != len(labels):
            raise ImageError("give one labels array per image (and at least one pair)")
        channels = {check_array(im).shape[0] for im in images}  # a list or None: ImageError
        if channels != {self.model_config.in_channels}:
            raise ImageError("the training images changed channels; start training again")
        lab, n_classes = self._checked(images, labels)
        if n_classes != self.n_target_classes:
            raise ImageError(
                f"{n_classes} classes are painted now, the model has "
                f"{self.n_target_classes}; start training again to learn them"
            )
        self._shapes = [tuple(im.shape) for im in images]
        self._best = None
        self._use_data(images, lab, regions, n_classes)

    def _use_data(self, images, lab, regions, n_classes) -> None:
        """Targets, held-out strokes, class weights and the patch sampler for these data."""
        instance = self.config.mode == "instance"
        seed = self.config.seed
        weights = None
        if instance:
            regions = list(regions) if regions is not None else [None] * len(lab)
            regions = [
                annotated_region(l, self.config.region_margin) if r is None else np.asarray(r, bool)
                for l, r in zip(lab, regions)
            ]
            targets = [instance_target(l, r) for l, r in zip(lab, regions)]
            if self.config.border_w0 > 0:
                weights = [
                    border_weight(l, self.config.border_w0, self.config.border_sigma) for l in lab
                ]
        else:
            targets = [semantic_target(l) for l in lab]
        self.painted = np.bincount(
            np.concatenate([t[t != IGNORE] for t in targets]), minlength=n_classes
        ).tolist()
        normalized = [normalize(np.asarray(im), self.norm) for im in images]
        holdout = choose_holdout(
            lab, self.config.validation_fraction, instance, regions if instance else None,
            seed=seed or 0,
        )
        objects = instance and self.groups is None and n_classes == len(INSTANCE_CLASSES)
        self._objects = None
        """Whole objects painted: every one with its ring, to fit the post-processing's
        thresholds to them once training is over (:meth:`_fit_splitting`)."""
        if objects and sum(len(np.unique(l)) - 1 for l in lab) >= MIN_OBJECTS:
            self._objects = Validator(normalized, targets, all_objects(lab, regions), n_classes,
                                      self.model.receptive_radius,
                                      objects=[np.asarray(l) for l in lab],
                                      postprocess=self.postprocess)
        self.validator = (
            Validator(normalized, targets, holdout, n_classes, self.model.receptive_radius,
                      groups=self.groups,
                      # whole objects painted: held-out objects are scored as objects
                      objects=[np.asarray(l) for l in lab] if objects else None,
                      postprocess=self.postprocess)
            if holdout is not None
            else None
        )
        """Scores the model on held-out strokes; None when validation is off."""
        self.holdout = holdout
        """The held-out pixels (:class:`~.validation.Holdout`), or None."""
        if holdout is not None:
            targets = holdout.training_targets(targets)
        w_c = class_weights(targets, n_classes) if self.config.class_balance else None
        if self.init is not None and instance and starter_based(self.init):
            # the weights the starter learnt with: balancing a few objects' borders against
            # their background shifts its interior/border calibration and its objects
            w_c = np.asarray(self.init.info.get("class_weight", [1.0, 1.0, 2.0]), np.float32)
        if self._teacher is not None:  # its probabilities ride along as extra channels
            soft = {self._image_key(im): None for im in normalized}
            soft.update({k: v for k, v in self._soft.items() if k in soft})
            self._soft = soft
            normalized = [np.concatenate([im, self._teacher_probabilities(im)]) for im in normalized]
        self.class_weight = torch.as_tensor(w_c, device=self.device) if w_c is not None else None
        ctx = int(math.ceil(3 * self.augment.elastic_sigma)) if self.augment.elastic else 0
        self.sampler = PatchSampler(
            normalized,
            targets,
            window=int(math.ceil(self.patch_in * self.augment.max_zoom)) + 2 * ctx,
            n_classes=n_classes,
            painted_fraction=self.config.painted_fraction,
            device=self.device,
            generator=self.generator,
            weights=weights,
        )

    @property
    def bundle_mode(self) -> str:
        """The saved model's mode: a starter trained through the marginal stays "instance"."""
        return "instance" if self.groups is not None else self.config.mode

    def _train_mode(self) -> None:
        """The model in training mode; batch norms in eval mode when fine-tuning a starter."""
        self.model.train()
        if self._freeze_norm:
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()

    @staticmethod
    def _image_key(image: np.ndarray):
        import hashlib

        return image.shape, hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest()

    def _teacher_probabilities(self, image: np.ndarray) -> np.ndarray:
        """The starting model's ``(K, H, W)`` probabilities on a normalised image (cached)."""
        from ..inference.predict import predict_normalized

        key = self._image_key(image)
        if self._soft.get(key) is None:
            config = PredictConfig(tile_size=512, amp=self.config.amp)
            with torch_threads(self.config.threads):
                self._soft[key] = predict_normalized(image, self._teacher, config).probabilities
        return self._soft[key]

    # -- budget ---------------------------------------------------------------------------
    def fraction_done(self) -> float:
        cfg = self.config
        parts = []
        if cfg.steps is not None:
            parts.append(self.step / cfg.steps if cfg.steps else 1.0)
        if cfg.seconds is not None:
            parts.append(self.elapsed / cfg.seconds if cfg.seconds else 1.0)
        return min(1.0, max(parts))

    def _learning_rate(self) -> float:
        base = self.config.learning_rate
        warm = min(1.0, (self.step + 1) / WARMUP_STEPS)
        cosine = 0.5 * (1 + math.cos(math.pi * self.fraction_done()))
        return base * warm * (0.05 + 0.95 * cosine)

    # -- one step -------------------------------------------------------------------------
    def train_step(self) -> torch.Tensor:
        """One optimiser step on a fresh augmented batch; returns the loss (a 0-d tensor)."""
        self._train_mode()
        img, tgt, wgt = self.sampler.sample(self.config.batch_size)
        k = self.model_config.n_classes if self._teacher is not None else 0
        img, tgt, wgt = augment(img, tgt, self.patch_in, self.augment, self.generator, wgt,
                                extra_channels=k)
        soft = None
        if k:
            img, soft = img[:, :-k], img[:, -k:]
        img = img.contiguous(memory_format=self._memory_format)
        if self.patch_out != self.patch_in:
            lo = (self.patch_in - self.patch_out) // 2
            tgt = tgt[:, lo : lo + self.patch_out, lo : lo + self.patch_out]
            if wgt is not None:
                wgt = wgt[:, lo : lo + self.patch_out, lo : lo + self.patch_out]
            if soft is not None:
                soft = soft[..., lo : lo + self.patch_out, lo : lo + self.patch_out]
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate()
        with torch.autocast(
            self.device.type, dtype=self._amp_dtype or torch.float32, enabled=self._amp_dtype is not None
        ):
            if self.denoiser is None:
                logits = self.model(img)
            else:
                logits, denoised, mask = joint_forward(self.model, self.denoiser, img, self.generator)
        loss = masked_cross_entropy(logits, tgt, self.class_weight, wgt, self.groups)
        if self.denoiser is not None:
            lo = (self.patch_in - self.patch_out) // 2
            crop = (..., slice(lo, lo + self.patch_out), slice(lo, lo + self.patch_out))
            loss = loss + self.config.self_supervised * denoise_loss(denoised, img[crop], mask[crop])
        if soft is not None:
            loss = loss + self.config.keep_starter * starter_kl(logits, soft, tgt, self.groups)
        return self._optimise(loss)

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
        next_score = self.elapsed + self.config.validation_every
        failed = False
        try:
            with torch_threads(self.config.threads):
                if self.validator is not None and self.init is not None and self.step == 0:
                    self.score()  # the starting model: a retrain must beat it
                while self.fraction_done() < 1.0:
                    try:
                        loss = self.train_step()
                    except Exception as e:  # noqa: BLE001 - only out-of-memory is handled
                        message = self._after_out_of_memory(e)
                        yield Progress(stage="train", done=self.step, total=self.config.steps,
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
                    if self.validator is not None and (
                        self.elapsed >= next_score or self.fraction_done() >= 1.0
                    ):
                        cost = self.score()  # counts against a time budget, as it takes time
                        every = self.config.validation_every
                        next_score = self.elapsed + (max(every, 4 * cost) if every else 0.0)
                    yield Progress(
                        stage="train",
                        done=self.step,
                        total=self.config.steps,
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
                self._fit_splitting()
            self.model.eval()
        return self.bundle()

    def _fit_splitting(self) -> None:
        """Whole objects painted: choose the foreground and seed thresholds (how readily
        touching objects are cut apart) that best reproduce the painted objects, and say so
        in :attr:`note` when they change (issue 21, item 6)."""
        if self._objects is None or self.step == 0:
            return
        self._objects.postprocess = self.postprocess
        post, before, after = self._objects.tune(self.model, amp=self.config.amp)
        self.model.eval()
        if post != self.postprocess:
            self.postprocess = post
            message = (f"object settings fitted to your painted objects (foreground threshold "
                       f"{post.threshold:.1f}, split threshold {post.seed_threshold:.1f}: "
                       f"match {before:.2f} -> {after:.2f})")
            self.note = f"{self.note}; {message}" if self.note else message

    def _after_out_of_memory(self, error: Exception) -> str:
        """Halve the batch after an out-of-memory error; re-raise anything else, or when the
        batch is already 1. Returns the message for the user."""
        if not is_out_of_memory(error):
            raise error
        self.optimizer.zero_grad(set_to_none=True)
        free_device_memory(self.device)
        if self.config.batch_size <= 1:
            raise OutOfMemory(
                f"{describe(self.device)} ran out of memory even with one patch per step; "
                "use a smaller patch size or model, or train on the CPU"
            ) from error
        self.config = replace(self.config, batch_size=self.config.batch_size // 2)
        said = f"ran out of memory on {describe(self.device)}; batch size reduced to {self.config.batch_size}"
        self.note = f"{self.note}; {said}" if self.note else said
        return f"Out of memory: training continues with {self.config.batch_size} patches per step"

    # -- validation -----------------------------------------------------------------------
    def score(self) -> float:
        """Score the model now on the held-out pixels and remember the best weights.

        Returns the seconds it took (0 without validation)."""
        if self.validator is None:
            return 0.0
        t0 = time.perf_counter()
        was_training = self.model.training
        self.validation = self.validator.score(self.model, amp=self.config.amp)
        if was_training:
            self._train_mode()
        if self.step == 0 and self.init is not None:
            self.start_score = self.validation
        self._scored_step = self.step
        margin = START_MARGIN if self._best is not None and self._best[1] == 0 and self.init else 0.0
        if self.config.keep_best and (self._best is None or self.validation > self._best[0] + margin):
            state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self._best = (self.validation, self.step, state)
        return time.perf_counter() - t0

    @property
    def validation_step(self) -> int:
        """The step at which :attr:`validation` was measured (-1: not yet)."""
        return self._scored_step

    def _keep_best(self) -> None:
        """At the end: score the final weights; if earlier ones scored better, go back to
        them and say so in :attr:`note`."""
        if self.validator is None or not self.config.keep_best or self.step == 0:
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
                what = ("kept the starting model: the retrained one did not score better"
                        if best_score <= last else
                        "kept the previous model: the retrained one scored worse")
            else:
                what = f"kept the model of step {best_step}, the best"
            message = (
                f"{what} on the held-out strokes (mean IoU {best_score:.3f} against "
                f"{last:.3f} at step {self.step})"
            )
            self.note = f"{self.note}; {message}" if self.note else message
        self._best = None

    def bundle(self) -> Bundle:
        """A snapshot of the model as it is now (weights copied to the CPU)."""
        return snapshot(self, [self.patch_in, self.patch_out], **self._validation_info())

    def _validation_info(self) -> dict:
        if self.validator is None or self.validation is None:
            return {}
        return {"validation": {"mean_iou": round(self.validation, 4), "step": self._scored_step,
                               "pixels": self.validator.pixels}}


def fit(images, labels, **kwargs) -> Generator[Progress, None, Bundle]:
    """Generator form of :class:`Trainer`: ``bundle = drain(fit(images, labels, ...))``."""
    trainer = Trainer(images, labels, **kwargs)
    return (yield from trainer.steps())
