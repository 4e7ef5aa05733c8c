"""The ``slurm:`` block of a spec: where and how steps run on a Slurm cluster (``runyard run --executor slurm``).

```yaml
slurm:
  partition: gpu          # sbatch --partition
  time: 2h                # --time of each Slurm job (a step's own timeout: sets it for that step)
  account: lab            # --account
  qos: normal             # --qos
  constraint: a100        # --constraint
  cpus_per_task: 4        # --cpus-per-task
  mem: 16G                # --mem
  workers: 4              # Slurm jobs running a runyard worker each (0: one Slurm job per step)
  options: {exclusive: ""}   # any other sbatch option: --exclusive, --mail-type=END ...
  steps:                  # per-step overrides of the keys above (not workers)
    train: {partition: long, time: 1d, mem: 64G}
```
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from runyard.spec.checker import Checker, parse_duration, whole_number

__all__ = ["SLURM_KEYS", "SlurmSpec", "parse_slurm", "sbatch_options", "slurm_minutes"]

JOB_KEYS = ("partition", "time", "account", "qos", "constraint", "cpus_per_task", "mem", "options")
SLURM_KEYS = (*JOB_KEYS, "workers", "steps")
_MEM = re.compile(r"\d+[KMGT]?\Z", re.IGNORECASE)
_OPTION = re.compile(r"[a-z][a-z0-9-]*\Z")


@dataclass(frozen=True)
class SlurmSpec:
    partition: str | None = None
    time: float | None = None  # seconds
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)  # other sbatch options, without their dashes
    workers: int = 4
    steps: Mapping[str, SlurmSpec] = field(default_factory=dict)

    def for_step(self, step: str | None) -> SlurmSpec:
        """These settings with ``step``'s overrides applied."""
        over = self.steps.get(step or "")
        if over is None:
            return self
        merged = {name: getattr(over, name) for name in JOB_KEYS[:-1] if getattr(over, name) is not None}
        return replace(self, **merged, options={**self.options, **over.options})

    def with_options(self, partition: str | None, options: Mapping[str, str]) -> SlurmSpec:
        """The command line's ``--partition`` and ``--slurm-opt key=value`` over these settings."""
        return replace(self, partition=partition or self.partition, options={**self.options, **options})


def slurm_minutes(seconds: float) -> str:
    """A ``--time`` value: whole minutes, rounded up."""
    return str(max(1, math.ceil(seconds / 60)))


def sbatch_options(spec: SlurmSpec, *, gpus: int = 0, time: float | None = None) -> list[str]:
    """The sbatch arguments of one Slurm job with ``gpus`` GPUs; ``time`` (seconds) over the spec's."""
    args = [f"--{name.replace('_', '-')}={value}"
            for name in ("partition", "account", "qos", "constraint", "cpus_per_task", "mem")
            if (value := getattr(spec, name)) is not None]
    limit = time if time is not None else spec.time
    if limit is not None:
        args.append(f"--time={slurm_minutes(limit)}")
    if gpus:
        args.append(f"--gres=gpu:{gpus}")
    args += [f"--{name}={value}" if value != "" else f"--{name}" for name, value in spec.options.items()]
    return args


def parse_slurm(check: Checker, value: object, step_names: list[str]) -> SlurmSpec | None:
    """The ``slurm:`` block, its problems added to ``check`` with their key paths; None when absent."""
    if value is None:
        return None
    spec = _job(check, ("slurm",), value, SLURM_KEYS)
    data = check.mapping(value, ("slurm",), "Slurm settings")
    workers = whole_number(check, ("slurm", "workers"), data.get("workers"), minimum=0)
    steps: dict[str, SlurmSpec] = {}
    for name, over in check.mapping(data.get("steps"), ("slurm", "steps"), "step names to Slurm settings").items():
        if name not in step_names:
            from runyard.errors import suggest

            check.add(("slurm", "steps", name), f"no such step{suggest(name, step_names)} "
                                                f"(steps: {', '.join(step_names)})")
            continue
        steps[name] = _job(check, ("slurm", "steps", name), over, JOB_KEYS)
    return replace(spec, workers=4 if workers is None else workers, steps=steps)


def _job(check: Checker, path: tuple[str, ...], value: object, keys: tuple[str, ...]) -> SlurmSpec:
    data = check.mapping(value, path, "Slurm settings")
    check.unknown_keys(data, path, keys)
    texts: dict[str, str | None] = {}
    for name in ("partition", "account", "qos", "constraint"):
        raw = data.get(name)
        if raw is not None and (not isinstance(raw, str) or not raw.strip()):
            check.add((*path, name), f"must be a name, not {raw!r}")
            raw = None
        texts[name] = raw
    time = None
    if data.get("time") is not None:
        try:
            time = parse_duration(data["time"])
        except ValueError:
            check.add((*path, "time"), f"{data['time']!r} is not a duration (e.g. 90, 30m, 2h, 1d)")
    mem = data.get("mem")
    if mem is not None:
        mem = str(mem)
        if not _MEM.match(mem):
            check.add((*path, "mem"), f"{mem!r} is not a memory size (e.g. 16G, 500M, 4000)")
            mem = None
    cpus = whole_number(check, (*path, "cpus_per_task"), data.get("cpus_per_task"), minimum=1)
    options: dict[str, str] = {}
    for name, raw in check.mapping(data.get("options"), (*path, "options"), "sbatch options").items():
        if not _OPTION.match(name):
            check.add((*path, "options", name), "must be an sbatch long option name without its dashes "
                                                "(e.g. exclusive, mail-type)")
        elif isinstance(raw, (dict, list, bool)):
            check.add((*path, "options", name), f"must be a text or number value ('' for a flag), not {raw!r}")
        else:
            options[name] = "" if raw is None else str(raw)
    return SlurmSpec(partition=texts["partition"], time=time, account=texts["account"], qos=texts["qos"],
                     constraint=texts["constraint"], cpus_per_task=cpus, mem=mem, options=options)
