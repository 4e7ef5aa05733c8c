"""A stand-in for ``pynvml`` (nvidia-ml-py) for tests on machines without a GPU: put this folder first on
PYTHONPATH and point ``FAKE_NVML`` at a JSON file ``{"gpus": [{"total": BYTES, "others": BYTES}, ...],
"allocations": FOLDER, "reads": FILE}``.

A process "allocates" GPU memory by writing a file named after its pid into ``allocations``, one line
``GPU_INDEX BYTES``; only live processes count, as with a real driver.  Every memory read appends the pids it
reported to ``reads``, so a test can wait until the worker has seen a step's memory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class NVMLError(Exception):
    pass


@dataclass(frozen=True)
class _Memory:
    total: int
    free: int
    used: int


@dataclass(frozen=True)
class _Process:
    pid: int
    usedGpuMemory: int


def _state() -> dict[str, Any]:
    return json.loads(Path(os.environ["FAKE_NVML"]).read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has freed its memory
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _allocations(index: int) -> dict[int, int]:
    out: dict[int, int] = {}
    folder = Path(_state()["allocations"])
    for entry in folder.iterdir() if folder.is_dir() else ():
        if not entry.name.isdigit() or not _alive(int(entry.name)):
            continue
        for line in entry.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) == index:
                out[int(entry.name)] = out.get(int(entry.name), 0) + int(parts[1])
    return out


def nvmlInit() -> None:
    if "FAKE_NVML" not in os.environ:
        raise NVMLError("FAKE_NVML is not set")


def nvmlShutdown() -> None:
    pass


def nvmlDeviceGetCount() -> int:
    return len(_state()["gpus"])


def nvmlDeviceGetHandleByIndex(index: int) -> int:
    if not 0 <= index < nvmlDeviceGetCount():
        raise NVMLError(f"no GPU {index}")
    return index


def nvmlDeviceGetUUID(handle: int) -> str:
    return f"GPU-fake-{handle}"


def nvmlDeviceGetName(handle: int) -> str:
    return "Fake GPU"


def nvmlDeviceGetMemoryInfo(handle: int) -> _Memory:
    gpu = _state()["gpus"][handle]
    used = int(gpu.get("others", 0)) + sum(_allocations(handle).values())
    return _Memory(total=int(gpu["total"]), free=max(0, int(gpu["total"]) - used), used=used)


def nvmlDeviceGetComputeRunningProcesses(handle: int) -> list[_Process]:
    processes = [_Process(pid, used) for pid, used in sorted(_allocations(handle).items())]
    reads = _state().get("reads")
    if reads:
        with open(reads, "a") as out:
            out.write(" ".join(f"{handle}:{p.pid}" for p in processes) + "\n")
    return processes
