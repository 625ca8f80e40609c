"""bioimage.io model package (spec 0.5): rdf.yaml, weights, test tensors, cover, README.

Pipeline described in the rdf (so bioimage.io tools take raw images)::

    raw (1, C, H, W) --preprocessing--> normalised --U-Net--> logits --softmax--> probabilities

* Preprocessing: ``scale_range`` over ``(y, x)`` per channel with the bundle's percentiles
  (``norm.mode == "per_image"``), or ``scale_linear`` along ``channel`` with the training
  images' values (``"fixed"``). bioimage.io adds ``1e-6`` to ``high - low``; napari-unet does
  not, a difference far below the test tolerance.
* Network: the U-Net's logits; the rdf's postprocessing is ``softmax`` along ``channel``.
* Weights: ``torchscript`` (traced, needs only torch) and ``pytorch_state_dict`` (the
  architecture imported from ``napari_unet.core.networks.model.UNet``, so it needs napari-unet).
* Sizes: ``y``/``x`` are ``min + n * 2**depth``; the output is as large as the input
  (``padding="same"``) or ``2 * margin`` smaller (``"valid"``).
* Test tensors: a crop of ``sample`` (or a synthetic nuclei image) and the pipeline's output
  on it; the cover shows both. The README says how the model was trained.

The package is validated (format and the test tensors) with ``bioimageio.core.test_model``
before it is kept when ``validate=True``. Validation needs no network (checked in a network
namespace without any: nothing to switch off); ``test_model`` seeds torch (``manual_seed(0)``)
and sets ``torch.use_deterministic_algorithms(False)`` in the calling process. The only
warning it gives is that no author has a GitHub user name (``authors`` are plain names).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import tifffile
import torch

from ..networks.deployable import sizes, unet
from . import ExportError
from .files import atomic_path, require
from .package_files import linear, test_input, test_output, write_cover
from .readme import readme

DEFAULT_AUTHOR = "napari-unet user"
DEFAULT_LICENSE = "CC-BY-4.0"
TOLERANCE = 1e-3  # absolute and relative, on probabilities


def export(
    bundle,
    path: Path,
    *,
    sample=None,
    name: str | None = None,
    authors: list[str] | None = None,
    license: str = DEFAULT_LICENSE,
    validate: bool = True,
) -> Path:
    """Write a bioimage.io zip package of ``bundle`` to ``path``; return the path.

    ``sample``: a raw ``(C, H, W)`` image for the test tensors and cover (default: synthetic).
    ``validate``: run ``bioimageio.core.test_model`` on the package and raise
    :class:`ExportError` with its summary if it fails.
    """
    require("bioimageio.spec", "bioimage.io")
    require("bioimageio.core", "bioimage.io")
    from bioimageio.spec import save_bioimageio_package
    from pydantic import ValidationError

    name = name or f"napari-unet {bundle.mode} U-Net"
    _check_license(license)
    with tempfile.TemporaryDirectory(prefix="napari-unet-bioimageio-") as work:
        try:
            descr = describe(bundle, Path(work), sample=sample, name=name,
                             authors=authors or [DEFAULT_AUTHOR], license=license)
        except ValidationError as e:  # a bad name, author, ...: say which field, briefly
            first = e.errors()[0]
            where = ".".join(str(v) for v in first["loc"]) or e.title
            msg = first["msg"] if len(first["msg"]) < 120 else first["msg"][:117] + "..."
            raise ExportError(f"invalid bioimage.io description: {where}: {msg}") from None
        with atomic_path(path) as tmp:
            try:
                save_bioimageio_package(descr, output_path=tmp)
            except Exception as e:  # pydantic / io errors from the spec library
                raise ExportError(f"cannot write the bioimage.io package: {e}") from None
            if validate:
                check(tmp)
    return path


def _check_license(license: str) -> None:
    from bioimageio.spec.model.v0_5 import LicenseId
    from pydantic import ValidationError

    try:
        LicenseId(license)
    except ValidationError:
        raise ExportError(
            f"unknown license {license!r}: give an SPDX id such as CC-BY-4.0, MIT or BSD-3-Clause"
        ) from None


def check(package: Path) -> None:
    """Raise :class:`ExportError` unless ``package`` passes bioimage.io's ``test_model``."""
    summary = test_package(package)
    if summary.status != "passed":
        failed = [d.name for d in summary.details if d.status == "failed"]
        raise ExportError(f"the bioimage.io package failed validation: {'; '.join(failed)}")


def test_package(package: Path):
    """``bioimageio.core.test_model`` on ``package``: format, loading, test tensors."""
    from bioimageio.core import test_model

    return test_model(str(package))


def describe(bundle, work: Path, *, sample, name: str, authors: list[str], license: str):
    """A ``ModelDescr`` (format 0.5) whose files are written into the folder ``work``."""
    from bioimageio.spec.model import v0_5 as bio

    weights = _write_files(bundle, work, sample, name)
    tags = ["unet", "2d", "pytorch", "napari-unet", "segmentation",
            "instance-segmentation" if bundle.mode == "instance" else "semantic-segmentation"]
    return bio.ModelDescr(
        name=name,
        description=(f"2-D U-Net trained with napari-unet on painted annotations: "
                     f"{', '.join(bundle.class_names)}"),
        authors=[bio.Author(name=a) for a in authors],
        cite=[bio.CiteEntry(text="Ronneberger, Fischer, Brox. U-Net: Convolutional Networks for "
                            "Biomedical Image Segmentation. MICCAI 2015.",
                            doi=bio.Doi("10.1007/978-3-319-24574-4_28"))],
        license=bio.LicenseId(license),
        tags=tags,
        documentation=bio.FileDescr(source=work / "README.md"),
        covers=[bio.FileDescr(source=work / "cover.png")],
        inputs=[_input_descr(bundle, work, bio)],
        outputs=[_output_descr(bundle, work, bio)],
        weights=weights,
        config=_config(bundle, bio),
    )


def _write_files(bundle, work: Path, sample, name: str):
    """The test and sample tensors, the cover, the README (for the model ``name``) and the
    weights, written into ``work``; returns the weights' description."""
    x = test_input(bundle, sample)
    y = test_output(bundle, x)
    np.save(work / "test_input.npy", x)
    np.save(work / "test_output.npy", y)
    tifffile.imwrite(work / "sample_input.tif", x[0])  # for people (and FAIR checks)
    tifffile.imwrite(work / "sample_output.tif", y[0])
    write_cover(work / "cover.png", x, y)
    (work / "README.md").write_text(readme(bundle, name), encoding="utf-8")
    return _write_weights(bundle, work, x)


def _input_descr(bundle, work: Path, bio):
    """The raw image: any size of the network's step, normalised by the preprocessing."""
    cfg, s = bundle.model_config, sizes(bundle)
    size = bio.ParameterizedSize(min=s["min"], step=s["step"])
    return bio.InputTensorDescr(
        id=bio.TensorId("input"),
        description="raw image; normalised by the preprocessing",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(channel_names=[bio.Identifier(f"channel{i}") for i in range(cfg.in_channels)]),
            bio.SpaceInputAxis(id=bio.AxisId("y"), size=size),
            bio.SpaceInputAxis(id=bio.AxisId("x"), size=size),
        ],
        test_tensor=bio.FileDescr(source=work / "test_input.npy"),
        sample_tensor=bio.FileDescr(source=work / "sample_input.tif"),
        data=bio.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=_preprocessing(bundle, bio),
    )


def _output_descr(bundle, work: Path, bio):
    """The softmax probabilities, the input's size less the network's offset."""
    ref = {"tensor_id": bio.TensorId("input"), "offset": sizes(bundle)["output_offset"]}
    return bio.OutputTensorDescr(
        id=bio.TensorId("probabilities"),
        description="softmax probabilities per class; napari-unet labels are argmax + 1",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(channel_names=[bio.Identifier(_ident(c)) for c in bundle.class_names]),
            bio.SpaceOutputAxis(id=bio.AxisId("y"), size=bio.SizeReference(axis_id=bio.AxisId("y"), **ref)),
            bio.SpaceOutputAxis(id=bio.AxisId("x"), size=bio.SizeReference(axis_id=bio.AxisId("x"), **ref)),
        ],
        test_tensor=bio.FileDescr(source=work / "test_output.npy"),
        sample_tensor=bio.FileDescr(source=work / "sample_output.tif"),
        data=bio.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
        postprocessing=[bio.SoftmaxDescr(kwargs=bio.SoftmaxKwargs(axis=bio.AxisId("channel")))],
    )


def _config(bundle, bio):
    """bioimage.io's reproducibility and training details, and the whole napari-unet file
    (configs, normalisation, provenance) under ``napari_unet``."""
    return bio.Config(
        bioimageio=bio.BioimageioConfig(
            reproducibility_tolerance=[bio.ReproducibilityTolerance(
                relative_tolerance=TOLERANCE, absolute_tolerance=TOLERANCE)],
            architecture_type="U-Net",
            model_parameter_count=sum(v.numel() for v in bundle.state_dict.values()
                                      if v.is_floating_point()),
            training=bio.TrainingDetails(
                training_batch_size=bundle.train.sampling.batch_size,
                initial_learning_rate=bundle.train.optimiser.learning_rate,
                optimizer="torch.optim.AdamW",
                loss_function="cross-entropy on painted pixels",
                training_duration=float(bundle.info.get("seconds", 0.0)) / 3600,
            ),
        ),
        napari_unet={
            "model_config": bundle.model_config.to_dict(),
            "norm": bundle.norm.to_dict(),
            "class_names": list(bundle.class_names),
            "train_config": bundle.train_config,
            "postprocess": bundle.postprocess.to_dict(),
            "info": _jsonable(bundle.info),
        },
    )


def _preprocessing(bundle, bio) -> list:
    norm = bundle.norm
    if norm.mode == "fixed":
        gain, offset = linear(norm)
        if all(g == 1.0 for g in gain) and all(o == 0.0 for o in offset):
            return []  # the spec rejects an identity scaling
        return [bio.ScaleLinearDescr(kwargs=bio.ScaleLinearAlongAxisKwargs(
            axis=bio.AxisId("channel"), gain=gain, offset=offset))]
    return [bio.ScaleRangeDescr(kwargs=bio.ScaleRangeKwargs(
        axes=[bio.AxisId("y"), bio.AxisId("x")],
        min_percentile=norm.low_percentile, max_percentile=norm.high_percentile))]


def _write_weights(bundle, work: Path, x: np.ndarray):
    """TorchScript (traced U-Net, logits) and the state dict, both checked against the model."""
    from bioimageio.spec.model import v0_5 as bio

    from .torchscript import write as write_torchscript

    version = bio.Version(torch.__version__.split("+")[0])
    write_torchscript(unet(bundle), bundle, work / "weights_torchscript.pt")
    torch.save({k: v.detach().cpu().contiguous() for k, v in bundle.state_dict.items()},
               work / "weights_state_dict.pt")
    return bio.WeightsDescr(
        pytorch_state_dict=bio.PytorchStateDictWeightsDescr(
            source=work / "weights_state_dict.pt",
            architecture=bio.ArchitectureFromLibraryDescr(
                import_from="napari_unet.core.networks.model", callable=bio.Identifier("UNet"),
                kwargs=bundle.model_config.to_dict()),
            pytorch_version=version,
        ),
        torchscript=bio.TorchscriptWeightsDescr(
            source=work / "weights_torchscript.pt", pytorch_version=version,
            parent="pytorch_state_dict"),
    )


def _ident(text: str) -> str:
    """A class name as a bioimage.io identifier (letters, digits, underscores)."""
    out = "".join(ch if ch.isalnum() else "_" for ch in str(text)).strip("_") or "class"
    return out if out[0].isalpha() else f"c_{out}"


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str))
