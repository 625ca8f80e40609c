"""The few-shot benchmark's baseline: a random-forest pixel classifier on the same strokes.

This is the approach of ilastik's pixel classification and of scikit-image's "trainable
segmentation" example: per pixel, multiscale intensity, edge and texture features
(:func:`skimage.feature.multiscale_basic_features`, sigma 1 to 16, per channel) of the
percentile-normalised image (the U-Net's own :func:`napari_unet.core.normalize.normalize`
with the default :class:`~napari_unet.core.config.NormConfig`), and a random forest fitted on
the painted pixels only. Labels follow the U-Net's convention (0 = unpainted, k = class k)
and the output is a :class:`napari_unet.core.inference.predict.Prediction` whose ``probabilities`` are
``(K, H, W)`` with class k at index k - 1, so the U-Net's post-processing
(:func:`napari_unet.core.inference.postprocess.to_instances` with mode ``"semantic"``) turns both into
instances the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from skimage.feature import multiscale_basic_features
from sklearn.ensemble import RandomForestClassifier

from napari_unet.core.config import NormConfig
from napari_unet.core.inference.predict import Prediction
from napari_unet.core.normalize import normalize


def pixel_features(image: np.ndarray, sigma_min: float = 1.0, sigma_max: float = 16.0) -> np.ndarray:
    """``(C, H, W)`` image -> ``(H, W, F)`` float32 features, F = 4 * n_sigmas * C.

    Intensity, edges (Sobel of the smoothed image) and texture (Hessian eigenvalues) at
    ``log2(sigma_max / sigma_min) + 1`` scales (5 for 1..16), on the percentile-normalised
    image, per channel.
    """
    x = normalize(np.asarray(image), NormConfig())
    kwargs = dict(intensity=True, edges=True, texture=True, sigma_min=sigma_min, sigma_max=sigma_max)
    if x.shape[0] == 1:
        feats = multiscale_basic_features(x[0], **kwargs)
    else:
        feats = multiscale_basic_features(np.moveaxis(x, 0, -1), channel_axis=-1, **kwargs)
    return feats.astype(np.float32, copy=False)


@dataclass
class RandomForestSegmenter:
    """Random forest on multiscale pixel features, fitted on painted pixels only.

    Attributes
    ----------
    n_estimators, max_depth: the forest (100 trees of depth 10, as scikit-image's example).
    max_samples: pixels drawn (with replacement) per tree, at most; with fewer painted
        pixels every tree gets a full bootstrap sample. An absolute cap rather than
        scikit-image's fraction (0.05) because few-shot painting has only 10^3 to 10^4
        pixels: 5 % of them would give each tree a few dozen samples.
    class_weight: ``"balanced"`` weighs painted classes equally, as the U-Net's
        ``class_balance`` does; ``None`` for plain counts.
    sigma_min, sigma_max: feature scales.
    seed, n_jobs: ``random_state`` and threads of the forest.
    fit_seconds, predict_seconds: wall-clock of the last :meth:`fit` / :meth:`predict`,
        including the features they had to compute (not those passed in).
    """

    n_estimators: int = 100
    max_depth: int = 10
    max_samples: int = 20_000
    class_weight: str | None = "balanced"
    sigma_min: float = 1.0
    sigma_max: float = 16.0
    seed: int = 0
    n_jobs: int = -1
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    n_classes: int = 0
    forest: RandomForestClassifier | None = field(default=None, repr=False)

    def features(self, image: np.ndarray) -> np.ndarray:
        """The ``(H, W, F)`` features of a ``(C, H, W)`` image."""
        return pixel_features(image, self.sigma_min, self.sigma_max)

    def fit(
        self,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        features: Sequence[np.ndarray] | None = None,
    ) -> RandomForestSegmenter:
        """Fit on the painted pixels (labels > 0) of ``(C, H, W)`` images.

        ``features`` may hold the precomputed :meth:`features` of ``images`` (a cache);
        their time is then not part of :attr:`fit_seconds`.
        """
        t0 = time.perf_counter()
        xs, ys = [], []
        for i, (image, lab) in enumerate(zip(images, labels)):
            lab = np.asarray(lab)
            painted = lab > 0
            if not painted.any():
                continue
            feats = features[i] if features is not None else self.features(image)
            if feats.shape[:2] != lab.shape:
                raise ValueError(f"features {feats.shape[:2]} and labels {lab.shape} differ in shape")
            xs.append(feats[painted])
            ys.append(lab[painted].astype(np.int64))
        if not xs:
            raise ValueError("nothing is painted")
        x, y = np.concatenate(xs), np.concatenate(ys)
        if np.unique(y).size < 2:
            raise ValueError("paint at least two classes")
        self.n_classes = int(y.max())
        self.forest = RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            max_samples=min(self.max_samples, y.size),
            class_weight=self.class_weight,
            n_jobs=self.n_jobs,
            random_state=self.seed,
        ).fit(x, y)
        self.fit_seconds = time.perf_counter() - t0
        return self

    def predict(self, image: np.ndarray, features: np.ndarray | None = None) -> Prediction:
        """Labels ``(H, W)`` (class k as value k) and probabilities ``(K, H, W)`` (class k at
        index k - 1; a class never painted has probability 0), as the U-Net's prediction."""
        if self.forest is None:
            raise RuntimeError("fit the forest first")
        t0 = time.perf_counter()
        feats = features if features is not None else self.features(image)
        h, w, f = feats.shape
        proba = self.forest.predict_proba(feats.reshape(-1, f))
        probs = np.zeros((self.n_classes, h * w), np.float32)
        probs[self.forest.classes_ - 1] = proba.T
        probs = probs.reshape(self.n_classes, h, w)
        labels = (probs.argmax(0) + 1).astype(np.uint8 if self.n_classes < 255 else np.uint16)
        self.predict_seconds = time.perf_counter() - t0
        return Prediction(labels, probs)
