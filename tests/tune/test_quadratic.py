"""Tuning a known function: 60 TPE trials with a fixed seed find its optimum; a second ``runyard tune
--trials 20`` continues the same study from the store (it sees 80 trials, no params run twice);
a conditional param is never passed, nor recorded, when its condition is false."""

from __future__ import annotations

from runyard.model import Status

from .conftest import QUADRATIC_PY, QUADRATIC_SPEC, Project

TOLERANCE = 0.2  # the best loss found is within this of the optimum (0); branch a cannot go below 1


def test_sixty_trials_find_the_optimum_then_twenty_more_continue_the_study(project: Project) -> None:
    project.write("quadratic.py", QUADRATIC_PY)
    project.write("runyard.yaml", QUADRATIC_SPEC)
    first = project.cli("tune", "--executor", "inline")
    assert first.code == 0, first
    trials = project.trials("quad")
    assert [t.number for t in trials] == list(range(60))
    assert all(t.state == "complete" for t in trials), [t for t in trials if t.state != "complete"]
    best = min(trials, key=lambda t: (t.values or (1e9,))[0])
    assert best.values is not None and best.values[0] < TOLERANCE, best
    assert best.params["branch"] == "b" and abs(float(best.params["x"]) - 1.0) < 0.5  # type: ignore[arg-type]
    assert f"best: trial {best.number}:" in first.stdout

    # conditional params: a run of branch a has no y, in its params, its execution's params or its command
    with project.store() as store:
        runs = {r.id: r for r in store.runs("quad")}
        executions = {e.key: e for e in store.executions("quad")}
        for trial in trials:
            run = runs[trial.run_id]
            assert ("y" in run.params) == (run.params["branch"] == "b"), run.params
            assert ("y" in trial.params) == (trial.params["branch"] == "b"), trial.params
            for _, key in run.steps:
                assert ("y" in executions[key].params) == (run.params["branch"] == "b")
                assert ('"y"' in executions[key].command) == (run.params["branch"] == "b")
        ran_first = {key: e.attempts for key, e in executions.items()}

    second = project.cli("tune", "--executor", "inline", "--trials", "20")
    assert second.code == 0, second
    trials = project.trials("quad")
    assert [t.number for t in trials] == list(range(80))  # the study saw the 60, and added 20
    assert all(t.state == "complete" for t in trials)
    assert "80 trials (80 complete)" in second.stdout
    with project.store() as store:
        executions = {e.key: e for e in store.executions("quad")}
    # nothing of the first 60 ran again; trials whose params were run already reuse the recorded result
    assert all(executions[key].attempts == attempts for key, attempts in ran_first.items())
    assert all(e.status == Status.DONE and e.attempts == 1 for e in executions.values())
    distinct = {tuple(sorted(t.params.items())) for t in trials}
    assert len(executions) == len(distinct)

    report = project.cli("tune", "--report")
    assert report.code == 0, report
    assert "importances:" in report.stdout and "history (trial, state, value, best so far):" in report.stdout
