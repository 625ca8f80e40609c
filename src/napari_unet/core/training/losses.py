"""The losses: the paper's weighted cross-entropy over painted pixels only, and keeping a
starting model's predictions where nothing is painted.

Unpainted pixels have the target ``IGNORE`` (-1) and never count in the cross-entropy
(label 0 in a Labels layer means "not painted", never background).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .targets import IGNORE


def masked_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    pixel_weight: torch.Tensor | None = None,
    groups: Sequence[Sequence[int]] | None = None,
) -> torch.Tensor:
    """Weighted pixel-wise cross-entropy over pixels whose target is not IGNORE.

    ``groups``: target class ``j`` is the union of the network's classes ``groups[j]``; its
    probability is their sum (the marginal: strokes of foreground train a 3-class starter's
    interior + border, ``groups = [[0], [1, 2]]``). ``weight`` then has one entry per group.

    ``logits (B, K, H, W)``, ``target (B, H, W)`` with IGNORE = -1 for pixels that must not
    count (unpainted, or from outside the image); ``weight (K,)`` per class (the paper's
    w_c); ``pixel_weight (B, H, W)`` added to it (the paper's border term). Returns the
    weighted mean over counted pixels, 0 (with a gradient of 0) if none.
    """
    valid = target != IGNORE
    safe = torch.where(valid, target, torch.zeros_like(target))
    if groups is None:
        per_pixel = F.cross_entropy(logits.float(), safe, reduction="none")
    else:
        logp = F.log_softmax(logits.float(), dim=1)
        logp = torch.stack([torch.logsumexp(logp[:, list(g)], dim=1) for g in groups], dim=1)
        per_pixel = F.nll_loss(logp, safe, reduction="none")
    w = weight[safe] if weight is not None else torch.ones_like(per_pixel)
    return _weighted_mean(per_pixel, w, pixel_weight, valid)


def _weighted_mean(per_pixel, w, pixel_weight, valid) -> torch.Tensor:
    """The mean of ``per_pixel`` weighted by ``w`` plus ``pixel_weight`` over ``valid``
    pixels; 0 (with a gradient of 0) if none."""
    if pixel_weight is not None:
        w = w + pixel_weight
    w = w * valid.to(per_pixel.dtype)
    return (per_pixel * w).sum() / w.sum().clamp_min(1e-6)


def soft_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    pixel_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The weighted cross-entropy of :func:`masked_cross_entropy` against *soft* targets.

    ``target (B, K, H, W)``: a probability per class (a pixel whose targets sum to 0, such
    as one from outside the image, does not count). ``weight (K,)`` per class is mixed by
    the target (``sum_k target_k w_k``); ``pixel_weight (B, H, W)`` is added to it. Returns
    the weighted mean over counted pixels, 0 (with a gradient of 0) if none.
    """
    target = target.float()
    mass = target.sum(1)
    valid = mass > 0
    per_pixel = -(target * F.log_softmax(logits.float(), dim=1)).sum(1)
    w = (target * weight.view(1, -1, 1, 1)).sum(1) if weight is not None else mass
    return _weighted_mean(per_pixel, w, pixel_weight, valid)


def starter_kl(logits: torch.Tensor, soft: torch.Tensor, target: torch.Tensor,
               groups: Sequence[Sequence[int]] | None = None) -> torch.Tensor:
    """Keep a starting model's predictions ``soft`` where the painting does not say otherwise.

    Unpainted pixels (target IGNORE): ``KL(soft || softmax(logits))`` over all classes.
    Pixels painted with a target class that is a group of several network classes (strokes of
    foreground on a starter: interior + border): the KL of the split *within* the group, so
    the strokes decide foreground against background and the starter keeps deciding interior
    against border. Mean over those pixels; ``logits``, ``soft`` ``(B, K, H, W)``.
    """
    logp = F.log_softmax(logits.float(), dim=1)
    p = soft.float().clamp_min(1e-6)
    p = p / p.sum(1, keepdim=True)
    kl = (p * (p.log() - logp)).sum(1)
    terms = [kl[target == IGNORE]]
    for j, g in enumerate(groups or []):
        if len(g) < 2:
            continue
        inside = target == j
        if not bool(inside.any()):
            continue
        q = p[:, list(g)]
        q = q / q.sum(1, keepdim=True)
        s = F.log_softmax(logits.float()[:, list(g)], dim=1)
        terms.append((q * (q.log() - s)).sum(1)[inside])
    values = torch.cat(terms)
    return values.mean() if values.numel() else logits.sum() * 0.0
