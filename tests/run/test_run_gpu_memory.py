"""``gpu_mem:`` end to end: ``runyard run`` packs steps on GPUs by the free memory NVML reports (a fake
``pynvml`` on PYTHONPATH, tests/execute/fake_nvml), never past it, and records what each step took."""

from __future__ import annotations

import json
from pathlib import Path

from runyard.execute.gpu_memory import GIB
from runyard.testing.processes import complete_lines, wait_for

from .conftest import Project, max_overlap

FAKE_NVML = str(Path(__file__).parent.parent / "execute" / "fake_nvml")


def fake_gpus(project: Project, gpus: list[dict[str, int]]) -> dict[str, str]:
    """The environment of a runyard whose NVML sees ``gpus``; steps allocate by writing ``alloc/<pid>``."""
    (project.root / "alloc").mkdir()
    state = project.tmp / "nvml.json"
    state.write_text(json.dumps({"gpus": gpus, "allocations": str(project.root / "alloc"),
                                 "reads": str(project.tmp / "reads.txt")}))
    return {"PYTHONPATH": FAKE_NVML, "FAKE_NVML": str(state)}


def seen_together(reads: Path, pids: set[int]) -> int:
    """How many NVML reads listed every one of ``pids``."""
    if not reads.exists():
        return 0
    return sum(1 for line in complete_lines(reads) if pids <= {int(item.split(":")[1]) for item in line.split()})


def test_steps_are_packed_by_free_memory_and_record_what_they_took(project: Project) -> None:
    env = fake_gpus(project, [{"total": 24 * GIB}, {"total": 24 * GIB, "others": 20 * GIB}])
    project.spec(f"""
        experiment: packed
        params: {{i: 0}}
        steps:
          train:
            run: echo "$CUDA_VISIBLE_DEVICES {8 * GIB}" > alloc/$$ && exec python rec.py w{{i}} --until go
            gpu_mem: 10G
        sweeps:
          all: {{i: [1, 2, 3, 4, 5, 6]}}
        resources: {{gpus: [0, 1]}}
        """)
    proc = project.start("run", **env)
    wait_for(lambda: len(project.starts()) >= 2, what="two steps started", timeout=120)
    first = {s["pid"] for s in project.starts()}
    groups = {s["pgid"] for s in project.starts()}
    # two reads that saw both steps' memory: the worker has sampled them at least once since they started
    wait_for(lambda: seen_together(project.tmp / "reads.txt", first) >= 2, what="the steps' memory read", timeout=60)
    (project.root / "go").touch()
    assert proc.wait(timeout=180) == 0, project.output_of(proc)

    intervals = project.intervals()
    assert len(intervals) == 6
    assert {iv.cvd for iv in intervals} == {"0"}  # GPU 1 has 4 GiB free: never used
    assert max_overlap(intervals) == 2  # two 10G steps on a 24 GiB GPU, never three
    records = {r.key: r for r in project.executions()}
    assert len(records) == 6 and all(r.status == "done" for r in records.values())
    for record in records.values():
        used = (record.provenance or {})["gpu_memory"]
        assert used["gpus"] == [0] and used["declared"] == 10 * GIB
        meta = json.loads((Path(record.folder) / "meta.json").read_text())
        assert meta["gpu_memory"] == used and meta["slot"] == "gpu 0 (10.0 GiB)"
    held = [(r.provenance or {})["gpu_memory"] for r in records.values() if r.pgid in groups]
    assert len(held) == 2 and all(used["peak"] == {"0": 8 * GIB} for used in held)


def test_a_step_no_gpu_can_hold_is_refused_before_anything_runs(project: Project) -> None:
    env = fake_gpus(project, [{"total": 16 * GIB}])
    project.spec("""
        experiment: big
        steps:
          train:
            run: python rec.py big
            gpu_mem: 40G
        resources: {gpus: [0]}
        """)
    result = project.run("run", **env)
    assert result.code != 0
    assert "step 'train' needs 40.0 GiB on each of 1 GPU(s), more than any GPU here has " \
           "(largest: 16.0 GiB)" in result.stderr
    assert "Traceback" not in result.stderr and not project.starts()


def test_a_bad_memory_size_is_a_spec_error_with_its_place(project: Project) -> None:
    project.spec("""
        experiment: bad
        steps:
          train:
            run: python rec.py x
            gpu_mem: lots
        """)
    result = project.run("plan")
    assert result.code != 0
    assert "runyard.yaml:5: steps.train.gpu_mem: 'lots' is not a memory size: give bytes or a number with a unit, " \
           "e.g. 512M, 10G, 1.5GiB" in result.stderr
