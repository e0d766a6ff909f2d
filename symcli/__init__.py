"""symcli: deep absolute-value networks as convex reflection Lassos (see docs/ and theory.md)."""

__version__ = "0.1.0"
