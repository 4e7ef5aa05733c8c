"""The validated spec: what a YAML file, an mlrunner file or Python code turns into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runyard.model import ParamValue
from runyard.spec.slurm import SlurmSpec

if TYPE_CHECKING:
    from runyard.spec.tune import TuneSpec


@dataclass(frozen=True)
class StepSpec:
    """One step of every run: a shell-command template (``run``) or a Python callable (``call``,
    ``module:function``), with its resources and policies.

    ``needs`` is None when the step did not declare it: it then needs the steps it references with
    ``{step.out}`` (a call step: the steps its function takes as parameters), else the step before it.
    For a call step the loader fills in ``takes`` (the params its function takes, dataclass fields
    flattened), ``inputs`` (its parameters named after other steps: their results) and ``call_code``
    (the sha256 of the function's module source).
    """

    name: str
    run: str
    gpus: int | None = None
    timeout: float | None = None
    retries: int = 0
    deps: tuple[str, ...] = ()
    gpu_mem: int | None = None  # bytes of free GPU memory needed on each GPU (``gpu_mem: 10G``)
    workdir: str | None = None
    needs: tuple[str, ...] | None = None
    code: Mapping[str, str] = field(default_factory=dict)  # deps file → sha256, filled in by the loader
    call: str | None = None
    takes: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    call_code: str = ""
    call_source: str | None = None
    hydra: str | None = None  # the Hydra app's primary config file, relative to the workdir
    hydra_keys: frozenset[str] | None = None  # its keys, filled in by the loader

    @property
    def kind(self) -> str:
        return "call" if self.call else "command"


@dataclass(frozen=True)
class MetricSpec:
    """Where one metric comes from (``spec/metrics.py``): the log of ``step`` read with ``regex``, a
    ``file`` the step writes under its ``out/`` folder (JSON ``key`` path / CSV ``column``), or a
    ``parser`` (``module:function``); none of them: the program logs it itself. ``mode``: which end
    is best."""

    name: str
    step: str
    regex: str | None = None
    mode: str = "max"
    file: str | None = None
    key: str | None = None
    column: str | None = None
    parser: str | None = None
    timeout: float | None = None  # seconds a parser may take (None: the default, 60 s)

    @property
    def source(self) -> str | None:
        """``regex``, ``file``, ``parser`` or None (logged by the program)."""
        return "regex" if self.regex else "file" if self.file else "parser" if self.parser else None

    def to_data(self) -> dict[str, object]:
        data: dict[str, object] = {"step": self.step}
        for name in ("regex", "file", "key", "column", "parser"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        data["mode"] = self.mode
        if self.timeout is not None:
            data["timeout"] = self.timeout
        return data


@dataclass(frozen=True)
class Grid:
    """One sweep block: a cartesian grid. ``steps`` limits the run to those steps (and what they need)."""

    axes: tuple[tuple[str, tuple[ParamValue, ...]], ...]
    steps: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AggregateSpec:
    """A step that runs once after every run of a plan (``aggregate:``), given the run table (``{runs}``).
    ``uses`` names the metrics it reads from that table (each must be defined under ``metrics:``)."""

    step: StepSpec
    uses: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.step.name

    def to_data(self) -> dict[str, object]:
        data = {**step_data(self.step), "uses": list(self.uses)}
        data.pop("needs", None)  # an aggregate needs every execution of the sweep: never written
        return data


@dataclass(frozen=True)
class SelectSpec:
    """``select:``: once the sweep is done, the best run on ``metric`` (``mode``) per group of ``by``
    params (after averaging over the ``over`` params) gets the ``then`` steps as a final run of its own."""

    metric: str
    mode: str
    then: tuple[StepSpec, ...]
    by: tuple[str, ...] = ()
    over: tuple[str, ...] = ()
    mode_given: bool = False

    def to_data(self) -> dict[str, object]:
        data: dict[str, object] = {"metric": self.metric}
        if self.mode_given:
            data["mode"] = self.mode
        data.update({"by": list(self.by), "over": list(self.over),
                     "then": {s.name: step_data(s) for s in self.then}})
        return data


def step_data(step: StepSpec) -> dict[str, object]:
    """One step as plain data in the native format."""
    body: dict[str, object] = {"call": step.call} if step.call else {"run": step.run}
    body.update({"retries": step.retries, "deps": list(step.deps)})
    optional = {"gpus": step.gpus, "gpu_mem": step.gpu_mem, "timeout": step.timeout, "workdir": step.workdir,
                "hydra": step.hydra,
                "needs": None if step.needs is None else list(step.needs)}
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


@dataclass(frozen=True)
class ResourceSpec:
    """``gpus``: explicit indices, ``"auto"`` (detect at run time) or ``()`` for none."""

    gpus: tuple[int, ...] | str = ()
    per_gpu: int = 1

    @property
    def has_gpus(self) -> bool:
        return self.gpus == "auto" or bool(self.gpus)


@dataclass(frozen=True)
class Spec:
    experiment: str
    path: str
    folder: str
    params: Mapping[str, ParamValue]
    steps: tuple[StepSpec, ...]
    groups: Mapping[str, Mapping[str, Mapping[str, ParamValue]]] = field(default_factory=dict)
    sweeps: Mapping[str, tuple[Grid, ...]] = field(default_factory=dict)
    metrics: tuple[MetricSpec, ...] = ()
    resources: ResourceSpec = field(default_factory=ResourceSpec)
    description: str = ""
    raw: Mapping[str, object] = field(default_factory=dict)
    required: tuple[str, ...] = ()  # params a step function takes that have no default (set them per run)
    aggregates: tuple[AggregateSpec, ...] = ()
    select: SelectSpec | None = None
    slurm: SlurmSpec | None = None  # the `slurm:` block (runyard run --executor slurm)
    tune: TuneSpec | None = None  # the ``tune:`` block (spec/tune.py)

    def to_data(self) -> dict[str, object]:
        """This spec as plain data in the native format (what ``spec_from_dict`` reads back)."""
        steps: dict[str, object] = {step.name: step_data(step) for step in self.steps}
        sweeps: dict[str, object] = {}
        for name, grids in self.sweeps.items():
            blocks: list[dict[str, object]] = []
            for grid in grids:
                block: dict[str, object] = {k: list(v) for k, v in grid.axes}
                if grid.steps is not None:
                    block["_steps"] = list(grid.steps)
                blocks.append(block)
            sweeps[name] = blocks
        gpus = self.resources.gpus
        stages: dict[str, object] = {}
        if self.aggregates:
            stages["aggregate"] = {a.name: a.to_data() for a in self.aggregates}
        if self.select is not None:
            stages["select"] = self.select.to_data()
        if self.tune is not None:
            stages["tune"] = dict(self.tune.data)
        return {
            "experiment": self.experiment,
            "description": self.description,
            "params": dict(self.params),
            "groups": {g: {c: dict(v) for c, v in choices.items()} for g, choices in self.groups.items()},
            "steps": steps,
            "metrics": {m.name: m.to_data() for m in self.metrics},
            "sweeps": sweeps,
            "resources": {"gpus": gpus if isinstance(gpus, str) else (list(gpus) or "none"),
                          "per_gpu": self.resources.per_gpu},
            **stages,
            **({"slurm": self.raw["slurm"]} if self.slurm is not None and "slurm" in self.raw else {}),
        }

    def step(self, name: str) -> StepSpec:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def stage_steps(self) -> tuple[StepSpec, ...]:
        """The steps outside the sweep: aggregates, then the ``then`` steps of ``select:``."""
        return (*(a.step for a in self.aggregates), *(self.select.then if self.select else ()))

    @property
    def param_names(self) -> tuple[str, ...]:
        """Every name a run can have a value for: defaults, group selectors and group members."""
        names = dict.fromkeys([*self.params, *self.required, *(self.tune.names if self.tune else ())])
        for group, choices in self.groups.items():
            names.setdefault(group)
            for values in choices.values():
                for key in values:
                    names.setdefault(key)
        return tuple(names)
