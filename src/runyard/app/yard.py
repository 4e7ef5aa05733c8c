"""``runyard.open()``: the results of a store (:class:`runyard.analyze.yard.Yard`, read only) and what
a notebook may do with them: :meth:`Yard.submit` more runs of a stored experiment."""

from __future__ import annotations

import os
from typing import Any

from runyard.analyze import yard as results
from runyard.store.base import SubmitResult


class Yard(results.Yard):
    """The runs and results of a store (see :class:`runyard.analyze.yard.Yard`), and ``submit``.
    Use it as a context manager, or call :meth:`close`."""

    def submit(self, experiment: str, *, sweep: str | None = None, priority: int = 0, snapshot: bool = False,
               force: bool = False, **params: Any) -> SubmitResult:
        """Queue more runs of ``experiment`` (its spec is the one in the store) for workers to run.

        ``lr=[0.1, 0.01]`` makes ``lr`` an axis of every grid, ``seed=3`` pins it; done step executions
        stay cached. Start ``runyard worker`` processes (anywhere that reaches the store) to run them."""
        from runyard.app.submission import submit_stored

        return submit_stored(self.store, experiment, params, sweep=sweep, priority=priority, snapshot=snapshot,
                             force=force).result

    def __enter__(self) -> Yard:
        return self


def open_yard(home_or_url: str | os.PathLike[str] | None = None) -> Yard:
    """Open the results of a project: a home folder, a ``sqlite:///`` or ``postgresql://`` URL, or
    None to resolve like the CLI. Nothing is created."""
    from runyard.store import open_store

    return Yard(open_store(results.store_url(home_or_url)))
