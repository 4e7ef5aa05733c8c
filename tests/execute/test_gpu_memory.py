"""Packing by GPU memory (``gpu_mem:``): the slot pool places a step only where the free memory NVML reports,
less what steps it placed there declared and have not taken yet, holds it.  A reader stands in for NVML."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pytest

from runyard.errors import UsageError
from runyard.execute.gpu_memory import GIB, DeviceMemory, MemoryPacker
from runyard.execute.slots import SlotPool
from runyard.model import Resources


class Reader:
    """GPUs of ``total`` bytes; ``others[g]`` used by processes that are not ours; ``ours[g]``: pid → bytes."""

    def __init__(self, totals: list[int], others: dict[int, int] | None = None) -> None:
        self.totals = totals
        self.others = others or {}
        self.ours: dict[int, dict[int, int]] = {}
        self.reads = 0

    def read(self, gpus: Iterable[int]) -> dict[int, DeviceMemory]:
        self.reads += 1
        out = {}
        for g in gpus:
            ours = self.ours.get(g, {})
            used = self.others.get(g, 0) + sum(ours.values())
            out[g] = DeviceMemory(total=self.totals[g], free=self.totals[g] - used, processes=dict(ours))
        return out


def pool_over(reader: Reader, *, per_gpu: int = 1) -> SlotPool:
    return SlotPool(list(range(len(reader.totals))), per_gpu=per_gpu, memory=MemoryPacker(lambda: reader))


TEN = Resources(gpus=1, gpu_mem=10 * GIB)


def test_steps_share_a_gpu_while_its_memory_holds_them_and_never_past_it() -> None:
    reader = Reader([24 * GIB, 24 * GIB], others={1: 20 * GIB})
    pool = pool_over(reader)
    first, second = pool.acquire(TEN), pool.acquire(TEN)
    assert first is not None and second is not None
    assert first.gpus == second.gpus == (0,)  # GPU 1 has 4 GiB free
    assert str(first) == "gpu 0 (10.0 GiB)"
    # nothing allocated yet: what the two declared is held back from NVML's free 24 GiB
    assert pool.acquire(TEN) is None and not pool.fits(TEN)
    assert pool.memory.waiting
    pool.release(first)
    assert pool.fits(TEN)


def test_a_step_that_took_less_than_it_declared_leaves_the_rest_reserved() -> None:
    reader = Reader([24 * GIB])
    pool = pool_over(reader)
    slot = pool.acquire(Resources(gpus=1, gpu_mem=16 * GIB))
    assert slot is not None
    pool.attach(slot, os.getpgrp())  # its process group: this test's own
    reader.ours[0] = {os.getpid(): 6 * GIB}  # it took 6 of its 16 GiB so far: 18 free, 10 still reserved
    assert pool.acquire(Resources(gpus=1, gpu_mem=9 * GIB)) is None
    assert pool.fits(Resources(gpus=1, gpu_mem=8 * GIB))
    reader.ours[0] = {os.getpid(): 12 * GIB}
    pool.sample()
    used = pool.release(slot)
    assert used == {"gpus": [0], "declared": 16 * GIB, "peak": {"0": 12 * GIB}}


def test_a_gpu_runs_either_memory_steps_or_shares_never_both() -> None:
    reader = Reader([24 * GIB, 24 * GIB])
    pool = pool_over(reader, per_gpu=2)
    packed = pool.acquire(TEN)
    assert packed is not None and packed.gpus == (0,)
    share = pool.acquire(Resources(gpus=1))
    assert share is not None and share.gpus == (1,)  # not on GPU 0, which runs a memory step
    assert pool.acquire(TEN) is not None  # GPU 0 again (GPU 1 has a share step)
    assert pool.acquire(Resources(gpus=1)) is not None  # the second share of GPU 1
    assert pool.acquire(Resources(gpus=1)) is None


def test_a_two_gpu_step_needs_the_memory_on_both() -> None:
    reader = Reader([24 * GIB, 24 * GIB, 24 * GIB], others={2: 20 * GIB})
    pool = pool_over(reader)
    slot = pool.acquire(Resources(gpus=2, gpu_mem=12 * GIB))
    assert slot is not None and slot.gpus == (0, 1)
    assert pool.acquire(Resources(gpus=2, gpu_mem=12 * GIB)) is not None  # 12 GiB left on 0 and 1
    assert pool.acquire(Resources(gpus=2, gpu_mem=1 * GIB)) is None  # only GPU 2 has memory left


def test_a_step_no_gpu_here_can_hold_is_reported_with_the_largest_gpu() -> None:
    pool = pool_over(Reader([16 * GIB, 24 * GIB]))
    assert pool.why_never(Resources(gpus=1, gpu_mem=24 * GIB)) is None
    why = pool.why_never(Resources(gpus=1, gpu_mem=40 * GIB))
    assert why == "needs 40.0 GiB on each of 1 GPU(s), more than any GPU here has (largest: 24.0 GiB)"
    assert not pool.can_ever_fit(Resources(gpus=2, gpu_mem=20 * GIB))


def test_without_nvml_a_memory_step_says_what_to_install() -> None:
    def missing() -> Reader:
        raise UsageError("packing steps by `gpu_mem` reads free GPU memory from NVML: pip install 'runyard[gpu]'")

    pool = SlotPool([0], memory=MemoryPacker(missing))
    assert "pip install 'runyard[gpu]'" in (pool.why_never(TEN) or "")
    assert pool.why_never(Resources(gpus=1)) is None  # steps without gpu_mem never read NVML
    assert pool.acquire(Resources(gpus=1)) is not None


@pytest.mark.parametrize(("value", "size"), [("10G", 10 * GIB), ("512M", 512 * 2**20), ("1.5GiB", 3 * GIB // 2),
                                             (4096, 4096), ("2 GB", 2 * GIB)])
def test_memory_sizes(value: object, size: int) -> None:
    from runyard.spec.checker import Checker, memory_size

    check = Checker("spec.yaml", {}, {})
    assert memory_size(check, ("steps", "s", "gpu_mem"), value) == size
    assert not check.problems
