"""Non-convex deep networks trained by gradient descent (training.py): parallel |.|, relu and srelu networks and
the plain MLP baseline (theory.md section 5)."""
