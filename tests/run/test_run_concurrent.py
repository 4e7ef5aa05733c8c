"""Two ``runyard run`` of one spec at once share the work (DESIGN §10: at most one live execution per key)."""

from __future__ import annotations

from collections import Counter

from .conftest import Project, max_overlap


def test_two_runs_at_once_run_each_step_once(project: Project) -> None:
    project.spec("""
        experiment: together
        params: {x: 0}
        steps:
          prep: python rec.py prep --sleep 0.3
          work: python rec.py w-{x} --sleep 0.3 --in {prep.out}
        sweeps:
          xs: {x: [1, 2, 3, 4, 5, 6, 7, 8]}
        """)
    first = project.start("run", "--jobs", "2")
    second = project.start("run", "--jobs", "2")
    assert first.wait(60) == 0, project.output_of(first)
    assert second.wait(60) == 0, project.output_of(second)
    completed = Counter(r["label"] for r in project.ends())
    assert completed == {"prep": 1, **{f"w-{x}": 1 for x in range(1, 9)}}
    assert max_overlap(project.intervals()) <= 4
    workers = {r["env"]["RUNYARD_WORKER"] for r in project.starts()}
    assert len(workers) == 2  # both did some of the work
    assert {str(ex.status) for ex in project.executions("together")} == {"done"}
