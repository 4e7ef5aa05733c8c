"""Per-execution provenance for the worker: environment captured once, code state once per folder.

The frozen package list and any uncommitted diff are saved once under the home, by content hash
(``<home>/env/<sha256>.txt``, ``<home>/code/<sha256>.diff``); records point at them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runyard import capture
from runyard.execute import files
from runyard.layout import CODE, ENV, ExecutionPaths, snapshot_holding
from runyard.model import StepExec


def snapshot_info(spec_folder_in_snapshot: str) -> dict[str, Any] | None:
    """The recorded provenance of the snapshot holding this folder, or None."""
    snapshot = snapshot_holding(spec_folder_in_snapshot)
    if snapshot is None:
        return None
    try:
        data: dict[str, Any] = json.loads(Path(snapshot.record).read_text())
    except (OSError, ValueError):
        return None
    return data


class Provenance:
    def __init__(self) -> None:
        self._env: dict[str, Any] | None = None
        self._code: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._saved_env: dict[str, str] = {}
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._made: dict[tuple[str, str | None, str], dict[str, Any]] = {}

    def for_execution(self, ex: StepExec) -> dict[str, Any]:
        home = ExecutionPaths(ex.folder).home
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
            info = capture.environment()
            self._packages = info.packages_text()
            self._env = info.to_dict(packages=False)
        env = dict(self._env)
        if home not in self._saved_env:
            self._saved_env[home] = files.store_once(home, ENV, self._packages, ".txt")
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
                    data["diff_file"] = files.store_once(home, CODE, diff, ".diff")
                self._code[cache_key] = data
        return self._code[cache_key]
