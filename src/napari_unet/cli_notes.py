"""What the command line tells the user besides its errors: warnings about the painting and
the inputs, and where a model went that could not be saved where asked (issue 26). Each
function prints or returns one line."""

from __future__ import annotations

import sys
from pathlib import Path


def warn_small_chunks(jobs) -> None:
    """One line (even with --quiet) per Zarr input stored in tiny chunks: 1 x 1 chunks were
    very slow with no word (issue 26, item 8)."""
    from .core.files.ngff import is_ome_zarr, small_chunks

    for job in jobs:
        chunks = small_chunks(job.source) if is_ome_zarr(job.source) else None
        if chunks:
            print(f"warning: {job.source.name} is stored in chunks of {chunks[0]} x {chunks[1]} "
                  "px; reading it is very slow: save it in chunks of 256 x 256 px or more",
                  file=sys.stderr)


def earlier_outputs(inputs, out_dir, jobs) -> int:
    """How many inputs :func:`~.core.batch.folders.prepare` passed over as outputs of an
    earlier run (named ``*_labels`` / ``*_probabilities`` in the output folder)."""
    from .core.batch.folders import expand_inputs, is_output

    planned = {job.source for job in jobs}
    sources, _ = expand_inputs(inputs)
    return sum(1 for s in sources if s not in planned and is_output(s, Path(out_dir)))


def keep_elsewhere(bundle) -> str:
    """Save a trained model that could not be written where asked into the temporary folder;
    says where (or that it could not be kept)."""
    import tempfile
    import time

    from .core.files.bundle import save_bundle

    path = Path(tempfile.gettempdir()) / f"napari-unet-{time.strftime('%Y%m%d-%H%M%S')}.unet"
    try:
        return f"the trained model was saved as {save_bundle(bundle, path)} instead"
    except Exception:  # noqa: BLE001
        return "the trained model could not be saved anywhere"


def painting_warning(labels, mode: str) -> None:
    """One line on stderr (even with --quiet) when the painting looks made for the other
    mode, as the train dock says (issue 26, item 4)."""
    from .core.training.painting_check import check_painting, one_line

    advice = check_painting(labels, mode)
    if advice is not None:
        print(one_line(advice, "--mode"), file=sys.stderr)
