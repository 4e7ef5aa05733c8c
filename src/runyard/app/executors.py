"""Where a worker's steps run (``--executor``): ``local``, this machine's slots (the default), or ``ray``,
Ray tasks on a Ray cluster that places each step on a node with its resources.

:func:`opened` is the one entry: ``runyard run`` and ``runyard worker`` (through :mod:`.session` and
:mod:`.workers`) run their worker inside it.  It yields the launcher the worker starts steps with and, for
``ray``, the slots of the cluster (its GPUs and CPUs: what bounds how many steps the worker claims at once).
With ``ray`` it connects to the cluster first (``--ray-address``: ``local`` starts a private Ray instance
for the command and stops it after, ``auto`` joins the cluster running here, ``HOST:PORT`` that one) and
disconnects at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runyard.errors import UsageError, suggest

if TYPE_CHECKING:
    from runyard.execute.slots import SlotPool

__all__ = ["EXECUTORS", "Executor", "ExecutorOptions", "opened", "parse_resources"]

#: executor name → what it is, for messages and ``--help``
EXECUTORS = {"local": "this machine's slots", "ray": "Ray tasks on a Ray cluster (pip install 'runyard[ray]')",
             "slurm": "Slurm jobs (pip install 'runyard[slurm]'; where sbatch, sacct and scancel work)"}


@dataclass(frozen=True)
class ExecutorOptions:
    """``--executor`` and its options."""

    name: str = "local"
    ray_address: str = "local"  # local | auto | HOST:PORT
    ray_cpus: float | None = None  # CPUs each step's task asks for (None: 1 for a CPU step, 0 for a GPU step)
    ray_resources: Mapping[str, float] = field(default_factory=dict)  # custom Ray resources of every step
    partition: str | None = None  # --executor slurm: the Slurm partition (over the spec's)
    slurm_options: Mapping[str, str] = field(default_factory=dict)  # --slurm-opt: sbatch option → value

    def worker_args(self) -> list[str]:
        """The same choice as ``runyard worker`` arguments (``run --detach``)."""
        if self.name == "local":
            return []
        if self.name == "slurm":
            args = ["--executor", "slurm"] + (["--partition", self.partition] if self.partition else [])
            return args + [item for k, v in self.slurm_options.items() for item in ("--slurm-opt", f"{k}={v}")]
        args = ["--executor", self.name, "--ray-address", self.ray_address]
        if self.ray_cpus is not None:
            args += ["--ray-cpus", f"{self.ray_cpus:g}"]
        for name, amount in self.ray_resources.items():
            args += ["--ray-resource", f"{name}={amount:g}"]
        return args


@dataclass(frozen=True)
class Executor:
    """An opened executor: the launcher of every step, and the worker's slots when the executor decides
    them (None: this machine's, as ``--gpus``, ``--per-gpu`` and ``--jobs`` say)."""

    launcher: str
    pool: SlotPool | None = None


def check_name(name: str) -> str:
    if name not in EXECUTORS:
        raise UsageError(f"--executor {name!r} is not known{suggest(name, EXECUTORS)}; "
                         f"known: {', '.join(sorted(EXECUTORS))}")
    return name


def parse_resources(texts: Sequence[str]) -> dict[str, float]:
    """``--ray-resource NAME=AMOUNT`` values; :class:`UsageError` naming the bad one."""
    out: dict[str, float] = {}
    for text in texts:
        name, sep, amount = text.partition("=")
        try:
            value = float(amount) if sep and name.strip() else -1.0
        except ValueError:
            value = -1.0
        if value < 0:
            raise UsageError(f"--ray-resource {text!r} is not valid: NAME=AMOUNT with an amount >= 0, e.g. "
                             "--ray-resource accelerator_type_a100=0.01")
        out[name.strip()] = value
    return out


@contextlib.contextmanager
def opened(options: ExecutorOptions, *, per_gpu: int = 1, jobs: int | None = None,
           gpus: Sequence[int] | None = None) -> Iterator[Executor]:
    """The executor ``options`` names, ready while the block runs.  ``gpus``: the GPUs given to a private
    Ray instance (``--ray-address local``; None: Ray counts this machine's)."""
    if check_name(options.name) != "slurm" and (options.partition or options.slurm_options):
        raise UsageError("--partition and --slurm-opt go with --executor slurm")
    if options.name == "local":
        yield Executor("local")
        return
    if options.name == "slurm":  # each step a Slurm job; --gpus and --jobs bound how many run at once
        from runyard.execute import launchers
        from runyard.execute.launchers.slurm import SlurmLauncher
        from runyard.execute.slurm_jobs import check_slurm
        from runyard.spec.slurm import SlurmSpec

        check_slurm()
        slurm = SlurmSpec(partition=options.partition, options=dict(options.slurm_options))
        before_slurm = launchers.LAUNCHERS["slurm"]
        launchers.register("slurm", lambda clock: SlurmLauncher(clock, settings=slurm))
        try:
            yield Executor("slurm")
        finally:
            launchers.register("slurm", before_slurm)
        return
    from runyard.execute import launchers
    from runyard.execute.launchers.ray_cluster import check_address, cluster_pool, connected, require_ray

    check_address(options.ray_address)
    require_ray()
    from runyard.execute.launchers.ray_launcher import RayLauncher, RaySettings

    settings = RaySettings(per_gpu=per_gpu, cpus=options.ray_cpus, resources=dict(options.ray_resources))
    before = launchers.LAUNCHERS["ray"]
    with connected(options.ray_address, gpus=gpus):
        launchers.register("ray", lambda clock: RayLauncher(clock, settings=settings))
        try:
            yield Executor("ray", cluster_pool(per_gpu, cpus_per_step=options.ray_cpus, jobs=jobs))
        finally:
            launchers.register("ray", before)
