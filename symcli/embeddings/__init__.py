"""Text embeddings: encoders (sentence-transformers, plain transformers, mock) and the device choice
(encoders.py), the sha256-keyed cache (cache.py), and embedding a downloaded dataset (embed.py)."""
