"""Code snapshots: ``runyard submit --snapshot`` freezes the code a sweep was submitted with.

A snapshot is a copy of the git work tree holding the spec, as it is at submit time: the tracked
files with their uncommitted changes (``git stash create``, which leaves the checkout untouched),
plus untracked files that are not ignored. It lives under ``<home>/snapshots/<id>/`` where ``id``
is a hash of that content, so submitting twice from the same code reuses one snapshot; beside it,
``<id>.json`` records the commit, branch, dirty flag and diff file (the provenance of every step
that runs from it). Queued steps then run in the snapshot's copy of their working folder, with the
snapshot's copy of the spec's folder first on ``PYTHONPATH``: later edits of the checkout do not
reach them. Ignored files (data, checkpoints) are not copied: point at them with absolute paths or
params. runyard's own files are never part of a snapshot, git-ignored or not: the home (wherever
``--home``/``RUNYARD_HOME`` puts it inside the repository, and any untracked ``.runyard`` folder) and
a SQLite store file with its ``-wal``, ``-shm`` and ``-journal`` companions. An untracked symbolic
link is copied as a link.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runyard import capture
from runyard.errors import UsageError
from runyard.execute import files
from runyard.layout import CODE, HOME_DIR, HomePaths
from runyard.model import Plan


@dataclass(frozen=True)
class Snapshot:
    id: str
    root: Path  # the copy of the repository's top folder
    repo: Path  # the repository it was taken from
    info: dict[str, Any]

    def mirror(self, folder: str) -> str:
        """The snapshot's copy of ``folder`` (a folder inside the repository)."""
        rel = os.path.relpath(os.path.realpath(folder), os.path.realpath(self.repo))
        if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
            raise UsageError(f"--snapshot: {folder} is outside the git repository {self.repo}; a snapshot holds "
                             "only that repository (set the step's workdir inside it)")
        return os.path.normpath(os.path.join(self.root, rel))


def _git(folder: str | Path, *args: str, binary: bool = False) -> Any:
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"--snapshot: git {' '.join(args)} failed in {folder}: {err}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"--snapshot: git {' '.join(args)} failed in {folder}: {message[-1] if message else ''}")
    return done.stdout if binary else done.stdout.decode("utf-8", "replace")


def store_files(store_url: str) -> list[str]:
    """The files of a SQLite store (the database and its journal companions); none for a server."""
    from runyard.store.checks import sqlite_file

    file = sqlite_file(store_url)
    if file is None:
        return []
    path = os.path.abspath(os.path.expanduser(file))
    return [path + suffix for suffix in ("", "-wal", "-shm", "-journal")]


def _inside(repo: Path, paths: list[str]) -> list[str]:
    """``paths`` that lie inside ``repo``, relative to it."""
    top = os.path.realpath(repo)
    found = []
    for path in paths:
        rel = os.path.relpath(os.path.realpath(path), top)
        if rel != "." and rel != ".." and not rel.startswith(".." + os.sep) and not os.path.isabs(rel):
            found.append(rel)
    return found


def _excluded(rel: str, runyard_files: list[str]) -> bool:
    if HOME_DIR in rel.split("/")[:-1]:
        return True  # a .runyard home (another one than this submit's, e.g. before --home moved it)
    return any(rel == own or rel.startswith(own + "/") for own in runyard_files)


def _content_hash(path: Path) -> bytes:
    if path.is_symlink():
        return hashlib.sha256(b"link\0" + os.readlink(path).encode()).digest()
    return hashlib.sha256(path.read_bytes()).digest()


def take(spec_folder: str, home: str, *, store_url: str = "") -> Snapshot:
    """Snapshot the repository holding ``spec_folder`` into ``home`` (reused when unchanged), leaving
    out the home and the files of the store at ``store_url``."""
    state = capture.code_state(spec_folder)
    if state is None:
        raise UsageError(f"--snapshot needs the spec's folder {spec_folder} to be in a git repository "
                         "(git init && git add . && git commit), or submit without --snapshot")
    repo = Path(_git(spec_folder, "rev-parse", "--show-toplevel").strip())
    own = _inside(repo, [home, *store_files(store_url)])
    commit = _git(repo, "stash", "create").strip() or _git(repo, "rev-parse", "HEAD").strip()
    tree = _git(repo, "rev-parse", f"{commit}^{{tree}}").strip()
    untracked = [p for p in _git(repo, "ls-files", "-z", "--others", "--exclude-standard").split("\0")
                 if p and not _excluded(p, own)]
    digest = hashlib.sha256(tree.encode())
    for rel in sorted(untracked):
        digest.update(b"\0" + rel.encode() + b"\0")
        digest.update(_content_hash(repo / rel))
    snap_id = digest.hexdigest()[:16]
    snapshot = HomePaths(home).snapshot(snap_id)
    base = Path(HomePaths(home).snapshots)
    root = Path(snapshot.folder)
    data = state.to_dict()
    diff = data.pop("diff", None)
    if diff:
        data["diff_file"] = files.store_once(home, CODE, diff, ".diff")
    info = {"id": snap_id, "repository": str(repo), "snapshot_commit": commit, "tree": tree,
            "untracked_files": len(untracked), **data}
    if not root.is_dir():
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{snap_id}-", dir=base))
        try:
            archive = _git(repo, "archive", "--format=tar", commit, binary=True)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, filter="data")
                else:  # pragma: no cover - Python without extraction filters
                    tar.extractall(staging)
            for rel in own:  # committed by mistake: still not part of the code
                target = staging / rel
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
            for rel in untracked:
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(repo / rel, target, follow_symlinks=False)
            try:
                os.rename(staging, root)
            except OSError:  # taken meanwhile by another submit: the same content
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    files.write_atomic(snapshot.record, json.dumps(info, indent=1, sort_keys=True))
    return Snapshot(snap_id, root, repo, info)


def apply(plan: Plan, snapshot: Snapshot) -> Plan:
    """The plan with every execution running from the snapshot: its workdir mirrored there and
    ``snapshot`` set to the mirror of the spec's folder (first on ``PYTHONPATH``)."""
    spec_folder = snapshot.mirror(os.path.dirname(plan.spec_path))
    executions = tuple(replace(ex, workdir=snapshot.mirror(ex.workdir), snapshot=spec_folder)
                       for ex in plan.executions)
    return replace(plan, executions=executions)
