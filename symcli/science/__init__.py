"""The science, free of I/O: symmetry statistics (symmetry.py), reference scores (baselines.py), null models and
combinations (nulls.py), per-cell evidence (evidence.py), verdicts (verdicts.py), and the paper's claims answered
over a run (findings.py, ablations.py)."""
