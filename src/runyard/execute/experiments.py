"""What a worker needs to know of each experiment it runs, read from the store once."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from runyard.errors import StoreUnavailable
from runyard.model import Resources, Status
from runyard.spec.types import MetricSpec
from runyard.store.roles import ResultsReader


class ExperimentInfo:
    """The spec folder (first on a step's ``PYTHONPATH``) and the metric definitions of each experiment.

    Read from the store at the first launch of an experiment; when the store is unreachable then, the
    folder is unknown and the metrics empty for that launch, and the next launch reads again."""

    def __init__(self, store: ResultsReader) -> None:
        self.store = store
        self._folders: dict[str, str | None] = {}
        self._metrics: dict[str, list[MetricSpec]] = {}

    def spec_folder(self, experiment: str) -> str | None:
        if experiment not in self._folders:
            self._read(experiment)
        return self._folders.get(experiment)

    def metrics(self, experiment: str) -> list[MetricSpec]:
        if experiment not in self._metrics:
            self._read(experiment)
        return self._metrics.get(experiment, [])

    def _read(self, experiment: str) -> None:
        from runyard.spec.metrics import metric_specs

        try:
            found = self.store.experiment(experiment)
        except StoreUnavailable:
            return
        path = found.spec_path or ""
        self._folders[experiment] = os.path.dirname(path) if os.path.isabs(path) else None
        self._metrics[experiment] = metric_specs(found.spec)

    def paused(self, experiment: str) -> bool:
        """Whether the experiment is paused now (read fresh: pausing happens while workers run)."""
        try:
            return self.store.experiment(experiment).paused
        except StoreUnavailable:
            return False

    def drained(self, scope: Sequence[str | None], fits: Callable[[Resources], bool]) -> bool:
        """Nothing left in ``scope`` (experiment names; None: all) that a worker whose slots ``fits`` could
        ever run: nothing running anywhere (it may make dependents ready), no ready work of an unpaused
        experiment that fits. Raises StoreUnavailable."""
        for experiment in scope:
            counts = self.store.counts(experiment)
            if counts.get(Status.RUNNING, 0):
                return False
            if counts.get(Status.READY, 0):
                ready = self.store.executions(experiment, statuses=[Status.READY])
                if any(fits(r.resources) and not self.paused(r.experiment) for r in ready):
                    return False
        return True
