"""Many images with one model: expand inputs, name outputs, skip finished ones, predict.

Inputs are files, folders (their supported files, not recursive) and glob patterns, of TIFF,
PNG (and the other formats :func:`~napari_unet.core.files.io.read_image` reads) and OME-Zarr.
Outputs go into one folder:

* ``<stem>_labels.tif`` (and ``<stem>_probabilities.tif``) for an image file, where
  ``<stem>`` is the whole file name without its suffix (``2024.05.01 plate A.tif`` ->
  ``2024.05.01 plate A_labels.tif``; ``.ome.tif`` counts as one suffix);
* ``<name>_labels.ome.zarr`` (and ``<name>_probabilities.ome.zarr``) for ``<name>.ome.zarr``.

Every output is written under a temporary name and renamed when complete, probabilities
before labels, so a run that is stopped or killed never leaves an output that looks
finished. Every output holds a record of its input and model (:mod:`.records`): a re-run
skips images whose outputs were written for this input, unchanged, by this model
(resumable) unless told to overwrite, redoes stale ones, and refuses, before any work, to
write over a file napari-unet did not write for this input (the user's own
``cell_labels.tif``, or another folder's ``cell.tif`` predicted into the same output).
Temporaries of killed runs are removed when a run starts (:mod:`.atomic`).
Labels are classes as painted (1, 2, ...), or one id per object for an instance model (or a
semantic one with ``instances``).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import PredictConfig
from ..files.atomic import check_writable_folder, release, remove_stale_temporaries_of, temporary_beside
from ..files.io import IMAGE_SUFFIXES, declared, open_lazily, read_image, stated_axes, write_tiff
from ..files.ngff import is_ome_zarr, plane_of, zarr_stem
from ..files.records import make_record, model_fingerprint, read_record, same_source
from ..images import ImageError
from ..inference.stitch import STITCH_THRESHOLD, stacks_along, stitch
from ..progress import Progress, rescaled


class BatchError(ValueError):
    """Inputs that match nothing, outputs that would collide, a folder that cannot be written."""


@dataclass(frozen=True)
class Options:
    """What to write: ``probabilities`` too; ``instances`` (object ids) for a semantic model;
    ``axes`` of every input (``"ZYX"``, ...; else each file's metadata, else a plain guess,
    :mod:`~napari_unet.core.axes`), or the shorthands ``rgb`` and ``channel_axis``;
    ``stitch``: join objects of adjacent Z planes overlapping by this IoU (0: off); how to
    predict (``config``)."""

    probabilities: bool = False
    instances: bool = False
    rgb: bool | None = None
    channel_axis: int | None = None
    config: PredictConfig = field(default_factory=PredictConfig)
    axes: str | None = None
    stitch: float = STITCH_THRESHOLD


@dataclass(frozen=True)
class Job:
    """One input and its outputs (labels first)."""

    source: Path
    outputs: tuple[Path, ...]
    replace_damaged: bool = False
    """An output folder of ours left damaged (:func:`damaged_output`) may be replaced
    (``--overwrite``)."""

    @property
    def labels(self) -> Path:
        return self.outputs[0]

    def record(self, model: str, objects: bool, settings: dict | None = None) -> dict:
        """What each output of this job will hold about where it came from (``settings``:
        those that change the output, :func:`settings_of`)."""
        return {**make_record(self.source, model, objects), **(settings or {})}

    def done(self, model: str, objects: bool, settings: dict | None = None) -> bool:
        """All outputs exist (each appears only when complete) and were written for this
        input as it is now, by this model (``model_fingerprint``), with these settings."""
        want = self.record(model, objects, settings)
        return all(p.exists() and read_record(p) == want for p in self.outputs)

    def check_outputs(self) -> None:
        """:class:`BatchError` if an output exists that napari-unet did not write for this
        input: it is never overwritten."""
        for p in self.outputs:
            if not p.exists():
                continue
            record = read_record(p)
            if record is None and damaged_output(p):
                if self.replace_damaged:
                    continue
                raise BatchError(
                    f"{p} is a damaged napari-unet output (its zarr.json is missing); "
                    "run again with --overwrite to replace it")
            if record is None and not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
                raise BatchError(  # unreadable is not foreign: say which, and what to do
                    f"{p} exists but cannot be read (permission denied), so napari-unet cannot "
                    "tell whether it wrote it; it is never overwritten: fix its permissions, "
                    "or choose another output folder")
            if record is None:
                raise BatchError(
                    f"{p} exists and was not written by napari-unet for {self.source.name}; "
                    "it is never overwritten: move it, or choose another output folder")
            if not same_source(record, self.source):
                raise BatchError(
                    f"{p} holds the prediction of {record.get('source')}; {self.source} would "
                    "replace it: choose another output folder (or rename one input)")


_CHUNK = re.compile(r"0/(zarr\.json|c(/\d+)+)")


def damaged_output(path: Path) -> bool:
    """An OME-Zarr output folder as a run left it when its temporary was emptied while it
    was written (before issue 26): no ``zarr.json`` at the top, and nothing but the chunks
    (and metadata) of its array ``0``."""
    if not (path.is_dir() and path.name.endswith(".zarr")) or (path / "zarr.json").exists():
        return False
    try:
        files = [f.relative_to(path).as_posix() for f in path.rglob("*") if not f.is_dir()]
    except OSError:
        return False
    return bool(files) and all(_CHUNK.fullmatch(f) for f in files)


@dataclass
class BatchResult:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        """E.g. '3 written, 1 skipped (already done), 1 failed'."""
        text = f"{len(self.written)} written"
        if self.skipped:
            text += f", {len(self.skipped)} skipped (already done)"
        if self.failed:
            text += f", {len(self.failed)} failed"
        return text


def is_supported(path: Path) -> bool:
    return is_ome_zarr(path) or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> tuple[list[Path], list[Path]]:
    """Files, folders and glob patterns -> (sorted inputs, unsupported files passed over).

    A folder contributes its supported images (hidden files ignored); a pattern its matches;
    a file named outright is always taken (so a bad one fails with the reader's message).
    Raises :class:`BatchError` if nothing matches.
    """
    found: dict[Path, Path] = {}  # resolved -> as given, so 'a.tif' and '/x/a.tif' are one
    unsupported: set[Path] = set()
    given = [str(i) for i in inputs]
    for item in given:
        path = Path(item)
        if is_ome_zarr(path) or path.is_file():
            found.setdefault(path.resolve(), path)
            continue
        if path.is_dir():
            candidates = [p for p in path.iterdir() if not p.name.startswith(".")]
        elif _has_magic(item):
            candidates = [Path(p) for p in glob.glob(item)]
        else:
            raise BatchError(f"no such file or folder: {item}")
        for p in candidates:
            if is_supported(p):
                found.setdefault(p.resolve(), p)
            elif p.is_file():  # sub-folders are not looked into, nor counted
                unsupported.add(p)
    if not found:
        what = ", ".join(given) if given else "(nothing given)"
        raise BatchError(
            f"no images in {what}: expected TIFF, PNG or OME-Zarr (.ome.zarr)"
            + (f" ({len(unsupported)} other file(s) passed over)" if unsupported else "")
        )
    return sorted(found.values()), sorted(unsupported)


def stem_of(source: Path) -> str:
    """The name without its suffix: ``2024.05.01 plate A.tif`` -> ``2024.05.01 plate A``,
    ``cells.ome.tif`` and ``cells.ome.zarr`` -> ``cells``."""
    if is_ome_zarr(source):
        return zarr_stem(source)
    name = source.name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def outputs_for(source: Path, out_dir: Path, probabilities: bool = False) -> tuple[Path, ...]:
    """Where ``source``'s labels (and probabilities) go."""
    stem, ext = stem_of(source), ".ome.zarr" if is_ome_zarr(source) else ".tif"
    names = [f"{stem}_labels{ext}"] + ([f"{stem}_probabilities{ext}"] if probabilities else [])
    return tuple(out_dir / n for n in names)


def is_output(path: Path, out_dir: Path) -> bool:
    """Whether ``path`` looks like one of our outputs in ``out_dir`` (predicting a folder into
    itself must not predict the outputs of an earlier run)."""
    same = path.parent.resolve() == out_dir.resolve()
    return same and stem_of(path).endswith(("_labels", "_probabilities"))


def plan(sources: Iterable[Path], out_dir: str | os.PathLike, probabilities: bool = False,
         overwrite: bool = False) -> list[Job]:
    """One :class:`Job` per source; :class:`BatchError` if two would write the same file, or
    one would write over an input or a file napari-unet did not write for it."""
    out_dir = Path(out_dir)
    sources = [Path(s) for s in sources]
    is_source = _identities(sources)
    jobs, owner = [], {}
    for source in sources:
        job = Job(source, outputs_for(source, out_dir, probabilities), overwrite)
        for p in job.outputs:
            if p in owner:
                raise BatchError(f"{owner[p]} and {source} would both write {p.name}; rename one")
            owner[p] = source
            if p.exists() and is_source(p):
                raise BatchError(f"{p} is one of the inputs: predicting would destroy it; "
                                 "choose another output folder")
        job.check_outputs()
        jobs.append(job)
    return jobs


def _identities(sources: list[Path]):
    """A test "is this path one of ``sources``" (by device and inode where it exists, so
    links count, else by resolved path) that stats each source once: comparing every
    output with every source took 838 s for a finished folder of 10,000 images (issue 26,
    item 6)."""
    inodes, names = set(), set()
    for s in sources:
        try:
            st = os.stat(s)
            inodes.add((st.st_dev, st.st_ino))
        except OSError:
            names.add(Path(s).absolute().resolve())

    def is_source(path: Path) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return Path(path).absolute().resolve() in names
        return (st.st_dev, st.st_ino) in inodes or (
            bool(names) and Path(path).absolute().resolve() in names)

    return is_source


def prepare(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
            probabilities: bool = False, overwrite: bool = False) -> tuple[list[Job], list[Path]]:
    """Expand ``inputs``, check ``out_dir`` can be written, and plan the jobs: every check
    that can fail before any work (:class:`BatchError`). Returns the jobs and the files
    passed over (not images)."""
    sources, unsupported = expand_inputs(inputs)
    out_dir = check_output_folder(out_dir)
    sources = [s for s in sources if not is_output(s, out_dir)] or sources
    return plan(sources, out_dir, probabilities, overwrite), unsupported


def check_output_folder(out_dir: str | os.PathLike) -> Path:
    """Prove ``out_dir`` can be written (it is made only when the first output is);
    :class:`BatchError` if not."""
    out_dir = Path(out_dir)
    try:
        check_writable_folder(out_dir, create=False)
    except OSError as e:
        raise BatchError(f"cannot write into output folder {out_dir}: {e.strerror or e}") from None
    return out_dir


def remove_temporaries_of(jobs: Iterable[Job]) -> None:
    """Remove what killed runs left of these jobs' outputs (:func:`~..files.atomic.remove_stale_temporaries`)."""
    remove_stale_temporaries_of(p for job in jobs for p in job.outputs)


def _temporary(path: Path) -> Path:
    return temporary_beside(path, directory=True)


def _commit(tmp: Path, path: Path) -> None:
    """Move a finished folder ``tmp`` to ``path``, replacing what is there. A folder that is
    not a whole Zarr group (its ``zarr.json`` gone: removed while written) is never
    published (issue 26, item 2)."""
    if not (tmp / "zarr.json").is_file():
        raise BatchError(f"{path.name} was damaged while it was written (its zarr.json is "
                         "gone; was its folder removed?); nothing was replaced: run again")
    old = None
    if path.exists():
        old = _temporary(path)
        os.replace(path, old / path.name)
    os.replace(tmp, path)
    release(tmp)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
        release(old)


def predict_job(job: Job, bundle, model, options: Options) -> Generator[Progress, None, Path]:
    """Predict one input and write its outputs (atomically, each with its record); yields
    progress per tile batch."""
    job.check_outputs()  # also here: a cluster task runs long after the checks
    record = job.record(model_fingerprint(bundle), wants(bundle, options)[0],
                        settings_of(options))
    if is_ome_zarr(job.source):
        yield from _predict_zarr(job, bundle, model, options, record)
    else:
        yield from _predict_file(job, bundle, model, options, record)
    return job.labels


def settings_of(options: Options) -> dict:
    """The options that change an output beyond the model and objects, for its record:
    ``axes`` and the object size (``diameter``) when given, ``stitch`` and ``views`` when not
    the default (so outputs of default runs keep the records they had before these options
    existed). A run with other settings predicts again what a run before it wrote."""
    out = {}
    if options.axes:
        out["axes"] = options.axes
    if options.stitch != STITCH_THRESHOLD:
        out["stitch"] = float(options.stitch)
    if options.config.diameter is not None:
        out["diameter"] = float(options.config.diameter)
    if options.config.views != 1:
        out["views"] = int(options.config.views)
    return out


def wants(bundle, options: Options) -> tuple[bool, bool]:
    """(objects, probabilities needed)."""
    objects = bundle.mode == "instance" or options.instances
    return objects, objects or options.probabilities


def _output_bytes(bundle, probabilities: bool) -> float:
    """Bytes per input value that prediction adds: labels, and float32 probabilities."""
    return 4.0 + (4.0 * bundle.model_config.n_classes if probabilities else 0.0)


def _read_lazily_if_large(path: Path, bundle, probabilities: bool):
    """A grayscale TIFF too large to read whole, as a lazy ``(1, H, W)`` view (prediction
    then reads it window by window), if its outputs alone fit in memory; else None (read it
    whole, or be refused by :func:`~..files.io.read_image` with the sizes)."""
    from ..inference.lazy import AddChannel
    from ..memory import TooLarge, check_file_fits

    header = declared(path)
    if header is None:
        return None
    extra = _output_bytes(bundle, probabilities)
    try:
        check_file_fits(path, *header, extra_per_value=extra)
        return None  # fits: read it whole
    except TooLarge:
        lazy = open_lazily(path)
        if lazy is None:
            return None
    check_file_fits(path, lazy.shape, 0, extra_per_value=extra)  # the outputs must fit
    return AddChannel(lazy)


def _predict_file(job: Job, bundle, model, options: Options, record: dict):
    from ..axes import labels_axes, probabilities_axes, stitch_axis
    from ..inference.segment import segment

    objects, want = wants(bundle, options)
    dims = bundle.model_config.spatial_dims
    if dims == 3 and objects:
        raise ImageError("3-D models write classes only (no object ids): leave out --instances")
    lazy = _read_lazily_if_large(job.source, bundle, want) if dims == 2 else None
    if lazy is not None:
        image, axes = lazy, "YX"
        if options.axes:
            from ..axes import parse

            parse(options.axes, lazy.shape[1:])  # a wrong --axes is said, not ignored
    else:
        image, axes = _read_arranged(job.source, bundle, options, _output_bytes(bundle, want))
    semantic_objects = objects and bundle.mode != "instance"
    z = stitch_axis(axes) if dims == 2 else None
    seg = yield from segment(image, bundle, options.config, model=model, objects=semantic_objects,
                             probabilities=options.probabilities, stitch_axis=z,
                             stitch_threshold=options.stitch)
    if options.probabilities:
        write_tiff(job.outputs[1], seg.probabilities, record, probabilities_axes(axes, dims))
    write_tiff(job.labels, seg.objects if semantic_objects else seg.labels, record,
               labels_axes(axes, dims))


def _read_arranged(path: Path, bundle, options: Options, extra: float):
    """The image file in the core's layout for ``bundle`` and its axes: ``--axes``, else the
    shorthands, else the file's metadata, else a plain guess (:func:`~..axes.resolve`)."""
    from ..axes import arrange, parse, resolve
    from ..files.bundle import takes_luminance

    raw = read_image(path, extra)
    if bundle.model_config.spatial_dims == 3:
        from ..axes import from_file

        axes = parse(options.axes, raw.shape) if options.axes else \
            from_file(stated_axes(path), raw.shape) if options.rgb is None else None
        if axes is None or (not options.axes and "Z" not in axes):
            from ..inference.predict3d import to_czyx

            return to_czyx(raw, rgb=options.rgb), "CZYX"
        return arrange(raw, axes, 3), axes
    axes = resolve(raw.shape, options.axes, channels=bundle.model_config.in_channels,
                   colour=takes_luminance(bundle), rgb=options.rgb,
                   channel_axis=options.channel_axis, stated=stated_axes(path))
    return arrange(raw, axes), axes


def _one_size(image, bundle, model, config):
    """``config`` with the object size of the whole store: estimated once, on its middle
    plane, as every other route estimates a stack's (planes predicted one by one would each
    get their own estimate, and a plane 15 % off would be predicted at another size)."""
    from dataclasses import replace

    from ..inference.segment import object_diameter

    if config.diameter is not None or not bundle.postprocess.object_size:
        return config
    mid = tuple(image.array.shape[i] // 2 for i in image.lead)
    diameter, _ = object_diameter(image.plane(mid), bundle, config, model)
    return replace(config, diameter=diameter or 0)


def _predict_zarr(job: Job, bundle, model, options: Options, record: dict):
    from ..files.ngff import create_output, read_ngff, with_axes
    from ..inference.postprocess import label_dtype
    from ..inference.segment import Into, segment

    objects, want = wants(bundle, options)
    if bundle.model_config.spatial_dims == 3:
        raise ImageError("3-D models predict TIFF stacks; OME-Zarr volumes are not supported yet")
    image = read_ngff(job.source)
    if options.axes:  # explicit axes win over the store's
        image = with_axes(image, options.axes)
    k = bundle.model_config.n_classes
    dtype = np.uint32 if objects else label_dtype(k)
    outputs = [(job.labels, None, dtype)]
    if options.probabilities:
        outputs.append((job.outputs[1], k, np.float32))
    made = []  # (temporary folder, final path, zarr array, axis names)
    made_dirs = []  # every temporary folder, removed in the end even if creating it failed
    semantic_objects = objects and bundle.mode != "instance"
    try:
        for path, classes, dt in outputs:
            tmp = _temporary(path)
            made_dirs.append(tmp)
            what = "probabilities" if classes else "labels"
            array, names = create_output(tmp, image, dtype=dt, classes=classes,
                                         name=f"{zarr_stem(job.source)} {what}", record=record)
            made.append((tmp, path, array, names))
        planes = image.planes()
        config = _one_size(image, bundle, model, options.config)
        offset = 0  # object ids go on from plane to plane
        for i, index in enumerate(planes):
            into = [plane_of(array, names, image, index) for _, _, array, names in made]
            gen = segment(image.plane(index), bundle, config, model=model,
                          objects=semantic_objects, probabilities=options.probabilities,
                          out=None if objects else Into(*into))
            seg = yield from rescaled(gen, i / len(planes), 1 / len(planes))
            if objects:  # made in memory, one plane at a time
                ids = seg.objects if semantic_objects else seg.labels
                ids = np.where(ids > 0, ids + offset, 0).astype(np.uint32)
                offset = max(offset, int(ids.max()))
                into[0][:, :] = ids
                if len(into) > 1:
                    into[1][:, :, :] = seg.probabilities
        if objects and options.stitch > 0 and "z" in [image.names[i] for i in image.lead]:
            _, _, labels, names = made[0]
            yield from _stitch_ngff(image, labels, names, options.stitch)
        for tmp, path, _, _ in reversed(made):  # probabilities first, labels last
            _commit(tmp, path)
    finally:
        for tmp in made_dirs:  # also one half-made (a full disk): not left for the next run
            shutil.rmtree(tmp, ignore_errors=True)
            release(tmp)


def _stitch_ngff(image, labels, names, threshold):
    """Join the objects of adjacent ``z`` planes of an OME-Zarr output (per time point)."""
    lead = [image.names[i] for i in image.lead]
    runs = stacks_along(tuple(image.array.shape[i] for i in image.lead), lead.index("z"))
    nxt = 1
    for run in runs:  # progress stays at the end: the planes are all predicted
        nxt = yield from rescaled(stitch([plane_of(labels, names, image, index) for index in run],
                                         threshold, first_id=nxt), 1.0, 0.0)


def predict_files(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    bundle,
    options: Options | None = None,
    *,
    overwrite: bool = False,
    keep_going: bool = True,
) -> Generator[Progress, None, BatchResult]:
    """Predict every input into ``out_dir``, yielding progress over all files.

    Checks the inputs and that ``out_dir`` can be written before any work (:class:`BatchError`).
    Images whose outputs exist are skipped unless ``overwrite``. With ``keep_going`` an image
    that fails is recorded in the result and the others go on. Closing the generator stops
    between tile batches and leaves only complete outputs. Returns a :class:`BatchResult`.
    """
    from ..device import resolve_device

    options = options or Options()
    jobs, _ = prepare(inputs, out_dir, options.probabilities, overwrite)
    result = BatchResult()
    model = None
    n = len(jobs)
    fingerprint, objects = model_fingerprint(bundle), wants(bundle, options)[0]
    remove_temporaries_of(jobs)
    for i, job in enumerate(jobs):
        message = f"{job.source.name} ({i + 1} of {n})"
        try:
            done = job.done(fingerprint, objects, settings_of(options))
        except OSError:  # the input is gone (deleted mid-run): it fails below, alone
            done = False
        if done and not overwrite:
            result.skipped.append(job.labels)
            yield Progress(stage="batch", done=i + 1, total=n, fraction=(i + 1) / n,
                           message=f"{message}: already done")
            continue
        if model is None:  # built once, and only if something is left to do
            model = bundle.build_model(resolve_device(options.config.device))
        try:
            for p in predict_job(job, bundle, model, options):
                yield Progress(stage="batch", done=i, total=n,
                               fraction=(i + (p.fraction or 0.0)) / n, message=message,
                               notice=p.notice)
        except Exception as e:  # noqa: BLE001 - one bad image must not stop the others
            if not keep_going:
                raise
            result.failed.append((job.source, failure_reason(e)))
        else:
            result.written.append(job.labels)
        yield Progress(stage="batch", done=i + 1, total=n, fraction=(i + 1) / n, message=message)
    return result


def failure_reason(e: Exception) -> str:
    from ..files.bundle import BundleError

    if isinstance(e, (ImageError, BatchError, BundleError)):
        return str(e)
    if isinstance(e, OSError):
        return f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
    first = (str(e).strip().splitlines() or [""])[0]  # one line, whatever raised it
    if type(e).__module__.split(".")[0] in ("zarr", "numcodecs"):
        return f"its Zarr data cannot be read (damaged or inconsistent): {type(e).__name__} {first}"
    return f"{type(e).__name__}: {first}"
