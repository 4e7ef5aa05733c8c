"""``runyard.Experiment``: define, run and compare an experiment from Python, without a YAML file.

    import runyard
    from steps import prep, train

    exp = runyard.Experiment("study", steps=[prep, train], params={"data": "iwslt"},
                             sweeps={"lr": {"cfg.lr": [0.1, 0.01]}})
    exp.plan(seed=[1, 2])          # what would run (a Plan), nothing written
    exp.run(seed=[1, 2], jobs=2)   # a local worker, like `runyard run`; raises StepFailed if a step failed
    exp.runs().compare()           # a RunSet, like runyard.open().runs("study")

It builds the same :class:`~runyard.spec.Spec` a YAML file gives (``spec_from_dict``). Functions
defined in a notebook or ``__main__`` cannot be imported by a step's own Python process: with
cloudpickle installed they are pickled by value into ``<home>/code/`` and loaded from there; without
it ``run`` refuses them (use ``inline=True``, or move them to a module).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.callables import code_hash, give, importable, target_of
from runyard.errors import SpecError, StepFailed, UsageError
from runyard.layout import CODE, ExecutionPaths, HomePaths

if TYPE_CHECKING:
    from runyard.analyze.yard import RunSet
    from runyard.app.session import Outcome
    from runyard.execute.events import Event
    from runyard.execute.slots import SlotPool
    from runyard.model import Plan
    from runyard.spec.types import Spec
    from runyard.store.base import SubmitResult

StepLike = Callable[..., Any] | str | Mapping[str, Any]
STEP_BODY_KEYS = ("call", "run", "gpus", "timeout", "retries", "deps", "workdir", "needs")


class Experiment:
    """An experiment defined in Python. ``steps``: functions, ``(name, function)`` pairs, or a dict of name →
    function, ``"module:function"``, a shell command, or a step mapping (``{"call": fn, "gpus": 1, ...}``).
    ``params``, ``sweeps`` (name → grid), ``metrics``, ``resources``, ``groups``: as in a YAML spec.
    ``home``: where runs are kept (default: like the CLI, the nearest ``.runyard`` or one in ``folder``);
    ``folder``: the spec's folder (default: the current folder), first on a step's ``PYTHONPATH``."""

    def __init__(self, name: str, steps: Sequence[Callable[..., Any] | tuple[str, StepLike]] | Mapping[str, StepLike],
                 *, params: Mapping[str, Any] | None = None, sweeps: Mapping[str, Any] | None = None,
                 metrics: Mapping[str, Any] | None = None, resources: Mapping[str, Any] | None = None,
                 groups: Mapping[str, Any] | None = None, home: str | os.PathLike[str] | None = None,
                 folder: str | os.PathLike[str] | None = None, description: str = "",
                 aggregate: Mapping[str, StepLike] | None = None, select: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.functions: dict[str, Callable[..., Any]] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        for step_name, step in _named_steps(steps):
            self.steps[step_name] = self._step_body(step_name, step)
        self.data: dict[str, Any] = {"experiment": name, "description": description, "params": dict(params or {}),
                                     "groups": dict(groups or {}), "steps": self.steps,
                                     "sweeps": dict(sweeps or {}), "metrics": dict(metrics or {})}
        if resources is not None:
            self.data["resources"] = dict(resources)
        if aggregate is not None:  # steps as above, plus `uses:` (docs/python.md#aggregate-and-select)
            self.data["aggregate"] = {n: self._step_body(n, s) for n, s in aggregate.items()}
        if select is not None:
            chosen = dict(select)
            then = chosen.get("then")
            if isinstance(then, (Mapping, list, tuple)):
                chosen["then"] = {n: self._step_body(n, s) for n, s in _named_steps(then)}
            self.data["select"] = chosen
        self.folder = str(Path(folder or os.getcwd()).resolve())
        self.home = home

    def _step_body(self, step_name: str, step: StepLike) -> dict[str, Any]:
        if callable(step):
            step = {"call": step}
        elif isinstance(step, str):
            step = {"call": step} if ":" in step and " " not in step.strip() else {"run": step}
        if not isinstance(step, Mapping):
            raise SpecError(f"steps.{step_name}: a step is a function, 'module:function', a shell command or a "
                            f"mapping (call/run, {', '.join(STEP_BODY_KEYS[2:])}), not {type(step).__name__}",
                            source="<python>")
        body = dict(step)
        func = body.get("call")
        if callable(func):
            self.functions[step_name] = func
            body["call"] = give(func)
        return body

    # --- spec and plan -------------------------------------------------------------------------------
    def spec(self, *, gpus: Sequence[int] | str | None = None, per_gpu: int | None = None) -> Spec:
        """The validated Spec (the functions imported by name, as a YAML spec's ``call:`` would be)."""
        from runyard.spec.load import spec_from_dict

        for func in self.functions.values():  # this experiment's functions, should another have the same name
            give(func)
        with _module_roots(self.functions.values()):
            spec = spec_from_dict(self.data, folder=self.folder, source=f"<experiment {self.name}>")
        if gpus is None and per_gpu is None:
            return spec
        from runyard.app.planning import with_resources

        return with_resources(spec, gpus, per_gpu)

    def home_path(self) -> Path:
        from runyard.home import resolve_home

        return resolve_home(None if self.home is None else str(self.home), spec_folder=self.folder, cwd=os.getcwd())

    def plan(self, *, sweep: str | None = None, sample: int | None = None, sample_seed: int = 0,
             gpus: Sequence[int] | str | None = None, overrides: Mapping[str, Any] | None = None,
             **values: Any) -> Plan:
        """What would run (pure: nothing is written). ``lr=0.1`` pins a param in every run, ``seed=[1, 2, 3]``
        makes it an axis; ``overrides={"cfg.lr": 0.1}`` for dotted names or names this method takes itself."""
        return self._plan(sweep=sweep, sample=sample, sample_seed=sample_seed, gpus=gpus,
                          overrides={**dict(overrides or {}), **values})

    def _plan(self, *, sweep: str | None, sample: int | None, sample_seed: int, gpus: Sequence[int] | str | None,
              overrides: Mapping[str, Any], store: str | None = None, read_names: bool = False) -> Plan:
        """The plan; with ``read_names``, runs avoid the names other runs of the experiment hold in the store."""
        from runyard.app.planning import make_plan

        home = self.home_path()
        names = None
        if read_names:
            from runyard.home import resolve_store_url

            names = resolve_store_url(store, home)
        return make_plan(self.spec(gpus=gpus), home=home, overrides=overrides, sweep=sweep, sample=sample,
                         seed=sample_seed, names=names)

    # --- running -------------------------------------------------------------------------------------
    def run(self, *, gpus: Sequence[int] | str | None = None, per_gpu: int | None = None, jobs: int | None = None,
            sweep: str | None = None, sample: int | None = None, sample_seed: int = 0, force: bool = False,
            force_steps: Sequence[str] = (), inline: bool = False, quiet: bool = False, store: str | None = None,
            overrides: Mapping[str, Any] | None = None, warm: bool = False, **values: Any) -> RunSet:
        """Run every run of the plan with a local worker, like ``runyard run`` (done executions are cached).
        Params as in :meth:`plan`. ``inline``: call steps run in this process, one at a time (pdb works);
        ``warm``: in warm slot processes, one per slot, that import the step's module once (``--warm``).
        Returns the experiment's runs; raises :class:`~runyard.errors.StepFailed` (naming each failed step's
        log) when a step failed."""
        from runyard.app.session import RunOptions, run_session

        plan = self._plan(sweep=sweep, sample=sample, sample_seed=sample_seed, gpus=gpus,
                          overrides={**dict(overrides or {}), **values}, store=store, read_names=True)
        spec = self.spec(gpus=gpus, per_gpu=per_gpu)
        home = Path(plan.home)
        plan = self._by_value(plan, home) if not inline else plan
        options = RunOptions(home=home, store_url=store, gpus=spec.resources.gpus, per_gpu=spec.resources.per_gpu,
                             jobs=jobs, force=force, force_steps=force_steps, inline=inline, warm=warm)
        display = _Printer(quiet)
        final = None
        if spec.select is not None:  # the final runs: same printer, functions by value like the sweep's
            from runyard.app.session import FinalStage

            final = FinalStage(spec, display=lambda finals: display, report=lambda lines: display.report(lines),
                               prepare=None if inline else lambda finals: self._by_value(finals, home))
        with _module_roots(self.functions.values(), environment=True):
            code = run_session(plan, options, display=display, final=final)
        if code == 130:
            raise KeyboardInterrupt("interrupted: run again to resume")
        if display.failed:
            raise StepFailed(display.failed)
        return self.runs(store=store)

    def tune(self, params: Mapping[str, Any], objective: str | Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
             trials: int = 20, more: int | None = None, sampler: str = "tpe", seed: int | None = None,
             pruner: str = "median", grid: Mapping[str, Any] | None = None, jobs: int | None = None,
             gpus: Sequence[int] | str | None = None, inline: bool = False, store: str | None = None) -> RunSet:
        """Search ``params`` (name → space, as under ``tune.params:`` in YAML, e.g. ``{"lr": {"loguniform":
        [1e-5, 1e-1]}}``) for the best ``objective`` (a metric name, ``{"metric": ..., "direction": ...}``, or a
        list of them), like ``runyard tune``: the study continues from what the store holds; ``more``: that
        many trials more than it has (default: up to ``trials`` in all). Returns the experiment's runs (their
        ``trial``, ``trial_state`` and ``best`` columns). The step functions must be importable by name
        (a module, not a notebook cell) unless ``inline``."""
        from runyard.app.session import RunOptions
        from runyard.app.tuning_run import run_tune

        block: dict[str, Any] = {"params": dict(params), "objective": objective if isinstance(objective, (str, Mapping))
                                 else list(objective), "trials": trials, "sampler": sampler, "pruner": pruner}
        if seed is not None:
            block["seed"] = seed
        if grid:
            block["grid"] = dict(grid)
        self.data["tune"] = block
        spec = self.spec(gpus=gpus)
        options = RunOptions(home=self.home_path(), store_url=store, gpus=spec.resources.gpus,
                             per_gpu=spec.resources.per_gpu, jobs=jobs, inline=inline)
        with _module_roots(self.functions.values(), environment=True):
            outcome = run_tune(spec, options, trials=more)
        if outcome.interrupted:
            raise KeyboardInterrupt("interrupted: tune again to resume")
        return self.runs(store=store)

    def _by_value(self, plan: Plan, home: Path) -> Plan:
        """Point call steps whose function a fresh process cannot import at a pickle of it (cloudpickle)."""
        stuck = {name: func for name, func in self.functions.items() if not importable(target_of(func))}
        if not stuck:
            return plan
        try:
            import cloudpickle
        except ImportError:
            names = ", ".join(f"{n} ({target_of(f)})" for n, f in stuck.items())
            raise UsageError(f"the functions of steps {names} are defined in a notebook or __main__, so a step's own "
                             "Python process cannot import them: move them to a module, run with inline=True, or "
                             "pip install 'runyard[notebook]' (cloudpickle) to send them by value") from None
        import shlex

        pickles = {}
        for name, func in stuck.items():
            data = cloudpickle.dumps(func)
            folder = Path(HomePaths(str(home)).content_folder(CODE))
            folder.mkdir(parents=True, exist_ok=True)
            path = Path(HomePaths(str(home)).content_file(CODE, hashlib.sha256(data).hexdigest(), ".pkl"))
            if not path.exists():
                tmp = path.with_name(path.name + f".tmp{os.getpid()}")
                tmp.write_bytes(data)
                os.replace(tmp, path)
            pickles[name] = f" --pickle {shlex.quote(str(path))}"
        executions = tuple(replace(ex, command=ex.command + pickles[ex.step]) if ex.step in pickles else ex
                           for ex in plan.executions)
        return replace(plan, executions=executions)

    def runs(self, where: str | None = None, *, store: str | None = None) -> RunSet:
        """The runs of this experiment (a RunSet: ``.df``, ``.compare()``, ``.metrics(name)``)."""
        from runyard.analyze.yard import open_yard

        return open_yard(store or self.home_path()).runs(self.name, where)

    def __repr__(self) -> str:
        return f"<Experiment {self.name}: steps {', '.join(self.steps)}>"


def _named_steps(steps: Any) -> list[tuple[str, StepLike]]:
    if isinstance(steps, Mapping):
        return [(str(k), v) for k, v in steps.items()]
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise SpecError("steps: give a list of functions or (name, function) pairs, or a dict of name → step",
                        source="<python>")
    out: list[tuple[str, StepLike]] = []
    for item in steps:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            out.append((item[0], item[1]))
        elif callable(item) and getattr(item, "__name__", "<lambda>") != "<lambda>":
            out.append((item.__name__, item))
        else:
            raise SpecError(f"steps: {item!r} is neither a named function nor a (name, step) pair", source="<python>")
    return out


@contextlib.contextmanager
def _module_roots(functions: Any, *, environment: bool = False) -> Iterator[None]:
    """The folders the functions' modules are imported from, first on ``sys.path`` (and with ``environment``,
    on ``PYTHONPATH``, for the steps' own processes) while the block runs."""
    roots = []
    for func in functions:
        source, _ = code_hash(func)
        module = getattr(func, "__module__", "") or ""
        if source and module != "__main__":
            root = Path(source).parent
            for _ in range(module.count(".") + (Path(source).name == "__init__.py")):
                root = root.parent
            roots.append(str(root))
    roots = list(dict.fromkeys(roots))
    saved_path, saved_env = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path[:0] = [r for r in roots if r not in sys.path]
    if environment and roots:
        os.environ["PYTHONPATH"] = os.pathsep.join([*roots, *([saved_env] if saved_env else [])])
    try:
        yield
    finally:
        sys.path[:] = saved_path
        if environment and roots:
            if saved_env is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved_env


class _Printer:
    """What ``Experiment.run`` prints: failures as they happen and a summary (nothing with ``quiet``)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.failed: list[str] = []

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def report(self, lines: Sequence[str]) -> None:
        for line in lines:
            self._say(f"runyard: {line}")

    def submitted(self, result: SubmitResult, pool: SlotPool) -> None:
        queued = result.queued + len(result.already_queued)
        self._say(f"runyard: {queued} step executions to run, {len(result.cached)} cached · {pool.describe()}")

    def event(self, event: Event) -> None:
        from runyard.model import Status

        record = event.record
        if event.kind == "finished" and record is not None and event.status == Status.FAILED:
            self._say(f"runyard: failed {record.step} {record.short}: {event.message} · log "
                      f"{ExecutionPaths(record.folder).log}")

    def close(self, outcome: Outcome) -> None:
        for record in outcome.failed:
            self.failed.append(f"{record.step} {record.short} ({record.error}) · log "
                               f"{ExecutionPaths(record.folder).log}")
        counts: dict[str, int] = {}
        for status in outcome.statuses.values():
            counts[str(status)] = counts.get(str(status), 0) + 1
        self._say("runyard: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
