"""runyard.layout names every path of a home: a real ``runyard run`` writes exactly those paths, and no other
module of runyard joins them by hand."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from runyard import layout
from runyard.layout import (
    CODE,
    ENV,
    ExecutionPaths,
    HomePaths,
    ResultPaths,
    RunPaths,
    file_name,
    home_in,
    relative_log,
    snapshot_holding,
)
from runyard.store import open_store

RUNYARD = str(Path(sys.executable).with_name("runyard"))
SOURCE = Path(layout.__file__).parent

SPEC = """
experiment: lay
params: {x: 1}
steps:
  work:
    run: python work.py {out} {x}
    retries: 1
  keep:
    call: 'fns:keep'
aggregate:
  summary: python summary.py {runs} {out}
sweeps:
  grid: {x: [1, 2]}
"""

WORK_PY = """
import os, sys
import runyard

runyard.log(score=1.0)
open(os.path.join(sys.argv[1], "made.txt"), "w").write("made")
marker = "failed-once-" + os.environ["RUNYARD_KEY"]  # in the spec folder, the step's working folder
if not os.path.exists(marker):
    open(marker, "w").close()
    sys.exit(3)
"""

FNS_PY = """
def keep(x):
    return {"x": x}
"""

SUMMARY_PY = """
import os, sys
rows = open(sys.argv[1]).read().splitlines()
open(os.path.join(sys.argv[2], "rows.txt"), "w").write(str(len(rows) - 1))
"""


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def run_sweep(tmp_path: Path) -> tuple[Path, Path]:
    root, home = tmp_path / "proj", tmp_path / "home"
    root.mkdir()
    write(root, "runyard.yaml", SPEC)
    write(root, "work.py", WORK_PY)
    write(root, "fns.py", FNS_PY)
    write(root, "summary.py", SUMMARY_PY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env.update({"RUNYARD_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"})
    done = subprocess.run([RUNYARD, "run"], cwd=root, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return root, home


def test_a_real_run_writes_exactly_the_paths_layout_names(tmp_path: Path) -> None:
    _, home = run_sweep(tmp_path)
    paths = HomePaths(str(home))
    experiment = paths.experiment("lay")
    with open_store(f"sqlite:///{paths.store_file}") as store:
        executions = store.executions("lay")
        runs = store.runs("lay")
    assert sorted(ex.step for ex in executions) == ["keep", "keep", "summary", "work", "work"]
    assert all(str(ex.status) == "done" for ex in executions)
    assert sorted(r.stage for r in runs) == ["aggregate", "sweep", "sweep"]

    named: set[str] = {paths.store_file, experiment.folder, experiment.runs}
    written_by_steps: set[str] = set()
    for ex in executions:
        ep = ExecutionPaths(ex.folder)
        assert ex.folder == experiment.execution(ex.step, ex.key)
        assert ep.home == str(home)
        step_folder = os.path.dirname(ex.folder)
        named |= {os.path.dirname(step_folder), step_folder, ex.folder, ep.command, ep.log, ep.meta, ep.out}
        assert Path(ep.command).read_text() == ex.command + "\n"
        meta = json.loads(Path(ep.meta).read_text())
        assert meta["key"] == ex.key and meta["status"] == "done"
        assert meta["env"]["RUNYARD_OUT"] == ep.out and meta["env"]["RUNYARD_METRICS"] == ep.metrics
        packages = meta["provenance"]["packages_file"]
        digest = hashlib.sha256(Path(packages).read_bytes()).hexdigest()
        assert packages == paths.content_file(ENV, digest, ".txt")
        named |= {paths.content_folder(ENV), packages}
        if ex.step == "work":  # failed once: its first attempt's files moved to attempts/1/
            first = ep.attempt(1)
            named |= {ep.metrics, ep.attempts, first.folder, *first.own_files}
            assert [e["log"] for e in meta["attempts"]] == [relative_log(1), relative_log(None)]
            assert os.path.join(ex.folder, relative_log(1)) == first.log
            assert json.loads(Path(first.meta).read_text())["exit_code"] == 3
            assert Path(first.metrics).read_text().count("score") == 1
            assert Path(ep.metrics).read_text().count("score") == 1
            written_by_steps.add(os.path.join(ep.out, "made.txt"))
        elif ex.step == "keep":
            result = ResultPaths(ep.out)
            saved = json.loads(Path(result.meta).read_text())
            assert result.named(saved["file"]) == result.value(".json")
            named |= {ep.metrics, result.meta, result.value(".json")}  # a call step records its result's metrics
        else:
            named.add(ep.runs_table)
            assert Path(ep.runs_table).read_text().startswith("id,")
            written_by_steps.add(os.path.join(ep.out, "rows.txt"))
            assert Path(ep.out, "rows.txt").read_text() == "2"
    recorded = json.loads(Path(experiment.record).read_text())  # what `runyard reindex` reads
    assert recorded["experiment"] == "lay" and recorded["spec"]["experiment"] == "lay"
    named.add(experiment.record)
    for record in runs:
        rp = RunPaths(record.folder)
        assert record.folder == experiment.run(record.name)
        assert json.loads(Path(rp.record).read_text())["id"] == record.id
        named |= {record.folder, rp.record}
        for step, key in record.steps:
            link = rp.step_link(step)
            assert os.path.islink(link)
            assert os.path.realpath(link) == os.path.realpath(experiment.execution(step, key))
            named.add(link)
    store_companions = {paths.store_file + suffix for suffix in ("-wal", "-shm", "-journal")}
    found = {str(p) for p in home.rglob("*")} - store_companions
    assert found - written_by_steps == named
    assert not os.path.exists(paths.content_folder(CODE)) and not os.path.exists(paths.snapshots)


def test_paths_join_as_documented() -> None:
    home = HomePaths("/h")
    assert home.store_file == "/h/runyard.db"
    assert home_in("/p") == "/p/.runyard"
    assert home.content_file(ENV, "ab", ".txt") == "/h/env/ab.txt"
    assert home.content_file(CODE, "cd", ".diff") == "/h/code/cd.diff"
    assert home.workers == "/h/workers"
    assert home.worker_output("a b/c", "20240101-000000", 7) == "/h/workers/a_b_c-20240101-000000-7.log"
    folder = home.experiment("e").execution("train", "0123456789abcdef")
    assert folder == "/h/e/steps/train/0123456789ab"
    ep = ExecutionPaths(folder)
    assert (ep.command, ep.log, ep.metrics, ep.meta, ep.out, ep.runs_table) == tuple(
        f"{folder}/{name}" for name in ("command", "log", "metrics.jsonl", "meta.json", "out", "runs.csv"))
    assert ep.attempt(2).own_files == tuple(f"{folder}/attempts/2/{n}" for n in ("log", "metrics.jsonl", "meta.json"))
    assert ep.home == "/h" and ExecutionPaths(folder + "/").home == "/h"
    assert home.experiment("e").run("lr=1") == "/h/e/runs/lr=1"
    assert RunPaths("/h/e/runs/r").record == "/h/e/runs/r/run.json"
    assert ResultPaths("/o").meta == "/o/result.meta.json" and ResultPaths("/o").value(".pkl") == "/o/result.pkl"


def test_long_names_become_one_short_component() -> None:
    long = "s" * 300
    short = file_name(long)
    assert len(short.encode()) <= layout.MAX_FILE_NAME and "/" not in short and file_name(long) == short
    assert file_name("train") == "train"
    folder = HomePaths("/h").experiment(long).execution(long, "k" * 64)
    assert folder == f"/h/{short}/steps/{short}/{'k' * 12}"
    assert RunPaths("/r").step_link(long) == f"/r/{short}"


def test_a_snapshot_is_found_from_any_folder_inside_it() -> None:
    snapshot = HomePaths("/h").snapshot("abc123")
    assert snapshot.folder == "/h/snapshots/abc123" and snapshot.record == "/h/snapshots/abc123.json"
    assert snapshot_holding("/h/snapshots/abc123/src/pkg") == snapshot
    assert snapshot_holding("/h/snapshots/abc123") == snapshot
    assert snapshot_holding("/h/snapshots") is None and snapshot_holding("/elsewhere/code") is None


# --- the only place -------------------------------------------------------------------------------------
FILE_NAMES = {layout.META, layout.METRICS, layout.RUNS_TABLE, layout.RUN_RECORD, layout.STORE_FILE,
              layout.RESULT_META, layout.HOME_DIR}
COMPONENTS = {layout.COMMAND, layout.LOG, layout.OUT, layout.ATTEMPTS, layout.STEPS, layout.RUNS, layout.SNAPSHOTS,
              layout.ENV, layout.CODE, layout.WORKERS, *FILE_NAMES}
JOINS = {"os.path.join", "Path", "pathlib.Path", "PurePath"}


def hand_made_paths(source: str) -> list[str]:
    """The places in ``source`` that name a file of the layout or join one of its components by hand."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in FILE_NAMES and id(node) not in docstrings:
            found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in JOINS:
            if any(isinstance(a, ast.Constant) and a.value in COMPONENTS for a in node.args):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            if isinstance(node.right, ast.Constant) and node.right.value in COMPONENTS:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.JoinedStr):
            pieces = [p.value for p in node.values if isinstance(p, ast.Constant) and isinstance(p.value, str)]
            if any(p == f"/{c}" or p.startswith(f"/{c}/") for p in pieces for c in COMPONENTS):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_checker_finds_hand_made_joins() -> None:
    source = textwrap.dedent('''
        """A docstring naming meta.json and "meta.json" is fine."""
        import os
        from pathlib import Path
        a = os.path.join(folder, "log")
        b = Path(folder) / "out"
        c = f"{home}/runyard.db"
        d = "metrics.jsonl"
        e = {"log": 1}
        f = "see meta.json"
        ''')
    assert [line.split(":")[0] for line in hand_made_paths(source)] == ["line 5", "line 6", "line 7", "line 8"]


def test_no_module_but_layout_names_or_joins_the_paths_of_a_home() -> None:
    offenders = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if path == SOURCE / "layout.py":
            continue
        found = hand_made_paths(path.read_text(encoding="utf-8"))
        if found:
            offenders[str(path.relative_to(SOURCE))] = found
    assert offenders == {}


def test_layout_sits_at_the_bottom() -> None:
    tree = ast.parse((SOURCE / "layout.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name for name in imported if name.split(".")[0] == "runyard"} <= {"runyard.model", "runyard.errors"}
    assert not {"open", "mkdir", "makedirs", "listdir", "exists", "stat"} & {
        node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
        for node in ast.walk(tree) if isinstance(node, (ast.Attribute, ast.Name))}
