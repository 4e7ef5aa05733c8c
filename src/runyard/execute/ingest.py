"""Metrics into the store: the worker's side of the metrics channel (DESIGN §6).

For every running step execution the worker keeps a :class:`Tracked`: a :class:`~extract.Tail` on its
metrics file (``$RUNYARD_METRICS``, written by ``runyard.log`` or any program) and one on its log
when the spec has regex metrics for that step. :meth:`Ingest.poll` (every second while steps run,
sooner while a step logs fast) sends what the files gained since the last poll to the store in ONE
``log_metrics`` batch per execution; :meth:`Ingest.finish` does the final read plus the ``file`` and
``parser`` metrics when the step has exited, before the worker records its end.

Nothing is lost when the store is unreachable: offsets move only once the store took the points
(:class:`StoreUnavailable` leaves them where they were, and the next poll reads the same lines
again), and the files stay on disk, so ``runyard reparse`` can always read them again.

Attempts: each attempt has its own log and metrics file (``attempts.py``: the previous attempt's move
to ``attempts/N/`` before it starts); should that move fail, the attempt appends to the old files and
starts reading at the size they had at its launch (``metrics_from`` in ``meta.json``). Its first batch
clears the execution's points (``Store.clear_metrics``): the stored metrics are those of the latest
attempt, never a sum of attempts.

Bad lines of a metrics file are skipped one by one (``metric_lines.py``) and summed up in one warning
per file, returned by :meth:`Ingest.finish` with the other problems.

Ownership: a worker's ingest writes with its worker id as ``owner``, so once its lease of an
execution was taken over, nothing more of that attempt reaches the store (``LeaseLost``): the
execution stops being tracked, and the attempt that replaced it keeps its own points.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from runyard.errors import LeaseLost, StoreUnavailable
from runyard.execute import extract
from runyard.execute.extract import Rule, Tail
from runyard.execute.metric_lines import BadLines
from runyard.model import StepExec
from runyard.spec.types import MetricSpec
from runyard.store.base import MetricRow
from runyard.store.roles import MetricSink

#: Bytes gained in one poll above which the next poll comes sooner (a program logging very fast).
BUSY_BYTES = 256 << 10


@dataclass
class Tracked:
    """The ingest state of one attempt of one step execution."""

    key: str
    folder: str
    metrics: Tail
    log: Tail | None
    rules: tuple[Rule, ...]
    after: tuple[MetricSpec, ...]  # file and parser metrics, read after exit
    spec_folder: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # regex points so far, per metric
    cleared: bool = False
    stored: int = 0  # points stored by this attempt
    bad: BadLines = field(default_factory=BadLines)  # lines of the metrics file skipped
    extracted: extract.Extracted | None = None  # file/parser points, computed once


def for_step(specs: Iterable[MetricSpec], step: str) -> list[MetricSpec]:
    return [m for m in specs if m.step == step]


def track(ex: StepExec, specs: Iterable[MetricSpec], *, log_offset: int = 0, metrics_offset: int = 0,
          spec_folder: str | None = None) -> Tracked:
    """The ingest state of an attempt of ``ex`` whose log and metrics file started at these offsets."""
    from runyard.execute import files

    mine = for_step(specs, ex.step)
    rules = tuple(Rule.of(m) for m in mine if m.regex)
    metrics = files.metrics_path(ex)
    return Tracked(key=ex.key, folder=ex.folder, metrics=Tail(metrics, metrics_offset, skip_long=True),
                   log=Tail(files.log_path(ex), log_offset) if rules else None, rules=rules,
                   after=tuple(m for m in mine if m.file or m.parser), spec_folder=spec_folder,
                   bad=BadLines(metrics))


class Ingest:
    """The metrics of the running executions of one worker, on their way to ``store``."""

    def __init__(self, store: MetricSink, *, chunk: int = extract.CHUNK, owner: str | None = None) -> None:
        self.store = store
        self.chunk = chunk
        self.owner = owner  # the worker whose attempts these are (None: no ownership check, e.g. reparse)
        self.abandon: Callable[[], bool] = lambda: False  # true: stop a running parser (the worker is stopping)
        self.tracked: dict[str, Tracked] = {}

    def start(self, tracked: Tracked) -> None:
        self.tracked[tracked.key] = tracked

    def drop(self, key: str) -> None:
        self.tracked.pop(key, None)

    def poll(self) -> bool:
        """Store what every tracked execution's files gained. Returns True when some file gained a
        lot (poll again soon). A store that cannot be reached is left for the next poll; an execution
        whose lease was taken over is no longer tracked."""
        busy = False
        for tracked in list(self.tracked.values()):
            try:
                busy = self.read(tracked)[0] >= BUSY_BYTES or busy
            except StoreUnavailable:
                return False
            except LeaseLost:
                self.drop(tracked.key)
        return busy

    def finish(self, key: str) -> list[str]:
        """Read everything an exited execution left: the rest of its metrics file and log, then its
        file and parser metrics; store them and stop tracking it. Returns problems worth telling (bad
        lines, missing files). Raises StoreUnavailable with nothing lost: call again later; LeaseLost
        (the execution is then no longer tracked) when this worker no longer holds it."""
        tracked = self.tracked.get(key)
        if tracked is None:
            return []
        try:
            return self._finish(tracked)
        except LeaseLost:
            self.drop(key)
            raise

    def _finish(self, tracked: Tracked) -> list[str]:
        key = tracked.key
        while self.read(tracked, final=True)[1]:
            pass
        if tracked.extracted is None:
            tracked.extracted = extract.after_exit(tracked.after, tracked.folder, tracked.spec_folder,
                                                   abandon=self.abandon)
        if tracked.extracted.points or not tracked.cleared:
            self._store(tracked, extract.as_rows(key, tracked.extracted.points))
            tracked.extracted.points = []
        del self.tracked[key]
        problems = list(tracked.extracted.problems)
        if tracked.bad.count:
            tracked.bad.path = tracked.bad.path or tracked.metrics.path
            problems.insert(0, tracked.bad.message())
        return problems

    def read(self, tracked: Tracked, *, final: bool = False) -> tuple[int, bool]:
        """One batch from the metrics file and the log: ``(bytes consumed, more left to read)``."""
        tail = tracked.metrics
        data, metrics_end, more, skipped = tail.read(final=final, limit=self.chunk)
        rows: list[MetricRow] = []
        bad = BadLines()
        if skipped:
            bad.add(tail.line, f"longer than a read chunk of {self.chunk} bytes ({metrics_end - tail.offset} "
                               "bytes): not read")
        if data:
            rows = extract.metric_rows(tracked.key, data, first_line=tail.line, bad=bad, final=final)
        lines = skipped + data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        log_data, log_end, counts = b"", 0, tracked.counts
        if tracked.log is not None:
            log_data, log_end, more_log, _ = tracked.log.read(final=final, limit=self.chunk)
            more = more or more_log
            if log_data:
                found, counts = extract.regex_points(log_data.decode("utf-8", "replace"), tracked.rules, counts)
                rows += extract.as_rows(tracked.key, found)
        if rows:
            self._store(tracked, rows)
        consumed = metrics_end - tail.offset
        tail.advance(metrics_end, lines)
        tracked.bad.merge(bad)
        if tracked.log is not None:
            tracked.log.advance(log_end)
            tracked.counts = counts
        return consumed + len(log_data), more

    def _store(self, tracked: Tracked, rows: Sequence[MetricRow]) -> None:
        if rows:  # the attempt's first rows replace what an earlier attempt stored, in one transaction
            self.store.log_metric_rows(tracked.key, rows, owner=self.owner, replace=not tracked.cleared)
            tracked.stored += len(rows)
        elif not tracked.cleared:
            self.store.clear_metrics(tracked.key, owner=self.owner)
        tracked.cleared = True


#: How a done step's stored ``error`` starts when it holds metrics warnings (``runyard show``).
WARNING_PREFIX = "metrics warning: "


def metric_warning(problems: Sequence[str]) -> str:
    """The text stored with a done execution whose metrics had problems (bad lines, failed parsers)."""
    return WARNING_PREFIX + " | ".join(problems)


def replay(store: MetricSink, ex: StepExec, specs: Sequence[MetricSpec], *, log_offset: int, metrics_offset: int,
           spec_folder: str | None, chunk: int = extract.CHUNK) -> tuple[int, list[str], list[str]]:
    """Extract every metric of a finished execution again from its files and replace what the store
    holds for it (``runyard reparse``). Returns the points stored, the problems found (a metric that
    could not be read) and the warnings (bad lines skipped in the metrics file)."""
    ingest = Ingest(store, chunk=chunk)
    tracked = track(ex, specs, log_offset=log_offset, metrics_offset=metrics_offset, spec_folder=spec_folder)
    ingest.start(tracked)
    problems = ingest.finish(ex.key)
    warning = tracked.bad.message()
    return tracked.stored, [p for p in problems if p != warning], [warning] if warning else []


class Pacer:
    """When the worker polls: every ``interval`` seconds, every ``busy_interval`` while a step logs fast,
    and ``first`` seconds after a step starts (a step that logs fast from the start is read while it
    runs, not all at its exit)."""

    def __init__(self, interval: float = 1.0, busy_interval: float = 0.05, first: float = 0.1) -> None:
        self.interval = interval
        self.busy_interval = busy_interval
        self.first = first
        self.next = time.monotonic() + interval

    def started(self, now: float) -> None:
        self.next = min(self.next, now + min(self.first, self.interval))

    def due(self, now: float) -> bool:
        return now >= self.next

    def done(self, now: float, *, busy: bool) -> None:
        self.next = now + (self.busy_interval if busy else self.interval)
