"""Options and helpers shared by several commands."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # the spec package is imported by the commands that plan, not by those that read results
    from runyard.model import Plan
    from runyard.spec import Spec

F = TypeVar("F", bound=Callable[..., Any])


class SpecCommand(click.Command):
    """A command taking ``[SPEC] [KEY=VALUE ...]``: an unknown option ``--lr 0.1`` that is no near miss of a
    real option suggests the override ``lr=0.1``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, list(args))
        except click.NoSuchOption as err:
            from runyard.errors import suggest

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


def split_args(args: Sequence[str]) -> tuple[str, list[str]]:
    """The first argument without '=' is the spec; the rest are KEY=VALUE overrides."""
    from runyard.spec import DEFAULT_SPEC

    spec = DEFAULT_SPEC
    overrides: list[str] = []
    for index, arg in enumerate(args):
        if index == 0 and "=" not in arg:
            spec = arg
        else:
            overrides.append(arg)
    return spec, overrides


def load_plan(args: Sequence[str], *, sweep: str | None, sample: int | None, sample_seed: int,
              home: str | None, gpus: Sequence[int] | None = None,
              per_gpu: int | None = None, detect: bool = True,
              store_url: str | None = None, fake_gpus: bool | None = None) -> tuple[Spec, Plan, Path]:
    """Load, override and expand a spec. ``gpus`` / ``per_gpu`` replace the spec's resources (a step's
    default GPU need follows the GPUs actually used); ``resources.gpus: auto`` is detected here unless
    ``detect`` is False (a submit from a machine without the workers' GPUs: steps still need one each).
    ``fake_gpus``: None, GPU indices given by hand are not checked (plan, submit); else they are checked
    against this machine's GPUs (see :func:`runyard.execute.slots.verify_gpus`)."""
    from runyard.errors import UsageError
    from runyard.home import resolve_home
    from runyard.spec import expand, load_spec, parse_overrides

    spec_path, override_texts = split_args(args)
    for text in override_texts:
        if "=" not in text:
            raise UsageError(f"{text!r}: expected KEY=VALUE after the spec (only one spec per command)")
    spec = load_spec(spec_path)
    if fake_gpus is not None:
        check_gpus(gpus if gpus is not None else spec.resources.gpus,
                   source="--gpus" if gpus is not None else f"{spec.path}: resources.gpus",
                   fake=fake_gpus)
    spec = with_resources(spec, gpus, per_gpu, detect=detect)
    overrides = parse_overrides(spec, override_texts)
    home_path = resolve_home(home, spec_folder=spec.folder, cwd=os.getcwd())
    taken = taken_names(store_url, home_path, spec.experiment)
    plan = expand(spec, home=str(home_path), overrides=overrides, sweep=sweep, sample=sample, seed=sample_seed,
                  taken=taken)
    return spec, plan, home_path


def taken_names(store_url: str | None, home: Path, experiment: str) -> dict[str, str]:
    """The run names the experiment holds in the store (read only; none when there is no store yet)."""
    from runyard.home import resolve_store_url
    from runyard.store.readonly import run_names

    return run_names(resolve_store_url(store_url, home), experiment)


def differing_params(plan: Plan) -> list[str]:
    """Params whose values are not the same in every run of the plan."""
    from runyard.spec.keys import canonical_json

    names: dict[str, None] = {}
    for run in plan.runs:
        names.update(dict.fromkeys(run.params))
    return [n for n in names if len({canonical_json(r.params.get(n)) for r in plan.runs}) > 1]


def check_gpus(gpus: Sequence[int] | str, *, source: str, fake: bool) -> None:
    """Verify GPU indices given by hand (``auto``/``none`` are not checked); a warning goes to stderr."""
    if isinstance(gpus, str):
        return
    from runyard.execute.slots import verify_gpus

    warning = verify_gpus(list(gpus), source=source, fake=fake)
    if warning:
        click.echo(f"warning: {warning}", err=True)


def fake_gpus_option(func: F) -> F:
    return click.option("--fake-gpus", is_flag=True, envvar="RUNYARD_FAKE_GPUS",
                        help="Allow GPU indices this machine does not have (testing without GPUs; "
                             "or RUNYARD_FAKE_GPUS=1).")(func)


def with_resources(spec: Spec, gpus: Sequence[int] | None, per_gpu: int | None, *, detect: bool = True) -> Spec:
    from dataclasses import replace

    from runyard.spec import ResourceSpec

    chosen: tuple[int, ...] | str = tuple(gpus) if gpus is not None else spec.resources.gpus
    if chosen == "auto" and detect:
        from runyard.execute.slots import detect_gpus

        chosen = tuple(detect_gpus())
    return replace(spec, resources=ResourceSpec(gpus=chosen, per_gpu=per_gpu or spec.resources.per_gpu))


def store_options(func: F) -> F:
    """``--store URL --home DIR``: which store a command works on."""
    func = click.option("--store", "store_url", envvar="RUNYARD_STORE", metavar="URL",
                        help="Store URL (default: sqlite:///<home>/runyard.db).")(func)
    return click.option("--home", type=click.Path(file_okay=False), envvar="RUNYARD_HOME",
                        help="Folder of runyard's data (default: the nearest .runyard).")(func)


def open_existing(home: str | None, store_url: str | None) -> Any:
    """Open the store without creating one: reading commands never write a new home."""
    from runyard.errors import RunNotFound
    from runyard.home import resolve_home, resolve_store_url
    from runyard.store import open_store

    home_path = resolve_home(home)
    url = resolve_store_url(store_url, home_path)
    if url.startswith("sqlite:///") and not os.path.exists(url[len("sqlite:///"):]):
        raise RunNotFound(f"no runyard store at {url[len('sqlite:///'):]}: run `runyard run` or `runyard submit` "
                          "first, or point --home / --store at an existing one")
    return open_store(url)


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
