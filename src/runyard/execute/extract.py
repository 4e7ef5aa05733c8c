"""Metric extraction: from the in-run API's file, the step's log (spec regexes), JSON and CSV files a
step writes, and user parser functions. Pure functions of bytes and files, plus :class:`Tail`, the
incremental reader that the worker's ingest (``ingest.py``) and ``runyard reparse`` share.

Every function returns points in the order they were reported, and problems as text (a point that
cannot be read is skipped and counted, never an exception).
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHUNK", "NAN", "BadLines", "Batch", "MetricSourceError", "Tail", "jsonl_points", "jsonl_rows",
           "metric_rows"]

from runyard.errors import MetricSourceError
from runyard.execute.metric_lines import CHUNK, NAN, BadLines, Batch, Tail, jsonl_points, jsonl_rows, metric_rows
from runyard.execute.parser_call import number_of, series_of, short
from runyard.layout import ExecutionPaths
from runyard.model import Metric
from runyard.spec.metrics import file_kind, regex_groups
from runyard.spec.types import MetricSpec
from runyard.store.base import MetricRow

OWN_NOTE = "runyard: metrics: "  # how the worker notes extraction problems in a step's log (never a point)


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def as_rows(key: str, points: Iterable[Metric]) -> list[MetricRow]:
    return [(key, p.name, p.step, None if p.value != p.value else p.value, p.time) for p in points]


# --- regexes on the log ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A metric regex, compiled: which group holds the value and which the step."""

    name: str
    pattern: re.Pattern[str]
    value: int | str
    step: str | None

    @classmethod
    def of(cls, spec: MetricSpec) -> Rule:
        assert spec.regex is not None
        pattern = re.compile(spec.regex)
        groups = regex_groups(pattern)
        value, step = groups if isinstance(groups, tuple) else (0, None)
        return cls(spec.name, pattern, value, step)


def regex_points(text: str, rules: Sequence[Rule], counts: Mapping[str, int]) -> tuple[list[Metric], dict[str, int]]:
    """Every match of every rule in every line of ``text`` (but runyard's own notes), in order: one
    point each. A point's step is the regex's ``(?P<step>…)`` group, else its position in the series
    (``counts`` holds how many points each metric had before this text; the updated counts are
    returned)."""
    counts = dict(counts)
    points: list[Metric] = []
    if not rules:
        return points, counts
    for line in text.splitlines():
        if line.startswith(OWN_NOTE):
            continue
        for rule in rules:
            for match in rule.pattern.finditer(line):
                try:
                    value = float(match.group(rule.value))
                except (TypeError, ValueError):
                    continue
                index = counts.get(rule.name, 0)
                counts[rule.name] = index + 1
                step: int | None = index
                if rule.step is not None:
                    try:
                        step = int(match.group(rule.step))
                    except (TypeError, ValueError):
                        step = index
                points.append(Metric(rule.name, value, step))
    return points, counts


# --- files a step writes and parser functions -------------------------------------------------------
@dataclass
class Extracted:
    points: list[Metric] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def after_exit(specs: Iterable[MetricSpec], folder: str, spec_folder: str | None, *,
               abandon: Callable[[], bool] = lambda: False) -> Extracted:
    """The points of the ``file`` and ``parser`` metrics of one step execution (``folder``: its
    execution folder), read once it has exited. Parsers run in a process of their own with their
    metric's timeout (``parser_call``); ``abandon()`` true stops a running one."""
    from runyard.execute.parser_call import run_parser

    found = Extracted()
    for spec in specs:
        try:
            if spec.file is not None:
                found.points += file_points(spec, folder)
            elif spec.parser is not None:
                found.points += run_parser(spec.parser, folder, spec_folder, timeout=spec.timeout, abandon=abandon)
        except MetricSourceError as err:
            found.problems.append(f"metric {spec.name!r}: {err}")
    return found


def file_points(spec: MetricSpec, folder: str) -> list[Metric]:
    assert spec.file is not None
    out = ExecutionPaths(folder).out
    path = newest_match(out, spec.file)
    if path is None:
        raise MetricSourceError(f"no file matches out/{spec.file} (in {out})")
    kind = file_kind(spec.file)
    try:
        if kind == "csv":
            return csv_points(path, spec.column or spec.name, spec.name)
        if kind == "jsonl":
            with open(path, encoding="utf-8") as handle:
                records = [json.loads(line) for line in handle if line.strip()]
            return record_points(records, spec.key or spec.name, spec.name)
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError) as err:
        raise MetricSourceError(f"cannot read {path}: {err}") from None
    except ValueError as err:
        raise MetricSourceError(f"{path} is not valid JSON: {err}") from None
    except RecursionError:
        raise MetricSourceError(f"{path}: JSON nested too deeply to read") from None
    return json_points(data, spec.key or spec.name, spec.name, path)


def newest_match(folder: str, pattern: str) -> str | None:
    """The file ``pattern`` names under ``folder`` (a glob: the most recently modified match)."""
    if not glob.has_magic(pattern):
        path = os.path.join(folder, pattern)
        return path if os.path.isfile(path) else None
    matches = [m for m in glob.glob(os.path.join(glob.escape(folder), pattern), recursive=True) if os.path.isfile(m)]
    if not matches:
        return None
    return max(matches, key=lambda m: (os.stat(m).st_mtime, m))


def lookup(data: Any, key: str) -> Any:
    """Follow a dotted key path (``test.bleu``, ``scores.0``) into JSON data; a key that itself holds
    dots is found too. Raises KeyError with the part that is missing."""
    parts = key.split(".")
    while parts:
        if isinstance(data, Mapping):
            for size in range(len(parts), 0, -1):  # the longest key that exists: {"test.bleu": 1}
                joined = ".".join(parts[:size])
                if joined in data:
                    data, parts = data[joined], parts[size:]
                    break
            else:
                raise KeyError(parts[0])
        elif isinstance(data, list) and parts[0].lstrip("-").isdigit() and -len(data) <= int(parts[0]) < len(data):
            data, parts = data[int(parts[0])], parts[1:]
        else:
            raise KeyError(parts[0])
    return data


def json_points(data: Any, key: str, name: str, path: str) -> list[Metric]:
    """A JSON document: the number at ``key`` (one point), a list of numbers there (a series, step =
    index), or, when the document is a list of records, the value at ``key`` in each record."""
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        return record_points(data, key, name)
    try:
        value = lookup(data, key)
    except KeyError as err:
        raise MetricSourceError(f"{path} has no key {key!r} (missing: {err.args[0]!r})") from None
    points = series(name, value)
    if points is None:
        raise MetricSourceError(f"{path}: {key} is {short(value)}, not a number or a list of numbers")
    return points


def record_points(records: Sequence[Any], key: str, name: str) -> list[Metric]:
    """One point per record (a JSON object) that has a number at ``key``; the step is the record's
    ``step`` (else ``epoch``, else its position)."""
    points: list[Metric] = []
    for index, record in enumerate(records):
        try:
            value = lookup(record, key)
        except KeyError:
            continue
        number = number_of(value)
        if number is None:
            continue
        step = record.get("step", record.get("epoch")) if isinstance(record, Mapping) else None
        points.append(Metric(name, number, _step(step, index), _seconds_of(record)))
    return points


def _seconds_of(record: Any) -> float | None:
    when = record.get("time") if isinstance(record, Mapping) else None
    return float(when) if isinstance(when, (int, float)) and not isinstance(when, bool) else None


def csv_points(path: str, column: str, name: str) -> list[Metric]:
    """Every row of a CSV (``.tsv``: tab-separated) file with a number in ``column``, in order; the
    step is the row's ``step`` column (else ``epoch``, else the row's position). Empty cells (the
    other metrics' rows of a Lightning ``metrics.csv``) are skipped."""
    import csv

    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    points: list[Metric] = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            fields = reader.fieldnames or []
            if column not in fields:
                raise MetricSourceError(f"{path} has no column {column!r} (columns: {', '.join(fields) or 'none'})")
            step_column = "step" if "step" in fields else "epoch" if "epoch" in fields else None
            for index, row in enumerate(reader):
                number = number_of(row.get(column))
                if number is None:
                    continue
                points.append(Metric(name, number, _step(row.get(step_column) if step_column else None, index)))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise MetricSourceError(f"cannot read {path}: {err}") from None
    return points


def series(name: str, value: Any) -> list[Metric] | None:
    """A number → one point; a list of numbers → one point per element (step = index); else None."""
    found = series_of(name, value)
    return None if found is None else [Metric(n, v, step) for n, v, step in found]


def _step(value: Any, default: int) -> int:
    number = number_of(value)
    return int(number) if number is not None and math.isfinite(number) else default
