"""runyard: run parameter sweeps of ML experiments, record every run, compare the results."""

from __future__ import annotations

from runyard.track import log, out_dir, params, run_id  # stdlib only: cheap

__version__ = "0.1.0"
__all__ = ["__version__", "log", "out_dir", "params", "run_id"]
