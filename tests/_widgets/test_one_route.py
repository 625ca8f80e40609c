"""One image, one model, four ways in: the Python API, the command line, the predict dock and
a 2-worker dask LocalCluster (worker processes) give identical labels, since all four call
the core's one prediction route (``core.inference.segment``)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet._widgets.common.session import session_for

from .helpers import wait_idle


def test_api_cli_dock_and_a_local_cluster_give_identical_labels(
    tmp_path, viewer, predict_widget, qtbot, gray_bundle, sample
):
    pytest.importorskip("distributed")
    import napari_unet
    from napari_unet.cli import main
    from napari_unet.core.files.bundle import save_bundle

    image = sample[0]
    save_bundle(gray_bundle, tmp_path / "m.unet")
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "cells.tif", image)

    api = napari_unet.load(tmp_path / "m.unet").segment(image, progress=False).labels

    assert main(["predict", str(tmp_path / "m.unet"), str(tmp_path / "in"),
                 "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    cli = tifffile.imread(tmp_path / "cli" / "cells_labels.tif")

    assert main(["predict", str(tmp_path / "m.unet"), str(tmp_path / "in"),
                 "--out", str(tmp_path / "cluster"), "--dask-local", "2", "--quiet"]) == 0
    cluster = tifffile.imread(tmp_path / "cluster" / "cells_labels.tif")

    layer = viewer.add_image(image, name="cells")
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.image.value = layer
    assert predict_widget.predict() is not None
    wait_idle(qtbot, predict_widget)
    dock = viewer.layers["cells prediction"].data

    assert set(np.unique(api)) == {1, 2}  # background and nuclei: a real prediction
    for other in (cli, cluster, dock):
        np.testing.assert_array_equal(other, api)
