"""Slots: shares of the machine that step executions run on (DESIGN §1, §5).

:class:`SlotPool` is a pure allocator (no I/O, no clock): every GPU index has ``per_gpu`` units; a
step needing ``g >= 1`` GPUs takes one unit on each of ``g`` distinct GPUs, the least-loaded first
(ties by index) so work spreads over the machine; a step needing no GPU takes one of ``jobs`` CPU
job slots.  GPU steps and CPU steps do not compete: a CPU step on a GPU box sees no GPU
(``CUDA_VISIBLE_DEVICES=""``).  A step that declares ``gpu_mem`` is packed by measured free memory instead
(:mod:`runyard.execute.gpu_memory`): a GPU runs either such steps, as many as its memory holds, or up to
``per_gpu`` steps that declare none.

:func:`parse_gpus` reads the ``--gpus`` / ``resources.gpus`` value; :func:`detect_gpus` answers
``auto`` (NVML when ``nvidia-ml-py`` is installed, else ``nvidia-smi -L``, else no GPU);
:func:`verify_gpus` checks GPU indices given by hand against the devices NVML sees.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runyard.errors import UsageError
from runyard.execute.gpu_detect import detect_gpus, nvml_device_count, verify_gpus
from runyard.execute.gpu_memory import MemoryPacker, format_bytes
from runyard.model import Resources

__all__ = ["Slot", "SlotPool", "default_cpu_count", "detect_gpus", "nvml_device_count", "parse_gpus", "verify_gpus"]

GPU_VALUE_HELP = (
    "valid: 'auto' (or 'all'), 'none' (or 'cpu', ''), GPU indices such as '0,1,2,3' or a range '0-3', "
    "an index or a list of indices"
)


@dataclass(frozen=True)
class Slot:
    """One acquired share of the machine: GPU indices, or none for a CPU job slot."""

    id: int
    gpus: tuple[int, ...] = ()
    gpu_mem: int | None = None  # bytes declared on each GPU: placed by free memory, not a per_gpu share

    @property
    def cuda_visible_devices(self) -> str:
        """Comma-joined GPU indices; ``""`` for a CPU slot, so the step sees no GPU at all."""
        return ",".join(str(g) for g in self.gpus)

    def env(self) -> dict[str, str]:
        """Environment additions for a step on this slot.

        ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` makes CUDA number GPUs like ``nvidia-smi`` and NVML do (CUDA's
        default order is "fastest first", which can disagree with the indices the pool hands out).
        """
        return {"CUDA_VISIBLE_DEVICES": self.cuda_visible_devices, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}

    def __str__(self) -> str:
        if not self.gpus:
            return "cpu"
        return f"gpu {self.cuda_visible_devices}" + (f" ({format_bytes(self.gpu_mem)})" if self.gpu_mem else "")


def default_cpu_count() -> int:
    """The machine's CPU count (at least 1): the default CPU job limit when there is no GPU."""
    return os.cpu_count() or 1


class SlotPool:
    """Allocate slots for step executions.  Pure: the same calls give the same answers.

    ``gpus``: the GPU indices to use (``None`` or empty: none).  ``per_gpu``: steps that may share one
    GPU.  ``jobs``: concurrent CPU-only steps; default: the number of GPU units when there are GPUs,
    else ``cpu_count`` (default :func:`default_cpu_count`).  ``memory``: where steps that declare
    ``gpu_mem`` fit (default: NVML, read only once such a step comes).
    """

    def __init__(
        self,
        gpus: Sequence[int] | None,
        *,
        per_gpu: int = 1,
        jobs: int | None = None,
        cpu_count: int | None = None,
        memory: MemoryPacker | None = None,
    ) -> None:
        indices = list(gpus or ())
        if any(isinstance(g, bool) or not isinstance(g, int) or g < 0 for g in indices):
            raise UsageError(f"gpus: {indices!r} is not a list of GPU indices ({GPU_VALUE_HELP})")
        if len(set(indices)) != len(indices):
            raise UsageError(f"gpus: {indices!r} names a GPU twice")
        if isinstance(per_gpu, bool) or not isinstance(per_gpu, int) or per_gpu < 1:
            raise UsageError(f"per_gpu: {per_gpu!r} is not valid: steps per GPU must be an integer >= 1")
        if jobs is None:
            jobs = len(indices) * per_gpu if indices else (cpu_count or default_cpu_count())
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
            raise UsageError(f"jobs: {jobs!r} is not valid: concurrent CPU steps must be an integer >= 0")
        self.gpus: tuple[int, ...] = tuple(sorted(indices))
        self.per_gpu = per_gpu
        self.jobs = jobs
        self._used: dict[int, int] = dict.fromkeys(self.gpus, 0)
        self._cpu_used = 0
        self._held: dict[int, Slot] = {}
        self._next_id = 1
        self.memory = memory if memory is not None else MemoryPacker()

    # ----------------------------------------------------------------------------- allocation
    def acquire(self, need: Resources) -> Slot | None:
        """A slot for ``need`` now, or ``None`` when it does not fit until something is released."""
        g = _gpus_needed(need)
        if g == 0:
            if self._cpu_used >= self.jobs:
                return None
            self._cpu_used += 1
            return self._hand_out(())
        if need.gpu_mem:
            by_memory = self._choose_by_memory(g, need.gpu_mem)
            if by_memory is None:
                return None
            slot = self._hand_out(tuple(sorted(by_memory)), need.gpu_mem)
            self.memory.place(slot.id, slot.gpus, need.gpu_mem)
            return slot
        chosen = self._choose(g)
        if chosen is None:
            return None
        for i in chosen:
            self._used[i] += 1
        return self._hand_out(tuple(sorted(chosen)))

    def release(self, slot: Slot) -> dict[str, Any] | None:
        """Give ``slot`` back; for a slot placed by memory, what its step declared and the peak memory seen
        on each GPU.  Releasing a slot this pool does not hold is a bug: ValueError."""
        if self._held.get(slot.id) != slot:
            raise ValueError(f"slot {slot.id} ({slot}) is not held by this pool")
        del self._held[slot.id]
        if slot.gpu_mem:
            self.memory.sample(force=True)
            return self.memory.remove(slot.id)
        if slot.gpus:
            for i in slot.gpus:
                self._used[i] -= 1
        else:
            self._cpu_used -= 1
        return None

    def attach(self, slot: Slot, pgid: int | None) -> None:
        """The step on ``slot`` started as process group ``pgid`` (its GPU memory is sampled by group)."""
        if slot.gpu_mem:
            self.memory.attach(slot.id, pgid)

    def sample(self) -> None:
        """Sample the memory of the steps placed by memory (rate-limited)."""
        self.memory.sample()

    def fits(self, need: Resources) -> bool:
        """Whether :meth:`acquire` would succeed now (without acquiring)."""
        g = _gpus_needed(need)
        if g and need.gpu_mem:
            return self._choose_by_memory(g, need.gpu_mem) is not None
        return self._cpu_used < self.jobs if g == 0 else self._choose(g) is not None

    def can_ever_fit(self, need: Resources) -> bool:
        """Whether ``need`` fits an empty pool.  False: the step can never run here (report it)."""
        return self.why_never(need) is None

    def why_never(self, need: Resources) -> str | None:
        """Why ``need`` can never fit this pool, or None when it can."""
        g = _gpus_needed(need)
        if g == 0:
            return None if self.jobs >= 1 else "needs a CPU slot but this worker runs no CPU step (jobs: 0)"
        if g > len(self.gpus):
            return f"needs {g} GPU(s) but this machine's slots are {self.describe()}"
        if need.gpu_mem:
            try:
                totals = self.memory.totals(self.gpus)
            except UsageError as err:
                return f"cannot be placed by GPU memory: {err}"
            if sum(1 for total in totals.values() if total >= need.gpu_mem) < g:
                largest = format_bytes(max(totals.values(), default=0))
                return (f"needs {format_bytes(need.gpu_mem)} on each of {g} GPU(s), more than any GPU here has "
                        f"(largest: {largest})")
        return None

    def _choose_by_memory(self, g: int, need: int) -> list[int] | None:
        candidates = [i for i in self.gpus if self._used[i] == 0]  # no step of per_gpu shares on it
        return self.memory.choose(candidates, g, need) if len(candidates) >= g else None

    def _choose(self, g: int) -> list[int] | None:
        free = [i for i in self.gpus if self._used[i] < self.per_gpu and not self.memory.holds(i)]
        if len(free) < g:
            return None
        free.sort(key=lambda i: (self._used[i], i))
        return free[:g]

    def _hand_out(self, gpus: tuple[int, ...], gpu_mem: int | None = None) -> Slot:
        slot = Slot(self._next_id, gpus, gpu_mem)
        self._next_id += 1
        self._held[slot.id] = slot
        return slot

    # ----------------------------------------------------------------------------- state
    @property
    def idle(self) -> bool:
        """Nothing is held."""
        return not self._held

    @property
    def held(self) -> tuple[Slot, ...]:
        return tuple(self._held.values())

    @property
    def gpu_units(self) -> int:
        """Total GPU units (GPUs × per_gpu)."""
        return len(self.gpus) * self.per_gpu

    @property
    def gpu_units_free(self) -> int:
        return self.gpu_units - sum(self._used.values())

    @property
    def cpu_free(self) -> int:
        return self.jobs - self._cpu_used

    @property
    def capacity(self) -> int:
        """Steps that can run at once at most (every GPU unit used by 1-GPU steps, every CPU job)."""
        return self.gpu_units + self.jobs

    def used(self, gpu: int) -> int:
        """Units in use on GPU ``gpu``."""
        return self._used[gpu]

    def max_gpus_free(self) -> int:
        """The largest GPU count one step could get right now (GPUs with a free unit)."""
        return sum(1 for i in self.gpus if self._used[i] < self.per_gpu)

    def free_summary(self) -> str:
        """What is free now, for status lines: ``gpu 0:1/2 1:2/2 · cpu 3/4 free``."""
        parts = []
        if self.gpus:
            units = " ".join(f"{i}:{self.per_gpu - self._used[i]}/{self.per_gpu}" for i in self.gpus)
            parts.append(f"gpu {units}")
        parts.append(f"cpu {self.cpu_free}/{self.jobs}")
        return " · ".join(parts) + " free"

    def describe(self) -> str:
        """The pool's shape: ``4 GPUs (0,1,2,3) × 2 per GPU + 8 CPU jobs``."""
        if not self.gpus:
            return f"no GPU, {self.jobs} CPU job{'s' if self.jobs != 1 else ''}"
        n = len(self.gpus)
        listed = ",".join(str(i) for i in self.gpus)
        share = f" × {self.per_gpu} per GPU" if self.per_gpu != 1 else ""
        return f"{n} GPU{'s' if n != 1 else ''} ({listed}){share} + {self.jobs} CPU job{'s' if self.jobs != 1 else ''}"

    def __repr__(self) -> str:
        return f"SlotPool({self.describe()}; {self.free_summary()})"


def _gpus_needed(need: Resources) -> int:
    g = need.gpus
    if isinstance(g, bool) or not isinstance(g, int) or g < 0:
        raise ValueError(f"a step needs a GPU count >= 0, got {g!r}")
    return g


# --------------------------------------------------------------------------------- parsing
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


def parse_gpus(value: object) -> list[int] | None:
    """Read a ``--gpus`` / ``resources.gpus`` value.

    ``None`` / ``"auto"`` / ``"all"`` → ``None`` (detect with :func:`detect_gpus`); ``"none"`` /
    ``"cpu"`` / ``""`` / ``[]`` → ``[]``; ``"0,1,2,3"``, ``"0-3"``, ``"0,2-3"`` → indices; an int is
    one GPU *index* (like ``CUDA_VISIBLE_DEVICES=3``), a list holds indices.  Anything else raises
    :class:`UsageError` saying what is valid.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"gpus: {value!r} is not valid ({GPU_VALUE_HELP})")
    if isinstance(value, int):
        out = [value]
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "all"):
            return None
        if text in ("none", "cpu", ""):
            return []
        out = []
        for part in text.split(","):
            part = part.strip()
            m = _RANGE.match(part)
            if m and int(m.group(1)) <= int(m.group(2)):
                out.extend(range(int(m.group(1)), int(m.group(2)) + 1))
            elif part.isdigit():
                out.append(int(part))
            else:
                raise UsageError(f"gpus: {value!r} is not valid: {part!r} is not a GPU index ({GPU_VALUE_HELP})")
    elif isinstance(value, (list, tuple)):
        out = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise UsageError(f"gpus: {value!r} is not valid: {item!r} is not a GPU index ({GPU_VALUE_HELP})")
            if isinstance(item, str) and not item.strip().isdigit():
                raise UsageError(f"gpus: {value!r} is not valid: {item!r} is not a GPU index ({GPU_VALUE_HELP})")
            out.append(int(item))
    else:
        raise UsageError(f"gpus: {value!r} is not valid ({GPU_VALUE_HELP})")
    if any(i < 0 for i in out):
        raise UsageError(f"gpus: {value!r} is not valid: GPU indices are >= 0 ({GPU_VALUE_HELP})")
    if len(set(out)) != len(out):
        raise UsageError(f"gpus: {value!r} names a GPU twice")
    return out
