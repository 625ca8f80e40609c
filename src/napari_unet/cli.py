"""Command line: ``napari-unet train | predict | export | starters | demo``.

A contract that batch users and benchmarks rely on; bad input ends with a one-line error
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import cli_notes
from .cli_checks import CLIError, add_setting, check_device, check_numbers, check_output_file
from .core.config import (  # no torch: what cli_checks imports anyway
    VIEWS,
    ConfigError,
    ModelConfig,
    PredictConfig,
    TrainConfig,
    bounds,
    out_of_range,
)


def _progress_printer(label: str, quiet: bool):
    """A callback that prints a one-line progress bar to stderr (tqdm if installed)."""
    if quiet:  # no progress, but notices (out of memory, retried smaller) still count
        def notices(p):
            if getattr(p, "notice", ""):
                print(f"napari-unet: {p.notice}", file=sys.stderr)

        return notices, lambda: None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with napari
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=100, desc=label, unit="%", leave=True, file=sys.stderr,
                   bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}")

        def update(p):
            if getattr(p, "notice", ""):
                bar.write(f"napari-unet: {p.notice}", file=sys.stderr)
            if p.loss is not None:
                bar.set_postfix(loss=f"{p.loss:.4f}", step=p.done, refresh=False)
            if p.fraction is not None:
                bar.update(round(p.fraction * 100, 1) - bar.n)  # tqdm throttles redraws

        return update, bar.close

    def update(p):  # pragma: no cover
        frac = f"{100 * p.fraction:5.1f}%" if p.fraction is not None else ""
        loss = f" loss {p.loss:.4f}" if p.loss is not None else ""
        print(f"\r{label} {frac}{loss}", end="", file=sys.stderr, flush=True)

    return update, lambda: print(file=sys.stderr)


TRAIN_EXTRA = 12.0
"""Bytes per training image value beyond the file's: its float32 normalised copy and the
sampler's and augmentation's working copies."""
LABELS_EXTRA = 16.0
"""Bytes per labels value beyond the file's: the int64 copy and the targets made of it."""


def _load_pairs(images: list[str], labels: list[str], rgb: bool | None,
                channel_axis: int | None = None, axes: str | None = None):
    """2-D training pairs; with ``axes`` (``--axes``), the painted planes of stacks."""
    from .core.files.io import read_image
    from .core.images import ImageError, as_label_array, to_chw
    from .core.training.stack_planes import painted_planes

    if len(images) != len(labels):
        raise CLIError(f"got {len(images)} images but {len(labels)} labels: give one labels file per image")
    pairs = []
    for ip, lp in zip(images, labels):
        try:
            if axes:
                pairs += painted_planes(read_image(ip, TRAIN_EXTRA), read_image(lp, LABELS_EXTRA),
                                        axes)
                continue
            img = to_chw(read_image(ip, TRAIN_EXTRA), channel_axis=channel_axis, rgb=rgb)
            lab = as_label_array(read_image(lp, LABELS_EXTRA), img.shape[-2:])
        except ImageError as e:
            raise CLIError(f"{ip} / {lp}: {e}") from None
        pairs.append((img, lab))
    return pairs


def _load_volumes(images: list[str], labels: list[str], rgb: bool | None,
                  axes: str | None = None):
    """(Z, Y, X) image stacks as (C, Z, Y, X) and their painted (Z, Y, X) labels."""
    import numpy as np

    from .core.axes import arrange, parse
    from .core.files.io import read_image
    from .core.images import ImageError
    from .core.inference.predict3d import to_czyx
    from .core.training.train3d import as_volume_labels

    if len(images) != len(labels):
        raise CLIError(f"got {len(images)} images but {len(labels)} labels: give one labels file per image")
    pairs = []
    for ip, lp in zip(images, labels):
        try:
            raw = read_image(ip, TRAIN_EXTRA)
            img = np.asarray(arrange(raw, parse(axes, raw.shape), 3)) if axes else \
                to_czyx(raw, rgb=rgb)
            lab = as_volume_labels(read_image(lp, LABELS_EXTRA), img.shape[1:])
        except ImageError as e:
            raise CLIError(f"{ip} / {lp}: {e}") from None
        pairs.append((img, lab))
    return pairs


def cmd_train(args) -> int:
    from .core.device import describe
    from .core.files.bundle import save_bundle
    from .core.progress import drain
    from .core.training.from_painting import train_on_painting, trainer_for

    _check_train_args(args)
    if args.three_d:
        pairs = _load_volumes(args.images, args.labels, args.rgb, _axes(args.axes))
    else:
        pairs = _load_pairs(args.images, args.labels, args.rgb, args.channel_axis,
                            _axes(args.axes))
    seconds = args.seconds
    if args.steps is None and seconds is None:
        seconds = TrainConfig().budget.seconds
    config = TrainConfig(
        steps=args.steps,
        seconds=seconds,
        device=args.device,
        seed=args.seed,
        batch_size=args.batch_size,
        patch_size=args.patch_size,
        augment=not args.no_augment,
        mode=args.mode,
    )
    explicit = (args.depth, args.width, args.padding) != (None, None, None)  # a U-Net size
    init, chose = _start_from(args, pairs, explicit, config.targets.region_margin)
    model = None if init is not None and not explicit else _model_config(args)
    if init is not None and init.model_config.spatial_dims != (3 if args.three_d else 2):
        raise _dims_refused(args, init.model_config.spatial_dims)  # 3-D model, 2-D training
    _check_training_fits(args, model if model is not None else init.model_config)
    from .core.training.from_painting import at_model_size

    ims, labs, sized = at_model_size([p[0] for p in pairs], [p[1] for p in pairs], init,
                                     args.mode)
    pairs = list(zip(ims, labs))
    chose = "; ".join(x for x in (chose, sized) if x)
    trainer = trainer_for([p[0] for p in pairs], [p[1] for p in pairs], config, init=init,
                          model=model)
    cli_notes.painting_warning([p[1] for p in pairs], args.mode)
    if not args.quiet:
        print(
            f"training on {describe(trainer.device)}: {len(pairs)} image(s), "
            f"{trainer.model_config.n_classes} classes, painted pixels per class {trainer.painted}",
            file=sys.stderr,
        )
    update, close = _progress_printer("train", args.quiet)
    try:
        trained = drain(train_on_painting(trainer, [p[0] for p in pairs], model=model, said=chose),
                        update)
    finally:
        close()
    try:
        path = save_bundle(trained.bundle, args.out)
    except Exception as e:  # noqa: BLE001 - a finished training is never lost (issue 26)
        why = getattr(e, "strerror", None) or (str(e).splitlines() or [type(e).__name__])[0]
        kept = cli_notes.keep_elsewhere(trained.bundle)
        raise CLIError(f"cannot write {args.out}: {why}; {kept}") from None
    if not args.quiet:
        _say_trained(trainer, trained, path)
    return 0


def _check_train_args(args) -> None:
    """``train``'s refusals from the arguments alone, before any image is read (CLIError)."""
    if args.anisotropy is not None and not args.three_d:
        raise CLIError("--anisotropy is for 3-D models: add --3d")
    if args.three_d:
        from .core.files.starters import is_starter

        if is_starter(args.init):
            raise CLIError(f"starters are 2-D: --init {args.init} cannot start a 3-D (--3d) "
                           "model; leave out --3d to fine-tune it on 2-D planes, or train a "
                           "3-D model from scratch (--init none)")
    check_numbers(args)
    check_device(args.device)
    # before training, not after: the model must have somewhere to go, and not over an input
    inputs = [("image", p) for p in args.images] + [("labels", p) for p in args.labels]
    check_output_file(args.out, inputs + [("model to start from", args.init)])
    _check_training_fits(args, _model_config(args))  # before reading: the settings alone
    if args.axes and (args.rgb or args.channel_axis is not None):
        raise CLIError("--axes says where the channels are: leave out --rgb and --channel-axis")


def _say_trained(trainer, trained, path) -> None:
    """What ``train`` says on stderr once the model is saved."""
    for note in trained.notes:
        print(note, file=sys.stderr)
    if trainer.validation is not None:
        print(f"held-out strokes: mean IoU {trainer.validation:.3f}", file=sys.stderr)
    print(
        f"saved {path} ({trainer.step} steps in {trainer.elapsed:.1f} s, "
        f"{trainer.step / max(trainer.elapsed, 1e-9):.2f} steps/s)",
        file=sys.stderr,
    )


def _model_config(args):
    """The U-Net the arguments ask for: ``ModelConfig``'s defaults where none is given."""
    given = {"depth": args.depth, "base_width": args.width, "padding": args.padding}
    if args.three_d:
        given.update(spatial_dims=3, anisotropy=args.anisotropy)  # None: the config's
    return ModelConfig(**{k: v for k, v in given.items() if v is not None})


def _check_training_fits(args, model_config) -> None:
    """Refuse a batch and patch size that cannot fit in memory (one line, before training)."""
    from .core.device import resolve_device
    from .core.memory import check_training_fits

    check_training_fits(model_config, args.batch_size, args.patch_size, resolve_device(args.device))


def _start_from(args, pairs, sized: bool, margin: int):
    """``--init``: the model to fine-tune (or None) and what to tell the user about it (the
    core's choice, :func:`~.core.training.start.resolve_start`, as the docks and the API
    make it; a 2-D model named for a 3-D U-Net is refused here, where the dock starts from
    scratch)."""
    from .core.files.bundle import BundleError
    from .core.training.start import NOT_3D, Painting, resolve_start

    data = Painting([p[0] for p in pairs], [p[1] for p in pairs], args.three_d, margin)
    try:
        choice = resolve_start(args.init, None, data, args.mode, size_given=sized)
    except BundleError as e:
        raise CLIError(f"--init {args.init or 'auto'}: {e}") from None
    if choice.reason == NOT_3D:
        raise _dims_refused(args, 2)
    return choice.bundle, "" if choice.quiet else choice.message


def _dims_refused(args, model_dims: int) -> CLIError:
    """``--init`` names a model of other dimensions than the training's."""
    dims = 3 if args.three_d else 2
    return CLIError(f"--init {args.init} is a {model_dims}-D model; this training is {dims}-D"
                    + (" (add --3d for a 3-D model)" if dims == 2 else " (leave out --3d)"))


def _model(spec: str):
    """A model by file path or starter name (CLIError if neither)."""
    from .core.files.bundle import BundleError
    from .core.files.starters import load_model

    try:
        return load_model(spec)
    except BundleError as e:
        raise CLIError(str(e)) from None


def cmd_starters(args) -> int:
    """List the shipped starter models with their model cards."""
    from .core.files.starters import card_text, load_starter, starter_names, title

    names = starter_names()
    if not names:
        print("no starter models are installed", file=sys.stderr)
        return 0
    unknown = [n for n in args.name or [] if n not in names]
    if unknown:  # a misspelt name is an error: listing nothing would look like success
        raise CLIError(f"no starter called {', '.join(unknown)} (starters: {', '.join(names)})")
    for name in names:
        bundle = load_starter(name)
        if args.name and name not in args.name:
            continue
        print(f"{name}: {title(bundle)}")
        if not args.short:
            print()
            print(card_text(bundle).strip())
            print()
    return 0


def _diameter(text: str) -> float | None:
    """``--diameter``: ``auto`` -> None (estimated), else a size in px (0: none)."""
    if str(text).strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise CLIError(f"--diameter must be auto, 0 or a size in px, not {text!r}") from None
    low, high = bounds(PredictConfig, "diameter")
    if not low <= value <= high:
        raise CLIError(out_of_range("--diameter", low, high, value))
    return value


def cmd_predict(args) -> int:
    """Predict files, folders and glob patterns into one folder; resumable (finished images
    are skipped unless --overwrite), locally or on a dask.distributed cluster."""
    from .core.batch.folders import BatchError, Options, predict_files, prepare
    from .core.progress import drain

    if args.dask_local is not None and args.dask_local < 1:
        raise CLIError("--dask-local needs at least 1 worker")
    check_numbers(args)
    check_device(args.device)
    bundle = _model(args.model)
    if args.axes and (args.rgb or args.channel_axis is not None):
        raise CLIError("--axes says where the channels are: leave out --rgb and --channel-axis")
    options = Options(probabilities=args.probabilities, instances=args.instances, rgb=args.rgb,
                      channel_axis=args.channel_axis, axes=_axes(args.axes),
                      stitch=args.stitch_threshold,
                      config=PredictConfig(device=args.device, tile_size=args.tile_size,
                                           diameter=_diameter(args.diameter), views=args.views))
    _check_prediction_fits(bundle, options.config)
    try:
        jobs, other = prepare(args.images, args.out, args.probabilities,  # checks before any work
                              args.overwrite)
    except BatchError as e:
        raise CLIError(str(e)) from None
    if other and not args.quiet:
        print(f"passing over {len(other)} file(s) that are not TIFF, PNG or OME-Zarr images",
              file=sys.stderr)
    cli_notes.warn_small_chunks(jobs)
    earlier = cli_notes.earlier_outputs(args.images, args.out, jobs)
    if earlier and not args.quiet:  # said, so that no image is left out silently
        print(f"passing over {earlier} image(s) in the output folder named like outputs "
              "(..._labels, ..._probabilities); move them elsewhere to predict them",
              file=sys.stderr)
    update, close = _progress_printer(f"predict {len(jobs)} image(s)", args.quiet)
    try:
        if args.dask_address or args.dask_local is not None:
            result = _predict_on_cluster(args, options, update)
        else:
            gen = predict_files(args.images, args.out, bundle, options, overwrite=args.overwrite)
            result = drain(gen, update)
    except KeyboardInterrupt:
        close()
        print("interrupted: finished images are kept; run the same command to go on",
              file=sys.stderr)
        return 130
    close()
    if not args.quiet:
        hint = " (--overwrite to redo them)" if result.skipped else ""
        print(f"{result.summary()}{hint}: {args.out}", file=sys.stderr)
    if result.failed:
        reasons = "; ".join(f"{path}: {why}" for path, why in result.failed[:3])
        more = " ..." if len(result.failed) > 3 else ""
        raise CLIError(f"{len(result.failed)} of {len(jobs)} image(s) failed ({result.summary()}): "
                       f"{reasons}{more}")
    return 0


def _axes(text: str | None) -> str | None:
    """``--axes`` checked for its letters (its length is checked against each image)."""
    if not text:
        return None
    from .core.axes import AxesError, parse

    axes = text.strip().upper()
    try:
        parse(axes, (1,) * len(axes))
    except AxesError as e:
        raise CLIError(f"--axes {text}: {str(e).split(': ', 1)[-1]}") from None
    return axes


def _check_prediction_fits(bundle, config) -> None:
    """Refuse a tile size whose batch of windows cannot fit in memory (before any work)."""
    from .core.device import resolve_device
    from .core.memory import check_prediction_fits

    if bundle.model_config.spatial_dims == 3:
        return  # 3-D tiles are bounded by predict3d (MAX_TILE, MAX_BATCH_VOXELS)
    if config.tile_size is None:
        return  # planned from the free memory: it fits by construction
    from .core.inference.tiles import plan_tiles

    model = bundle.build_model("cpu")
    side = plan_tiles(model, config.tile_size, config.tile_size, config).window
    check_prediction_fits(bundle.model_config, config.batch_size, side,
                          resolve_device(config.device))


def _predict_on_cluster(args, options, update):
    """Run the batch on a dask.distributed scheduler at --dask-address or a local cluster."""
    from .core.progress import drain

    try:
        from .core.batch.distributed import connect, predict_files_distributed

        with connect(args.dask_address, args.dask_local) as client:
            from .core.files.starters import model_path

            gen = predict_files_distributed(client, model_path(args.model), args.images, args.out, options,
                                            overwrite=args.overwrite)
            return drain(gen, update)
    except ImportError as e:
        raise CLIError(str(e)) from None
    except (OSError, TimeoutError) as e:
        where = args.dask_address or "a local cluster"
        raise CLIError(f"dask cluster ({where}): {e}") from None


def cmd_export(args) -> int:
    """Write a trained model as a bioimage.io package, TorchScript or ONNX file."""
    from .core.export import SUFFIXES, ExportError, export_model

    out = Path(args.out)
    if not out.name or out.is_dir():  # ".", "" and "/" name no file to write
        raise CLIError(f"--out {args.out!r} is not a file name; give the file to write, e.g. --out "
                       f"{Path(str(args.model)).stem or 'model'}{SUFFIXES[args.format]}")
    out = out if out.suffix else out.with_suffix(SUFFIXES[args.format])
    inputs = [("model", args.model), ("sample", args.sample)]
    check_output_file(str(out), inputs)
    check_output_file(str(out) + ".json", inputs)  # TorchScript and ONNX sidecars
    bundle = _model(args.model)
    if bundle.model_config.spatial_dims == 3:
        raise CLIError(f"{args.model} is a 3-D model; only 2-D models can be exported yet")
    options = {}
    if args.format == "bioimageio":
        options = {"validate": not args.no_validate, "license": args.license}
        if args.author:
            options["authors"] = args.author
        if args.sample:
            from .core.files.io import read_image
            from .core.images import ImageError, to_chw

            try:
                sample = read_image(args.sample)
            except ImageError as e:
                raise CLIError(f"{args.sample}: {e}") from None
            try:
                options["sample"] = to_chw(sample, rgb=args.rgb)
            except ImageError as e:
                if len(sample.shape) != 3:
                    raise CLIError(f"{args.sample}: {e}") from None
                raise CLIError(  # export has no --channel-axis, which to_chw's message suggests
                    f"{args.sample}: cannot tell which axis of shape {tuple(sample.shape)} holds "
                    "channels; give a 2-D sample image, or --rgb if its last axis is colour"
                ) from None
    elif args.sample or args.author or args.no_validate:
        raise CLIError("--sample, --author and --no-validate are for --format bioimageio")
    try:
        path = export_model(bundle, args.out, args.format, **options)
    except ExportError as e:
        raise CLIError(str(e)) from None
    if not args.quiet:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_demo(args) -> int:
    """Train on a synthetic nuclei image painted with a few strokes, predict, report IoU."""
    from .core.files.bundle import save_bundle
    from .core.files.io import write_tiff
    from .core.inference.predict import predict_image
    from .core.progress import drain
    from .core.training.train import Trainer
    from .synthetic import nuclei, simulate_painting

    image, truth = nuclei((256, 256), n=30, seed=1)
    painted = simulate_painting(truth, n_objects=8, n_background_strokes=6, seed=0)
    trainer = Trainer([image[None]], [painted], config=TrainConfig(seconds=args.seconds, steps=None))
    update, close = _progress_printer("train", args.quiet)
    try:
        bundle = drain(trainer.steps(), update)
    finally:
        close()
    pred = predict_image(image[None], bundle)
    unpainted = painted == 0
    fg, gt = pred.labels == 2, truth > 0
    iou = (fg & gt & unpainted).sum() / max(1, ((fg | gt) & unpainted).sum())
    out = Path(args.out)
    save_bundle(bundle, out / "demo_model.unet")
    for name, arr in [("image", image), ("painted", painted), ("prediction", pred.labels)]:
        write_tiff(out / f"demo_{name}.tif", arr)
    print(
        f"demo: {trainer.step} steps in {trainer.elapsed:.1f} s; foreground IoU on unpainted "
        f"pixels {iou:.3f}; files in {out}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="napari-unet", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t, q = _train_parser(sub), _predict_parser(sub)
    _export_parser(sub)
    st = sub.add_parser("starters", help="list the pretrained starter models and their cards")
    st.add_argument("name", nargs="*", help="only these starters")
    st.add_argument("--short", action="store_true", help="one line per starter")
    st.set_defaults(func=cmd_starters)

    d = sub.add_parser("demo", help="train and predict on a synthetic example")
    d.add_argument("--out", default="napari-unet-demo", help="folder for the results")
    add_setting(d, "seconds")
    d.set_defaults(func=cmd_demo)

    for s, config in ((t, TrainConfig), (q, PredictConfig), (d, TrainConfig)):
        add_setting(s, "device", config)
        s.add_argument("--quiet", action="store_true", help="no progress output")
    for s in (t, q):
        s.add_argument("--rgb", action="store_true", default=None, help="the last axis holds colour")
        s.add_argument("--channel-axis", type=int, default=None, metavar="AXIS",
                       help="which axis of a multichannel image holds the channels (0, -1, ...)")
    add_setting(t, "seed")
    return p


def _train_parser(sub) -> argparse.ArgumentParser:
    """``napari-unet train``'s own options (the shared ones are added by :func:`build_parser`)."""
    t = sub.add_parser("train", help="train a U-Net on painted labels")
    t.add_argument("images", nargs="+", help="TIFF or PNG images")
    t.add_argument("--labels", nargs="+", required=True, help="painted labels, one per image (0 = unpainted)")
    t.add_argument("--out", required=True, help="model file to write")
    budget = t.add_mutually_exclusive_group()
    add_setting(budget, "steps")
    add_setting(budget, "seconds", unset=True)  # --steps alone: no time limit
    t.add_argument("--init", default="auto", metavar="auto|none|STARTER|MODEL",
                   help="what to fine-tune: auto (default: the starter that best fits your "
                        "painting, or from scratch), none (from scratch), a starter's name "
                        "(napari-unet starters), or a model file")
    add_setting(t, "batch_size")
    add_setting(t, "patch_size")
    for size in ("depth", "width", "padding"):  # not given: the size of the model fine-tuned
        add_setting(t, size, unset=True, default_when="from scratch: ")
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--axes", metavar="AXES",
                   help="which axis of the images is which: YX, CYX, YXC, ZYX, TYX, TZYX, ... "
                   "A 2-D model trains on the painted planes of Z and T stacks (labels: the "
                   "image's shape without C); with --3d: ZYX, CZYX or ZYXC")
    t.add_argument("--3d", dest="three_d", action="store_true",
                   help="train a 3-D U-Net on (Z, Y, X) image stacks and painted label stacks")
    add_setting(t, "anisotropy", unset=True, metavar="N")  # given: needs --3d
    add_setting(t, "mode")
    t.set_defaults(func=cmd_train)

    return t


def _predict_parser(sub) -> argparse.ArgumentParser:
    """``napari-unet predict``'s own options (the shared ones are added by :func:`build_parser`)."""
    q = sub.add_parser("predict", help="segment images with a trained model")
    q.add_argument("model", help="model file written by 'train', or a starter's name "
                                 "(napari-unet starters)")
    q.add_argument(
        "images",
        nargs="+",
        help="images (TIFF, PNG, OME-Zarr), folders of them, or glob patterns (quoted)",
    )
    q.add_argument(
        "--out",
        required=True,
        help="folder for <name>_labels.tif, or <name>_labels.ome.zarr for OME-Zarr input "
        "(classes as painted; objects for an instance model); images already done for the "
        "same input by the same model are skipped; files napari-unet did not write are never "
        "overwritten",
    )
    q.add_argument("--overwrite", action="store_true", help="predict again images already done")
    cluster = q.add_mutually_exclusive_group()
    cluster.add_argument("--dask-address", metavar="ADDRESS",
                         help="run on this dask.distributed scheduler (e.g. tcp://host:8786); "
                         "workers must see the same paths")
    cluster.add_argument("--dask-local", type=int, metavar="N",
                         help="run on a local dask.distributed cluster of N worker processes")
    q.add_argument("--probabilities", action="store_true",
                   help="also write <name>_probabilities.tif (.ome.zarr for OME-Zarr input)")
    add_setting(q, "tile_size")
    q.add_argument("--diameter", default="auto", metavar="auto|0|PX",
                   help="size of the objects in px (as Cellpose's diameter): images are resized "
                        "so their objects have the size the model learnt; auto (default) "
                        "estimates it per image for the starters and models made from them; "
                        "0 predicts at the images' own scale")
    q.add_argument("--views", type=int, default=1, choices=VIEWS,
                   help="8: also predict every image rotated and mirrored (the 8 symmetries of "
                        "the square) and average them, as Cellpose's --augment: objects a "
                        "little more often right, 8 times the work; default 1")
    q.add_argument(
        "--instances",
        action="store_true",
        help="write one id per object also for a semantic model (instance models always do)",
    )
    q.add_argument("--axes", metavar="AXES",
                   help="which axis is which, for every input: YX, ZYX, TYX, CYX, YXC, TZYX, "
                   "TCZYX, ... (T time, Z depth, C channels); default: the file's metadata "
                   "(OME-TIFF, ImageJ, OME-Zarr), else a guess where the answer is plain. A 2-D "
                   "model predicts Z and T plane by plane")
    from .core.inference.stitch import STITCH_THRESHOLD

    q.add_argument("--stitch-threshold", type=float, default=STITCH_THRESHOLD, metavar="IOU",
                   help="Z stacks: objects of adjacent planes overlapping by at least this "
                   f"intersection over union become one 3-D object (default {STITCH_THRESHOLD}; "
                   "0: each plane its own objects). Time points are never joined")
    q.set_defaults(func=cmd_predict)

    return q


def _export_parser(sub) -> argparse.ArgumentParser:
    """``napari-unet export``."""
    from .core.export import FORMATS  # no torch: the exporters load on use

    e = sub.add_parser("export", help="write a model for other tools: bioimage.io, TorchScript, ONNX")
    e.add_argument("model", help="model file written by 'train', or a starter's name")
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("--out", required=True, help="file to write (.zip, .pt or .onnx added if no suffix)")
    e.add_argument("--sample", help="bioimageio: image for the test tensors and cover (default: synthetic)")
    e.add_argument("--author", action="append", help="bioimageio: author name (repeatable)")
    e.add_argument("--license", default="CC-BY-4.0", help="bioimageio: SPDX license id")
    e.add_argument("--no-validate", action="store_true",
                   help="bioimageio: skip the bioimage.io test of the package (faster)")
    e.add_argument("--rgb", action="store_true", default=None, help="the sample's last axis holds colour")
    e.add_argument("--quiet", action="store_true", help="no messages")
    e.set_defaults(func=cmd_export)

    return e


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .core.files.bundle import BundleError
    from .core.images import ImageError

    try:
        return args.func(args)
    except KeyboardInterrupt:  # before training or predicting began (they handle their own)
        _say(args, "interrupted; nothing was written")
        return 130
    except (CLIError, BundleError, ConfigError, ImageError) as e:
        _say(args, f"error: {e}")
        return 2
    except OSError as e:  # a folder that cannot be written, a full disk, ...
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        _say(args, f"error: cannot access{where}: {e.strerror or e}")
        return 2
    except RuntimeError as e:  # device not available, out of memory, ...
        _say(args, f"error: {e}")
        return 1


MAX_LINE = 500
"""Characters of an error line (a message quoting a 200,000-axis zarr.json was 2 MB)."""


def _say(args, text: str) -> None:
    """One line on stderr, at most :data:`MAX_LINE` characters (issue 26, item 8)."""
    line = " ".join(f"napari-unet {args.command}: {text}".split())
    print(line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
