"""Model.segment on Z stacks and time series (issue 22): any 2-D model, numpy, dask and zarr,
in memory or into a store; each plane equals its 2-D prediction; axes said or guessed plainly;
Z objects stitched into 3-D objects (stitch=), T objects never."""

from __future__ import annotations

import numpy as np
import pytest

SIDE = 64


@pytest.fixture(scope="module")
def starter():
    import napari_unet

    return napari_unet.load("nuclei")


@pytest.fixture(scope="module")
def tuned():
    import napari_unet
    from napari_unet.synthetic import nuclei, simulate_painting

    image, truth = nuclei((96, 96), n=6, seed=5)
    return napari_unet.train(image, simulate_painting(truth, n_objects=3), init="nuclei",
                             steps=2, progress=False)


def _planes(n, seed=0):
    from napari_unet.synthetic import nuclei

    return np.stack([nuclei((SIDE, SIDE), n=4, seed=seed + i)[0] for i in range(n)])


def _same_objects(a, b) -> bool:
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return pairs.shape[1] == len(np.unique(a[a > 0])) == len(np.unique(b[b > 0]))


@pytest.mark.parametrize("which", ["starter", "tuned"])
@pytest.mark.parametrize("kind", ["numpy", "dask", "zarr"])
def test_every_plane_equals_its_2d_prediction(request, which, kind, tmp_path):
    model = request.getfixturevalue(which)
    planes = _planes(6)
    tz = planes.reshape(2, 3, SIDE, SIDE)
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        tz = da.from_array(tz, chunks=(1, 1, SIDE, SIDE))
    elif kind == "zarr":
        zarr = pytest.importorskip("zarr")
        z = zarr.open(str(tmp_path / "in.zarr"), mode="w", shape=tz.shape, dtype=tz.dtype)
        z[:] = tz
        tz = z
    out = str(tmp_path / "out.zarr") if kind == "zarr" else None
    seg = model.segment(tz, axes="TZYX", probabilities=True, stitch=False, out=out,
                        progress=False)
    assert seg.axes == "TZYX" and seg.objects.shape == (2, 3, SIDE, SIDE)
    # a stack is predicted at one object size (estimated on its middle plane); a plane alone
    # at its own estimate, which may differ: compared at the stack's size
    alone = [model.segment(p, probabilities=True, progress=False, diameter=seg.diameter or 0)
             for p in planes]
    objects = np.asarray(seg.objects[:]).reshape(6, SIDE, SIDE)
    if kind != "zarr":  # a store keeps one array per class
        probs = np.asarray(seg.probabilities).reshape(6, 3, SIDE, SIDE)
    for i, one in enumerate(alone):
        assert _same_objects(objects[i], one.objects)
        if kind != "zarr":
            np.testing.assert_allclose(probs[i], one.probabilities, atol=1e-6)


def test_axes_are_guessed_only_when_plain_and_said_otherwise(starter):
    from napari_unet.core.images import ImageError

    planes = _planes(5)
    assert starter.segment(planes, progress=False).axes == "ZYX"  # 5 > 4: never channels
    with pytest.raises(ImageError, match=r"\(3, 64, 64\).*--axes ZYX or --axes CYX"):
        starter.segment(planes[:3], progress=False)
    assert starter.segment(planes[:3], axes="TYX", progress=False).objects.shape == (3, SIDE, SIDE)
    assert starter.segment(planes[:3], axes="CYX", progress=False).objects.shape == (SIDE, SIDE)
    moved = np.moveaxis(planes, 0, -1)  # (Y, X, Z): said, it wins over any guess
    seg = starter.segment(moved, axes="YXZ", stitch=False, progress=False)
    assert seg.axes == "ZYX" and seg.objects.shape == (5, SIDE, SIDE)  # planes first
    one = starter.segment(planes[2], progress=False).objects
    assert _same_objects(seg.objects[2], one)
    with pytest.raises(ImageError, match="name 4 axes"):
        starter.segment(planes, axes="TZYX", progress=False)


def test_stitch_joins_z_planes_into_3d_objects_never_t(starter, tmp_path):
    plane = _planes(1, seed=2)[0]
    still = np.stack([plane] * 5)
    z = starter.segment(still, progress=False).objects
    n = len(np.unique(z[0])) - 1
    assert n >= 2 and len(np.unique(z)) - 1 == n and all(np.array_equal(z[0], p) for p in z)
    assert len(np.unique(starter.segment(still, stitch=0, progress=False).objects)) - 1 == 5 * n
    assert len(np.unique(starter.segment(still, axes="TYX", progress=False).objects)) - 1 == 5 * n
    stored = starter.segment(still, out=str(tmp_path / "s.zarr"), progress=False)
    np.testing.assert_array_equal(stored.objects[:], z)  # into a store: stitched alike
    assert stored.store.group.attrs["napari_unet"]["axes"] == "ZYX"


def test_train_on_the_painted_planes_of_a_stack():
    import napari_unet
    from napari_unet.synthetic import nuclei, simulate_painting

    cases = [nuclei((SIDE, SIDE), n=4, seed=s) for s in range(5)]
    stack = np.stack([c[0] for c in cases])
    painting = np.zeros(stack.shape, np.uint8)
    painting[2] = simulate_painting(cases[2][1], n_objects=2)
    model = napari_unet.train(stack, painting, axes="ZYX", init="nuclei", steps=2,
                              progress=False)
    assert model.segment(stack, progress=False).objects.shape == stack.shape
