"""The final stage when workers drain a sweep (``runyard worker``, ``runyard run --detach``,
``runyard submit``): nobody waits in the foreground to run ``select:``, so the worker that records the
last step of an experiment does it. Once the experiment has nothing queued or running, its sweep runs
are ranked and the final runs of the picks submitted: exactly what ``runyard select`` does, and
idempotent by key, so two workers finishing at the same moment submit the same final executions once.
Final steps finishing do not trigger a new selection.
"""

from __future__ import annotations

from collections.abc import Callable

from runyard.errors import RunyardError, StoreUnavailable
from runyard.execute.events import Event
from runyard.model import Status
from runyard.spec.types import Spec
from runyard.store.base import ExecRecord, Store


class FinalStage:
    def __init__(self, store: Store, emit: Callable[[Event], None]) -> None:
        self.store = store
        self.emit = emit
        self._specs: dict[str, Spec | None] = {}

    def _spec(self, experiment: str) -> Spec | None:
        """The stored spec when it has a ``select:`` block (read once per experiment)."""
        if experiment not in self._specs:
            from runyard.app.stored import load_stored_spec

            if not self.store.experiment(experiment).spec.get("select"):
                self._specs[experiment] = None
                return None
            try:
                self._specs[experiment] = load_stored_spec(self.store, experiment).spec
            except RunyardError as err:
                self._specs[experiment] = None
                self.emit(Event("stopping", message=f"{experiment}: the final stage cannot run here ({err}); "
                                                    f"run `runyard select {experiment}` where the spec loads"))
        return self._specs[experiment]

    def after(self, record: ExecRecord) -> int:
        """Call after recording ``record``: when it was the last queued work of its experiment, submit
        the final runs. Returns how many final step executions were queued."""
        try:
            return self._after(record)
        except StoreUnavailable:
            return 0  # the next finish (or `runyard select`) tries again

    def _after(self, record: ExecRecord) -> int:
        spec = self._spec(record.experiment)
        if spec is None or spec.select is None or record.step in {s.name for s in spec.select.then}:
            return 0
        counts = self.store.counts(record.experiment)
        if counts[Status.READY] or counts[Status.WAITING] or counts[Status.RUNNING]:
            return 0
        from runyard.app.select import Criteria, plan_finals, rank
        from runyard.app.submission import submit_plan

        home = self.store.experiment(record.experiment).home
        try:
            selection = rank(self.store, record.experiment, Criteria.of(spec),
                             declared=[m.name for m in spec.metrics])
            finals = plan_finals(self.store, spec, home, selection)
        except RunyardError as err:
            self.emit(Event("stopping", message=f"{record.experiment}: no final stage: {err}"))
            return 0
        for line in selection.lines():
            self.emit(Event("selected", message=line))
        if finals is None:
            return 0
        queued = submit_plan(self.store, finals).result.queued
        if queued:
            self.emit(Event("selected", message=f"{record.experiment}: {queued} final step executions queued"))
        return queued
