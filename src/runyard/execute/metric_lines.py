"""The lines of a metrics file (``$RUNYARD_METRICS``, format in ``runyard.track``): read incrementally
(:class:`Tail`) and turned into store rows, each line validated on its own.

One bad line costs that line only: a line that is not UTF-8, not JSON, not a JSON object, nested
deeper than :data:`MAX_DEPTH`, longer than a read chunk, or whose ``step`` / ``time`` / a value the
store cannot hold, is skipped and counted in :class:`BadLines` (the count and the first one's line
number and reason); every other line's points are kept.

Values: a finite number is kept as it is, ``NaN`` (``null``, ``NaN``) is kept as a NaN point (stored
as SQL NULL, read back as NaN) and ``±inf`` (``Infinity``, ``1e999``) as an infinite point: both
databases hold them. An integer outside -2**63 … 2**63-1 skips its line (the database drivers reject
it; write such a value as a float). ``step`` must be a whole number from -2**63 to 2**63-1 (the store's
BIGINT; a float such as ``3.0`` counts); another number there (``1e30``, ``NaN``) skips the line, text
or ``true`` there is ignored (a point without step). ``time`` must be a finite number of seconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from runyard.model import Metric
from runyard.store.base import MetricRow

CHUNK = 8 << 20  # bytes read per batch: bounds the memory of one ingest, and the length of a metrics line
MAX_DEPTH = 32  # a metrics line is a flat object: nesting below this is ignored, deeper skips the line
STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1
NAN = math.nan


@dataclass
class BadLines:
    """The lines of one metrics file that were skipped: how many, and the first one's line and reason."""

    path: str = ""
    count: int = 0
    first_line: int = 0
    first_reason: str = ""

    def add(self, line: int, reason: str, count: int = 1) -> None:
        if count and (not self.count or line < self.first_line):
            self.first_line, self.first_reason = line, reason
        self.count += count

    def merge(self, other: BadLines) -> None:
        self.add(other.first_line, other.first_reason, other.count)

    def message(self) -> str:
        """One warning for the whole file: count, first ``file:line`` and its reason."""
        if not self.count:
            return ""
        return (f"{self.count} bad line(s) in the metrics file skipped, the other lines kept; first: "
                f"{self.path}:{self.first_line}: {self.first_reason}")


class Batch(NamedTuple):
    """What :meth:`Tail.read` found: whole lines, the offset they end at, whether more is waiting, and
    how many over-long lines (longer than a chunk) were passed over before ``data`` (``skip_long``)."""

    data: bytes
    end: int
    more: bool
    skipped: int = 0


@dataclass
class Tail:
    """What was appended to ``path`` since ``offset``, whole lines at a time.

    :meth:`read` returns the new complete lines (with ``final``: everything, a last line without its
    newline too) and the offset they end at, WITHOUT moving: call :meth:`advance` once what was read
    is safely stored, so a failed store write reads the same lines again next time. ``line`` is the
    number of the line at ``offset`` (1-based), moved by :meth:`advance` as well.

    A line longer than a chunk comes in pieces, unless ``skip_long``: then it is passed over (read,
    not kept) and counted in :attr:`Batch.skipped`.
    """

    path: str
    offset: int = 0
    skip_long: bool = False
    line: int = 0

    def __post_init__(self) -> None:
        if not self.line:
            self.line = 1 + count_newlines(self.path, self.offset)

    def read(self, *, final: bool = False, limit: int = CHUNK) -> Batch:
        """``more``: the file holds more than ``limit`` bytes past the end (read again for the rest)."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read(limit)
                more = len(data) == limit
                if more and self.skip_long and b"\n" not in data:
                    return self._pass_long_line(handle, final)
        except FileNotFoundError:
            return Batch(b"", self.offset, False)
        if more or not final:
            cut = data.rfind(b"\n") + 1
            if cut == 0 and more:
                cut = len(data)  # one line longer than a chunk: take it in pieces
            data = data[:cut]
        return Batch(data, self.offset + len(data), more)

    def _pass_long_line(self, handle: Any, final: bool) -> Batch:
        """The line at the offset is longer than a chunk: find its end without keeping it."""
        while True:
            block = handle.read(CHUNK)
            if not block:  # no newline yet: wait for it, unless the writer is gone
                end = handle.tell()
                return Batch(b"", end, False, 1) if final else Batch(b"", self.offset, False)
            cut = block.find(b"\n")
            if cut >= 0:
                return Batch(b"", handle.tell() - len(block) + cut + 1, True, 1)

    def advance(self, offset: int, lines: int = 0) -> None:
        """Move to ``offset``, ``lines`` lines further."""
        self.offset = offset
        self.line += lines


def count_newlines(path: str, end: int) -> int:
    """Newlines in the first ``end`` bytes of ``path`` (0 when it cannot be read)."""
    count = 0
    try:
        with open(path, "rb") as handle:
            while end > 0:
                block = handle.read(min(end, CHUNK))
                if not block:
                    break
                count += block.count(b"\n")
                end -= len(block)
    except OSError:
        return 0
    return count


# --- lines into rows --------------------------------------------------------------------------------
def metric_rows(key: str, data: bytes, *, first_line: int = 1, bad: BadLines | None = None,
                final: bool = False) -> list[MetricRow]:
    """Store rows (``Store.log_metric_rows``) of whole metrics-file lines; ``first_line`` is the
    number of the first of them. Bad lines go to ``bad``. The hot path of ingestion: one JSON parse
    for the whole batch and no object per point while every line is good."""
    bad = bad if bad is not None else BadLines()
    text = data.rstrip()
    if not text:
        return []
    lead = len(text) - len(text.lstrip())
    line = first_line + text.count(b"\n", 0, lead)
    text = text[lead:]
    try:  # one parse of the whole batch is three times faster than a parse per line
        objects: list[Any] = json.loads(b"[" + text.replace(b"\n", b",") + b"]")
        numbered: Any = None
        if len(objects) != text.count(b"\n") + 1:  # a line such as `{...}, {...}` is not one JSON value
            raise ValueError("not one value per line")
    except (ValueError, RecursionError):  # a bad or blank line somewhere: line by line
        objects, numbered = [], []
        last = text.count(b"\n")
        for index, raw in enumerate(text.split(b"\n")):
            if not raw.strip():
                continue
            cut = final and index == last and not data.endswith(b"\n")
            obj = _parse(raw, line + index, bad, cut)
            if obj is not None:
                objects.append(obj)
                numbered.append(line + index)
    rows: list[MetricRow] = []
    add = rows.append
    for index, obj in enumerate(objects):
        if obj.__class__ is not dict:
            bad.add(line + index if numbered is None else numbered[index],
                    f"not a JSON object ({type(obj).__name__}): a line is one object such as "
                    '{"step": 3, "loss": 0.1}')
            continue
        step = obj.pop("step", None)
        when = obj.pop("time", None)
        problem = ""
        if step is not None:
            if step.__class__ is not int:
                step, problem = _step(step)
            elif not STEP_MIN <= step <= STEP_MAX:
                problem = f"step {_digits(step)} is out of range (a whole number from -2**63 to 2**63-1)"
        if when is not None and (when.__class__ is not float or when - when != 0.0):
            when, problem = _time(when, problem)
        start = len(rows)
        if not problem:
            for name, value in obj.items():
                if name not in _TEXT_NAMES and not _text_name(name):
                    problem = f"the metric name {name[:40]!r} is not valid text (a lone surrogate escape)"
                    break
                cls = value.__class__
                if cls is float:
                    add((key, name, step, value if value == value else None, when))
                elif cls is int:
                    if not STEP_MIN <= value <= STEP_MAX:
                        problem = (f"{name}: the integer {_digits(value)} is out of range (-2**63 to 2**63-1); "
                                   "write a float (1.8e19) for a value this large")
                        break
                    add((key, name, step, value, when))
                elif value is None:
                    add((key, name, step, None, when))
                elif (cls is list or cls is dict) and depth(value) > MAX_DEPTH:
                    problem = f"{name}: JSON nested deeper than {MAX_DEPTH} levels; a line is one flat object"
                    break
        if problem:
            del rows[start:]
            bad.add(line + index if numbered is None else numbered[index], problem)
    return rows


_TEXT_NAMES: set[str] = set()  # names known to encode as UTF-8 (the database drivers need it)


def _text_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    if len(_TEXT_NAMES) < 100_000:
        _TEXT_NAMES.add(name)
    return True


def _digits(number: int) -> str:
    text = str(number) if abs(number) < 10**30 else f"{'-' if number < 0 else ''}{len(str(abs(number)))}-digit number"
    return text


def _parse(raw: bytes, number: int, bad: BadLines, cut: bool) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError as err:
        bad.add(number, f"not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start + 1})")
    except RecursionError:
        bad.add(number, "JSON nested too deeply to read; a line is one flat object")
    except ValueError as err:
        where = f"{err.msg} at column {err.colno}" if isinstance(err, json.JSONDecodeError) else str(err)
        if cut:
            bad.add(number, f"the last line has no newline and is not valid JSON ({where}): cut off mid-write?")
        else:
            bad.add(number, f"not JSON ({where})")
    return None


def _step(value: Any) -> tuple[int | None, str]:
    """A step that is not an int: a whole float in range counts; another number is a problem; text,
    ``true`` and objects mean no step."""
    if value.__class__ is not float:
        return None, ""
    if math.isfinite(value) and STEP_MIN <= value <= STEP_MAX:
        return (int(value), "") if value.is_integer() else (None, "")
    return None, f"step {value!r} is not a whole number from -2**63 to 2**63-1"


def _time(value: Any, problem: str) -> tuple[float | None, str]:
    """A time that is not a finite float: an int counts; a non-finite number is a problem; text means none."""
    if value.__class__ is int:
        try:
            return float(value), problem
        except OverflowError:
            return None, problem or f"time {value} is out of range (epoch seconds)"
    if value.__class__ is float:
        return None, problem or f"time {value!r} is not a finite number of seconds"
    return None, problem


def depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (iterative: no recursion limit; counting stops
    past :data:`MAX_DEPTH`)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if item.__class__ is list or item.__class__ is dict:
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((child, level + 1) for child in (item.values() if item.__class__ is dict else item))
    return deepest


def jsonl_rows(key: str, data: bytes) -> tuple[list[MetricRow], int]:
    """:func:`metric_rows` of ``data`` and the number of bad lines in it."""
    bad = BadLines()
    return metric_rows(key, data, bad=bad), bad.count


def jsonl_points(data: bytes) -> tuple[list[Metric], int]:
    """:func:`jsonl_rows` as Metric points."""
    rows, bad = jsonl_rows("", data)
    return [Metric(name, NAN if value is None else value, step, when) for _, name, step, value, when in rows], bad
