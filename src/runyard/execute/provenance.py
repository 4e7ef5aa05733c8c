"""Per-execution provenance for the worker: environment captured once, code state once per folder.

The frozen package list and any uncommitted diff are saved once under the home, by content hash
(``<home>/env/<sha256>.txt``, ``<home>/code/<sha256>.diff``); records point at them.

Listing the installed packages reads every distribution's metadata (the largest part of a one-step
run's start-up), so ``<home>/env/listed.json`` remembers which list an interpreter with a given import
path had: the list is read back from its file while no folder of ``sys.path`` changed since (installing,
upgrading or removing a package changes the folder that holds it).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from runyard import capture
from runyard.execute import files
from runyard.model import StepExec

#: The folder of a home holding code snapshots (``runyard submit --snapshot``).
SNAPSHOTS = "snapshots"


def snapshot_info(spec_folder_in_snapshot: str) -> dict[str, Any] | None:
    """The recorded provenance of the snapshot holding this folder, or None."""
    path = Path(spec_folder_in_snapshot)
    for parent in (path, *path.parents):
        if parent.parent.name == SNAPSHOTS:
            try:
                data: dict[str, Any] = json.loads((parent.parent / f"{parent.name}.json").read_text())
                return data
            except (OSError, ValueError):
                return None
    return None


class Provenance:
    def __init__(self) -> None:
        self._env: dict[str, Any] | None = None
        self._code: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._saved_env: dict[str, str] = {}
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._made: dict[tuple[str, str | None, str], dict[str, Any]] = {}

    def for_execution(self, ex: StepExec) -> dict[str, Any]:
        # <home>/<experiment>/steps/<step>/<key12>: string operations, pathlib costs more per step
        home = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.normpath(ex.folder)))))
        known = self._made.get((home, ex.snapshot, ex.workdir))
        if known is not None:  # what the two calls below return never changes for these three
            return dict(known)
        if ex.snapshot:  # the code as it was submitted, recorded when the snapshot was taken
            code = self._snapshots.get(ex.snapshot)
            if code is None:
                code = self._snapshots[ex.snapshot] = snapshot_info(ex.snapshot) or {"snapshot": ex.snapshot}
            made = {"code": code, **self._environment(home)}
        else:
            made = {"code": self._code_state(ex.workdir, home), **self._environment(home)}
        self._made[(home, ex.snapshot, ex.workdir)] = made
        return dict(made)

    def _environment(self, home: str) -> dict[str, Any]:
        if self._env is None:
            info = capture.environment(lambda: listed_packages(home))
            self._packages = info.packages_text()
            self._env = info.to_dict(packages=False)
        env = dict(self._env)
        if home not in self._saved_env:
            self._saved_env[home] = files.store_once(home, "env", self._packages, ".txt")
        env["packages_file"] = self._saved_env[home]
        return env

    def _code_state(self, folder: str, home: str) -> dict[str, Any] | None:
        cache_key = (folder, home)
        if cache_key not in self._code:
            state = capture.code_state(folder)
            if state is None:
                self._code[cache_key] = None
            else:
                data = state.to_dict()
                diff = data.pop("diff", None)
                if diff:
                    data["diff_file"] = files.store_once(home, "code", diff, ".diff")
                self._code[cache_key] = data
        return self._code[cache_key]


LISTED = "listed.json"  # under <home>/env/: import path state → the file of its package list
LISTED_KEEP = 32  # import path states remembered, at most


def import_path_state() -> str:
    """A digest of the interpreter and every ``sys.path`` folder with its modification time."""
    parts = [sys.executable]
    for entry in sys.path:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def listed_packages(home: str) -> list[str]:
    """:func:`capture.installed_packages`, read back from the home's list when the import path is
    unchanged since it was made; else listed and remembered (best effort: a cache that cannot be
    written or read is only slower)."""
    index_path = os.path.join(home, "env", LISTED)
    state = import_path_state()
    try:
        with open(index_path, encoding="utf-8") as handle:
            index = json.load(handle)
        known = index.get(state) if isinstance(index, dict) else None
        if isinstance(known, str):
            with open(os.path.join(home, "env", known), encoding="utf-8") as handle:
                return handle.read().splitlines()
    except (OSError, ValueError):
        index = {}
    packages = capture.installed_packages()
    try:
        text = "".join(p + "\n" for p in packages)
        saved = files.store_once(home, "env", text, ".txt")
        kept = {k: v for k, v in index.items() if k != state} if isinstance(index, dict) else {}
        kept = dict(list(kept.items())[-(LISTED_KEEP - 1):])
        files.write_json(index_path, {**kept, state: os.path.basename(saved)}, levels=1)
    except Exception:  # the cache is a shortcut, never a reason to fail a step
        pass
    return packages
