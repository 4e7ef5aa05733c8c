"""Each attempt of a step execution (a retry, a takeover after a lost lease, a forced re-run) keeps
its own log and metrics file (DESIGN §6).

The files at the top of the execution folder (``log``, ``metrics.jsonl``, ``meta.json``) are always
the latest attempt's. Before an attempt starts, the previous one's move to ``attempts/N/`` (N = 1, 2,
… in the order they ran in this folder), by rename: a process of the previous attempt that is still
writing (a worker cut off from the store) keeps writing into ``attempts/N/``, never into the new
attempt's files, so the metrics of two attempts never mix. ``meta.json`` lists the attempts,
``runyard logs --attempt N`` prints an earlier one's log.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from runyard.layout import ExecutionPaths, relative_log


def archived(folder: str) -> list[int]:
    """The numbers of the earlier attempts kept under ``attempts/``, in order."""
    try:
        names = os.listdir(ExecutionPaths(folder).attempts)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and not n.startswith("0"))


def archive_previous(folder: str) -> int | None:
    """Move the files of the attempt that last ran in ``folder`` to ``attempts/N/``; returns N (None
    when there was none). Best effort: if a move fails the new attempt appends to the old files, and
    the ingest reads only what it appended (``metrics_from`` in ``meta.json``)."""
    paths = ExecutionPaths(folder)
    present = [os.path.exists(path) for path in paths.own_files]
    if not any(present):
        return None
    number = (archived(folder) or [0])[-1] + 1
    target = paths.attempt(number)
    try:
        os.makedirs(target.folder)
        for now, then, there in zip(paths.own_files, target.own_files, present, strict=True):
            if there:
                os.replace(now, then)
    except OSError:
        return None
    return number


def listing(folder: str) -> list[dict[str, Any]]:
    """``meta.json``'s ``attempts``: each earlier attempt (its folder, status, worker, times) and the
    current one (the files at the top of the folder)."""
    found: list[dict[str, Any]] = []
    paths = ExecutionPaths(folder)
    for number in archived(folder):
        entry: dict[str, Any] = {"attempt": number, "log": relative_log(number)}
        with contextlib.suppress(OSError, ValueError, AttributeError), \
                open(paths.attempt(number).meta, encoding="utf-8") as handle:
            meta = json.load(handle)
            entry.update({k: meta.get(k) for k in ("status", "worker", "host", "started", "ended")})
        found.append(entry)
    found.append({"attempt": len(found) + 1, "log": relative_log(None)})
    return found


def log_of(folder: str, attempt: int | None) -> tuple[str, int]:
    """The log of ``attempt`` (1 = the first that ran in this folder; None = the latest) and the
    number of attempts. Raises ValueError when there is no such attempt."""
    earlier = archived(folder)
    count = len(earlier) + 1
    if attempt is None or attempt == count:
        return ExecutionPaths(folder).log, count
    if attempt in earlier:
        return ExecutionPaths(folder).attempt(attempt).log, count
    raise ValueError(f"attempt {attempt} does not exist (attempts: {', '.join(map(str, [*earlier, count]))})")
