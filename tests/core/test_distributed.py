"""A dask.distributed cluster predicts a folder exactly as the local run does, shipping the
model to its workers once."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

pytest.importorskip("distributed")

from napari_unet.core.batch import distributed as dist  # noqa: E402
from napari_unet.core.batch.folders import Options, predict_files  # noqa: E402
from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig  # noqa: E402
from napari_unet.core.files.bundle import Bundle, save_bundle  # noqa: E402
from napari_unet.core.networks.model import UNet  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402
from napari_unet.synthetic import nuclei  # noqa: E402

CONFIG = PredictConfig(tile_size=16, threads=1, device="cpu")


@pytest.fixture()
def case(tmp_path):
    torch.manual_seed(1)
    cfg = ModelConfig(depth=2, base_width=8)
    bundle = Bundle(cfg, NormConfig(), UNet(cfg).state_dict())
    model = save_bundle(bundle, tmp_path / "m.unet")
    src = tmp_path / "images"
    src.mkdir()
    for i in range(4):
        tifffile.imwrite(src / f"im{i}.tif", (nuclei((40, 48), n=4, seed=i)[0] * 255).astype(np.uint8))
    (src / "broken.tif").write_bytes(b"no tiff")
    return bundle, model, src


def test_local_cluster_of_two_workers_equals_the_local_run(case, tmp_path):
    bundle, model, src = case
    options = Options(probabilities=True, config=CONFIG)
    local = drain(predict_files([src], tmp_path / "local", bundle, options))
    drain(predict_files([src / "im0.tif"], tmp_path / "cluster", bundle, options))  # resumable too

    dist.LOADS["count"] = 0
    dist._MODELS.clear()
    with dist.connect(n_local=2, processes=False) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        records = []
        result = drain(dist.predict_files_distributed(client, model, [src], tmp_path / "cluster",
                                                      options), records.append)
    assert dist.LOADS["count"] == 1  # one process here (processes=False): the model was built once
    assert [p.name for p in result.skipped] == ["im0_labels.tif"]
    assert sorted(p.name for p in result.written) == ["im1_labels.tif", "im2_labels.tif", "im3_labels.tif"]
    assert [p.name for p, _ in result.failed] == ["broken.tif"] == [p.name for p, _ in local.failed]
    assert records[-1].fraction == 1.0 and records[-1].done == 5
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "cluster").iterdir()) and len(names) == 8
    for name in names:
        a = tifffile.imread(tmp_path / "local" / name)
        b = tifffile.imread(tmp_path / "cluster" / name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name


def test_core_does_not_import_distributed_until_asked():
    import subprocess
    import sys

    code = ("import sys, napari_unet.core.batch.folders, napari_unet.cli; "
            "assert 'distributed' not in sys.modules and 'dask' not in sys.modules; "
            "import napari_unet.core.batch.distributed; assert 'distributed' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
