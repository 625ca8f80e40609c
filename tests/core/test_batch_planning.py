"""Planning a folder is linear in its size (issue 26, item 6): re-running a finished folder
of 10,000 images took 838 s to do nothing, as every output was compared with every input
(two stats each) and every output's temporaries were looked for by listing the folder
again. Counted in file-system calls, not timed (the time is a benchmark line)."""

from __future__ import annotations

import os

from napari_unet.core.batch import folders
from napari_unet.core.batch.folders import Job, plan, remove_temporaries_of

N = 150


def _finished_folder(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(N):
        (src / f"{i}.tif").write_bytes(b"")
        (out / f"{i}_labels.tif").write_bytes(b"")
    return sorted(src.iterdir()), out


def _counting(monkeypatch, name):
    calls = [0]
    real = getattr(os, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, counted)
    return calls


def test_planning_a_finished_folder_stats_each_file_a_few_times(tmp_path, monkeypatch):
    sources, out = _finished_folder(tmp_path)
    monkeypatch.setattr(Job, "check_outputs", lambda self: None)  # records: not counted here
    stats = _counting(monkeypatch, "stat")
    jobs = plan(sources, out)
    assert len(jobs) == N
    assert stats[0] <= 10 * N, stats[0]  # was about 2 * N * N


def test_temporaries_of_a_folder_are_looked_for_in_one_listing(tmp_path, monkeypatch):
    sources, out = _finished_folder(tmp_path)
    jobs = [Job(s, folders.outputs_for(s, out)) for s in sources]
    listings = _counting(monkeypatch, "scandir")
    remove_temporaries_of(jobs)
    assert listings[0] == 1, listings[0]  # was one per output
