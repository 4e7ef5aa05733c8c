"""Live progress of ``runyard run``: counts, ETA, and a final summary naming each failed step's log."""

from __future__ import annotations

import os
import sys
import time

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from runyard.app.session import Outcome
from runyard.app.targets import exec_label, runs_by_key
from runyard.execute.events import Event
from runyard.execute.slots import SlotPool
from runyard.layout import ExecutionPaths
from runyard.model import Plan, Status
from runyard.store.base import SubmitResult

LIVE_LINES = 8  # running executions listed under the live status line


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader went away (``runyard run | head``): print nothing more, but do not exit (rich's
        default) — the worker keeps running and recording the steps."""
        self.quiet = True
        _silence_stdout()


class Display:
    def __init__(self, plan: Plan, *, console: Console | None = None, live: bool = True) -> None:
        self.plan = plan
        self.show_live = live
        self.console = console or _Console(stderr=False, highlight=False, soft_wrap=True)
        self.terminal = self.console.is_terminal  # asked once: rich looks at the environment each time
        self.live: Live | None = None
        self.to_run = 0
        self.cached = 0
        # started executions (a launch failure never started): key → (label, when it started)
        self._running: dict[str, tuple[str, float]] = {}
        self.done = 0
        self.failed = 0
        self.retries = 0
        self.durations: list[float] = []
        self.peak = 1
        self.started = time.monotonic()
        self.silenced = False
        self._runs_of = runs_by_key(plan.runs)

    def label(self, step: str, key: str) -> str:
        """``train lr=0.1,seed=2 (3f2a1b2c4d5e)``: the step and its run, the key as a suffix."""
        return exec_label(step, self._runs_of.get(key, []), key)

    def submitted(self, result: SubmitResult, pool: SlotPool) -> None:
        self.cached = len(result.cached)
        self.to_run = result.queued + len(result.already_queued)
        runs = sum(1 for run in self.plan.runs if run.stage != "aggregate")  # not the run of the aggregates
        total = len(self.plan.executions)
        if self.to_run == 0:
            self._line(f"{escape(self.plan.experiment)}: {runs} runs, {total} step executions: "
                               "everything is cached, nothing to run")
            return
        self._line(f"{escape(self.plan.experiment)}: {runs} runs, {total} step executions: "
                           f"{self.to_run} to run, {self.cached} cached · slots: {escape(pool.describe())}")
        if self.terminal and self.show_live:
            self.live = Live(self._status(), console=self.console, refresh_per_second=4, transient=True)
            self.live.start()

    def event(self, event: Event) -> None:
        record = event.record
        if event.kind == "started":
            if record is not None:
                self._running[record.key] = (self.label(record.step, record.key), time.monotonic())
            self.peak = max(self.peak, self.running)
        elif event.kind == "finished" and record is not None:
            self._running.pop(record.key, None)
            if record.duration is not None:
                self.durations.append(record.duration)
            if event.status == Status.DONE:
                self.done += 1
            elif event.status == Status.READY:
                self.retries += 1
                self._line(f"[yellow]retry[/] {escape(self.label(record.step, record.key))}: {escape(event.message)} "
                           f"(attempt {record.attempts} of {record.retries + 1})")
            elif event.status == Status.FAILED:
                self.failed += 1
                self._line(f"[red]failed[/] {escape(self.label(record.step, record.key))}: {escape(event.message)} "
                           f"· log {escape(ExecutionPaths(record.folder).log)}")
            elif event.status == Status.INTERRUPTED:
                self._line(f"[yellow]interrupted[/] {escape(self.label(record.step, record.key))}")
            if not self.terminal and event.status == Status.DONE:
                self._plain(f"done {self.label(record.step, record.key)} ({record.duration or 0:.2f} s) "
                            f"[{self.done + self.failed}/{self.to_run}]")
        elif event.kind == "lost":
            if record is not None:
                self._running.pop(record.key, None)
            self._line(f"[yellow]{escape(event.message)}[/]")
        elif event.kind in ("recovered", "stopping"):
            self._line(f"[yellow]{escape(event.message)}[/]")
        if self.live is not None:
            self.live.update(self._status())

    @property
    def running(self) -> int:
        return len(self._running)

    def _line(self, markup: str) -> None:
        """Print a line; when the reader is gone (``runyard run | head``), stop printing and keep running."""
        if self.silenced or self.console.quiet:
            return
        try:
            self.console.print(markup)
        except OSError:
            self.silenced = True
            _silence_stdout()

    def _plain(self, text: str) -> None:
        """A line of plain text, written directly: rendering markup for each finished step of a large sweep
        cost more than scheduling it."""
        if self.silenced or self.console.quiet:
            return
        try:
            self.console.file.write(text + "\n")
        except OSError:
            self.silenced = True
            _silence_stdout()

    def _status(self) -> Text:
        finished = self.done + self.failed
        remaining = max(0, self.to_run - finished)
        eta = ""
        if self.durations and remaining:
            mean = sum(self.durations) / len(self.durations)
            eta = f" · ETA {_fmt(mean * remaining / self.peak)}"
        now = time.monotonic()
        elapsed = _fmt(now - self.started)
        text = Text.from_markup(
            f"[green]done {self.done}[/] · running {self.running} · [red]failed {self.failed}[/] · "
            f"cached {self.cached} · {finished}/{self.to_run} · {elapsed}{eta}"
        )
        running = sorted(self._running.values(), key=lambda item: item[1])
        for label, since in running[:LIVE_LINES]:
            text.append(f"\n  running {label} · {_fmt(now - since)}", style="dim")
        if len(running) > LIVE_LINES:
            text.append(f"\n  … and {len(running) - LIVE_LINES} more", style="dim")
        return text

    def close(self, outcome: Outcome) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        counts: dict[Status, int] = {}
        for status in outcome.statuses.values():
            counts[status] = counts.get(status, 0) + 1
        parts = [f"{counts[s]} {s}" for s in Status if counts.get(s)]
        self._line(f"{escape(self.plan.experiment)}: " + ", ".join(parts))
        for record in outcome.failed:
            self._line(f"  [red]failed[/] {escape(self.label(record.step, record.key))} "
                               f"({escape(record.error or '')}) · log {escape(ExecutionPaths(record.folder).log)}")
        waiting = counts.get(Status.WAITING, 0)
        if waiting and outcome.failed:
            self._line(f"  {waiting} step execution{'s' if waiting != 1 else ''} did not run because a step "
                               f"{'they need' if waiting != 1 else 'it needs'} failed")
        if outcome.lost:
            self._line(f"  [red]lost[/] {outcome.lost} step execution{'s' if outcome.lost != 1 else ''}: this "
                       "worker stopped renewing its lease and another worker took them over")
        if outcome.interrupted:
            self._line("interrupted: run the same command again to resume")
        try:
            sys.stdout.flush()
        except OSError:
            _silence_stdout()


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that nothing (not even the flush at exit) writes to a closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
