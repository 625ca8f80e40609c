"""A trained model as one file: weights, configs, normalisation, class names, lineage,
provenance.

The file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file: tensors plus a
string-to-string metadata header holding our JSON. Loading it never executes code from the
file (no pickle). Saving is atomic: the bundle is written to a temporary file beside the
target, flushed to disk, then renamed over it, so a crash while saving leaves the previous
file intact.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from ..config import (
    ModelConfig,
    NormConfig,
    PostprocessConfig,
    TrainConfig,
    nested_settings,
    without_runtime,
)
from ..grayscale import LumaView
from ..networks.build import build_network
from ..networks.model import UNet
from .atomic import write_bytes
from .bundle_values import check_info, check_lineage, check_norm, check_postprocess
from .lineage import LUMINANCE, from_info, implied_input, starter_rooted

FORMAT = "napari-unet"
FORMAT_VERSION = 4
"""The newest format this version reads, and the one it writes. 1: 2-D models; 2: 3-D models
(releases without them ask for an upgrade instead of calling the file damaged); 3: the file
records its ``lineage`` and ``input`` (:mod:`.lineage`), which decide how it is fine-tuned and
fed. Releases that read only 1 and 2 ask for an upgrade: they would take a model's input from
its provenance text. Files of formats 1 and 2 (the shipped starters among them) still load,
their lineage and input read from that text. 4: the training settings are stored by group
(``{"budget": {"steps": ...}, ...}``, :meth:`~..config.TrainConfig.to_dict`); the flat
settings of formats 1 to 3 are put in their groups as they are read
(:func:`~..config.nested_settings`; keys no longer known are dropped)."""


class BundleError(ValueError):
    """A file that is not a napari-unet model, or one this version cannot read."""


@dataclass
class Bundle:
    """Everything needed to predict as the model was trained to."""

    model_config: ModelConfig
    norm: NormConfig
    state_dict: dict[str, torch.Tensor]
    class_names: list[str] = field(default_factory=list)
    train_config: dict[str, Any] = field(default_factory=dict)
    """The training settings by group, without ``runtime`` (:meth:`TrainConfig.to_dict`); a
    flat dict (``{"mode": "instance"}``, as files of formats 1 to 3 hold) is put in groups."""
    info: dict[str, Any] = field(default_factory=dict)
    """Provenance: date, steps, seconds, device, training image shapes, channels, ..."""
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    lineage: list[str] | None = None
    """Where the model came from, oldest first (:mod:`.lineage`): ``["starter:nuclei",
    "fine-tuned"]``. Not given: as :attr:`info` says (how files of format 1 and 2 said it)."""
    input: str | None = None
    """``"luminance"`` (colour images are given as their luminance) or ``"channels"``. Not
    given: as the lineage implies (:func:`~.lineage.implied_input`)."""

    def __post_init__(self):
        if isinstance(self.train_config, dict):  # device, threads, precision: not the model's
            self.train_config = without_runtime(TrainConfig, nested_settings(self.train_config))
        if not self.class_names:
            self.class_names = default_class_names(self.model_config.n_classes)
        if self.lineage is None:
            self.lineage = from_info(self.info or {})
        if self.input is None:
            self.input = implied_input(self.lineage, self.model_config.in_channels)

    def build_model(self, device: torch.device | str = "cpu") -> UNet:
        """A :class:`UNet` (:class:`~..networks.model3d.UNet3D` for a 3-D model) in eval mode holding
        this bundle's weights, on ``device``."""
        from ..device import prefers_channels_last

        model = build_network(self.model_config)
        model.load_state_dict(self.state_dict)
        device = torch.device(device)
        last = torch.channels_last_3d if self.model_config.spatial_dims == 3 else torch.channels_last
        fmt = last if prefers_channels_last(device) else torch.contiguous_format
        return model.to(device, memory_format=fmt).eval()

    @property
    def train(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train_config)

    @property
    def mode(self) -> str:
        """"semantic" or "instance" (what the model was trained to predict)."""
        targets = self.train_config.get("targets")
        return targets.get("mode", "semantic") if isinstance(targets, dict) else "semantic"

    def summary(self) -> str:
        """One line for people: channels, classes, when and on what it was trained."""
        cfg = self.model_config
        parts = [  # an objects model's classes (interior, border) are its own, not painted
            f"{cfg.in_channels} channel{'s' if cfg.in_channels > 1 else ''}",
            "objects, one label each" if self.mode == "instance" else
            f"classes: {', '.join(self.class_names)}",
        ]
        if cfg.spatial_dims == 3:
            parts.insert(0, f"3-D (z spacing {cfg.anisotropy}× the pixel size)")
        if "date" in self.info:
            parts.append(f"trained {_readable_date(self.info['date'])}")
        if "steps" in self.info:
            parts.append(f"{self.info['steps']} steps")
        return "; ".join(parts)


def _readable_date(iso: str) -> str:
    """'2026-11-23T16:18:03+00:00' -> '2026-11-23 16:18 UTC' (other text unchanged)."""
    try:
        when = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if when.utcoffset() is not None and when.utcoffset().total_seconds() == 0:
        return when.strftime("%Y-%m-%d %H:%M UTC")
    return when.strftime("%Y-%m-%d %H:%M")


def starter_based(bundle: Bundle) -> bool:
    """A shipped starter, or a model fine-tuned from one (its lineage begins at a starter)."""
    return starter_rooted(bundle.lineage)


def takes_luminance(bundle) -> bool:
    """A grayscale model that takes colour images as their luminance (its ``input`` says so:
    the starters and the grayscale models fine-tuned from them). Other grayscale models
    refuse colour images."""
    return bundle.model_config.in_channels == 1 and bundle.input == LUMINANCE


def for_model(image, bundle):
    """``image`` ``(C, H, W)`` as ``bundle``'s model takes it: a colour image for a model
    that :func:`takes_luminance` becomes its luminance (lazily); anything else is unchanged
    (a real channel mismatch is reported by the caller)."""
    if image.shape[0] in (3, 4) and takes_luminance(bundle):
        return LumaView(image)
    return image


def default_class_names(n: int) -> list[str]:
    if n == 2:
        return ["background", "foreground"]
    return ["background"] + [f"class {k}" for k in range(2, n + 1)]


def save_bundle(bundle: Bundle, path: str | os.PathLike) -> Path:
    """Write ``bundle`` to ``path`` atomically; returns the path."""
    from safetensors.torch import save

    path = Path(path)
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_config": json.dumps(bundle.model_config.to_dict()),
        "norm": json.dumps(bundle.norm.to_dict()),
        "class_names": json.dumps(list(bundle.class_names)),
        "train_config": json.dumps(bundle.train_config),
        "info": json.dumps(bundle.info, default=str),
        "postprocess": json.dumps(bundle.postprocess.to_dict()),
        "lineage": json.dumps(list(bundle.lineage)),
        "input": bundle.input,
    }
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in bundle.state_dict.items()}
    data = save(tensors, metadata=meta)
    return write_bytes(path, data)


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Read a bundle; raise :class:`BundleError` with a clear message if it is not one."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    try:
        raw = _read_declared(path)
    except OSError as e:
        raise BundleError(f"cannot read model file {path}: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:
        raise BundleError(f"{path} is not a napari-unet model file (or it is damaged): {e}") from None
    try:
        tensors = load(raw)
        meta = _read_metadata(raw)
    except (SafetensorError, ValueError, OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path} is not a napari-unet model file (or it is damaged): {e}") from None
    if meta.get("format") != FORMAT:
        raise BundleError(f"{path} is not a napari-unet model file")
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError:
        raise BundleError(f"{path} has an unreadable format version") from None
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{path} was saved by a newer napari-unet (format {version}); "
            f"this version reads format {FORMAT_VERSION} — please upgrade napari-unet"
        )
    try:
        # format 3 records them; older files said them in their provenance (Bundle: from_info)
        lineage = json.loads(meta["lineage"]) if version >= 3 else None
        taken = meta["input"] if version >= 3 else None
        bundle = Bundle(
            model_config=ModelConfig.from_dict(json.loads(meta["model_config"])),
            norm=NormConfig.from_dict(json.loads(meta["norm"])),
            state_dict=tensors,
            class_names=list(json.loads(meta.get("class_names", "[]"))),
            train_config=dict(json.loads(meta.get("train_config", "{}"))),
            info=_clean_info(json.loads(meta.get("info", "{}"))),
            postprocess=PostprocessConfig.from_dict(json.loads(meta.get("postprocess", "{}"))),
            lineage=lineage,
            input=taken,
        )
        _check_size(bundle.model_config)
        _check_weights(bundle.model_config, tensors)
        check_postprocess(bundle.postprocess)
        check_norm(bundle.norm, bundle.model_config.in_channels)
        check_info(bundle.info, bundle.model_config.n_classes)
        if version >= 3:
            check_lineage(lineage, taken, bundle.model_config.in_channels)
        trained = TrainConfig.from_dict(bundle.train_config)  # the stored settings are usable
        if trained.targets.mode == "instance" and bundle.model_config.n_classes != 3:
            raise ValueError("an objects model has 3 classes (background, interior, border)")
        names = bundle.class_names
        if len(names) != bundle.model_config.n_classes or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{bundle.model_config.n_classes} class names expected, got {names!r:.80}")
    except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError, RecursionError) as e:
        raise BundleError(f"{path} is a damaged napari-unet model file: {e}") from None
    return bundle


_INFO_TYPES = {"date": str, "steps": int, "seconds": (int, float), "device": str,
               "image_shapes": list, "version": str}


def _clean_info(info) -> dict[str, Any]:
    """Provenance from a file, minus known keys whose values have the wrong type (it is only
    shown to people, so a bad value is dropped rather than refusing the model)."""
    if not isinstance(info, dict):
        raise ValueError("provenance is not a mapping")
    clean = {}
    for key, value in info.items():
        want = _INFO_TYPES.get(key)
        if want is not None and (not isinstance(value, want) or isinstance(value, bool)):
            continue
        if key == "image_shapes" and not all(
            isinstance(s, list) and all(isinstance(v, int) for v in s) for s in value
        ):
            continue
        clean[key] = value
    return clean


MAX_WIDTH = 256
"""Feature maps at the first level a model file may claim (the defaults use 16)."""
MAX_CHANNELS = 256
"""Input channels a model file may claim."""


def _check_size(config: ModelConfig) -> None:
    """The limits training applies (at most :data:`~..images.MAX_CLASSES` classes) and bounds
    on width and channels, checked before anything is allocated: a consistent file of a few
    MB can otherwise claim 20,000 classes and need gigabytes per tile."""
    from ..images import MAX_CLASSES

    if config.n_classes > MAX_CLASSES:
        raise ValueError(f"it claims {config.n_classes} classes; napari-unet models have at most "
                         f"{MAX_CLASSES}")
    if config.base_width > MAX_WIDTH or config.in_channels > MAX_CHANNELS:
        raise ValueError(f"it claims a network of width {config.base_width} for "
                         f"{config.in_channels} channels; at most {MAX_WIDTH} and "
                         f"{MAX_CHANNELS} are supported")


def _check_weights(config: ModelConfig, tensors: dict[str, torch.Tensor]) -> None:
    """The file's tensors are exactly the architecture's, by name, shape and float dtype.

    The architecture is built on the ``meta`` device, so a file that claims a huge network
    allocates nothing before it is refused.
    """
    with torch.device("meta"):
        expected = build_network(config).state_dict()
    if set(expected) != set(tensors):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise ValueError(f"weights do not fit the architecture (missing {missing[:3]}, "
                         f"unexpected {extra[:3]})")
    for name, want in expected.items():
        got = tensors[name]
        if got.shape != want.shape or got.dtype.is_floating_point != want.dtype.is_floating_point:
            raise ValueError(f"weight {name} has shape {tuple(got.shape)} ({got.dtype}), "
                             f"expected {tuple(want.shape)}")
        if got.dtype.is_floating_point:  # as the network will hold them (float32)
            used = got.to(want.dtype)
            if not torch.isfinite(used).all():
                raise ValueError(f"weight {name} has NaN or infinite values"
                                 + (" as float32" if torch.isfinite(got).all() else ""))
            if name.endswith("running_var") and (used < 0).any():
                raise ValueError(f"batch-norm statistics {name} hold negative variances")


MAX_HEADER_BYTES = 256 * 2**20
"""Largest safetensors header (JSON) read from a model file; real ones are kilobytes."""


def _read_declared(path: Path) -> bytes:
    """The bytes of the model file at ``path``, read only after its header says how many
    there are and the file has exactly that size (``ValueError`` if not): a 6 GB image given
    as the model ended in MemoryError, and ``/dev/zero`` was read until memory ran out
    (issue 26, item 5)."""
    import stat

    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("it is not a regular file")
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError("file too short")
        n = int.from_bytes(head, "little")
        if n > min(st.st_size - 8, MAX_HEADER_BYTES):
            raise ValueError("its header is longer than the file")
        text = fh.read(n)
        header = json.loads(text.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("its header is not a mapping")
        ends = [v.get("data_offsets", [0, 0])[1] if isinstance(v, dict) else None
                for k, v in header.items() if k != "__metadata__"]
        if not all(isinstance(e, int) and e >= 0 for e in ends):
            raise ValueError("its header has unreadable tensor offsets")
        size = 8 + n + max(ends, default=0)
        if size != st.st_size:
            raise ValueError(f"the file has {st.st_size} bytes, its header declares {size}")
        return head + text + fh.read(size - 8 - n)


def _read_metadata(raw: bytes) -> dict[str, str]:
    """The safetensors header's ``__metadata__`` (JSON after an 8-byte little-endian length)."""
    if len(raw) < 8:
        raise ValueError("file too short")
    n = int.from_bytes(raw[:8], "little")
    if n > len(raw) - 8:
        raise ValueError("header longer than the file")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a mapping")
    return meta
