"""'Apply to folder…' without its widgets: predict every image of a folder into another
folder, in a worker, and say what happens.

The work is the core's :func:`~napari_unet.core.batch.folders.predict_files` (the command line's
``napari-unet predict MODEL FOLDER --out DIR``) in a worker from the predict controller's
:class:`~..common.runner.Runner`: a napari progress bar, Stop between tile batches (so also
between files), images already done are skipped, an image that fails is reported in the
summary and the others go on. Outputs appear only when complete, so applying again after
Stop continues where it ended. Headless: the dock's :class:`~.folder.FolderPanel` only shows
it (its button follows ``running_changed``, its status line ``status_changed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal

from napari_unet.core.batch.folders import BatchError, Options, predict_files, prepare
from napari_unet.core.config import PredictConfig, interactive_threads

from ..common.tasks import ProgressBar, failed, guarded


def _run(jobs_inputs, out_dir, bundle, options):
    return (yield from guarded(predict_files(jobs_inputs, out_dir, bundle, options)))


def summary_text(result, out_dir) -> str:
    """What the user reads when a folder is done: counts, and every image that failed."""
    text = f"Folder done: {result.summary()}; results in {out_dir}"
    if result.failed:
        text += ". Failed (the others were written): " + "; ".join(
            f"{Path(p).name}: {why}" for p, why in result.failed
        )
    return text


@dataclass
class _RunState:
    """One folder run, as the GUI thread sees it."""

    bar: ProgressBar
    out_dir: Path
    total: int
    done: int = 0
    outcome: tuple | None = None  # (text, show_info / show_warning / show_error)


class FolderRun:
    """One folder prediction at a time, its worker started through ``runner``."""

    status_changed = Signal(str)
    running_changed = Signal(bool)
    """True when a run starts (the button says Stop), False when it has ended."""

    def __init__(self, session, runner, settings=None):
        self.session = session
        self.runner = runner
        self.settings = settings
        """A callable giving the dock's prediction options now (``diameter``, ``views``:
        :class:`~napari_unet.core.config.PredictConfig` keywords), or None: the defaults."""
        self.status = ""
        self.worker = None
        self.result = None
        self._state: _RunState | None = None

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def say(self, text: str) -> None:
        self.status = text
        self.status_changed.emit(text)

    def run(self, source, out_dir):
        """Predict every image in ``source`` into ``out_dir``; returns the worker or None."""
        bundle = self.session.bundle
        if bundle is None:
            show_error("There is no model yet: press 'Use a starter model…' (predict dock), "
                       "train one in 'Train U-Net', or load a model file.")
            return None
        try:
            jobs, other = prepare([source], out_dir)  # nothing to predict, output not writable: say now
        except BatchError as e:
            show_error(f"Cannot apply to folder: {e}")
            return None
        chosen = self.settings() if self.settings is not None else {}
        options = Options(config=PredictConfig(device=self.session.device,
                                               threads=interactive_threads(), **chosen))
        self.result = None
        bar = ProgressBar(f"Predicting {len(jobs)} image(s) of {Path(source).name}")
        self.worker = worker = self.runner.worker(_run, [source], out_dir, bundle, options)
        self._state = _RunState(bar, Path(out_dir), len(jobs))
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.running_changed.emit(True)
        passed = f" ({len(other)} other file(s) passed over)" if other else ""
        self.say(f"Predicting {len(jobs)} image(s){passed}…")
        return self.runner.start(worker)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.quit()

    def _on_yielded(self, p) -> None:
        state = self._state
        if state is None:
            return
        state.done = p.done
        self.say(f"Predicting {p.message}…")
        # last: napari's progress bar may process pending events (even ``finished``) here
        state.bar.update(p)

    def _on_returned(self, result) -> None:
        self.result = result
        if self._state is not None:
            self._state.outcome = (summary_text(result, self._state.out_dir),
                                   show_warning if result.failed else show_info)

    def _on_errored(self, error) -> None:
        if self._state is not None:
            self._state.outcome = (failed("Folder prediction failed", error), show_error)

    def _on_finished(self) -> None:
        """Tell the outcome once: the summary, the error, or where Stop left off."""
        state, self._state = self._state, None
        self.worker = None
        self.running_changed.emit(False)
        if state is None:
            return
        state.bar.close()
        text, tell = state.outcome or (
            f"Stopped after {state.done} of {state.total} image(s); their results are complete. "
            "Apply again to the same folders to go on.", show_info)
        self.say(text)
        tell(text)
