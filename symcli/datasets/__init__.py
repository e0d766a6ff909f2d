"""Datasets: the Dataset object, one id resolved once and passed on (dataset.py: folder, spec, manifest, verified
split reads, column options); the registry of IMDB and the GLUE tasks, their split plans and targets
(registry.py); custom ids hf:/file: (ids.py); downloads into one raw parquet schema with a manifest (download.py,
custom.py); row subsets drawn the same way everywhere (rows.py)."""
