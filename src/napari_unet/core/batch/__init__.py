"""Many images with one model: folders and globs, locally or on a dask.distributed cluster."""
