"""Reading and comparing results: the ``--where`` language, DataFrames of runs, comparison tables,
output formats and the notebook API (``runyard.open``). pandas is imported only inside functions."""

from __future__ import annotations

from runyard.analyze.yard import RunSet, RunView, Yard, open_yard

__all__ = ["RunSet", "RunView", "Yard", "open_yard"]
