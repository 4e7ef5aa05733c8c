"""``select:`` on a tuned experiment: ``runyard tune`` runs the final stage once the study is done (never
after a trial mid-study), for the best trial."""

from __future__ import annotations

from .conftest import QUADRATIC_PY, Project

SPEC = '''
experiment: quadsel
steps:
  f: {call: "quadratic:quad"}
tune:
  params:
    x: {uniform: [-3, 3]}
    branch: {choice: [a, b]}
    y: {uniform: [-3, 3], when: {branch: b}}
  objective: {metric: loss, direction: minimize}
  trials: 5
  sampler: random
  seed: 3
select:
  metric: loss
  mode: min
  then:
    final: {call: "quadratic:quad"}
'''


def test_the_final_stage_runs_once_for_the_best_trial(project: Project) -> None:
    project.write("quadratic.py", QUADRATIC_PY)
    project.write("runyard.yaml", SPEC)
    done = project.cli("tune", "--executor", "inline")
    assert done.code == 0, done
    trials = project.trials("quadsel")
    best = min(trials, key=lambda t: (t.values or (1e9,))[0])
    with project.store() as store:
        finals = [r for r in store.runs("quadsel") if r.stage == "final"]
    assert [r.origin for r in finals] == [best.run_id]
