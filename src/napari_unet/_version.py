"""The package's version, in one place: ``napari_unet.__version__`` and pyproject.toml read
it from here, and the core records it in every model file without importing the package's
lazy API."""

__version__ = "0.1.0"
