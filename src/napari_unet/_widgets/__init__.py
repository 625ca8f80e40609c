"""napari dock widgets: every napari, Qt and magicgui import of the plugin lives here.

Import-light on purpose: this package imports nothing at import time. The manifest points
straight at the widget modules (``train_widget``, ``predict_widget``), and those import torch
only inside functions, so napari's start-up and its Plugins menu stay fast.
"""
