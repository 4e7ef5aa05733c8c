"""Helpers of the select / plan-reason tests: the ``project`` fixture of tests/run with ``job.py``, a step
script that records each call and prints the validation score a table gives its params."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from run.conftest import Proc, Project, make_project, project

__all__ = ["JOB_PY", "Proc", "Project", "calls", "compare_json", "files_under", "make_project", "project",
           "write_job"]

JOB_PY = r'''
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
opts = dict(zip(args[::2], args[1::2]))
label = opts.pop("--label")
if "--from" in opts:  # a then step reads what the selected run's train step wrote
    with open(os.path.join(opts["--from"], "info.json")) as handle:
        opts["from_info"] = json.load(handle)
with open(os.path.join(HERE, "calls.jsonl"), "a") as handle:
    handle.write(json.dumps({"label": label, "opts": opts, "runs": os.environ.get("RUNYARD_RUNS")}) + "\n")
if "--out" in opts:
    with open(os.path.join(opts["--out"], "info.json"), "w") as handle:
        json.dump({"label": label, **opts}, handle)
if label == "train":
    with open(os.path.join(HERE, "scores.json")) as handle:
        scores = json.load(handle)
    key = ",".join(opts[k] for k in ("--model", "--lr", "--seed"))
    score = scores.get(key, 0.5)
    if score == "fail":
        print("train: diverged", file=sys.stderr)
        sys.exit(3)
    print(f"val_acc {score}")
if label == "test":
    print(f"test_acc {len(opts['--ckpt']) % 7 / 10}")
'''


def write_job(proj: Project, scores: dict[str, Any] | None = None) -> None:
    proj.file("job.py", JOB_PY)
    proj.file("scores.json", json.dumps(scores or {}))


def calls(proj: Project, label: str | None = None) -> list[dict[str, Any]]:
    path = proj.root / "calls.jsonl"
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [c for c in found if label is None or c["label"] == label]


def compare_json(proj: Project, *args: str) -> list[dict[str, Any]]:
    proc = proj.run("compare", "--format", "json", *args)
    assert proc.code == 0, proc
    data: list[dict[str, Any]] = json.loads(proc.stdout)
    return data


def files_under(path: Path) -> dict[str, int]:
    """Every file under ``path`` with its size (what a command that writes nothing must leave alone)."""
    return {str(p.relative_to(path)): p.stat().st_size for p in path.rglob("*") if p.is_file()} \
        if path.exists() else {}


from store.conftest import store_url  # noqa: E402 - the store fixture (SQLite and PostgreSQL; pg_server: tests/conftest.py)

__all__ += ["store_url"]
