"""Slots (DESIGN §1, §5): every step sees the CUDA_VISIBLE_DEVICES of its slot, and no more steps run at
once than there are slots. Fake GPU indices; each step records what it saw and when it ran."""

from __future__ import annotations

from .conftest import Project, max_overlap


def sweep_spec(project: Project, resources: str, *, n: int = 6, sleep: float = 0.4) -> None:
    values = ", ".join(str(i) for i in range(1, n + 1))
    project.spec(f"""
        experiment: slots
        params: {{i: 0}}
        steps:
          work:
            run: python rec.py w{{i}} --sleep {sleep}
        sweeps:
          all: {{i: [{values}]}}
        {resources}
        """)


def test_each_step_sees_its_gpu_and_no_more_steps_than_gpus_run_at_once(project: Project) -> None:
    sweep_spec(project, "resources: {gpus: [0, 1]}")
    result = project.run("run")
    assert result.code == 0, result
    intervals = project.intervals()
    assert sorted(iv.label for iv in intervals) == [f"w{i}" for i in range(1, 7)]
    assert {iv.cvd for iv in intervals} <= {"0", "1"}
    assert max_overlap(intervals) <= 2
    assert max_overlap(intervals, key=lambda iv: iv.cvd) == 1  # never two steps on one GPU
    assert max_overlap(intervals) == 2  # both GPUs were used at once


def test_gpus_option_overrides_the_spec(project: Project) -> None:
    sweep_spec(project, "resources: {gpus: [0, 1]}", n=3, sleep=0.3)
    result = project.run("run", "--gpus", "5")
    assert result.code == 0, result
    intervals = project.intervals()
    assert len(intervals) == 3
    assert {iv.cvd for iv in intervals} == {"5"}
    assert max_overlap(intervals) == 1


def test_per_gpu_packs_two_steps_on_a_gpu_never_three(project: Project) -> None:
    sweep_spec(project, "resources: {gpus: [0, 1], per_gpu: 2}", n=8)
    result = project.run("run")
    assert result.code == 0, result
    intervals = project.intervals()
    assert len(intervals) == 8
    assert {iv.cvd for iv in intervals} <= {"0", "1"}
    assert max_overlap(intervals, key=lambda iv: iv.cvd) == 2  # at some moment two shared a GPU, never three
    assert max_overlap(intervals) <= 4


def test_a_two_gpu_step_sees_two_distinct_gpus(project: Project) -> None:
    project.spec("""
        experiment: wide
        params: {i: 0}
        steps:
          one:
            run: python rec.py one{i} --sleep 0.3
          two:
            run: python rec.py two{i} --sleep 0.3
            gpus: 2
        sweeps:
          all: {i: [1, 2, 3]}
        resources: {gpus: [0, 1, 2]}
        """)
    result = project.run("run")
    assert result.code == 0, result
    intervals = project.intervals()
    wide = [iv for iv in intervals if iv.label.startswith("two")]
    assert len(wide) == 3
    for iv in wide:
        assert iv.cvd is not None
        indices = iv.cvd.split(",")
        assert len(indices) == 2 and len(set(indices)) == 2 and set(indices) <= {"0", "1", "2"}
    # per GPU index, never two steps at once (a 2-GPU step holds both of its GPUs)
    per_gpu = [type(iv)(iv.label, iv.start, iv.end, gpu) for iv in intervals for gpu in (iv.cvd or "").split(",")]
    assert max_overlap(per_gpu, key=lambda iv: iv.cvd) == 1


def test_cpu_steps_see_no_gpu_and_jobs_limits_them(project: Project) -> None:
    sweep_spec(project, "", n=6, sleep=0.3)
    result = project.run("run", "--jobs", "2")
    assert result.code == 0, result
    intervals = project.intervals()
    assert len(intervals) == 6
    assert {iv.cvd for iv in intervals} == {""}
    assert max_overlap(intervals) == 2


def test_cpu_steps_of_a_gpu_experiment_see_no_gpu(project: Project) -> None:
    project.spec("""
        experiment: mixed
        params: {i: 0}
        steps:
          gpu:
            run: python rec.py g{i} --sleep 0.2
          cpu:
            run: python rec.py c{i} --sleep 0.2
            gpus: 0
        sweeps:
          all: {i: [1, 2, 3, 4]}
        resources: {gpus: [0]}
        """)
    result = project.run("run", "--jobs", "1")
    assert result.code == 0, result
    intervals = project.intervals()
    cpu = [iv for iv in intervals if iv.label.startswith("c")]
    gpu = [iv for iv in intervals if iv.label.startswith("g")]
    assert len(cpu) == 4 and len(gpu) == 4
    assert {iv.cvd for iv in cpu} == {""}
    assert {iv.cvd for iv in gpu} == {"0"}
    assert max_overlap(cpu) == 1 and max_overlap(gpu) == 1


def test_gpus_option_gives_gpus_to_a_spec_without_resources(project: Project) -> None:
    sweep_spec(project, "", n=4, sleep=0.3)
    result = project.run("run", "--gpus", "3,4")
    assert result.code == 0, result
    intervals = project.intervals()
    assert len(intervals) == 4 and {iv.cvd for iv in intervals} == {"3", "4"}
    assert max_overlap(intervals, key=lambda iv: iv.cvd) == 1 and max_overlap(intervals) == 2
