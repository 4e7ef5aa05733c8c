"""``runyard submit --snapshot`` in a git repository whose ``.runyard/`` is not git-ignored: runyard's own
files (the home, wherever it is inside the repository, the SQLite store with its -wal/-shm files) are
never part of the snapshot, and a run's folder links in the home do not break it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .bug_cli import runyard

SPEC = """\
experiment: snap
params: {x: 1}
steps:
  show: python tool.py {x}
"""


def _repo(root: Path) -> None:
    root.mkdir()
    (root / "runyard.yaml").write_text(SPEC)
    (root / "tool.py").write_text("import sys\nprint('tool', sys.argv[1])\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, check=True)


def _all_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("where", ["default", "home-env", "home-option"])
def test_snapshot_leaves_out_the_home_and_store_files(tmp_path: Path, where: str) -> None:
    repo = tmp_path / "repo"
    _repo(repo)
    args: list[str] = []
    env: dict[str, str] = {}
    if where == "home-env":
        env = {"RUNYARD_HOME": str(repo / "state"), "RUNYARD_STORE": f"sqlite:///{repo / 'db' / 'q.db'}"}
    elif where == "home-option":
        args = ["--home", str(repo / "data" / "ry")]
    home = {"default": repo / ".runyard", "home-env": repo / "state", "home-option": repo / "data" / "ry"}[where]
    # a first run fills the home: the store, its WAL files, run folders with links to step folders
    first = runyard("run", *args, cwd=repo, env=env)
    assert first.code == 0, first
    assert any(p.is_symlink() for p in home.rglob("*")), "the run folder links to its step folder"
    (repo / "notes.txt").write_text("untracked, not ignored: part of the snapshot\n")
    snap = runyard("submit", "--snapshot", "--force", *args, cwd=repo, env=env)
    assert snap.code == 0, snap
    assert "Traceback" not in snap.stderr
    (root,) = [p for p in (home / "snapshots").iterdir() if p.is_dir() and not p.name.startswith(".")]
    copied = _all_files(root)
    assert {"runyard.yaml", "tool.py", "notes.txt"} <= copied
    own = {".runyard", "state", "db", "data"}
    assert not {path.split("/")[0] for path in copied} & own, sorted(copied)
    assert not [p for p in copied if p.endswith(("-wal", "-shm", ".db"))]
    # the queued step runs from the snapshot
    worker = runyard("worker", "--burst", *args, cwd=repo, env=env)
    assert worker.code == 0, worker
