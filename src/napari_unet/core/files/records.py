"""Which input and which model an output was predicted from, stored inside the output.

A predicted TIFF carries the record in its description (tifffile's JSON metadata), an
OME-Zarr output in its group attributes, under ``"napari_unet"``. Batch prediction reads it
back to tell "already done" (this input, unchanged, with this model) from a stale output of
ours (redone) and from a file napari-unet did not write for this input (never overwritten).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

KEY = "napari_unet"
WRITER = "napari-unet"


def model_fingerprint(bundle) -> str:
    """A short hash of everything in ``bundle`` that changes a prediction."""
    import torch

    h = hashlib.sha256()
    for part in (bundle.model_config.to_dict(), bundle.norm.to_dict(),
                 bundle.postprocess.to_dict(), list(bundle.class_names), bundle.mode):
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    for name in sorted(bundle.state_dict):
        t = bundle.state_dict[name].detach().to("cpu").contiguous().reshape(-1)
        h.update(name.encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:20]


def source_record(source: str | os.PathLike) -> dict:
    """The input's absolute path, size and modification time (a changed input is redone)."""
    path = Path(source).absolute().resolve()
    st = path.stat()
    return {"source": str(path), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def make_record(source, model: str, objects: bool) -> dict:
    return {"writer": WRITER, **source_record(source), "model": model, "objects": bool(objects)}


def read_record(output: str | os.PathLike) -> dict | None:
    """The record inside ``output``, or None if it has none (or cannot be read)."""
    output = Path(output)
    try:
        if output.is_dir():
            import zarr

            raw = zarr.open_group(str(output), mode="r").attrs.get(KEY)
        else:
            import tifffile

            with tifffile.TiffFile(output) as tif:
                meta = tif.shaped_metadata
                raw = meta[0].get(KEY) if meta else None
        record = json.loads(raw) if isinstance(raw, str) else raw
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return None
    if not isinstance(record, dict) or record.get("writer") != WRITER:
        return None
    return record


def same_source(record: dict | None, source) -> bool:
    """``record`` was written for the file at ``source`` (whatever its state now)."""
    return bool(record) and record.get("source") == str(Path(source).absolute().resolve())
