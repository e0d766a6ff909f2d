"""The reflection Lasso: dictionaries, solvers, certificates, reconstruction (theory.md sections 1-4)."""
