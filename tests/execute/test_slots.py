"""SlotPool allocation, GPU value parsing and detection."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from runyard.errors import UsageError
from runyard.execute import gpu_detect
from runyard.execute import slots as slots_mod
from runyard.execute.gpu_detect import parse_smi_list
from runyard.execute.slots import Slot, SlotPool, detect_gpus, parse_gpus
from runyard.model import Resources

CPU = Resources(gpus=0)
ONE = Resources(gpus=1)
TWO = Resources(gpus=2)


def test_one_step_per_gpu() -> None:
    pool = SlotPool([0, 1], per_gpu=1)
    a = pool.acquire(ONE)
    b = pool.acquire(ONE)
    assert a is not None and b is not None
    assert {a.gpus, b.gpus} == {(0,), (1,)}
    assert pool.acquire(ONE) is None
    pool.release(a)
    c = pool.acquire(ONE)
    assert c is not None and c.gpus == a.gpus
    assert c.id != a.id


def test_two_per_gpu_spreads_before_sharing() -> None:
    pool = SlotPool([0, 1, 2], per_gpu=2)
    got = [pool.acquire(ONE) for _ in range(6)]
    assert all(s is not None for s in got)
    # first three go to three different GPUs (least loaded first, ties by index)
    assert [s.gpus for s in got[:3] if s] == [(0,), (1,), (2,)]
    assert [s.gpus for s in got[3:] if s] == [(0,), (1,), (2,)]
    assert pool.acquire(ONE) is None
    assert pool.gpu_units_free == 0


def test_least_loaded_preferred_after_release() -> None:
    pool = SlotPool([0, 1], per_gpu=2)
    a, b, c = (pool.acquire(ONE) for _ in range(3))  # 0, 1, 0
    assert a and b and c
    assert (a.gpus, b.gpus, c.gpus) == ((0,), (1,), (0,))
    pool.release(b)  # GPU 1 is now empty, GPU 0 holds two
    d = pool.acquire(ONE)
    assert d and d.gpus == (1,)


def test_multi_gpu_steps_take_distinct_gpus() -> None:
    pool = SlotPool([0, 1, 2, 3], per_gpu=1)
    a = pool.acquire(TWO)
    assert a is not None and a.gpus == (0, 1)
    assert a.cuda_visible_devices == "0,1"
    b = pool.acquire(Resources(gpus=3))
    assert b is None  # only two GPUs left
    c = pool.acquire(TWO)
    assert c is not None and c.gpus == (2, 3)
    assert pool.max_gpus_free() == 0


def test_multi_gpu_with_sharing_never_uses_one_gpu_twice() -> None:
    pool = SlotPool([0, 1], per_gpu=2)
    a = pool.acquire(TWO)
    b = pool.acquire(TWO)
    assert a and b and a.gpus == b.gpus == (0, 1)
    assert pool.acquire(ONE) is None
    pool.release(a)
    assert pool.acquire(Resources(gpus=3)) is None
    assert not pool.can_ever_fit(Resources(gpus=3))


def test_multi_gpu_prefers_least_loaded() -> None:
    pool = SlotPool([0, 1, 2, 3], per_gpu=2)
    first = pool.acquire(ONE)
    assert first and first.gpus == (0,)
    two = pool.acquire(TWO)
    assert two and two.gpus == (1, 2)


def test_cpu_jobs_limit_and_independence_from_gpus() -> None:
    pool = SlotPool([0], per_gpu=1, jobs=2)
    c1, c2 = pool.acquire(CPU), pool.acquire(CPU)
    assert c1 and c2 and c1.gpus == () and c1.cuda_visible_devices == ""
    assert pool.acquire(CPU) is None
    g = pool.acquire(ONE)  # GPU units are not taken by CPU steps
    assert g and g.gpus == (0,)
    assert pool.cpu_free == 0
    pool.release(c1)
    assert pool.cpu_free == 1
    assert pool.fits(CPU) and not pool.fits(ONE)


def test_default_jobs() -> None:
    assert SlotPool([0, 1], per_gpu=2).jobs == 4
    assert SlotPool(None, cpu_count=6).jobs == 6
    assert SlotPool([], cpu_count=3).jobs == 3
    assert SlotPool(None).jobs == slots_mod.default_cpu_count() >= 1
    assert SlotPool([0], jobs=0).can_ever_fit(CPU) is False


def test_no_gpu_pool() -> None:
    pool = SlotPool(None, jobs=1)
    assert not pool.can_ever_fit(ONE)
    assert pool.acquire(ONE) is None
    assert pool.can_ever_fit(CPU)
    assert pool.describe() == "no GPU, 1 CPU job"
    assert pool.free_summary() == "cpu 1/1 free"


def test_release_errors_and_idle() -> None:
    pool = SlotPool([0], jobs=1)
    assert pool.idle
    s = pool.acquire(ONE)
    assert s and not pool.idle and pool.held == (s,)
    pool.release(s)
    assert pool.idle
    with pytest.raises(ValueError):
        pool.release(s)
    with pytest.raises(ValueError):
        pool.release(Slot(99, (0,)))
    with pytest.raises(ValueError):
        pool.acquire(Resources(gpus=-1))


def test_describe_and_summary() -> None:
    pool = SlotPool([0, 1], per_gpu=2, jobs=3)
    assert pool.describe() == "2 GPUs (0,1) × 2 per GPU + 3 CPU jobs"
    pool.acquire(ONE)
    pool.acquire(CPU)
    assert pool.free_summary() == "gpu 0:1/2 1:2/2 · cpu 2/3 free"
    assert pool.capacity == 7 and pool.gpu_units == 4
    assert "SlotPool(" in repr(pool)


def test_slot_env() -> None:
    assert Slot(1, (2, 3)).env() == {"CUDA_VISIBLE_DEVICES": "2,3", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert Slot(2).env()["CUDA_VISIBLE_DEVICES"] == ""
    assert str(Slot(2)) == "cpu" and str(Slot(1, (0,))) == "gpu 0"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gpus": [0, 0]}, "twice"),
        ({"gpus": [-1]}, "GPU indices"),
        ({"gpus": [0], "per_gpu": 0}, "per_gpu"),
        ({"gpus": [0], "jobs": -1}, "jobs"),
    ],
)
def test_pool_bad_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        SlotPool(**kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- never over capacity
class PoolMachine(RuleBasedStateMachine):
    slots = Bundle("slots")

    def __init__(self) -> None:
        super().__init__()
        self.pool: SlotPool | None = None
        self.held: list[Slot] = []

    @rule(
        target=slots,
        n_gpus=st.integers(0, 4),
        per_gpu=st.integers(1, 3),
        jobs=st.integers(0, 3),
        need=st.integers(0, 5),
    )
    def acquire(self, n_gpus: int, per_gpu: int, jobs: int, need: int) -> Slot | None:
        if self.pool is None:  # the first acquire fixes the pool's shape
            self.pool = SlotPool(list(range(n_gpus)), per_gpu=per_gpu, jobs=jobs)
        pool = self.pool
        fits = pool.fits(Resources(gpus=need))
        slot = pool.acquire(Resources(gpus=need))
        assert (slot is not None) == fits
        if slot is not None:
            assert len(slot.gpus) == need and len(set(slot.gpus)) == need
            assert pool.can_ever_fit(Resources(gpus=need))
            self.held.append(slot)
        elif not pool.can_ever_fit(Resources(gpus=need)):
            assert need > len(pool.gpus) or (need == 0 and pool.jobs == 0)
        return slot

    @rule(slot=consumes(slots))
    def release(self, slot: Slot | None) -> None:
        if slot is not None and self.pool is not None:
            self.pool.release(slot)
            self.held.remove(slot)

    @invariant()
    def within_capacity(self) -> None:
        pool = self.pool
        if pool is None:
            return
        per_gpu = {g: 0 for g in pool.gpus}
        cpu = 0
        for s in self.held:
            if s.gpus:
                for g in s.gpus:
                    per_gpu[g] += 1
            else:
                cpu += 1
        assert all(n <= pool.per_gpu for n in per_gpu.values())
        assert cpu <= pool.jobs
        assert per_gpu == {g: pool.used(g) for g in pool.gpus}
        assert pool.cpu_free == pool.jobs - cpu
        assert pool.idle == (not self.held)
        # spreading: loads of GPUs never differ by more than needed when only 1-GPU steps run
        assert pool.max_gpus_free() == sum(1 for n in per_gpu.values() if n < pool.per_gpu)


PoolMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestPoolMachine = PoolMachine.TestCase


# ------------------------------------------------------------------------- parse_gpus
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0,1,2,3", [0, 1, 2, 3]),
        (" 0, 2 ", [0, 2]),
        ("0-3", [0, 1, 2, 3]),
        ("0,2-3", [0, 2, 3]),
        ("auto", None),
        ("AUTO", None),
        ("all", None),
        (None, None),
        ("none", []),
        ("cpu", []),
        ("", []),
        (3, [3]),
        (0, [0]),
        ([0, 1], [0, 1]),
        (("1", "2"), [1, 2]),
        ([], []),
    ],
)
def test_parse_gpus(value: object, expected: list[int] | None) -> None:
    assert parse_gpus(value) == expected


@pytest.mark.parametrize("value", ["gpu0", "0,,1", "3-1", "-1", [-1], [True], True, 1.5, "0,0", [0, "x"], {"a": 1}])
def test_parse_gpus_invalid(value: object) -> None:
    with pytest.raises(UsageError, match="gpus") as err:
        parse_gpus(value)
    assert "twice" in str(err.value) or "valid: 'auto'" in str(err.value)


# ------------------------------------------------------------------------- detection
SMI = """GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-aaaa1111-0000)
  MIG 1g.5gb      Device  0: (UUID: MIG-bbbb)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-cccc2222-0000)
"""


def test_parse_smi_list() -> None:
    assert parse_smi_list(SMI) == [(0, "GPU-aaaa1111-0000"), (1, "GPU-cccc2222-0000")]
    assert parse_smi_list("No devices were found\n") == []


def test_detect_gpus_respects_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_detect, "_detect_nvml", lambda: None)
    monkeypatch.setattr(gpu_detect, "_detect_smi", lambda: parse_smi_list(SMI))
    assert detect_gpus(environ={}) == [0, 1]
    assert detect_gpus(environ={"CUDA_VISIBLE_DEVICES": "1"}) == [1]
    assert detect_gpus(environ={"CUDA_VISIBLE_DEVICES": ""}) == []
    assert detect_gpus(environ={"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert detect_gpus(environ={"CUDA_VISIBLE_DEVICES": "GPU-cccc2222-0000,0"}) == [1, 0]
    assert detect_gpus(environ={"CUDA_VISIBLE_DEVICES": "GPU-aaaa"}) == [0]  # unique prefix


def test_detect_gpus_on_this_machine_never_raises() -> None:
    found = detect_gpus()
    assert isinstance(found, list) and all(isinstance(i, int) for i in found)
