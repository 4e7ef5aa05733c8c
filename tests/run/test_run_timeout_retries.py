"""Per-step ``timeout`` and ``retries`` (DESIGN §4, §5)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Project, group_alive


def test_a_step_over_its_timeout_fails_quickly_with_a_timeout_error(project: Project) -> None:
    project.spec("""
        experiment: slow
        steps:
          nap:
            run: python rec.py nap-begin && sleep 120
            timeout: 1s
          after: python rec.py after
        """)
    result = project.run("run", timeout=300)
    assert result.code == 1, result
    assert result.seconds < 60, result  # long before the step's own 120 s: the timeout ended it
    ex = {e.step: e for e in project.executions("slow")}
    assert str(ex["nap"].status) == "failed"
    assert ex["nap"].error is not None and "timed out after 1 s" in ex["nap"].error
    assert "timed out after 1 s" in result.output
    assert ex["nap"].duration is not None and 0.9 <= ex["nap"].duration < 5
    assert str(ex["after"].status) == "waiting" and project.starts("after") == []
    meta = json.loads(Path(ex["nap"].folder, "meta.json").read_text())
    assert meta["status"] == "failed" and "timed out" in meta["error"]


def test_a_step_failing_once_is_retried_and_ends_done(project: Project) -> None:
    project.spec("""
        experiment: flaky
        steps:
          shaky:
            run: python rec.py shaky --fail-first marker
            retries: 1
        """)
    result = project.run("run")
    assert result.code == 0, result
    assert [r["code"] for r in project.ends("shaky")] == [4, 0]
    (ex,) = project.executions("flaky")
    assert str(ex.status) == "done" and ex.attempts == 2
    assert [r["env"]["RUNYARD_ATTEMPT"] for r in project.starts("shaky")] == ["1", "2"]
    assert "retry" in result.output
    # each attempt has its own log: the latest at the top, the first under attempts/1/
    assert "failing with exit code 4" in Path(ex.folder, "attempts", "1", "log").read_text()
    assert "failing with exit code 4" not in Path(ex.folder, "log").read_text()
    shown = json.loads(project.cli("show", "default", "--json").output)
    assert shown["steps"][0]["attempts"] == 2 and shown["steps"][0]["status"] == "done"


def test_a_step_always_failing_with_one_retry_runs_exactly_twice(project: Project) -> None:
    project.spec("""
        experiment: broken
        steps:
          bad:
            run: python rec.py bad --exit 7
            retries: 1
        """)
    result = project.run("run")
    assert result.code == 1, result
    assert project.count("bad") == 2
    (ex,) = project.executions("broken")
    assert str(ex.status) == "failed" and ex.attempts == 2 and ex.exit_code == 7


def test_a_timed_out_step_with_retries_is_retried(project: Project) -> None:
    project.spec("""
        experiment: slowflaky
        steps:
          nap:
            run: python rec.py nap --sleep-file slow
            timeout: 1s
            retries: 1
        """)
    project.file("slow", "30")
    result = project.run("run", timeout=30)
    assert result.code == 1, result
    assert len(project.starts("nap")) == 2 and project.ends("nap") == []
    (ex,) = project.executions("slowflaky")
    assert str(ex.status) == "failed" and ex.attempts == 2 and "timed out" in (ex.error or "")


def test_a_timed_out_step_leaves_no_process_behind(project: Project) -> None:
    # the leader dies of SIGTERM; a member of its group ignores TERM and would sleep on
    project.spec("""
        experiment: stray
        steps:
          stray:
            run: python rec.py stray && (trap '' TERM; sleep 120) & wait
            timeout: 1s
        """)
    result = project.run("run", "--grace", "1", timeout=300)
    assert result.code == 1, result
    assert result.seconds < 60, result  # long before the TERM-deaf member's 120 s: it was killed
    (start,) = project.starts("stray")
    assert not group_alive(start["pgid"])
    (ex,) = project.executions("stray")
    assert "timed out" in (ex.error or "")


def test_a_finished_step_leaves_no_process_behind(project: Project) -> None:
    # e.g. the data-loader workers of a trainer that crashed: they must not keep its GPU from the next step
    project.spec("""
        experiment: leftover
        steps:
          crash: python rec.py crash && (sleep 30 &) && exit 9
        """)
    result = project.run("run", timeout=30)
    assert result.code == 1, result
    (start,) = project.starts("crash")
    assert not group_alive(start["pgid"])
    (ex,) = project.executions("leftover")
    assert ex.exit_code == 9
