"""Training as a generator: ``for progress in trainer.steps(): ...``.

The generator yields a :class:`~napari_unet.core.progress.Progress` after every optimiser
step and can be abandoned between any two (``close()``, or napari's ``worker.quit()``);
:meth:`Trainer.bundle` then returns the model trained so far. Nothing here touches the
arrays it is given: images are normalised into copies, labels into new target arrays.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence

import numpy as np
import torch
from skimage.segmentation import relabel_sequential

from ..config import ModelConfig, NormConfig, PostprocessConfig, PredictConfig, TrainConfig
from ..device import (
    torch_threads,
)
from ..files.bundle import Bundle
from ..grayscale import chw_to_gray
from ..images import ImageError, as_label_array, check_array, check_class_labels, check_finite, check_image
from ..networks.model import UNet, load_body
from ..normalize import fit_normalization, normalize
from ..progress import Progress
from .augment import AugmentParams, augment
from .engine import Engine, snapshot
from .events import BackgroundFar, ObjectsTuned, StartedFromImage
from .losses import masked_cross_entropy, starter_kl
from .painting_check import background_far
from .sampling import PatchSampler
from .selfsup import SelfSupervised, denoise_head, denoise_loss, joint_forward, take_over
from .start_plan import StartPlan, plan_start
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


class Trainer(Engine):
    """Fit a U-Net to painted labels: the painted 2-D task of the training :class:`~.engine.Engine`.

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
        :attr:`~.engine.Engine.events` say why. A 3-class instance model (a starter) also takes strokes of
        classes: two classes train it through the marginal (foreground = interior + border,
        so the result still splits touching objects), more give its body a new head. A
        colour image with a grayscale ``init`` is trained as its luminance.
    class_names: names of the classes, label 1 first.
    regions: instance mode only: per image, a boolean mask of the annotated region (or
        None for the painted objects' bounding box grown by ``config.targets.region_margin``).
    warm: a :class:`~napari_unet.core.training.selfsup.SelfSupervised` run on these images (while
        the user painted): training starts from its network instead of random weights
        (not when ``init`` is given), and its denoising head continues with
        ``config.regularisers.self_supervised``.
    """

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
        lab, n_classes = self._checked(images, labels)
        plan = plan_start(init, self.config, in_channels, n_classes, model, class_names)
        if plan.init is not None and plan.init.mode == "instance":  # its border, as it learnt it
            self.config = self.config.replace(
                border_width=plan.init.train.targets.border_width)
        if plan.luminance:
            images = [chw_to_gray(im) for im in images]
        self.plan = plan
        """How this run uses the model it starts from (:func:`~.start_plan.plan_start`)."""
        super().__init__(self.config)
        self.events = list(plan.events)
        if plan.init is None and self.config.targets.mode == "semantic":
            far = background_far(lab)
            if far is not None:
                self.events.append(BackgroundFar(*far))
        self.groups = [list(g) for g in plan.groups] if plan.groups is not None else None
        self.n_target_classes = n_classes
        """Classes of the training targets (painted); the network may have more (marginal)."""
        self.model_config = plan.model_config
        self.init = init = plan.init
        self.class_names = list(plan.class_names)
        self.postprocess = init.postprocess if init is not None else PostprocessConfig()
        self.norm = fit_normalization(images, norm or (init.norm if init else NormConfig()))
        self._shapes = [tuple(im.shape) for im in images]
        self._build_networks(plan)
        self.start_from_warm(warm)
        self._use_device([self.model, self.denoiser, self._teacher], torch.channels_last)
        self.augment = AugmentParams.from_train_config(self.config)
        self.patch_in = self.model.input_size_for(self.config.sampling.patch_size)
        self.patch_out = self.model.output_size(self.patch_in)
        self._use_data(images, lab, regions, n_classes)
        self._use_optimiser(
            [*self.model.parameters(), *(self.denoiser.parameters() if self.denoiser else ())],
            amp=self.config.runtime.amp,
        )

    def _build_networks(self, plan: StartPlan) -> None:
        """The U-Net (random, or from :attr:`init`), the teacher and the denoising head."""
        init = self.init
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=self.generator)))
            self.model = UNet(self.model_config)
        self._soft: dict = {}
        """The starting model's probabilities per training image, by content (live mode
        hands the same images over every few seconds: predicted once, not each time)."""
        self._teacher = init.build_model("cpu") if plan.teacher else None
        """The starting model, frozen, when its predictions are kept where nothing is painted
        (``config.regularisers.keep_starter``: a starter or a model made from one, same outputs)."""
        self._freeze_norm = plan.freeze_norms
        """Batch-norm statistics stay the starter's: updated from a few patches of one or two
        images they shift, and the starter's objects fall apart even with no weight change
        (F1@0.5 on DSB2018 fluorescence 0.85 -> 0.78 after 100 steps at learning rate 0)."""
        if init is not None and plan.new_head:  # the starter's body, a new (random) head
            load_body(self.model, init.state_dict)
        elif init is not None:
            self.model.load_state_dict(init.state_dict)
        self.denoiser = None
        """The second head (blind-spot denoising), trained with ``config.regularisers.self_supervised``."""
        if plan.denoiser:  # a starter keeps its own loss
            with torch.random.fork_rng(devices=[]):  # reproducible, as the U-Net is
                torch.manual_seed(int(torch.randint(2**31, (1,), generator=self.generator)))
                self.denoiser = denoise_head(self.model)

    def start_from_warm(self, warm: SelfSupervised | None) -> bool:
        """Before the first step: start from what ``warm`` learnt of the images alone (its
        network body and denoising head); returns whether it did (not when fine-tuning, or
        for another architecture). :attr:`~.engine.Engine.events` say so."""
        if warm is None or self.init is not None or self.step > 0:
            return False
        if not take_over(self.model, warm):
            return False
        if self.denoiser is not None:
            self.denoiser.load_state_dict(warm.head.state_dict())
        self.events.append(StartedFromImage(warm.step))
        return True

    def _checked(self, images, labels) -> tuple[list[np.ndarray], int]:
        """Checked label arrays (instance ids numbered 1..N) and the number of classes."""
        lab = [as_label_array(l, im.shape[-2:]) for im, l in zip(images, labels)]
        for im in images:
            check_image(im)
            check_finite(np.asarray(im))
        if self.config.targets.mode == "instance":
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
        instance = self.config.targets.mode == "instance"
        seed = self.config.sampling.seed
        weights = None
        if instance:
            regions = list(regions) if regions is not None else [None] * len(lab)
            regions = [
                annotated_region(l, self.config.targets.region_margin) if r is None else np.asarray(r, bool)
                for l, r in zip(lab, regions)
            ]
            width = self.config.targets.border_width
            targets = [instance_target(l, r, width) for l, r in zip(lab, regions)]
            if self.config.targets.border_w0 > 0:
                weights = [
                    border_weight(l, self.config.targets.border_w0, self.config.targets.border_sigma) for l in lab
                ]
        else:
            targets = [semantic_target(l) for l in lab]
        self.painted = np.bincount(
            np.concatenate([t[t != IGNORE] for t in targets]), minlength=n_classes
        ).tolist()
        normalized = [normalize(np.asarray(im), self.norm) for im in images]
        holdout = choose_holdout(
            lab, self.config.validation.validation_fraction, instance, regions if instance else None,
            seed=seed or 0,
        )
        objects = instance and self.groups is None and n_classes == len(INSTANCE_CLASSES)
        self._objects = None
        """Whole objects painted: every one with its ring, to fit the post-processing's
        thresholds to them once training is over (``config.validation.fit_thresholds``)."""
        if (objects and self.config.validation.fit_thresholds
                and sum(len(np.unique(l)) - 1 for l in lab) >= MIN_OBJECTS):
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
        if self.plan.class_weight is not None:
            # the weights the starter learnt with: balancing a few objects' borders against
            # their background shifts its interior/border calibration and its objects
            w_c = np.asarray(self.plan.class_weight, np.float32)
        else:
            w_c = class_weights(targets, n_classes) if self.config.targets.class_balance else None
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
            painted_fraction=self.config.sampling.painted_fraction,
            device=self.device,
            generator=self.generator,
            weights=weights,
        )

    @property
    def bundle_mode(self) -> str:
        """The saved model's mode: a starter trained through the marginal stays "instance"."""
        return "instance" if self.groups is not None else self.config.targets.mode

    @staticmethod
    def _image_key(image: np.ndarray):
        import hashlib

        return image.shape, hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest()

    def _teacher_probabilities(self, image: np.ndarray) -> np.ndarray:
        """The starting model's ``(K, H, W)`` probabilities on a normalised image (cached)."""
        from ..inference.predict import predict_normalized

        key = self._image_key(image)
        if self._soft.get(key) is None:
            config = PredictConfig(tile_size=512, amp=self.config.runtime.amp)
            with torch_threads(self.config.runtime.threads):
                self._soft[key] = predict_normalized(image, self._teacher, config).probabilities
        return self._soft[key]

    # -- the task: batches, forward pass and loss ------------------------------------------
    def batch(self) -> tuple:
        """Augmented patches around painted pixels: ``(image, target, weights, soft)`` with
        the targets, weights and the teacher's probabilities (or None) cropped to the output."""
        img, tgt, wgt = self.sampler.sample(self.config.sampling.batch_size)
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
        return img, tgt, wgt, soft

    def forward(self, batch: tuple) -> tuple:
        """``(logits, denoised, mask)``: the denoising head's output and blind spots, or Nones."""
        if self.denoiser is None:
            return self.model(batch[0]), None, None
        return joint_forward(self.model, self.denoiser, batch[0], self.generator)

    def batch_loss(self, batch: tuple, outputs: tuple) -> torch.Tensor:
        """Cross-entropy on the painted pixels, plus the denoising loss (with a denoiser)
        and the teacher's where nothing is painted (with a teacher)."""
        img, tgt, wgt, soft = batch
        logits, denoised, mask = outputs
        loss = masked_cross_entropy(logits, tgt, self.class_weight, wgt, self.groups)
        if self.denoiser is not None:
            lo = (self.patch_in - self.patch_out) // 2
            crop = (..., slice(lo, lo + self.patch_out), slice(lo, lo + self.patch_out))
            loss = loss + self.config.regularisers.self_supervised * denoise_loss(denoised, img[crop], mask[crop])
        if soft is not None:
            loss = loss + self.config.regularisers.keep_starter * starter_kl(logits, soft, tgt, self.groups)
        return loss

    def _after_training(self) -> None:
        """The weights taken part of the way back to the start (``config.regularisers.starter_share``);
        then, with ``config.validation.fit_thresholds`` and whole objects painted, the foreground and
        seed thresholds that best reproduce the painted objects, said in
        :attr:`~.engine.Engine.events` when they change (issue 21, item 6)."""
        self._share_start()
        if self._objects is None or self.step == 0:
            return
        self._objects.postprocess = self.postprocess
        post, before, after = self._objects.tune(self.model, amp=self.config.runtime.amp)
        self.model.eval()
        if post != self.postprocess:
            self.postprocess = post
            self.events.append(ObjectsTuned(post.threshold, post.seed_threshold, before, after))

    def _share_start(self) -> None:
        """Weights = start + (1 - share) x (trained - start), when fine-tuning a starter
        (the teacher holds the starting weights) and training moved them; the held-out
        score is then the blend's."""
        share = self.config.regularisers.starter_share
        if self._teacher is None or self.step == 0 or self.kept_start or share <= 0:
            return
        with torch.no_grad():
            start = self._teacher.state_dict()
            for name, value in self.model.state_dict().items():
                if value.is_floating_point():
                    value.lerp_(start[name].to(value.device, value.dtype), share)
        if self.validator is not None:
            self.validation = self.validator.score(self.model, amp=self.config.runtime.amp)

    def bundle(self) -> Bundle:
        """A snapshot of the model as it is now (weights copied to the CPU)."""
        return snapshot(self, [self.patch_in, self.patch_out], **self._validation_info())


def fit(images, labels, **kwargs) -> Generator[Progress, None, Bundle]:
    """Generator form of :class:`Trainer`: ``bundle = drain(fit(images, labels, ...))``."""
    trainer = Trainer(images, labels, **kwargs)
    return (yield from trainer.steps())
