"""Experiments: the validated YAML config and its grid of cells (config.py), what a cell reads (cell_data.py), the
runner with resume and status (runner.py), the time estimate (estimate.py), the list of runs (listing.py) and the
Ray backend (distributed.py)."""
