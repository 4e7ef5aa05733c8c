"""``runyard tune`` (a local worker taking the study's trials until the target is reached) and
``runyard submit --tune`` (the study opened in the store; workers anywhere take its trials)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runyard.app.session import RunOptions, make_pool
from runyard.app.stores import open_for_plan
from runyard.app.tuning import TrialSink, study_name, tuning_hook
from runyard.errors import UsageError
from runyard.model import Plan
from runyard.spec.types import Spec
from runyard.store.base import Store
from runyard.store.trials import TrialRow, TrialStore


@dataclass
class TuneOutcome:
    told: list[TrialRow] = field(default_factory=list)
    interrupted: bool = False
    targets: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else 0


def check_tunable(spec: Spec) -> None:
    if spec.tune is None:
        raise UsageError(f"{spec.path}: no `tune:` block; add one (docs/tuning.md) or use `runyard run` for a grid")


def open_study(store: Store, spec: Spec, home: str, *, trials: int | None) -> dict[str, int]:
    """Record the experiment's spec and open a study per grid cell: ``trials`` more trials each, or (None)
    the spec's ``trials:`` in all. Study name → target."""
    check_tunable(spec)
    assert spec.tune is not None
    store.submit(empty_plan(spec, home))  # the spec is stored: workers elsewhere plan trials from it
    targets: dict[str, int] = {}
    trial_store: TrialStore = store  # type: ignore[assignment]
    for cell in spec.tune.cells():
        name = study_name(cell)
        if trials is None:
            targets[name] = trial_store.tune_target(spec.experiment, name, at_least=spec.tune.trials)
        else:
            targets[name] = trial_store.tune_target(spec.experiment, name, more=trials)
    return targets


def empty_plan(spec: Spec, home: str) -> Plan:
    import os

    spec_path = spec.path if spec.path.startswith("<") else os.path.join(spec.folder, os.path.basename(spec.path))
    return Plan(experiment=spec.experiment, home=home, spec_path=spec_path, runs=(), executions=(), spec=spec.raw)


def run_tune(spec: Spec, options: RunOptions, *, trials: int | None = None, launcher: str = "local",
             on_trial: TrialSink | None = None,
             install_signals: Callable[[Callable[[], None]], None] | None = None) -> TuneOutcome:
    """Tune ``spec`` with a local worker on the slots of ``options`` until every study reaches its target
    (trials left running by a killed ``runyard tune`` are requeued and counted once), then, with a
    ``select:`` block, run the final runs of the best trials."""
    from runyard.app.workers import worker_hooks
    from runyard.execute.worker import Worker

    check_tunable(spec)
    pool = make_pool(options)
    outcome = TuneOutcome()

    def told(row: TrialRow) -> None:
        outcome.told.append(row)
        if on_trial is not None:
            on_trial(row)

    store = open_for_plan(options.home, options.store_url)
    try:
        outcome.targets = open_study(store, spec, str(options.home), trials=trials)
        hook = tuning_hook(experiments=[spec.experiment], specs={spec.experiment: (spec, str(options.home))},
                           on_trial=told)
        worker = Worker(store, pool, experiment=spec.experiment, lease_seconds=options.lease_seconds,
                        grace=options.grace, inline=options.inline, warm=options.warm,
                        hooks=worker_hooks(final_stage=True, tuning=hook),
                        store_timeout=options.store_timeout, launcher=launcher)
        if install_signals is not None:
            install_signals(worker.request_stop)
        worker.run(burst=True)
        outcome.interrupted = worker.stopping
    finally:
        store.close()
    return outcome


def submit_tune(spec: Spec, home: Path, store_url: str | None, *, trials: int | None = None) -> dict[str, int]:
    """Open the study in the store without running anything: ``runyard worker`` takes its trials."""
    with open_for_plan(home, store_url) as store:
        return open_study(store, spec, str(home), trials=trials)
