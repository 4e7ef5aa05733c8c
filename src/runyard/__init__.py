"""runyard: run parameter sweeps of ML experiments, record every run, compare the results."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
