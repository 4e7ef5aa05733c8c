"""``runyard plan`` says why each step execution would run (new, params / code / upstream / command
changed, failed before, folder gone) or is cached, comparing with the store read only."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

from .conftest import Project, files_under, write_job

SPEC = r"""
experiment: why
params: {lr: 0.1, seed: 1, data: d1}
steps:
  prep: python job.py --label prep --data {data} --out {out}
  train:
    run: python job.py --label train --model m --lr {lr} --seed {seed} --data {prep.out} --out {out}
    deps: [job.py]
  test: python job.py --label test --ckpt {train.out}
metrics:
  val_acc: {step: train, regex: 'val_acc (\S+)'}
sweeps:
  grid: {seed: [1, 2]}
"""


def _reasons(proj: Project, *args: str) -> dict[tuple[str, str], dict[str, Any]]:
    proc = proj.run("plan", "--json", *args)
    assert proc.code == 0, proc
    data = json.loads(proc.stdout)
    return {(run["name"], step["name"]): step["reason"] for run in data["runs"] for step in run["steps"]}


def _kinds(proj: Project, *args: str) -> dict[tuple[str, str], str]:
    return {k: v["kind"] for k, v in _reasons(proj, *args).items()}


def test_without_a_store_everything_is_new_and_nothing_is_created(project: Project) -> None:
    write_job(project, {"m,0.1,2": "fail"})
    project.spec(SPEC)
    proc = project.run("plan")
    assert proc.code == 0, proc
    assert proc.stdout.splitlines()[-1] == "5 would run (5 new), 0 cached"
    assert set(_kinds(project).values()) == {"new"}
    assert not project.home.exists()


def test_reasons_after_a_run_and_after_changes(project: Project) -> None:
    write_job(project, {"m,0.1,2": "fail"})
    project.spec(SPEC)
    assert project.run("run").code == 1  # train of seed=2 fails
    before = files_under(project.home)
    kinds = _kinds(project)
    assert kinds[("default", "prep")] == "cached" and kinds[("default", "train")] == "cached"
    assert kinds[("seed=2", "train")] == "failed before" and kinds[("seed=2", "test")] == "queued"
    reason = _reasons(project)[("seed=2", "train")]
    assert reason["runs"] and "exit 3" in reason["detail"] and "/log" in reason["detail"]
    text = project.run("plan").stdout
    assert "failed before: exit 3" in text and text.splitlines()[-1] == "1 would run (1 failed before), 3 cached, " \
                                                                        "1 queued already"
    # a changed default: the steps that use it, and what follows
    project.spec(SPEC.replace("lr: 0.1", "lr: 0.2"))
    changed = _reasons(project)
    project.spec(SPEC)
    # another run now (other params): it cannot take the stored run's name, and is compared with that run
    (renamed,) = [name for name, step in changed if name.startswith("default-") and step == "train"]
    assert re.fullmatch(r"default-[0-9a-f]{8}", renamed)
    changed = {("default" if name == renamed else name, step): r for (name, step), r in changed.items()}
    assert changed[("default", "train")]["kind"] == "params changed"
    assert changed[("default", "train")]["detail"] == "lr 0.1 → 0.2"
    assert changed[("default", "prep")]["kind"] == "cached"
    assert changed[("default", "test")] == {**changed[("default", "test")], "kind": "upstream changed",
                                            "detail": "train"}
    # the code of a step (its deps:)
    original = (project.root / "job.py").read_text()
    project.file("job.py", original + "\n# changed\n")
    code = _kinds(project)
    assert code[("default", "train")] == "code changed" and code[("default", "prep")] == "cached"
    assert code[("default", "test")] == "upstream changed"
    # a changed template
    (project.root / "job.py").write_text(original)
    project.spec(SPEC.replace("--label test --ckpt", "--label test --verbose 1 --ckpt"))
    assert _kinds(project)[("default", "test")] == "command changed"
    project.spec(SPEC)
    # a deleted output folder
    with project.store() as store:
        prep = next(e for e in store.executions("why") if e.step == "prep")
    shutil.rmtree(prep.folder)
    assert _kinds(project)[("default", "prep")] == "folder gone"
    # plan wrote nothing (no store file changed, no -wal / -shm made)
    after = files_under(project.home)
    assert {k: v for k, v in after.items() if "steps/prep" not in k} == \
        {k: v for k, v in before.items() if "steps/prep" not in k}
    assert not any(name.endswith(("-wal", "-shm")) for name in after)


def test_run_dry_run_shows_the_reasons_too(project: Project) -> None:
    write_job(project)
    project.spec(SPEC)
    assert project.run("run").code == 0
    proc = project.run("run", "--dry-run", "seed=1,2,3")
    assert proc.code == 0, proc
    assert proc.stdout.splitlines()[-1] == "2 would run (2 new), 5 cached"
    assert not any(c.endswith("-wal") for c in files_under(project.home))
