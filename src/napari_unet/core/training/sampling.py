"""Training patches drawn from several (image, target) pairs, biased toward painted pixels.

Images and targets live on the training device once; every call of :meth:`PatchSampler.sample`
cuts ``batch`` windows by slicing (no host round trip). A share ``painted_fraction`` of the
windows is centred on a painted pixel, choosing first a class uniformly (so a class painted
with one short stroke is seen as often as a large one) and then one of its pixels; the rest
are placed uniformly. Each pair is first cropped to the bounding box of its painted pixels
plus a window's margin, and mirrored where the window leaves the image; targets there are
IGNORE.
"""

from __future__ import annotations

import numpy as np
import torch

from .targets import IGNORE


def _painted_box(target: np.ndarray, margin: int) -> tuple[slice, slice]:
    ys, xs = np.nonzero(target != IGNORE)
    h, w = target.shape
    return (
        slice(max(0, ys.min() - margin), min(h, ys.max() + margin + 1)),
        slice(max(0, xs.min() - margin), min(w, xs.max() + margin + 1)),
    )


class PatchSampler:
    """Cut ``(B, C, window, window)`` image and ``(B, window, window)`` target windows."""

    def __init__(
        self,
        images: list[np.ndarray],
        targets: list[np.ndarray],
        window: int,
        n_classes: int,
        painted_fraction: float = 0.9,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
        weights: list[np.ndarray] | None = None,
    ):
        self.window = window
        self.painted_fraction = painted_fraction
        self.generator = generator or torch.Generator().manual_seed(0)
        half = window // 2
        self.images: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []
        self.weights: list[torch.Tensor] | None = [] if weights is not None else None
        self.sizes: list[tuple[int, int]] = []
        coords: list[list[np.ndarray]] = [[] for _ in range(n_classes)]
        for i, (img, tgt) in enumerate(zip(images, targets)):
            if not (tgt != IGNORE).any():
                continue
            ys, xs = _painted_box(tgt, half)
            img, tgt = img[:, ys, xs], tgt[ys, xs]
            if self.weights is not None:
                wgt = np.pad(weights[i][ys, xs], window, mode="constant")
                self.weights.append(torch.as_tensor(wgt, dtype=torch.float32).to(device))
            pad = window  # mirrored image, ignored target, around every pair
            img = np.pad(img, ((0, 0), (pad, pad), (pad, pad)), mode="symmetric")
            tgt = np.pad(tgt, pad, mode="constant", constant_values=IGNORE)
            k = len(self.images)
            self.images.append(torch.as_tensor(img, dtype=torch.float32).to(device))
            self.targets.append(torch.as_tensor(tgt, dtype=torch.long).to(device))
            self.sizes.append(tuple(s - 2 * pad for s in tgt.shape))
            for c in range(n_classes):
                cy, cx = np.nonzero(tgt == c)
                if cy.size:
                    coords[c].append(np.stack([np.full_like(cy, k), cy - pad, cx - pad], 1))
        if not self.images:
            raise ValueError("no painted pixels to sample from")
        self.class_coords = [torch.as_tensor(np.concatenate(c)) for c in coords if c]
        area = torch.tensor([h * w for h, w in self.sizes], dtype=torch.float64)
        self.area_weights = area / area.sum()

    def _centres(self, batch: int) -> list[tuple[int, int, int]]:
        g = self.generator
        out = []
        painted = torch.rand(batch, generator=g) < self.painted_fraction
        for b in range(batch):
            if painted[b]:
                cls = self.class_coords[int(torch.randint(len(self.class_coords), (1,), generator=g))]
                k, y, x = cls[int(torch.randint(len(cls), (1,), generator=g))].tolist()
            else:
                k = int(torch.multinomial(self.area_weights, 1, generator=g))
                h, w = self.sizes[k]
                y = int(torch.randint(h, (1,), generator=g))
                x = int(torch.randint(w, (1,), generator=g))
            out.append((k, y, x))
        return out

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``batch`` windows: images ``(B, C, window, window)``, targets ``(B, window, window)``
        and, if the sampler has them, pixel weights ``(B, window, window)`` (else None)."""
        n = self.window
        pad = n  # the padding added in __init__
        # jitter the centre so painted pixels are not always at the window's centre
        jitter = torch.randint(-(n // 4), n // 4 + 1, (batch, 2), generator=self.generator)
        imgs, tgts, wgts = [], [], []
        for (k, y, x), (jy, jx) in zip(self._centres(batch), jitter.tolist()):
            y0 = y + jy + pad - n // 2
            x0 = x + jx + pad - n // 2
            h, w = self.targets[k].shape
            y0 = min(max(y0, 0), h - n)
            x0 = min(max(x0, 0), w - n)
            imgs.append(self.images[k][:, y0 : y0 + n, x0 : x0 + n])
            tgts.append(self.targets[k][y0 : y0 + n, x0 : x0 + n])
            if self.weights is not None:
                wgts.append(self.weights[k][y0 : y0 + n, x0 : x0 + n])
        return torch.stack(imgs), torch.stack(tgts), torch.stack(wgts) if wgts else None
