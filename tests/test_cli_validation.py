"""The command line reports the score on held-out strokes."""

import numpy as np
import tifffile

from napari_unet.cli import main


def test_train_reports_the_held_out_score(tmp_path, nuclei_case, capsys):
    image, _, painted = nuclei_case
    tifffile.imwrite(tmp_path / "cells.tif", image[0].astype(np.float32))
    tifffile.imwrite(tmp_path / "cells_labels.tif", painted)
    rc = main(["train", str(tmp_path / "cells.tif"), "--labels", str(tmp_path / "cells_labels.tif"),
               "--out", str(tmp_path / "m.unet"), "--steps", "3", "--batch-size", "2",
               "--patch-size", "32", "--depth", "2", "--width", "4"])
    assert rc == 0
    assert "held-out strokes: mean IoU" in capsys.readouterr().err
