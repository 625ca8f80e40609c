"""Killing folder prediction (SIGKILL) at random moments and running it again gives outputs
byte-identical to an uninterrupted run, and leaves no temporaries (issue 15, item 3).

Runs ``benchmarks/kill_while_predicting.py`` in a fresh interpreter: a forked child predicts
TIFF images and an OME-Zarr image (labels and probabilities) and is killed at a random moment
within one run's time; the parent reruns the prediction and compares every file.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "kill_while_predicting.py"

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_sigkill_at_random_moments_then_rerun_equals_one_uninterrupted_run(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--workdir", str(tmp_path / "work"),
                          "--trials", "12", "--seed", "1"],
                         capture_output=True, text=True, timeout=600)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["differ"] == [] and result["temporaries_left"] == []
    assert result["killed"] >= 4  # the kills did land inside runs
