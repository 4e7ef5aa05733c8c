"""runyard's version: one place that every layer may read (``runyard.__version__`` re-exports it)."""

__version__ = "0.1.0"
