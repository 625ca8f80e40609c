"""Channel choice: a (C, Y, X) image shown as a stack can be used one channel at a time in
both docks (a view layer, no copy), so the U-Net learns the nuclear channel alone."""

from __future__ import annotations

import numpy as np


def test_one_channel_of_a_multichannel_stack_is_trained_on(viewer, train_widget, sample):
    image, _, painted = sample
    stack = np.stack([0.1 * image, image, 1 - image])
    cells = viewer.add_image(stack, name="cells")
    pick = train_widget.data.channels
    assert pick.isVisibleTo(train_widget) and "'cells' has 3 planes" in pick.text.text()
    channel = pick.use(2)  # "channel 2" in the combo
    assert channel.name == "cells channel 2" and np.shares_memory(channel.data, stack)
    row = train_widget.data.rows[0]
    assert row.image.value == channel
    labels = train_widget.data.new_annotation_layer()
    assert labels.data.shape == image.shape
    labels.data = painted
    _, images, _, _, _, _, _ = train_widget._prepare()
    assert len(images) == 1 and images[0].shape == (1,) + image.shape
    assert np.array_equal(images[0][0], stack[1])
    assert not pick.isVisibleTo(train_widget)  # a 2-D image now: nothing to ask
    row.image.value = cells
    assert pick.use(2) == channel  # chosen again: the same layer, not a second one
    assert [lay.name for lay in viewer.layers].count("cells channel 2") == 1
    assert cells in viewer.layers


def test_the_channel_choice_is_hidden_for_plain_images(viewer, layers, predict_widget):
    assert not predict_widget.channels.isVisibleTo(predict_widget)
    viewer.add_image(np.zeros((2, 40, 40), np.float32), name="two")
    predict_widget.image.value = viewer.layers["two"]
    assert predict_widget.channels.isVisibleTo(predict_widget)
    viewer.add_image(np.zeros((30, 40, 40), np.float32), name="z-stack")
    predict_widget.image.value = viewer.layers["z-stack"]
    assert not predict_widget.channels.isVisibleTo(predict_widget)  # 30 planes: z, not channels
