"""The folder prediction of :mod:`~napari_unet.core.batch.folders` on a dask.distributed cluster.

The model file's bytes are scattered to every worker once (``broadcast=True``); each task
predicts one whole file with :func:`~napari_unet.core.batch.folders.predict_job`, the code the local
run uses, and writes its outputs itself; a worker builds the model from those bytes once
and keeps it for its later tasks. Inputs and the output folder must therefore be reachable
at the same paths from the workers (a shared file system; always true for a local cluster).

``distributed`` is an optional dependency (``pip install napari-stroke-unet[scale]``), imported
only here and only when called.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..files.records import model_fingerprint
from ..progress import Progress
from .folders import BatchResult, Options, failure_reason, prepare, remove_temporaries_of, settings_of, wants

_MODELS: dict[tuple[str, str], tuple] = {}
_LOCK = threading.Lock()
LOADS = {"count": 0}
"""How many times a model was built from bytes in this process (tests check the cache)."""


def _import_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - part of the scale extra
        raise ImportError(
            "dask.distributed is needed for cluster prediction: pip install 'napari-stroke-unet[scale]'"
        ) from None
    return distributed


CONNECT_TIMEOUT_S = 20.0
"""Seconds to wait for a scheduler to answer before saying so (issue 26, item 5)."""


@contextmanager
def connect(address: str | None = None, n_local: int | None = None,
            processes: bool = True) -> Iterator:
    """A ``distributed.Client`` for ``address``, or for a new local cluster of ``n_local``
    single-threaded workers (closed on exit)."""
    distributed = _import_distributed()
    if address:
        _probe(address)
        with distributed.Client(address, timeout=CONNECT_TIMEOUT_S) as client:
            yield client
        return
    if not n_local or n_local < 1:
        raise ValueError("give a scheduler address or a number of local workers (>= 1)")
    # a file that fails is reported once, in one line, by the caller: the workers' own log
    # ("Compute Failed ... Traceback") is not for users
    with distributed.LocalCluster(n_workers=n_local, threads_per_worker=1, processes=processes,
                                  dashboard_address=None, silence_logs=logging.CRITICAL) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def _probe(address: str) -> None:
    """Open and close one connection to ``address`` within :data:`CONNECT_TIMEOUT_S`:
    ``OSError`` in one line for a malformed address, or one where no scheduler answers (an
    HTTP server such as the dashboard, a silent port: ``Client`` waited for minutes)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect as open_comm

    async def once():
        comm = await asyncio.wait_for(open_comm(address, timeout=CONNECT_TIMEOUT_S),
                                      CONNECT_TIMEOUT_S)
        await comm.close()

    try:  # in a thread of its own: the caller may already run an event loop (Jupyter)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, once()).result()
    except ValueError as e:
        raise OSError(f"{address!r} is not a scheduler address: {e}") from None
    except (OSError, asyncio.TimeoutError, TimeoutError) as e:
        raise OSError(f"no dask scheduler answered at {address} within {CONNECT_TIMEOUT_S:g} s "
                      f"({type(e).__name__}); give the scheduler's address (port 8786 by "
                      "default, not the dashboard's)") from None


def _model_for(raw: bytes, digest: str, device: str):
    """This worker's (bundle, model) for the model file ``raw``, built on first use."""
    from ..device import resolve_device

    key = (digest, device)
    with _LOCK:
        if key not in _MODELS:
            bundle = _load_bytes(raw)
            _MODELS[key] = (bundle, bundle.build_model(resolve_device(device)))
            LOADS["count"] += 1
        return _MODELS[key]


def _load_bytes(raw: bytes):
    """A bundle from a model file's bytes (through a temporary file: one loader, one format)."""
    import tempfile

    from ..files.bundle import load_bundle

    fd, path = tempfile.mkstemp(suffix=".unet")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        return load_bundle(path)
    finally:
        os.unlink(path)


def _run(raw: bytes, digest: str, job, options: Options) -> str:
    """A task: predict one file, write its outputs, return the labels path."""
    from ..progress import drain
    from .folders import predict_job

    bundle, model = _model_for(raw, digest, options.config.device)
    return str(drain(predict_job(job, bundle, model, options)))


def predict_files_distributed(
    client,
    model_path: str | os.PathLike,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    options: Options | None = None,
    *,
    overwrite: bool = False,
) -> Generator[Progress, None, BatchResult]:
    """As :func:`~napari_unet.core.batch.folders.predict_files`, one task per file on ``client``.

    Yields progress as files finish; closing the generator cancels the tasks not yet done.
    """
    from ..files.bundle import load_bundle

    distributed = _import_distributed()
    options = options or Options()
    bundle = load_bundle(model_path)  # a clear error here rather than on every worker
    raw = Path(model_path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    jobs, _ = prepare(inputs, out_dir, options.probabilities, overwrite)
    result = BatchResult()
    todo = []
    fingerprint, objects = model_fingerprint(bundle), wants(bundle, options)[0]
    remove_temporaries_of(jobs)
    for job in jobs:
        done = not overwrite and job.done(fingerprint, objects, settings_of(options))
        (result.skipped.append(job.labels) if done else todo.append(job))
    n, finished = len(jobs), len(result.skipped)
    if finished:
        yield Progress(stage="batch", done=finished, total=n, fraction=finished / n,
                       message=f"{finished} already done")
    if not todo:
        return result
    model = client.scatter(raw, broadcast=True)
    futures = {
        client.submit(_run, model, digest, job, options, pure=False,
                      key=f"napari-unet-{job.source.name}-{os.urandom(4).hex()}"): job
        for job in todo
    }
    try:
        for future in distributed.as_completed(futures):
            job = futures[future]
            try:
                future.result()
                result.written.append(job.labels)
            except Exception as e:  # noqa: BLE001 - one bad image must not stop the others
                result.failed.append((job.source, failure_reason(e)))
            finished += 1
            yield Progress(stage="batch", done=finished, total=n, fraction=finished / n,
                           message=job.source.name)
    finally:
        client.cancel([f for f in futures if not f.done()])
    result.written.sort()
    result.failed.sort()
    return result
