"""Provenance capture: git state and environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runyard import capture
from runyard.capture import CodeStateCache, code_state, environment, installed_packages

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "checkout", "-q", "-b", "trunk")
    (repo / "train.py").write_text("print('hello')\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "util.py").write_text("X = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    return repo


@needs_git
def test_clean_repo(repo: Path) -> None:
    state = code_state(str(repo / "sub"))
    assert state is not None
    assert state.commit == git(repo, "rev-parse", "HEAD") and len(state.commit) == 40
    assert state.branch == "trunk"
    assert state.dirty is False and state.diff is None and state.diff_sha256 is None
    assert os.path.realpath(state.root) == os.path.realpath(repo)
    assert state.short == state.commit[:12]


@needs_git
def test_dirty_repo_diff_includes_staged_and_unstaged(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    (repo / "sub" / "util.py").write_text("X = 2\n")
    git(repo, "add", "sub/util.py")  # staged
    (repo / "notes.txt").write_text("untracked\n")
    state = code_state(str(repo))
    assert state is not None and state.dirty
    assert state.diff is not None
    assert "-print('hello')" in state.diff and "+print('changed')" in state.diff
    assert "-X = 1" in state.diff and "+X = 2" in state.diff
    assert state.untracked == ("notes.txt",)
    assert state.diff_sha256 and len(state.diff_sha256) == 64
    assert state.short.endswith("+dirty")
    data = json.loads(json.dumps(state.to_dict()))
    assert data["dirty"] is True and data["diff"] == state.diff and data["branch"] == "trunk"
    assert "diff" not in state.to_dict(diff=False)


@needs_git
def test_untracked_only_is_not_dirty(repo: Path) -> None:
    (repo / "new.py").write_text("pass\n")
    state = code_state(str(repo))
    assert state is not None and not state.dirty and state.untracked == ("new.py",)


@needs_git
def test_rename_and_detached_head(repo: Path) -> None:
    git(repo, "mv", "train.py", "main.py")
    state = code_state(str(repo))
    assert state is not None and state.dirty and "main.py" in (state.diff or "")
    git(repo, "commit", "-q", "-m", "rename")
    git(repo, "checkout", "-q", "--detach", "HEAD")
    state = code_state(str(repo))
    assert state is not None and state.branch is None and not state.dirty


@needs_git
def test_repo_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("A = 1\n")
    git(tmp_path, "add", "a.py")
    state = code_state(str(tmp_path))
    assert state is not None and state.commit is None and state.dirty
    assert "+A = 1" in (state.diff or "")


@needs_git
def test_diff_is_cut_when_huge(repo: Path) -> None:
    (repo / "train.py").write_text("x = 1\n" * 5000)
    state = code_state(str(repo), max_diff_bytes=1000)
    assert state is not None and state.diff_truncated
    assert state.diff is not None and len(state.diff.encode()) < 1100


def test_outside_a_repo_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert code_state(str(tmp_path)) is None
    assert code_state(str(tmp_path / "missing")) is None


def test_missing_git_is_none(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "nothing-here"))
    assert code_state(str(repo)) is None


@needs_git
def test_ignores_git_dir_of_the_caller(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))  # as inside a git hook
    state = code_state(str(repo))
    assert state is not None and state.branch == "trunk"


@needs_git
def test_cache_asks_git_once_per_folder(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = capture.code_state

    def counting(folder: str, **kw: int) -> object:
        calls.append(folder)
        return real(folder, **kw)

    monkeypatch.setattr(capture, "code_state", counting)
    now = [0.0]
    cache = CodeStateCache(clock=lambda: now[0])
    first = cache.get(str(repo))
    (repo / "train.py").write_text("print('edited')\n")
    assert cache.get(str(repo) + "/") is first  # same folder, cached
    assert len(calls) == 1
    ttl = CodeStateCache(ttl=10, clock=lambda: now[0])
    assert ttl.get(str(repo)) is not None
    now[0] = 11
    state = ttl.get(str(repo))
    assert state is not None and state.dirty and len(calls) == 3
    cache.clear()
    assert cache.get(str(repo)) is not None and len(calls) == 4


def test_environment_fields_and_stable_package_hash() -> None:
    env = environment()
    assert env is environment()  # cached per process
    assert env.python.count(".") == 2 and os.path.exists(env.python_executable)
    assert env.host and env.user and env.platform and env.machine
    from runyard import __version__

    assert env.runyard_version == __version__
    assert any(p.startswith("pytest==") for p in env.packages)
    names = [p.split("==")[0] for p in env.packages]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert all("==" in p and p == p.lower() for p in env.packages)
    import hashlib

    assert env.packages_sha256 == hashlib.sha256(env.packages_text().encode()).hexdigest()
    assert installed_packages() == list(env.packages)  # same list computed again: same hash
    data = json.loads(json.dumps(env.to_dict(packages=False)))
    assert data["packages_sha256"] == env.packages_sha256 and "packages" not in data
    assert json.loads(json.dumps(env.to_dict()))["packages"] == list(env.packages)
    assert isinstance(data["gpus"], list)


def test_gpu_names_without_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "nvidia-smi").write_text("#!/bin/sh\necho 'NVIDIA A100-SXM4-40GB'\necho 'NVIDIA A100-SXM4-40GB'\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # nvidia-ml-py not installed
    assert capture.gpu_names() == ["NVIDIA A100-SXM4-40GB"] * 2
    (tmp_path / "nvidia-smi").unlink()
    assert capture.gpu_names() == []
