"""Files and formats: model files, images, OME-Zarr, atomic writes, provenance, starters."""
