"""Packing steps on GPUs by measured memory: a step that declares ``gpu_mem: 10G`` runs on a GPU whose free
memory holds it, next to other such steps, instead of taking one of ``per_gpu`` shares.

Before each launch the pool reads every GPU's memory from NVML (``nvidia-ml-py``).  What is free for a new
step is what NVML reports free, less what the steps this worker already placed on that GPU declared but
have not taken yet (a step allocates its memory some time after it starts: without that, a burst of
launches would all see the same free memory).  A step is never placed past that.  While the steps run, the
memory NVML reports for their processes (matched by process group) is sampled, and each step's peak is
recorded with its execution (``meta.json`` and the store's provenance: ``gpu_memory``).

:class:`MemoryReader` is the seam: :class:`NvmlMemory` reads the real devices; tests give a reader (or a
``pynvml`` module) of their own.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from runyard.errors import UsageError

__all__ = ["GIB", "DeviceMemory", "MemoryPacker", "MemoryReader", "NvmlMemory", "format_bytes"]

GIB = 2**30
#: seconds between two samples of the running steps' memory (and between two retries of a step that did
#: not fit: free memory changes without anything waking the worker)
SAMPLE_EVERY = 1.0
NVML_HINT = "packing steps by `gpu_mem` reads free GPU memory from NVML: pip install 'runyard[gpu]' (nvidia-ml-py)"


@dataclass(frozen=True)
class DeviceMemory:
    """One GPU's memory as NVML reports it, in bytes; ``processes``: pid → bytes it uses on this GPU."""

    total: int
    free: int
    processes: Mapping[int, int] = field(default_factory=dict)


class MemoryReader(Protocol):
    def read(self, gpus: Iterable[int]) -> dict[int, DeviceMemory]:
        """The memory of each GPU index in ``gpus`` (NVML's numbering: PCI bus order)."""


class NvmlMemory:
    """:class:`MemoryReader` over NVML; :class:`UsageError` with the install hint when it is missing."""

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError:
            raise UsageError(NVML_HINT) from None
        try:
            pynvml.nvmlInit()
        except Exception as err:  # NVMLError: no driver, no device
            raise UsageError(f"gpu_mem: NVML cannot be read ({err}); {NVML_HINT}") from None
        self._nvml: Any = pynvml

    def read(self, gpus: Iterable[int]) -> dict[int, DeviceMemory]:
        nvml = self._nvml
        out = {}
        for index in gpus:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            info = nvml.nvmlDeviceGetMemoryInfo(handle)
            processes: dict[int, int] = {}
            with contextlib.suppress(Exception):  # not every driver lists processes (NVML_ERROR_NOT_SUPPORTED)
                for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    used = getattr(proc, "usedGpuMemory", None)
                    processes[int(proc.pid)] = processes.get(int(proc.pid), 0) + (int(used) if used else 0)
            out[index] = DeviceMemory(total=int(info.total), free=int(info.free), processes=processes)
        return out


@dataclass
class _Placed:
    gpus: tuple[int, ...]
    declared: int
    pgid: int | None = None
    peak: dict[int, int] = field(default_factory=dict)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


class MemoryPacker:
    """Where steps that declare GPU memory fit, and what they used.  One per slot pool; its reader is opened
    at the first step that declares memory."""

    def __init__(self, reader: Callable[[], MemoryReader] = NvmlMemory, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._open = reader
        self._reader: MemoryReader | None = None
        self._clock = clock
        self._placed: dict[int, _Placed] = {}  # slot id →
        self._sampled = float("-inf")
        #: a step did not fit for lack of memory at the last try: try again within SAMPLE_EVERY
        self.waiting = False

    @property
    def reader(self) -> MemoryReader:
        if self._reader is None:
            self._reader = self._open()
        return self._reader

    def totals(self, gpus: Sequence[int]) -> dict[int, int]:
        """Each GPU's total memory (raises :class:`UsageError` when NVML cannot be read)."""
        return {g: m.total for g, m in self.reader.read(gpus).items()}

    def choose(self, candidates: Sequence[int], count: int, need: int) -> list[int] | None:
        """``count`` GPUs of ``candidates`` each with ``need`` bytes free for a new step (the most free
        first, ties by index), or None."""
        readings = self._read(candidates)
        free = {g: readings[g].free - self._unclaimed(g, readings[g]) for g in candidates}
        fitting = sorted((g for g in candidates if free[g] >= need), key=lambda g: (-free[g], g))
        self.waiting = len(fitting) < count
        return None if self.waiting else fitting[:count]

    def place(self, slot_id: int, gpus: tuple[int, ...], need: int) -> None:
        self._placed[slot_id] = _Placed(gpus, need)

    def attach(self, slot_id: int, pgid: int | None) -> None:
        """The step on ``slot_id`` started: its processes are the group ``pgid``."""
        if slot_id in self._placed:
            self._placed[slot_id].pgid = pgid

    def holds(self, gpu: int) -> bool:
        """Some step that declared memory runs on ``gpu``."""
        return any(gpu in p.gpus for p in self._placed.values())

    def sample(self, *, force: bool = False) -> None:
        """Read the running steps' memory (at most once per :data:`SAMPLE_EVERY` unless ``force``)."""
        gpus = sorted({g for p in self._placed.values() for g in p.gpus})
        if gpus and (force or self._clock() - self._sampled >= SAMPLE_EVERY):
            self._read(gpus)

    def remove(self, slot_id: int) -> dict[str, Any] | None:
        """The step on ``slot_id`` ended: what it declared and the peak seen on each GPU (JSON-able)."""
        placed = self._placed.pop(slot_id, None)
        if placed is None:
            return None
        return {"gpus": list(placed.gpus), "declared": placed.declared,
                "peak": {str(g): placed.peak.get(g, 0) for g in placed.gpus}}

    def _read(self, gpus: Sequence[int]) -> dict[int, DeviceMemory]:
        readings = self.reader.read(gpus)
        self._sampled = self._clock()
        for placed in self._placed.values():
            for gpu in placed.gpus:
                if placed.pgid is not None and gpu in readings:
                    placed.peak[gpu] = max(placed.peak.get(gpu, 0), self._used_by(placed, gpu, readings))
        return readings

    def _unclaimed(self, gpu: int, memory: DeviceMemory) -> int:
        return sum(max(0, p.declared - self._used_by(p, gpu, {gpu: memory}))
                   for p in self._placed.values() if gpu in p.gpus)

    @staticmethod
    def _used_by(placed: _Placed, gpu: int, readings: Mapping[int, DeviceMemory]) -> int:
        if placed.pgid is None or gpu not in readings:
            return 0
        return sum(used for pid, used in readings[gpu].processes.items() if _pgid(pid) == placed.pgid)


def format_bytes(size: int) -> str:
    """``10.0 GiB``, ``512 MiB``: memory as nvidia-smi users read it."""
    if size >= GIB:
        return f"{size / GIB:.1f} GiB"
    return f"{size / 2**20:.0f} MiB"
