"""One fit of a training problem (problem.py): dictionary, Lasso solve, certificate, reconstructed network and
scores (lasso_fit.py), with ordinary deep networks trained beside it (compare_nets.py)."""
