"""``runyard reparse``: extract the metrics of finished step executions again, after a spec change.

The spec is read again from where the experiment was last run from (the store's ``spec_path``), and
every ``done`` execution's metrics are replaced by what its files give now: the metrics file of the
in-run API, the log (regexes), the ``file`` and ``parser`` sources. Nothing runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from runyard.errors import UsageError
from runyard.execute.ingest import replay
from runyard.layout import ExecutionPaths
from runyard.model import Status
from runyard.store.base import ExecRecord, Store


@dataclass(frozen=True)
class Reparsed:
    """What reparse did to one execution: points stored, problems found."""

    record: ExecRecord
    points: int
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # bad lines skipped: the good ones were stored


@dataclass
class ReparseResult:
    experiment: str
    spec_path: str
    metrics: tuple[str, ...]  # the metric names the spec declares
    done: list[Reparsed] = field(default_factory=list)
    not_done: int = 0  # executions left alone (not done)

    @property
    def points(self) -> int:
        return sum(r.points for r in self.done)

    @property
    def problems(self) -> list[str]:
        return [f"{r.record.step} {r.record.short}: {p}" for r in self.done for p in r.problems]

    @property
    def warnings(self) -> list[str]:
        return [f"{r.record.step} {r.record.short}: {w}" for r in self.done for w in r.warnings]


def pick_experiment(store: Store, name: str | None) -> str:
    """``name``, or the store's only experiment."""
    if name is not None:
        return name
    names = store.experiments()
    if len(names) == 1:
        return names[0]
    if not names:
        raise UsageError("the store holds no experiment yet: nothing to reparse")
    raise UsageError(f"name the experiment to reparse (experiments: {', '.join(sorted(names))})")


def reparse(store: Store, experiment: str, *, progress: Callable[[Reparsed], None] | None = None) -> ReparseResult:
    """Re-extract the metrics of every done execution of ``experiment`` with its spec as it is now.
    Raises RunNotFound (no such experiment), UsageError (its spec file is gone or names another
    experiment) or SpecError (the spec is not valid now)."""
    from runyard.app.stored import load_stored_spec

    try:
        stored = load_stored_spec(store, experiment, current_file=True)
    except UsageError as err:
        raise UsageError(f"{err}: reparse reads the metrics: block from the spec file; nothing reparsed") from None
    spec, path = stored.spec, stored.record.spec_path
    result = ReparseResult(experiment, path, tuple(m.name for m in spec.metrics))
    for ex in store.executions(experiment):
        if ex.status != Status.DONE:
            result.not_done += 1
            continue
        if not os.path.isdir(ex.folder):
            done = Reparsed(ex, 0, (f"its folder {ex.folder} is gone; its stored metrics are kept",))
        else:
            offsets = read_offsets(ex)
            points, problems, warnings = replay(store, ex, spec.metrics, log_offset=offsets.get("log", 0),
                                                metrics_offset=offsets.get("metrics", 0), spec_folder=spec.folder)
            done = Reparsed(ex, points, tuple(problems), tuple(warnings))
        result.done.append(done)
        if progress is not None:
            progress(done)
    return result


def read_offsets(ex: ExecRecord) -> dict[str, int]:
    """Where the last attempt's metrics start in the log and the metrics file (``meta.json``)."""
    try:
        with open(ExecutionPaths(ex.folder).meta, encoding="utf-8") as handle:
            found = json.load(handle).get("metrics_from")
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if k in ("log", "metrics") and isinstance(v, int) and v >= 0}
