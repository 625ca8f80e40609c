"""Prediction: overlap-tile, lazy and 3-D prediction, post-processing to labels and objects."""
