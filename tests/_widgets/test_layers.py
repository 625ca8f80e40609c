"""Layer <-> array helpers, without Qt (``ViewerModel`` is enough)."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_unet._widgets.common.layers import (
    current_plane,
    image_stack,
    spatial_shape,
    training_planes,
    write_result,
)
from napari_unet.core.images import ImageError


@pytest.fixture
def model():
    return ViewerModel()


def test_image_layers_become_channel_stacks(model):
    gray = model.add_image(np.zeros((5, 6), np.float32))
    stack = model.add_image(np.zeros((2, 3, 5, 6), np.float32))
    rgb = model.add_image(np.zeros((5, 6, 3), np.uint8), rgb=True)
    rgba = model.add_image(np.zeros((4, 5, 6, 4), np.uint8), rgb=True)
    assert image_stack(gray).shape == (1, 5, 6)
    assert image_stack(stack).shape == (2, 3, 1, 5, 6)
    assert image_stack(rgb).shape == (3, 5, 6)
    assert image_stack(rgba).shape == (4, 3, 5, 6)
    assert spatial_shape(rgba) == (4, 5, 6) and spatial_shape(stack) == (2, 3, 5, 6)


def test_training_uses_only_painted_planes_and_copies_labels(model):
    image = model.add_image(np.random.default_rng(0).random((4, 8, 8)).astype(np.float32))
    painted = np.zeros((4, 8, 8), np.uint8)
    painted[1, 2, 2], painted[3, 5, 5] = 1, 2
    labels = model.add_labels(painted)
    images, labs = training_planes(image, labels)
    assert [im.shape for im in images] == [(1, 8, 8), (1, 8, 8)]
    assert np.array_equal(images[1][0], image.data[3])
    labs[0][:] = 7
    assert labels.data.max() == 2  # the returned labels are copies


def test_labels_of_another_shape_are_refused_with_advice(model):
    image = model.add_image(np.zeros((3, 8, 8), np.float32), name="z")
    labels = model.add_labels(np.zeros((8, 8), np.uint8), name="flat")
    with pytest.raises(ImageError, match="'flat' has shape \\(8, 8\\) but image 'z' has \\(3, 8, 8\\)"):
        training_planes(image, labels)


def test_current_plane_follows_the_dims_slider(model):
    layer = model.add_image(np.zeros((3, 4, 8, 8), np.float32))
    model.dims.set_current_step(0, 2)
    model.dims.set_current_step(1, 1)
    assert current_plane(model, layer) == (2, 1)
    assert current_plane(model, model.add_image(np.zeros((8, 8)))) == ()


def test_results_never_go_into_a_user_layer_of_the_same_name(model):
    image = model.add_image(np.zeros((8, 8), np.float32), name="img")
    mine = model.add_labels(np.ones((8, 8), np.uint8), name="img prediction")
    out = write_result(model, image, np.full((8, 8), 2, np.uint8), None, ["a", "b"])
    assert out is not mine and np.all(mine.data == 1)
    again = write_result(model, image, np.full((8, 8), 1, np.uint8), None, ["a", "b"])
    assert again is out and np.all(out.data == 1)


def test_results_lie_on_their_source_and_point_to_it_through_metadata(model):
    """Scale, translate, rotate, shear, affine and units are copied; the tag names the source
    layer by id, so renaming the image keeps its results (a re-run updates them)."""
    from napari_unet._widgets.common.layers import ROLE, find_ours, source_of, write_objects

    image = model.add_image(
        np.zeros((8, 8), np.float32), name="img", scale=(0.5, 0.25), translate=(10, -3),
        rotate=30, shear=[0.1], affine=np.array([[1, 0, 2], [0, 1, 0], [0, 0, 1]]),
        units=("um", "um"))
    probabilities = np.full((8, 8), 0.5, np.float32)[None]
    out = write_result(model, image, np.full((8, 8), 1, np.uint8), probabilities, ["a"])
    objects = write_objects(model, image, np.ones((8, 8), np.uint32))
    probability = find_ours(model, "probability", image, "a")
    for result in (out, objects, probability):
        assert np.allclose(result.scale, image.scale)
        assert np.allclose(result.translate, image.translate)
        assert np.allclose(result.rotate, image.rotate)
        assert np.allclose(result.shear, image.shear)
        assert np.allclose(result.affine.affine_matrix, image.affine.affine_matrix)
        assert result.units == image.units
        assert np.allclose(result.data_to_world([3, 4]), image.data_to_world([3, 4]))
        assert result.metadata[ROLE]["source"] == str(image.unique_id)
        assert source_of(model, result) is image

    image.name = "renamed"
    assert find_ours(model, "prediction", image) is out
    again = write_result(model, image, np.full((8, 8), 2, np.uint8), None, ["a"])
    assert again is out and np.all(out.data == 2)
    other = model.add_image(np.zeros((8, 8), np.float32), name="img")  # the old name, another layer
    assert find_ours(model, "prediction", other) is None
    legacy = model.add_labels(np.zeros((8, 8), np.uint8), name="x",
                              metadata={ROLE: {"role": "uncertainty", "image": "renamed", "key": None}})
    assert find_ours(model, "uncertainty", image) is legacy  # a tag with no source: by name
