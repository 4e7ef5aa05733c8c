"""``runyard logs -f`` on a step still queued waits for it to start and follows its log to the end; on a step
an upstream failure blocks for good it says so and exits. Real subprocesses, a SQLite store."""

from __future__ import annotations

from runyard.testing.processes import wait_for

from .conftest import Project

SPEC = """
experiment: f
params: {code: 0}
steps:
  a: exit {code}
  b: echo line-one && echo line-two
"""


def test_follow_waits_for_a_queued_step_to_start(project: Project) -> None:
    project.spec(SPEC)
    assert project.run("submit").code == 0
    follower = project.start("logs", "default", "--step", "b", "-f")
    wait_for(lambda: "waiting for it to start" in project.output_of(follower), what="logs -f to wait")
    assert follower.poll() is None, project.output_of(follower)  # still there: it did not exit on a queued step
    assert project.run("worker", "--burst").code == 0
    assert follower.wait(timeout=120) == 0
    output = project.output_of(follower)
    assert "b of run default is waiting: waiting for it to start" in output
    assert output.index("line-one") < output.index("line-two"), output


def test_follow_of_a_step_that_can_never_start_says_why(project: Project) -> None:
    project.spec(SPEC)
    assert project.run("submit", "code=3").code == 0
    assert project.run("worker", "--burst").code == 1
    proc = project.run("logs", "code=3", "--step", "b", "-f", timeout=120)
    assert proc.code == 1 and "Traceback" not in proc.stderr, proc
    assert "b of run code=3 will not start: the step a " in proc.stderr and " it needs is failed (log " in proc.stderr
