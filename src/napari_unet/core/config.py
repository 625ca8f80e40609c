"""Settings as documented dataclasses that round-trip through plain dicts (and so JSON/YAML).

A trained model stores its :class:`ModelConfig`, :class:`NormConfig` and the
:class:`TrainConfig` it was trained with inside its bundle, so it always knows how it was made
(less the ``runtime`` settings: device, threads, mixed precision; :func:`without_runtime`).

Each setting that the command line or a dock shows declares its default, range and help once,
on its field (:func:`setting`); the checks, the command line's options and the docks' spin
boxes are made from that (:func:`bounds`, :func:`help_of`, :func:`check_bounds`). A setting is
named by its field's name alone (``bounds(TrainConfig, "zoom")``): the names are unique
across :class:`TrainConfig`'s groups.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from dataclasses import replace as dataclasses_replace
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints


class ConfigError(ValueError):
    """A setting has a value that cannot work; the message says which and why."""


def interactive_threads() -> int:
    """CPU threads for work next to a GUI: all cores but one (at least one)."""
    import os

    return max(1, (os.cpu_count() or 2) - 1)


def setting(default=MISSING, *, low=None, high=None, help: str = "", group: str = "",
            off=MISSING, switch: bool = False, default_factory=MISSING):
    """A field that declares its range (``low`` to ``high``, both included; None: unbounded)
    and its help text once: the config's own check (:func:`check_bounds`), the command line's
    options and the docks' spin boxes read them (:func:`bounds`, :func:`help_of`).

    ``group``: the settings it belongs with (:data:`TRAIN_GROUPS`, :func:`group_of`);
    ``switch``: it switches its group on and off; ``off``: its value when the group is
    switched off (its default if not given)."""
    meta = {"low": low, "high": high, "help": help, "group": group, "switch": switch}
    if off is not MISSING:
        meta["off"] = off
    return field(default=default, default_factory=default_factory, metadata=meta)


def settings_of(cls) -> list:
    """Every setting of the config class ``cls`` (dataclass ``Field`` objects), in order:
    its fields, or for :class:`TrainConfig` its groups' fields, group by group."""
    if cls is TrainConfig:
        return [f for group in TRAIN_GROUP_CLASSES.values() for f in fields(group)]
    return list(fields(cls))


def _field(cls, name: str):
    for f in settings_of(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no setting {name!r}")


def type_of(cls, name: str):
    """The annotation of the setting ``name`` of ``cls`` (``int | None``, a ``Literal``, ...)."""
    if cls is TrainConfig and name in _TRAIN_GROUP_OF:
        cls = TRAIN_GROUP_CLASSES[_TRAIN_GROUP_OF[name]]
    return get_type_hints(cls)[name]


def bounds(cls, name: str) -> tuple[Any, Any]:
    """``(low, high)`` of the setting ``name`` of ``cls`` (None where unbounded)."""
    meta = _field(cls, name).metadata
    return meta.get("low"), meta.get("high")


def help_of(cls, name: str) -> str:
    """The help text the setting ``name`` of ``cls`` declares ("" if none)."""
    return _field(cls, name).metadata.get("help", "")


TRAIN_GROUPS = ("budget", "optimiser", "sampling", "augmentation", "targets", "validation",
                "regularisers", "runtime")
"""The groups of :class:`TrainConfig`'s settings; every field declares one (``runtime``: how
this machine runs, not saved with a model)."""


def group_of(cls, group: str) -> list:
    """The settings of ``cls`` declared in ``group`` (dataclass ``Field`` objects), in order
    (for :class:`TrainConfig`, the fields of that group's dataclass)."""
    return [f for f in settings_of(cls) if f.metadata.get("group") == group]


def without_runtime(cls, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` (a dict of ``cls``'s, flat or by group) without its ``runtime`` group
    (device, threads, mixed precision, backend): how this machine runs, not how the model
    was made, so a model file does not store them."""
    runtime = {f.name for f in group_of(cls, "runtime")} | {"runtime"}
    return {k: v for k, v in settings.items() if k not in runtime}


def default_of(cls, name: str):
    """The default value of the setting ``name`` of ``cls``."""
    f = _field(cls, name)
    return f.default_factory() if f.default is MISSING else f.default


def out_of_range(name: str, low, high, value) -> str:
    """The words for a value outside its range, the same for the config and the command line
    (which names the option, ``--batch-size``, where the config names the field)."""
    shown = f"{value:g}" if isinstance(value, float) else f"{value}"
    if high is None:
        return f"{name} must be {low} or more, not {shown}"
    if low is None:
        return f"{name} must be {high} or less, not {shown}"
    return f"{name} must be between {low} and {high}, not {shown}"


def check_bounds(settings) -> None:
    """Raise :class:`ConfigError` for the first setting of the dataclass ``settings`` outside
    the range its field declares (None, "not set", is never out of range)."""
    for f in fields(settings):
        low, high = f.metadata.get("low"), f.metadata.get("high")
        value = getattr(settings, f.name)
        if value is None or (low is None and high is None):
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(out_of_range(f.name, low, high, value))


def _from_dict(cls, data: dict[str, Any] | None):
    """Build ``cls`` from a dict, ignoring unknown keys (files from newer versions).

    Values are checked against the field types first (model files are untrusted input: a
    ``"3"`` for a depth or ``"yes"`` for a switch is a :class:`ConfigError`, not a crash later).
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} settings must be a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    for k, v in kwargs.items():
        if not _has_type(v, hints[k]):
            raise ConfigError(f"{cls.__name__}.{k} has a value of the wrong type: {v!r}")
    return cls(**kwargs)


def _has_type(value, hint) -> bool:
    """``value`` (from JSON) fits the annotation ``hint`` (int, float, bool, str, Literal,
    list[float], X | None)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (Union, UnionType):
        return any(_has_type(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(_has_type(v, args[0]) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True  # anything richer is validated by the class itself


class _DictMixin:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None):
        return _from_dict(cls, data)


@dataclass
class ModelConfig(_DictMixin):
    """The U-Net's architecture (Ronneberger et al. 2015, with modern options).

    Attributes
    ----------
    in_channels: channels of the input image (1 for grayscale, 3 for RGB).
    n_classes: output classes; class ``k`` (0-based) is painted as label ``k + 1``.
    depth: number of 2x2 max-poolings (the paper uses 4).
    base_width: feature maps at the first level, doubled at every level (paper: 64).
    padding: ``"same"`` (output as large as the input) or ``"valid"`` (the paper's
        unpadded convolutions; the output is smaller and prediction uses overlap-tile).
    upsampling: ``"transpose"`` (2x2 transposed convolution, the paper's up-convolution)
        or ``"nearest"`` (nearest-neighbour x2 then a 3x3 convolution).
    batch_norm: batch normalisation after every 3x3 convolution.
    dropout: dropout probability at the end of the contracting path (paper: drop-out there).
    spatial_dims: 2 (a 2-D U-Net, applied plane by plane to stacks) or 3 (a 3-D U-Net on
        ``(C, Z, Y, X)`` volumes; ``"same"`` padding only, see ``core/model3d.py``).
    anisotropy: 3-D only: z spacing / in-plane spacing, rounded to a whole number (1 for
        isotropic voxels). With ``r`` starting at ``anisotropy`` and halving at every level
        that pools in-plane only, a level pools ``(1, 2, 2)`` while ``r >= 2`` and ``(2, 2, 2)``
        after, and its convolutions are ``(1, 3, 3)`` while ``r > 2`` (z more than twice as
        coarse: no z context there), else ``3x3x3`` (nnU-Net's rule).
    """

    in_channels: int = setting(1, low=1)
    n_classes: int = setting(2, low=2)
    depth: int = setting(3, low=1, high=6, help="times the U-Net halves the image")
    base_width: int = setting(16, low=1, high=256, help="feature maps at the first level")
    padding: Literal["same", "valid"] = setting(
        "same", help="same: output as large as the input; valid: the paper's unpadded "
        "convolutions")
    upsampling: Literal["transpose", "nearest"] = "transpose"
    batch_norm: bool = True
    dropout: float = 0.0
    spatial_dims: int = 2
    anisotropy: int = setting(1, low=1, high=64,
                              help="3-D: z spacing / in-plane spacing, rounded; the first levels "
                                   "then pool in-plane only")

    def __post_init__(self):
        if self.spatial_dims not in (2, 3):
            raise ConfigError(f"spatial_dims must be 2 or 3, not {self.spatial_dims!r}")
        check_bounds(self)
        if self.spatial_dims == 2 and self.anisotropy != 1:
            raise ConfigError("anisotropy is a setting of 3-D models (spatial_dims=3)")
        if self.spatial_dims == 3 and self.padding != "same":
            raise ConfigError("3-D models use 'same' padding only ('valid' is for 2-D models)")
        if self.padding not in ("same", "valid"):
            raise ConfigError(f"padding must be 'same' or 'valid', not {self.padding!r}")
        if self.upsampling not in ("transpose", "nearest"):
            raise ConfigError(
                f"upsampling must be 'transpose' or 'nearest', not {self.upsampling!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout must be in [0, 1)")


@dataclass
class NormConfig(_DictMixin):
    """Percentile normalisation per channel: ``(x - low) / (high - low)``.

    ``mode="per_image"`` computes the percentiles on every image it is given (robust to
    images of another brightness); ``mode="fixed"`` uses the ``low``/``high`` values measured
    on the training images. Both are stored with the model, so prediction normalises exactly
    as training did.

    ``invert``: ``(high - x) / (high - low)`` instead, so dark objects on a bright background
    (stained tissue, brightfield) reach the network as bright objects on a dark one, as in
    fluorescence (the ``stained`` starter). Files without it are not inverted.
    """

    mode: Literal["per_image", "fixed"] = "per_image"
    low_percentile: float = 1.0
    high_percentile: float = 99.8
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    invert: bool = False

    def __post_init__(self):
        if self.mode not in ("per_image", "fixed"):
            raise ConfigError(f"normalisation mode must be 'per_image' or 'fixed', not {self.mode!r}")
        if not 0 <= self.low_percentile < self.high_percentile <= 100:
            raise ConfigError("need 0 <= low_percentile < high_percentile <= 100")


class _Group(_DictMixin):
    """One group of :class:`TrainConfig`'s settings: checked as it is made (finite numbers of
    their kinds, within their declared ranges)."""

    def __post_init__(self):
        from .numbers import check_finite, check_types

        check_finite(self, ConfigError)  # NaN passes every comparison below (issue 15)
        check_types(self, ConfigError)  # "5" for steps (issue 26)
        check_bounds(self)


@dataclass(frozen=True)
class Budget(_Group):
    """How long to train: ``steps``, ``seconds``, or both (whichever ends first); at least
    one must be set."""

    steps: int | None = setting(None, low=0, high=10**9, help="training budget in steps",
                                group="budget")
    seconds: float | None = setting(30.0, low=0, high=10**8, help="training budget in seconds",
                                    group="budget")

    def __post_init__(self):
        super().__post_init__()
        if self.steps is None and self.seconds is None:
            raise ConfigError("set a training budget: steps, seconds, or both")


@dataclass(frozen=True)
class Optimiser(_Group):
    """``learning_rate``, ``weight_decay``: Adam(W) settings."""

    learning_rate: float = setting(2e-3, low=1e-5, high=1.0, group="optimiser")
    weight_decay: float = setting(1e-4, low=0.0, high=1.0, group="optimiser")


@dataclass(frozen=True)
class Sampling(_Group):
    """The patches a step trains on.

    Attributes
    ----------
    batch_size, patch_size: patches per step and their side in pixels (the model's input).
        Small patches mean many more steps per second; 64 px beat 128 px within 30 s on
        DSB2018 nuclei on a 2-core CPU (docs/benchmarks.md). Raise it for objects larger
        than about 40 px.
    painted_fraction: share of patches centred on a painted pixel (the rest are uniform).
    seed: makes sampling, augmentation and initialisation reproducible.
    """

    batch_size: int = setting(8, low=1, high=4096, help="patches per step", group="sampling")
    patch_size: int = setting(64, low=8, high=4096, help="side of the training patches in px",
                              group="sampling")
    painted_fraction: float = setting(0.9, low=0.0, high=1.0, group="sampling")
    seed: int | None = setting(0, low=0, high=2**63 - 1, group="sampling",
                               help="makes sampling, augmentation and initialisation reproducible")


@dataclass(frozen=True)
class Augmentation(_Group):
    """Random changes to the patches (``core/training/augment.py``, :class:`AugmentParams`).

    Attributes
    ----------
    augment: switch all augmentation on/off.
    elastic: the paper's elastic deformation; ``elastic_sigma`` (px) is the standard
        deviation of the random displacements on a coarse ``elastic_grid`` x ``elastic_grid``
        grid, interpolated bicubically to a dense field (tricubically in 3-D, where the z
        displacement is divided by the model's ``anisotropy``).
    flips: random flips and 90-degree rotations (the 8 symmetries of the square).
    intensity_scale, intensity_shift: random ``x * s + t`` with ``s`` in ``1 +- scale`` and
        ``t`` in ``+- shift`` (images are normalised to about [0, 1]).
    noise: Gaussian noise of a random standard deviation in ``[0, noise]`` per patch. Off by
        default: 0.1 helped whole-object painting on DSB2018 but hurt scribbles
        (docs/benchmarks.md).
    zoom: random scale change ``2**u`` with ``u`` uniform in ``[-zoom, zoom]`` (1.0: 0.5x to
        2x; the starters are trained with 1.0). Off by default.
    gamma: random gamma ``exp(u)``, ``u`` uniform in ``[-gamma, gamma]``. Off by default.
    blur: Gaussian blur of sigma up to ``blur`` px on half of the patches. Off by default.
    """

    augment: bool = setting(True, group="augmentation", switch=True)
    elastic: bool = setting(True, group="augmentation", off=False)
    elastic_sigma: float = setting(10.0, low=0.0, high=50.0, group="augmentation")
    elastic_grid: int = setting(3, low=2, high=32, group="augmentation")
    flips: bool = setting(True, group="augmentation", off=False)
    intensity_scale: float = setting(0.2, low=0.0, high=1.0, group="augmentation", off=0.0)
    intensity_shift: float = setting(0.1, low=0.0, high=1.0, group="augmentation", off=0.0)
    noise: float = setting(0.0, low=0.0, high=1.0, group="augmentation", off=0.0)
    zoom: float = setting(0.0, low=0.0, high=2.0, group="augmentation", off=0.0)
    gamma: float = setting(0.0, low=0.0, high=2.0, group="augmentation", off=0.0)
    blur: float = setting(0.0, low=0.0, high=10.0, group="augmentation", off=0.0)


@dataclass(frozen=True)
class Targets(_Group):
    """What the painting teaches.

    Attributes
    ----------
    mode: "semantic": label k > 0 is class k, 0 is unpainted. "instance": every painted
        object has its own id; inside the annotated region (the painted objects' bounding
        box grown by ``region_margin`` px, or a region mask given to the trainer) unpainted
        pixels are background, outside it nothing counts. The network learns background,
        object interior and object border, with the paper's weight map
        ``w = w_c + w0 * exp(-(d1 + d2)**2 / (2 * sigma**2))`` (``border_w0``, ``border_sigma``).
    border_width: instance mode: the border class's width as a fraction of each object's
        radius (at least one pixel); 0: one pixel. A wide border keeps the cores of touching
        objects apart. Fine-tuning a model takes the width it was trained with.
    class_balance: weight every painted class equally in the loss (w_c of the paper).
    """

    class_balance: bool = setting(True, group="targets")
    mode: Literal["semantic", "instance"] = setting(
        "semantic", help="semantic: label k = class k, 0 = unpainted; instance: each painted "
        "object its own id, unpainted pixels near the painted objects (their bounding box, "
        "grown by a margin) are background", group="targets")
    region_margin: int = setting(16, low=0, high=10_000, group="targets")
    border_w0: float = setting(10.0, low=0.0, high=100.0, group="targets")
    border_sigma: float = setting(5.0, low=0.0, high=100.0, group="targets")  # and more than 0
    border_width: float = setting(0.0, low=0.0, high=1.0, group="targets")

    def __post_init__(self):
        super().__post_init__()
        if self.mode not in ("semantic", "instance"):
            raise ConfigError(f"unknown training mode {self.mode!r}; use 'semantic' or 'instance'")
        if self.border_sigma <= 0:
            raise ConfigError(f"border_sigma must be more than 0, not {self.border_sigma:g}")


@dataclass(frozen=True)
class Validation(_Group):
    """Scoring held-out painting while training.

    Attributes
    ----------
    validation_fraction: share of the painted pixels held out, as whole strokes (or whole
        objects), to score the model while training (mean IoU); 0 switches it off. It is
        off by itself when too little is painted (see ``core/validation.py``).
    validation_every: seconds between validation scores, at least (longer when scoring
        is slow, so that it takes at most about a fifth of the time); 0: after every step.
        With a budget of steps only, the scores come every twentieth of the steps instead,
        so that a seeded run is the same on any machine.
    keep_best: with validation, end with the best-scoring weights seen (when fine-tuning,
        the starting model counts too), not the last ones.
    fit_thresholds: with whole objects painted, re-choose the foreground and seed
        thresholds (how readily touching objects are cut apart) to reproduce the painted
        objects after training. Off by default: on the DSB2018 few-shot rows, 10 whole
        nuclei gave F1@0.5 0.793 with it against 0.875 without, as the thresholds that fit
        one image's ten objects cut the other images' objects worse.
    """

    validation_fraction: float = setting(0.2, low=0.0, high=0.9, group="validation")
    validation_every: float = setting(2.0, low=0.0, high=3600.0, group="validation")
    keep_best: bool = setting(True, group="validation")
    fit_thresholds: bool = setting(False, group="validation")


@dataclass(frozen=True)
class Regularisers(_Group):
    """Second losses beside the painted pixels' cross-entropy.

    Attributes
    ----------
    self_supervised: weight of a second loss that needs no strokes: a few pixels of every
        patch are replaced by a neighbour's and a second head predicts what was there
        (Noise2Void's blind spot, as in DenoiSeg; ``core/selfsup.py``). It reads the image
        only, never the labels, and is used from scratch only (a starter has
        ``keep_starter``). With it the docks learn the image in the background while the
        user paints, and Train starts from that network: on DSB2018 whole-object painting
        this ended the collapses of training from scratch (docs/benchmarks.md). 0 switches it off.
    keep_starter: when fine-tuning a starter (or a model made from one), the weight of a
        second loss that keeps its predictions where nothing is painted (the KL divergence
        from the starter's own probabilities, "learning without forgetting"): the strokes
        teach what the starter got wrong, the starter keeps what it knew elsewhere, above
        all the borders that split touching objects, which strokes of classes never show.
        0 switches it off. 3 (it was 1): on the DSB2018 few-shot rows, 10 whole nuclei gave
        F1@0.5 0.82 at 3 against 0.73 at 1 (0.77 against 0.54 at twice the magnification),
        strokes 0.89 against 0.89 (docs/benchmarks.md, "Everywhere, second pass").
    starter_share: when fine-tuning a starter (or a model made from one), the share of the
        starting weights in the trained model: the weights end that far back on the way
        from the start to where training took them ("weight-space ensembling", Wortsman et
        al. 2022). What was learnt from a few strokes on one image then holds on the
        user's other images: 10 scribbled nuclei gave F1@0.5 0.906 on the DSB2018 few-shot
        rows at 0.5 against 0.894 at 0 (the starter alone: 0.904). 0 keeps the weights as
        trained.
    """

    self_supervised: float = setting(1.0, low=0.0, high=100.0, group="regularisers")
    keep_starter: float = setting(3.0, low=0.0, high=100.0, group="regularisers")
    starter_share: float = setting(0.5, low=0.0, high=1.0, group="regularisers")


@dataclass(frozen=True)
class Runtime(_Group):
    """How this machine runs the training, not how the model is made: a model file does not
    store these (:func:`without_runtime`).

    Attributes
    ----------
    amp: mixed precision (bf16/fp16 autocast) when training on CUDA.
    device: "auto" (cuda, then mps, then cpu), or "cpu", "cuda", "mps", "cuda:1", ...
    threads: CPU threads for torch while training (None: torch's default, all cores).
        Interactive use should leave a core to the viewer: with every core busy, any other
        work makes torch's threads wait for each other and training slows several-fold.
    """

    amp: bool = setting(True, group="runtime")
    device: str = setting("auto", help="auto (cuda, mps, cpu), cpu, cuda or mps",
                          group="runtime")
    threads: int | None = setting(None, low=1, group="runtime")

    def __post_init__(self):
        from .numbers import check_device_name

        super().__post_init__()
        check_device_name(self.device, ConfigError)


TRAIN_GROUP_CLASSES: dict[str, type] = {
    "budget": Budget, "optimiser": Optimiser, "sampling": Sampling,
    "augmentation": Augmentation, "targets": Targets, "validation": Validation,
    "regularisers": Regularisers, "runtime": Runtime}
""":data:`TRAIN_GROUPS`' dataclasses, by name (the attributes of :class:`TrainConfig`)."""

_TRAIN_GROUP_OF = {f.name: group for group, cls in TRAIN_GROUP_CLASSES.items()
                   for f in fields(cls)}
"""Every setting of :class:`TrainConfig` -> its group (the names are unique across groups)."""


@dataclass(frozen=True, init=False)
class TrainConfig:
    """How to train: one dataclass per group of settings (:data:`TRAIN_GROUPS`), read by
    group (``config.budget.seconds``, ``config.augmentation.zoom``); reading a setting
    directly (``config.zoom``) is an error that names its group.

    ``TrainConfig(seconds=10, zoom=0.2)`` takes the settings by name and puts each in its
    group (a group may be given whole too: ``TrainConfig(budget=Budget(steps=50))``);
    :meth:`replace` changes some the same way and returns a new config (configs and groups
    are frozen). :meth:`to_dict` is nested by group, as model files of format 4 store it
    (without ``runtime``); :meth:`from_dict` also takes the flat dicts of formats 1 to 3.
    The settings and what they mean are documented on their groups: :class:`Budget`,
    :class:`Optimiser`, :class:`Sampling`, :class:`Augmentation`, :class:`Targets`,
    :class:`Validation`, :class:`Regularisers`, :class:`Runtime`.

    Every number declares its range (both ends included, :func:`bounds`), which this config
    (and so a model file being loaded), the command line and the Train dock check: what a run
    can sensibly use, and every value tried in docs/benchmarks.md. Beside the budget and
    sizes: ``weight_decay`` 0 to 1; ``elastic_sigma`` 0 to 50 px (50 reads 150 px of context
    around each patch); ``elastic_grid`` 2 (the smallest lattice that bends) to 32;
    ``intensity_scale`` 0 to 1 (a scale below 0 would invert the image); ``intensity_shift``
    and ``noise`` 0 to 1 (the normalised image's whole range); ``gamma`` 0 to 2 (up to
    ``exp(2)``, about 7); ``blur`` 0 to 10 px; the loss weights ``self_supervised`` and
    ``keep_starter`` 0 to 100 (defaults 1 and 3; 10 was tried), ``starter_share`` 0 to 1, and
    ``border_w0`` 0 to 100 (the paper's 10); ``border_sigma`` up to 100 px (and more than 0);
    ``validation_fraction`` 0 to 0.9 (something must be left to train on);
    ``validation_every`` up to an hour. ``threads`` has no upper end (as many as the machine
    has).
    """

    budget: Budget = field(default_factory=Budget)
    optimiser: Optimiser = field(default_factory=Optimiser)
    sampling: Sampling = field(default_factory=Sampling)
    augmentation: Augmentation = field(default_factory=Augmentation)
    targets: Targets = field(default_factory=Targets)
    validation: Validation = field(default_factory=Validation)
    regularisers: Regularisers = field(default_factory=Regularisers)
    runtime: Runtime = field(default_factory=Runtime)

    def __init__(self, *, budget: Budget | None = None, optimiser: Optimiser | None = None,
                 sampling: Sampling | None = None, augmentation: Augmentation | None = None,
                 targets: Targets | None = None, validation: Validation | None = None,
                 regularisers: Regularisers | None = None, runtime: Runtime | None = None,
                 **settings):
        given = {"budget": budget, "optimiser": optimiser, "sampling": sampling,
                 "augmentation": augmentation, "targets": targets, "validation": validation,
                 "regularisers": regularisers, "runtime": runtime}
        unknown = [k for k in settings if k not in _TRAIN_GROUP_OF]
        if unknown:
            raise TypeError(f"TrainConfig has no setting {unknown[0]!r}; the settings are "
                            f"{', '.join(_TRAIN_GROUP_OF)} (or whole groups: "
                            f"{', '.join(TRAIN_GROUPS)})")
        for name, cls in TRAIN_GROUP_CLASSES.items():
            group, changes = given[name], {k: v for k, v in settings.items()
                                           if _TRAIN_GROUP_OF[k] == name}
            if group is None:
                group = cls(**changes)
            elif not isinstance(group, cls):
                raise TypeError(f"TrainConfig's {name} must be a {cls.__name__}, not "
                                f"{type(group).__name__}")
            elif changes:
                group = dataclasses_replace(group, **changes)
            object.__setattr__(self, name, group)

    def __getattr__(self, name: str):
        # only for names that are not attributes: a setting read without its group
        if name in _TRAIN_GROUP_OF:
            raise AttributeError(f"TrainConfig's settings are read by group: "
                                 f"config.{_TRAIN_GROUP_OF[name]}.{name}, not config.{name}")
        raise AttributeError(f"'TrainConfig' object has no attribute {name!r}")

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes``: settings by name (``batch_size=4``, put in their group)
        or whole groups (``budget=Budget(steps=10)``)."""
        groups = {name: getattr(self, name) for name in TRAIN_GROUPS}
        groups.update({k: v for k, v in changes.items() if k in TRAIN_GROUP_CLASSES})
        return TrainConfig(**groups, **{k: v for k, v in changes.items()
                                        if k not in TRAIN_GROUP_CLASSES})

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The settings by group: ``{"budget": {"steps": None, "seconds": 30.0}, ...}``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainConfig:
        """From :meth:`to_dict`'s nested dict or a flat one (model files of formats 1 to 3);
        unknown keys are ignored (files from newer versions), values of the wrong type are a
        :class:`ConfigError`."""
        nested = nested_settings(data)
        return cls(**{name: _from_dict(group, nested.get(name))
                      for name, group in TRAIN_GROUP_CLASSES.items()})


def nested_settings(data: dict[str, Any] | None) -> dict[str, Any]:
    """:class:`TrainConfig`'s settings as a dict by group (as :meth:`TrainConfig.to_dict`
    makes it and model files of format 4 store it), from either that or a flat dict (files
    of formats 1 to 3: each key put in its group). Unknown keys are dropped; a group that is
    not a mapping is kept, for :meth:`TrainConfig.from_dict` to refuse."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"TrainConfig settings must be a mapping, got {type(data).__name__}")
    nested: dict[str, Any] = {}
    for key, value in data.items():
        if key in TRAIN_GROUP_CLASSES:
            if isinstance(value, dict) and isinstance(nested.get(key, {}), dict):
                nested[key] = {**nested.get(key, {}), **value}
            else:
                nested[key] = value
        elif key in _TRAIN_GROUP_OF:
            group = nested.setdefault(_TRAIN_GROUP_OF[key], {})
            if isinstance(group, dict):
                group[key] = value
    return nested


VIEWS = (1, 8)
"""The numbers of views ``PredictConfig.views`` takes: the image as it is, or all 8
symmetries of the square (``core.inference.views``)."""


@dataclass
class PredictConfig(_DictMixin):
    """How to predict by overlap-tile.

    Attributes
    ----------
    tile_size: side of the *output* region of one tile, in pixels (rounded up to what the
        network accepts). ``None`` (the default) plans it from a memory budget (free device memory on a
        GPU, at most ``memory.CPU_PREDICT_BUDGET`` of RAM on the CPU) so that little is
        computed twice (``core.inference.tiles``); the output is the same either way.
    context: pixels of context around every tile (mirrored at image borders). ``None``
        means the network's full receptive field, which makes tiled prediction equal
        whole-image prediction; smaller is faster and differs only slightly.
    batch_size: tiles per forward pass.
    amp: mixed precision on CUDA (and on CPUs with native bf16).
    device: as in :class:`TrainConfig`.
    threads: as in :class:`TrainConfig`.
    backend: how the windows go through the network: "auto" (the fastest for the work on
        this device, ``core.inference.backends``), "torch", "compile" or "onnxruntime".
    diameter: the size of the objects in the image, in px (Cellpose's diameter). ``None``
        (the default): estimated from the image when the model knows the size it was trained
        at (``PostprocessConfig.object_size``: the starters and models made from them);
        a number: that size; ``0``: none, predict at the image's own scale. The image is
        resized so that its objects have the model's size, and the result mapped back
        (``core.inference.object_size``).
    views: 1 (the default): the image as it is; 8: every window also predicted rotated and
        mirrored (the 8 symmetries of the square) and the probabilities averaged
        (test-time augmentation, Cellpose's ``augment``): 8 times the work, objects a little
        more often right (``core.inference.views``); 3-D models rotate and mirror in the
        plane. The object size is estimated on one view.
    """

    tile_size: int | None = setting(None, low=8, high=16384,
                                    help="side of the tiles' output in px; not given: planned "
                                         "from the free memory")
    context: int | None = setting(None, low=0)
    batch_size: int = setting(4, low=1)
    amp: bool = setting(True, group="runtime")
    device: str = setting("auto", help="auto (cuda, mps, cpu), cpu, cuda or mps",
                          group="runtime")
    threads: int | None = setting(None, low=1, group="runtime")
    backend: str = setting("auto", group="runtime")
    diameter: float | None = setting(None, low=0, high=10_000)
    views: int = setting(1, low=1, high=8, help="1, or 8: also rotated and mirrored, averaged "
                                                "(8 times the work)")

    def __post_init__(self):
        from .numbers import check_device_name, check_finite, check_types

        check_finite(self, ConfigError)  # NaN passes every comparison below (issue 15)
        check_types(self, ConfigError)
        check_device_name(self.device, ConfigError)
        check_bounds(self)
        if self.backend not in ("auto", "torch", "compile", "onnxruntime"):
            raise ConfigError(f"backend must be auto, torch, compile or onnxruntime, not "
                              f"{self.backend!r}")
        if self.views not in VIEWS:
            raise ConfigError(f"views must be 1 (the image as it is) or 8 (also rotated and "
                              f"mirrored), not {self.views!r}")


@dataclass
class PostprocessConfig(_DictMixin):
    """Probabilities -> instances, stored with the model.

    Attributes
    ----------
    threshold: a pixel is foreground where P(background) < 1 - threshold.
    seed_threshold: object cores (seeds) need P(interior) above this (instance models).
    split_depth: for semantic models, touching objects are split where the distance to the
        background dips by at least this many px between their centres (0: no splitting).
    min_size: objects smaller than this (px) are dropped.
    object_size: the median diameter (px) of the objects the model was trained on (the
        starters record it); prediction resizes images so that their objects have this size
        (``PredictConfig.diameter``). ``None``: unknown, images are predicted as they are.
    fill_holes: fill holes inside objects.
    min_seed: instance models: cores (seeds) smaller than this (px) start no object of their
        own; their pixels join the objects around them (0: every core starts one).
    """

    threshold: float = 0.5
    seed_threshold: float = 0.5
    split_depth: float = 2.0
    min_size: int = 10
    object_size: float | None = None
    fill_holes: bool = False
    min_seed: int = 0
