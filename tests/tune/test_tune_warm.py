"""``runyard tune --warm``: call trials run in warm slot processes (the module imported once per process,
not once per trial), each still a recorded execution and a trial of the study."""

from __future__ import annotations

from .conftest import QUADRATIC_PY, QUADRATIC_SPEC, Project

# the objective notes each import of its module by a process that runs steps (a slot's CUDA_VISIBLE_DEVICES is
# set; runyard's own process, which reads the function's signature, has none)
COUNTED_PY = ("import os\nif os.environ.get('CUDA_VISIBLE_DEVICES') is not None:\n"
              "    with open('imports.txt', 'a') as out:\n        out.write(f'{os.getpid()}\\n')\n" + QUADRATIC_PY)


def test_warm_trials_import_the_objective_once_per_slot_process(project: Project) -> None:
    project.write("quadratic.py", COUNTED_PY)
    project.write("runyard.yaml", QUADRATIC_SPEC.replace("trials: 60", "trials: 12"))
    done = project.cli("tune", "--warm", "--jobs", "2")
    assert done.code == 0, done
    trials = project.trials("quad")
    assert [t.number for t in trials] == list(range(12))
    assert all(t.state == "complete" and t.values for t in trials), trials
    imports = (project.folder / "imports.txt").read_text().split()
    assert 1 <= len(imports) <= 2, imports  # two slots: at most two warm processes, each importing once
    with project.store() as store:
        executions = store.executions("quad")
    assert len(executions) == 12 and all(e.status == "done" for e in executions)


def test_warm_goes_with_the_local_executor_only(project: Project) -> None:
    project.write("quadratic.py", QUADRATIC_PY)
    project.write("runyard.yaml", QUADRATIC_SPEC)
    done = project.cli("tune", "--warm", "--executor", "inline")
    assert done.code == 2 and "Traceback" not in done.stderr
    assert "--warm runs call steps in warm processes of the local executor, not --executor inline" in done.stderr
