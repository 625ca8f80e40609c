"""The documentation (README.md) of a bioimage.io package: what the model does, how it was
trained (from the bundle's train config and provenance), how to use and validate it."""

from __future__ import annotations

from ..files.bundle import Bundle, _readable_date
from ..networks.deployable import sizes


def _norm_text(bundle: Bundle) -> str:
    n = bundle.norm
    if n.mode == "fixed":
        pairs = ", ".join(f"[{lo:.6g}, {hi:.6g}]" for lo, hi in zip(n.low, n.high))
        return (f"fixed per channel: `(x - low) / (high - low)` with `[low, high]` = {pairs}, "
                f"the {n.low_percentile} and {n.high_percentile} percentiles of the training "
                "images (preprocessing `scale_linear`)")
    return (f"per image and channel: `(x - p{n.low_percentile}) / (p{n.high_percentile} - "
            f"p{n.low_percentile})`, the image's own percentiles (preprocessing `scale_range`)")


def _plain(text: str) -> str:
    """``text`` (from the model file) as literal Markdown on one line: class names went into
    the README unescaped, so a name could add headings, links or HTML (issue 26, item 8)."""
    import re

    one_line = " ".join(str(text).split())
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~&])", r"\\\1", one_line)


def _validation_text(info: dict, t) -> str:
    v = info.get("validation")
    iou = v.get("mean_iou") if isinstance(v, dict) else None
    if isinstance(iou, (int, float)) and not isinstance(iou, bool) and iou == iou:
        # provenance is only shown: a score of another type is left out (issue 26, item 7)
        return (f"While training, napari-unet held out painted strokes ({v.get('pixels', '?')} "
                f"pixels) and scored the model on them: mean IoU {float(iou):.3f} "
                f"(step {v.get('step', '?')}).")
    return ("napari-unet can score the model on held-out painted strokes while training "
            f"(validation fraction {t.validation.validation_fraction:g}); no score was recorded for this model.")


def readme(bundle: Bundle, name: str) -> str:
    cfg, t, info, s = bundle.model_config, bundle.train, bundle.info, sizes(bundle)
    budget = []
    if t.budget.steps is not None:
        budget.append(f"{t.budget.steps} steps")
    if t.budget.seconds is not None:
        budget.append(f"{t.budget.seconds:g} s")
    classes = "\n".join(f"{k}. {_plain(c)} (napari-unet label {k + 1})"
                        for k, c in enumerate(bundle.class_names))
    shapes = ", ".join("x".join(str(v) for v in s) for s in info.get("image_shapes", [])) or "not recorded"
    painted = info.get("painted_pixels")
    a = t.augmentation
    augment = ("elastic deformation, " if a.elastic else "") + ("flips and 90° rotations, " if a.flips else "")
    augment += f"intensity scale ±{a.intensity_scale:g} and shift ±{a.intensity_shift:g}"
    if a.noise:
        augment += f", Gaussian noise up to {a.noise:g}"
    lines = [
        f"# {name}",
        "",
        "A 2-D U-Net (Ronneberger et al. 2015) trained with napari-unet (a napari plugin) on "
        f"sparsely painted annotations; it predicts {cfg.n_classes} classes per pixel"
        + (" (instance mode: background, object interior, object border; objects are the "
           "connected interiors, grown into the borders)" if bundle.mode == "instance" else "")
        + ".",
        "",
        "## Input and output",
        "",
        f"- Input `input`: (batch, channel, y, x), {cfg.in_channels} channel(s), float32; "
        f"y and x are {s['min']} + n * {s['step']} pixels (padding `{cfg.padding}`); the output is "
        + ("as large as the input." if s["output_offset"] == 0
           else f"{-s['output_offset']} px smaller (the valid U-Net's margin, both sides)."),
        f"- Normalisation: {_norm_text(bundle)}.",
        "- Output `probabilities`: softmax over the classes (the network outputs logits; the "
        "softmax is the postprocessing step):",
        "",
        classes,
        "",
        "## Training",
        "",
        f"- Trained: {_readable_date(info['date']) if 'date' in info else 'date not recorded'} "
        f"on {info.get('device', 'an unrecorded device')}, "
        f"{info.get('steps', '?')} steps in {float(info.get('seconds', 0)):.1f} s "
        f"(budget: {' or '.join(budget) or 'not recorded'}), napari-unet {info.get('napari_unet', '?')}.",
        f"- Training images (C x H x W): {shapes}; painted pixels per class: {painted or 'not recorded'}.",
        f"- Mode: {bundle.mode}. Patches of {t.sampling.patch_size} px, batches of {t.sampling.batch_size}, "
        f"AdamW (learning rate {t.optimiser.learning_rate:g}, weight decay {t.optimiser.weight_decay:g}), "
        "cross-entropy on painted pixels only"
        + (", classes weighted equally" if t.targets.class_balance else "") + ".",
        f"- Augmentation: {augment if t.augmentation.augment else 'none'}.",
        f"- Architecture: depth {cfg.depth}, {cfg.base_width} feature maps at the first level, "
        f"`{cfg.upsampling}` up-sampling, batch norm {'on' if cfg.batch_norm else 'off'}, "
        f"dropout {cfg.dropout:g}.",
        "",
        "## Validation",
        "",
        _validation_text(info, t),
        "No independent ground truth was used "
        "for this export: check the predictions on images you did not paint before relying on "
        "them. The package's test tensors only show that the model runs reproducibly.",
        "",
        "## Limitations",
        "",
        "Trained on a few user-painted images; it is specific to their modality, scale and "
        "staining.",
        "",
    ]
    return "\n".join(lines)
