"""``runyard.load``: the value a Python step returned, read back from its execution folder."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from runyard.errors import RunNotFound
from runyard.layout import ExecutionPaths

if TYPE_CHECKING:
    from runyard.store.base import ExecRecord
    from runyard.store.roles import ResultsReader


def load(run: str, step: str | None = None, *, experiment: str | None = None,
         home: str | os.PathLike[str] | None = None) -> Any:
    """The result ``step`` of ``run`` saved (a run id prefix or name, or an execution key prefix as
    ``runyard show`` / ``logs`` accept), loaded with the serializer it was saved with. Without ``step``:
    the last step of the run that saved a result. ``home``: like :func:`runyard.open` (default: the
    current project's store). Raises RunNotFound (no such run or step) or ResultError (nothing saved,
    or it cannot be loaded)."""
    from runyard.analyze.yard import open_yard
    from runyard.serializers import load_result

    with open_yard(home) as yard:
        ex = find_execution(yard.store, run, step, experiment)
    return load_result(ex.folder)


def find_execution(store: ResultsReader, run: str, step: str | None, experiment: str | None) -> ExecRecord:
    from runyard.model import Status
    from runyard.serializers import has_result

    try:
        record = store.run(run, experiment)
    except RunNotFound as not_a_run:
        try:
            ex = store.execution(run)
        except RunNotFound:
            raise not_a_run from None
        if step is not None and ex.step != step:
            raise RunNotFound(f"execution {ex.short} is of step {ex.step!r}, not {step!r}") from None
        chosen = ex
    else:
        names = [name for name, _ in record.steps]
        if step is not None and step not in names:
            from runyard.errors import suggest

            raise RunNotFound(f"run {record.name} has no step {step!r}{suggest(step, names)} "
                              f"(steps: {', '.join(names)})")
        execs = {e.key: e for e in store.executions(record.experiment, keys=[k for _, k in record.steps])}
        ordered = [execs[k] for n, k in record.steps if k in execs and (step is None or n == step)]
        if step is None:
            saved = [e for e in ordered if e.status == Status.DONE and has_result(e.folder)]
            if not saved:
                raise RunNotFound(f"no step of run {record.name} saved a result (steps: {', '.join(names)}); "
                                  "only Python (call:) steps that finished do")
            return saved[-1]
        if not ordered:
            raise RunNotFound(f"step {step!r} of run {record.name} has no execution in the store")
        chosen = ordered[0]
    if chosen.status != Status.DONE:
        raise RunNotFound(f"step {chosen.step} {chosen.short} is {chosen.status}, so it saved no result "
                          f"(log: {ExecutionPaths(chosen.folder).log})")
    return chosen
