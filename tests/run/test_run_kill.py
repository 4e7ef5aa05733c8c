"""Crash safety (DESIGN §5, §10): ``kill -9`` of ``runyard run`` while steps run leaves no orphaned step
process and nothing stuck in ``running``; the next ``runyard run`` completes everything, each step once."""

from __future__ import annotations

import os
import signal
from collections import Counter

from runyard.testing.processes import wait_for

from .conftest import Project, group_alive

KILL_SPEC = """
    experiment: crash
    params: {x: 0}
    steps:
      a: python rec.py a-{x}
      b: python rec.py b-{x}-begin && sleep $(cat slow) && python rec.py b-{x}
      c: python rec.py c-{x} --sleep-file slow
    sweeps:
      xs: {x: [1, 2, 3]}
    """


def test_kill_9_then_run_again_completes_everything_once(project: Project) -> None:
    project.spec(KILL_SPEC)
    project.file("slow", "30")
    proc = project.start("run", "--jobs", "2")

    def long_running() -> list[str]:
        """Labels of the long steps (b, c) that are sleeping now."""
        ended = {r["label"] for r in project.ends()}
        return [r["label"] for r in project.starts()
                if (r["label"].endswith("-begin") and r["label"][:-6] not in ended)
                or (r["label"].startswith("c-") and r["label"] not in ended)]

    def steady() -> bool:
        """Both slots hold a long step, and every finished step is recorded (no result in flight)."""
        with project.store() as store:
            counts = store.counts("crash")
            if any(ex.pgid is None for ex in store.executions("crash", statuses=["running"])):
                return False  # launched, but its process group is not recorded yet
        completed = {r["label"] for r in project.ends() if not r["label"].endswith("-begin")}
        return counts.get("running") == 2 and len(long_running()) == 2 and counts.get("done") == len(completed)

    wait_for(lambda: project.home.joinpath("runyard.db").exists(), what="the store")
    wait_for(steady, what="two long steps running")
    with project.store() as store:
        held = {ex.pgid for ex in store.executions("crash", statuses=["running"])}
    assert len(held) == 2 and None not in held
    sleeping = long_running()
    assert held == {r["pgid"] for r in project.starts() if r["label"] in sleeping}  # the groups the store knows
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)

    # the orphaned step processes (a compound `... && sleep 30 && ...` included) die with their worker
    wait_for(lambda: not any(group_alive(g) for g in held), timeout=10, what="orphaned steps to die")
    with project.store() as store:
        assert Counter(str(ex.status) for ex in store.executions("crash"))["running"] == 2  # as the kill left it

    project.file("slow", "0.1")
    again = project.run("run", "--jobs", "2")
    assert again.code == 0, again
    executions = project.executions("crash")
    assert {str(ex.status) for ex in executions} == {"done"}
    assert len(executions) == 9
    # every execution completed exactly once: the first attempt of the killed ones never completed
    completed = Counter(r["label"] for r in project.ends() if not r["label"].endswith("-begin"))
    expected = {f"{s}-{x}" for s in "abc" for x in (1, 2, 3)}
    assert set(completed) == expected
    assert all(n == 1 for n in completed.values()), completed
    # nothing of either worker is left
    with project.store() as store:
        assert store.workers() == []
    status = project.cli("status")
    assert "no worker is running" in status.output and "running" not in status.output.split("queue:")[1]
