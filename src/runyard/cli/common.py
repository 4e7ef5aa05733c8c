"""Options and helpers shared by several commands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runyard.app.stores import open_existing

if TYPE_CHECKING:
    from runyard.app.planning import Planned

__all__ = ["SpecCommand", "fake_gpus_option", "install_stop_signals", "load_plan", "main_thread", "open_existing",
           "spec_arguments", "store_options", "worker_options"]

F = TypeVar("F", bound=Callable[..., Any])


class SpecCommand(click.Command):
    """A command taking ``[SPEC] [KEY=VALUE ...]``: an unknown option ``--lr 0.1`` that is no near miss of a
    real option suggests the override ``lr=0.1``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, list(args))
        except click.NoSuchOption as err:
            from runyard.errors import suggest

            if err.option_name in ("-m", "--multirun"):
                raise click.NoSuchOption(err.option_name, message=(
                    f"No such option: {err.option_name}. runyard runs every run of KEY=V1,V2 without it: "
                    "drop it"), ctx=ctx) from None
            near = suggest(err.option_name, err.possibilities or (), cutoff=0.8)  # click's own hint is better
            if near or not err.option_name.startswith("--"):
                raise
            name = err.option_name[2:]
            index = next((i for i, a in enumerate(args) if a.split("=", 1)[0] == err.option_name), -1)
            given = args[index].partition("=")[2] if index >= 0 else ""
            following = args[index + 1] if 0 <= index < len(args) - 1 else ""
            value = given or (following if following and not following.startswith("-") else "VALUE")
            raise click.NoSuchOption(err.option_name, message=(
                f"No such option: {err.option_name}. A param is set after the spec as KEY=VALUE: {name}={value}"),
                ctx=ctx) from None


def spec_arguments(func: F) -> F:
    """``[SPEC] [k=v …] --sweep --sample --home``: what selects the runs of a spec."""
    options = [
        click.argument("args", nargs=-1, metavar="[SPEC] [KEY=VALUE ...]"),
        click.option("--sweep", metavar="NAME", help="Only this sweep block (comma-separated names for several)."),
        click.option("--sample", type=click.IntRange(min=1), metavar="N",
                     help="A seeded random subset of N runs."),
        click.option("--seed", "sample_seed", type=int, default=0, show_default=True, help="Seed for --sample."),
        click.option("--home", type=click.Path(file_okay=False), envvar="RUNYARD_HOME",
                     help="Folder of runyard's data (default: nearest .runyard, else beside the spec)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_plan(args: Sequence[str], *, sweep: str | None, sample: int | None, sample_seed: int, home: str | None,
              **choices: Any) -> Planned:
    """:func:`runyard.app.planning.plan_spec_file`, its warnings printed to stderr."""
    from runyard.app.planning import plan_spec_file

    planned = plan_spec_file(args, sweep=sweep, sample=sample, seed=sample_seed, home=home, **choices)
    for warning in planned.warnings:
        click.echo(f"warning: {warning}", err=True)
    return planned


def fake_gpus_option(func: F) -> F:
    return click.option("--fake-gpus", is_flag=True, envvar="RUNYARD_FAKE_GPUS",
                        help="Allow GPU indices this machine does not have (testing without GPUs; "
                             "or RUNYARD_FAKE_GPUS=1).")(func)


def store_options(func: F) -> F:
    """``--store URL --home DIR``: which store a command works on."""
    func = click.option("--store", "store_url", envvar="RUNYARD_STORE", metavar="URL",
                        help="Store URL (default: sqlite:///<home>/runyard.db).")(func)
    return click.option("--home", type=click.Path(file_okay=False), envvar="RUNYARD_HOME",
                        help="Folder of runyard's data (default: the nearest .runyard).")(func)


def install_stop_signals(request_stop: Callable[[], None]) -> None:
    """Ctrl-C once: stop launching; twice: terminate the running steps (the worker counts the calls).
    SIGTERM / SIGHUP (``kill``, a closed terminal): terminate the running steps at once. Either way the
    steps are recorded ``interrupted`` and the exit code is 130."""
    import signal

    def terminate(signum: int, frame: Any) -> None:
        request_stop()
        request_stop()

    signal.signal(signal.SIGINT, lambda signum, frame: request_stop())
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)


def main_thread() -> bool:
    """Signal handlers can only be set in the main thread."""
    import threading

    return threading.current_thread() is threading.main_thread()


def worker_options(*, lease_help: str, grace_help: str) -> Callable[[F], F]:
    """``--lease --grace --store-timeout``: how a worker holds its steps and waits for the store."""
    options = [
        click.option("--lease", type=click.FloatRange(min=1), default=30.0, show_default=True, metavar="SECONDS",
                     help=lease_help),
        click.option("--grace", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
                     help=grace_help),
        click.option("--store-timeout", type=click.FloatRange(min=0), default=300.0, show_default=True,
                     metavar="SECONDS", help="How long the store may stay unreachable: then launch nothing more, wait "
                     "for the running steps (their results are kept in meta.json) and exit 75."),
    ]

    def add(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return add


def _slurm_options(texts: tuple[str, ...]) -> dict[str, str]:
    if not texts:
        return {}
    from runyard.app.slurm import parse_slurm_options

    return parse_slurm_options(texts)


def executor_options(func: F) -> F:
    """``--executor --ray-address --ray-cpus --ray-resource``: where the worker's steps run; the command
    gets them as one ``executor`` argument (:class:`runyard.app.executors.ExecutorOptions`)."""
    import functools

    @functools.wraps(func)
    def wrapped(*args: Any, executor: str, ray_address: str, ray_cpus: float | None,
                ray_resources: tuple[str, ...], partition: str | None, slurm_opts: tuple[str, ...],
                **kwargs: Any) -> Any:
        from runyard.app.executors import ExecutorOptions, check_name, parse_resources

        check_name(executor)
        if executor != "slurm" and (partition or slurm_opts):
            from runyard.errors import UsageError

            raise UsageError("--partition and --slurm-opt go with --executor slurm")
        chosen = ExecutorOptions(executor, ray_address=ray_address, ray_cpus=ray_cpus,
                                 ray_resources=parse_resources(ray_resources), partition=partition,
                                 slurm_options=_slurm_options(slurm_opts))
        return func(*args, executor=chosen, **kwargs)

    options = [
        click.option("--executor", default="local", show_default=True, metavar="NAME",
                     help="Where steps run: 'local' (this machine's slots), 'ray' (Ray tasks on a Ray cluster, "
                          "placed by their GPUs and CPUs; pip install 'runyard[ray]') or 'slurm' (Slurm jobs as the "
                          "spec's slurm: block says; run where sbatch, sacct and scancel work)."),
        click.option("--ray-address", default="local", show_default=True, metavar="ADDRESS",
                     help="With --executor ray: 'local' (a private Ray instance for this command), 'auto' (the "
                          "cluster running here) or HOST:PORT of its head."),
        click.option("--ray-cpus", type=click.FloatRange(min=0), metavar="N",
                     help="With --executor ray: CPUs each step's task asks for (default: 1 for a CPU step, 0 for "
                          "a GPU step)."),
        click.option("--ray-resource", "ray_resources", multiple=True, metavar="NAME=AMOUNT",
                     help="With --executor ray: a custom Ray resource every step's task asks for (repeatable)."),
        click.option("--partition", metavar="NAME", help="With --executor slurm: the Slurm partition (over the "
                                                         "spec's)."),
        click.option("--slurm-opt", "slurm_opts", multiple=True, metavar="KEY=VALUE",
                     help="With --executor slurm: any sbatch option, e.g. account=lab or exclusive (repeatable)."),
    ]
    from runyard.cli.main import friendly  # a bad --executor value is a user's mistake: one message, no traceback

    wrapped = friendly(wrapped)
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[return-value]
