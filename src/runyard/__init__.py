"""runyard: run parameter sweeps of ML experiments, record every run, compare the results."""

from __future__ import annotations

from runyard.track import log, out_dir, params, run_id, should_prune  # stdlib only: cheap
from runyard.version import __version__

__all__ = ["Experiment", "RunSet", "RunView", "Yard", "__version__", "load", "log", "open", "out_dir", "params",
           "run_id", "serializer", "should_prune"]

TYPE_CHECKING = False  # typing itself costs ~6 ms to import; mypy treats this name as true
if TYPE_CHECKING:
    import os
    from typing import Any

    from runyard.analyze.yard import RunSet, RunView
    from runyard.app.yard import Yard
    from runyard.experiment import Experiment
    from runyard.serializers import serializer

_LAZY = {"Yard": "runyard.app.yard", "RunSet": "runyard.analyze.yard", "RunView": "runyard.analyze.yard",
         "Experiment": "runyard.experiment", "serializer": "runyard.serializers"}


def open(home_or_url: str | os.PathLike[str] | None = None) -> Yard:
    """Open a project's results for analysis: a home folder, a ``sqlite:///`` / ``postgresql://`` URL,
    or None to resolve like the CLI (``RUNYARD_STORE``, ``RUNYARD_HOME``, the nearest ``.runyard``).

    Returns a :class:`~runyard.app.yard.Yard`: ``yard.runs(experiment, where=...)`` gives a
    RunSet with ``.df`` (pandas), ``.compare(...)`` and ``.metrics(name)``; ``yard.run(id_or_name)``
    one run; ``yard.submit(experiment, ...)`` queues more runs. Nothing is created; pandas and SQLAlchemy
    are imported only now.
    """
    from runyard.app.yard import open_yard

    return open_yard(home_or_url)


def load(run: str, step: str | None = None, *, experiment: str | None = None,
         home: str | os.PathLike[str] | None = None) -> Any:
    """The value a Python step returned: ``runyard.load("lr=0.1", "train")`` (a run id prefix or name, or an
    execution key prefix, as ``runyard show`` takes; without ``step``: the run's last step that saved a result),
    loaded with the serializer it was saved with, from the current project's store (or ``home``, as
    :func:`open` takes)."""
    from runyard.analyze.results_load import load as load_saved

    return load_saved(run, step, experiment=experiment, home=home)


def __getattr__(name: str) -> Any:
    """The classes of the public API, imported on first use (``import runyard`` stays light)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'runyard' has no attribute {name!r}")
