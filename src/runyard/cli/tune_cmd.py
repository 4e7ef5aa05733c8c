"""``runyard tune``: search a spec's ``tune:`` space with a local worker, or report on the search."""

from __future__ import annotations

import signal
import sys

import click

from runyard.cli.common import fake_gpus_option, install_stop_signals, main_thread, worker_options
from runyard.cli.main import friendly


@click.command()
@click.argument("spec_path", metavar="SPEC", required=False, default=None)
@click.option("--trials", type=click.IntRange(min=1), metavar="N",
              help="Run N more trials per study (default: up to the spec's `tune.trials` in all).")
@click.option("--gpus", metavar="LIST", help="GPU indices to use: '0,1,2,3', 'auto' or 'none' (default: the spec's).")
@fake_gpus_option
@click.option("--per-gpu", type=click.IntRange(min=1), metavar="K", help="Steps sharing one GPU (default: the spec's).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Concurrent CPU-only trials (default: GPU slots, or the CPU count without GPUs).")
@click.option("--executor", default="local", show_default=True, metavar="NAME",
              help="The launcher that starts the steps (local, inline, or one registered by a plug-in).")
@click.option("--warm", is_flag=True,
              help="Run Python (call:) trials in warm processes, one per slot, that import the step's module once "
                   "and run call after call.")
@click.option("--home", metavar="DIR", help="runyard home (default: RUNYARD_HOME, or .runyard next to the spec).")
@click.option("--store", "store_url", envvar="RUNYARD_STORE", metavar="URL",
              help="Store URL (default: sqlite:///<home>/runyard.db).")
@click.option("--report", is_flag=True,
              help="Run nothing: print the best params, the parameter importances and the optimisation history.")
@worker_options(lease_help="Lease of a running step; a dead worker's steps are requeued after it expires.",
                grace_help="How long a pruned or interrupted step may take to exit after SIGTERM before SIGKILL.")
@friendly
def tune(spec_path: str | None, trials: int | None, gpus: str | None, fake_gpus: bool, per_gpu: int | None,
         jobs: int | None, executor: str, warm: bool, home: str | None, store_url: str | None, report: bool,
         lease: float,
         grace: float, store_timeout: float) -> None:
    """Search SPEC's `tune:` space (default ./runyard.yaml): each free slot takes the next trial at once.

    The study is rebuilt from the store: past runs in the space warm-start it, a killed tune resumes
    (finished trials counted, running ones requeued), params already run are not run again. Trials
    are pruned from their live metrics. Exit code: 0 done, 2 usage or spec error, 130 interrupted.
    """
    import os

    from runyard.app.planning import check_gpus, with_resources
    from runyard.home import resolve_home
    from runyard.spec.load import DEFAULT_SPEC, load_spec

    spec = load_spec(spec_path or DEFAULT_SPEC)
    home_path = resolve_home(home, spec_folder=spec.folder, cwd=os.getcwd())
    if report:
        _report(spec, home_path, store_url)
        return
    from runyard.app.session import RunOptions
    from runyard.app.tuning_run import run_tune
    from runyard.execute.slots import parse_gpus

    gpu_list = parse_gpus(gpus) if gpus is not None else None
    warning = check_gpus(gpu_list if gpu_list is not None else spec.resources.gpus, fake=fake_gpus,
                         source="--gpus" if gpu_list is not None else f"{spec.path}: resources.gpus")
    if warning:
        click.echo(warning, err=True)
    spec = with_resources(spec, gpu_list, per_gpu)
    options = RunOptions(home=home_path, store_url=store_url, gpus=spec.resources.gpus, per_gpu=spec.resources.per_gpu,
                         jobs=jobs, lease_seconds=lease, grace=grace, store_timeout=store_timeout,
                         inline=executor == "inline", warm=warm)
    if warm and executor != "local":
        from runyard.errors import UsageError

        raise UsageError(f"--warm runs call steps in warm processes of the local executor, not --executor {executor}")
    metrics = [o.metric for o in spec.tune.objectives] if spec.tune else []

    def told(row: object) -> None:
        from runyard.store.trials import TrialRow

        assert isinstance(row, TrialRow)
        values = ", ".join(f"{m}={v:.6g}" for m, v in zip(metrics, row.values or (), strict=False))
        params = " ".join(f"{k}={v}" for k, v in sorted(row.params.items()))
        click.echo(f"trial {row.number:>4} {row.state:<8} {values}  {params}")

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if main_thread() else ()
    previous = {sig: signal.getsignal(sig) for sig in handled}
    try:
        outcome = run_tune(spec, options, trials=trials, launcher="local" if executor == "inline" else executor,
                           on_trial=told, install_signals=install_stop_signals if handled else None)
    finally:
        for sig, old in previous.items():
            if old is not None:
                signal.signal(sig, old)
    _report(spec, home_path, store_url, importances=False, history=False)
    sys.exit(outcome.exit_code)


def _report(spec: object, home: object, store_url: str | None, *, importances: bool = True,
            history: bool = True) -> None:
    from pathlib import Path

    from runyard.app.stores import open_existing
    from runyard.app.tuning_report import report
    from runyard.app.tuning_run import check_tunable
    from runyard.spec.types import Spec

    assert isinstance(spec, Spec) and isinstance(home, Path)
    check_tunable(spec)
    assert spec.tune is not None
    with open_existing(home, store_url) as store:
        for study in report(store, spec, importances=importances):
            if not history:
                study.history = []
            for line in study.lines([o.metric for o in spec.tune.objectives]):
                click.echo(line)


__all__ = ["tune"]
