"""The steps a worker runs, through their launchers: started, waited on in the worker's selector, polled,
terminated (DESIGN §5).  The worker decides when; this knows only the launcher protocol
(:mod:`runyard.execute.launchers`)."""

from __future__ import annotations

import selectors
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from runyard.execute.control import CANCELLED, LOST
from runyard.execute.launchers import Clock, Exit, Handle, Launcher, LaunchRequest, open_launcher
from runyard.execute.launchers.base import heartbeats
from runyard.execute.recording import Recorder
from runyard.execute.slots import Slot
from runyard.model import Status
from runyard.store.base import ExecRecord


@dataclass
class Step:
    record: ExecRecord
    slot: Slot
    handle: Handle
    reason: str = ""  # why the worker stopped it: "interrupted", CANCELLED, LOST (empty: it did not)


class Running(dict[str, Step]):
    """The running steps by key, each one's handle waited on in ``selector`` (its data: the key)."""

    def __init__(self, selector: selectors.BaseSelector, route: Callable[[str], str], *, clock: Clock,
                 grace: float, poll_interval: float) -> None:
        super().__init__()
        self._selector = selector
        self._route = route  # a step's kind → the name of the launcher that runs it
        self._launchers: dict[str, Launcher] = {}  # opened on first use
        self._clock = clock
        self.grace = grace
        self._poll_interval = poll_interval

    def launcher(self, kind: str) -> Launcher:
        name = self._route(kind)
        if name not in self._launchers:
            self._launchers[name] = open_launcher(name, self._clock)
        return self._launchers[name]

    def start(self, record: ExecRecord, slot: Slot, request: LaunchRequest) -> Step:
        """Start ``request`` with the launcher of the step's kind; a blocking launcher's step is not watched."""
        launcher = self.launcher(record.kind)
        step = Step(record, slot, launcher.start(request))
        if not launcher.capabilities.blocking:
            self[record.key] = step
            fd = step.handle.fileno()
            if fd is not None:
                self._selector.register(fd, selectors.EVENT_READ, record.key)
        return step

    def run_blocking(self, step: Step, beat: Callable[[], object], every: float) -> Exit:
        """Run a blocking launcher's step in this thread, ``beat`` called every ``every`` seconds meanwhile."""
        try:
            with heartbeats(beat, every=every):
                ended = step.handle.poll()
        finally:
            step.handle.close()
        assert ended is not None, "a blocking launcher's poll returns when the step is over"
        return ended

    def collect(self) -> Iterator[tuple[Step, Exit]]:
        """The steps that ended, each polled once (which also enforces timeouts and grace periods)."""
        for key, step in list(self.items()):
            ended = step.handle.poll()
            if ended is None:
                continue
            fd = step.handle.fileno()
            if fd is not None:
                self._selector.unregister(fd)
            step.handle.close()
            del self[key]
            yield step, ended

    def moments(self, tick: float) -> list[float]:
        """Seconds until a step must be polled though nothing woke the worker."""
        out = []
        for step in self.values():
            due = step.handle.due
            if due is not None:
                out.append(due - tick)
            if step.handle.fileno() is None:  # nothing to wait on: polled
                out.append(self._poll_interval)
        return out

    def terminate(self, step: Step) -> None:
        """SIGTERM to the step's tree now, SIGKILL after the grace period."""
        step.handle.terminate(self.grace)

    def terminate_all(self, reason: str) -> None:
        """Terminate every step not being terminated already (a step past its timeout keeps that reason)."""
        for step in self.values():
            if not step.handle.terminating:
                step.reason = step.reason or reason
                self.terminate(step)

    def kill_all(self) -> None:
        for step in self.values():
            step.handle.terminate(0)

    def stop(self, reasons: Mapping[str, str], keys: Collection[str] = (), *, otherwise: str = LOST) -> None:
        """Terminate the steps named in ``reasons`` (cancelled, taken over), and those in ``keys`` with their
        reason there or ``otherwise``; a step already stopped for either keeps its reason."""
        for key in {*reasons, *keys}:
            step = self.get(key)
            if step is not None and step.reason not in (CANCELLED, LOST):
                step.reason = reasons.get(key, otherwise)
                self.terminate(step)

    def close(self) -> None:
        """Close every launcher (the local one's guardian kills what still runs)."""
        for launcher in self._launchers.values():
            launcher.close()


def record_end(recorder: Recorder, step: Step, ended: Exit) -> None:
    """Record how a step ended: what the worker stopped it for first, then what its launcher said."""
    if step.reason == CANCELLED:
        recorder.cancelled(step.record, ended.code)
    elif step.reason == LOST:
        recorder.lost(step.record)
    elif ended.lost is not None:  # the launcher lost the step: no exit status to go by
        recorder.finished(step.record, Status.FAILED, None, f"lost: {ended.lost}")
    else:
        recorder.exited(step.record, ended.code, step.reason or ended.reason)
