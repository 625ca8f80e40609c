"""core.axes: the axes string is parsed in one place, guessed only where the answer is plain,
read from file metadata, and arranged lazily into the core's layout."""

import numpy as np
import pytest

from napari_unet.core.axes import AxesError, arrange, guess, parse, resolve


@pytest.mark.parametrize("shape, kw, axes", [
    ((256, 256), {}, "YX"),
    ((40, 256, 256), {}, "ZYX"),  # the stack: longer than 4, never channels
    ((6, 256, 256), {"colour": True}, "ZYX"),
    ((3, 256, 256), {}, "ZYX"),  # a plain 1-channel model cannot take 3 channels
    ((2, 256, 256), {"colour": True}, "ZYX"),
    ((256, 256, 3), {"colour": True}, "YXC"),
    ((5, 7, 64, 64), {}, "TZYX"),
    ((2, 64, 64), {"channels": 2}, "CYX"),
    ((5, 2, 64, 64), {"channels": 2}, "ZCYX"),
    ((40, 256, 256), {"channel_axis": 0}, "CYX"),
    ((64, 64, 2), {"rgb": True}, "YXC"),
])
def test_plain_shapes_are_guessed(shape, kw, axes):
    assert guess(shape, **kw) == axes


@pytest.mark.parametrize("shape, kw", [
    ((3, 256, 256), {"colour": True}),  # 3 planes, or colour for a starter?
    ((4, 256, 256), {"colour": True}),
    ((2, 2, 64, 64), {"channels": 2}),
    ((5, 6, 7, 64, 64), {}),
])
def test_ambiguous_shapes_are_one_line_naming_axes(shape, kw):
    with pytest.raises(AxesError) as e:
        guess(shape, **kw)
    text = str(e.value)
    assert "\n" not in text and str(shape) in text and "--axes " in text


def test_explicit_axes_win_over_the_file_and_the_guess():
    assert resolve((40, 64, 64), "cyx") == "CYX"
    assert resolve((6, 64, 64), None, stated="TYX") == "TYX"
    assert resolve((6, 64, 64), "ZYX", stated="TYX") == "ZYX"
    assert resolve((6, 64, 64), None, stated="QYX") == "ZYX"  # unknown: guessed
    assert resolve((64, 64, 3), None, stated="YXS", colour=True) == "YXC"
    for bad in ("ZYQ", "ZZX", "ZCX", "TZYX"):
        with pytest.raises(AxesError):
            parse(bad, (3, 64, 64))


def test_ome_tiff_axes_are_read(tmp_path):
    import tifffile

    from napari_unet.core.files.io import stated_axes

    tifffile.imwrite(tmp_path / "a.ome.tif", np.zeros((2, 3, 16, 16), np.uint8),
                     metadata={"axes": "TZYX"})
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((2, 3, 16, 16), np.uint8), imagej=True,
                     metadata={"axes": "ZCYX"})
    assert stated_axes(tmp_path / "a.ome.tif") == "TZYX"
    assert stated_axes(tmp_path / "b.tif") == "ZCYX"


def test_arrange_is_lazy_and_equals_numpy():
    zarr = pytest.importorskip("zarr")
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    z = zarr.array(a)
    for axes in ("ZCYX", "TZYX", "YXZT", "ZYXC"):
        ref, view = arrange(a, axes), arrange(z, axes)
        assert not isinstance(view, np.ndarray) and view.shape == ref.shape
        np.testing.assert_array_equal(np.asarray(view), ref)
        np.testing.assert_array_equal(view[1, :, 1:3], ref[1, :, 1:3])
        np.testing.assert_array_equal(view[:, 0], ref[:, 0])
    assert arrange(a[0], "ZYX").shape == (3, 1, 4, 5)
    assert arrange(a, "CZYX", 3) is a
    with pytest.raises(AxesError, match="3-D model"):
        arrange(a, "TZYX", 3)


def test_a_stacks_painted_planes_are_its_training_pairs():
    from napari_unet.core.images import ImageError
    from napari_unet.core.training.stack_planes import painted_planes

    image = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    labels = np.zeros((4, 16, 16), np.uint8)
    labels[1, 2:5, 2:5], labels[3, 0, 0] = 2, 1
    pairs = painted_planes(image, labels, "ZYX")
    assert len(pairs) == 2 and pairs[0][0].shape == (1, 16, 16)
    np.testing.assert_array_equal(pairs[1][0][0], image[3])
    (one, lab), = painted_planes(np.moveaxis(image, 0, -1), labels[1], "YXC")  # 4 channels
    assert one.shape == (4, 16, 16) and lab.shape == (16, 16)
    with pytest.raises(ImageError, match="do not match"):
        painted_planes(image, labels[:2], "ZYX")
