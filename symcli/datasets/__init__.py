"""Datasets: the registry of IMDB and the GLUE tasks (registry.py), custom ids hf:/file: (ids.py), downloads into
one raw parquet schema with a manifest (download.py, custom.py)."""
