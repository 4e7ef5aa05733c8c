"""The worker: claim ready step executions that fit free slots, launch, heartbeat, record (DESIGN §5).

Event-driven: the loop sleeps in ``selectors`` on every child's pidfd plus a wake-up pipe, so a freed
slot starts its next step as soon as the previous one exits. One worker process, any number of
children, one store; other workers may share the store.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from runyard.errors import DiskFull, LaunchError, StoreUnavailable
from runyard.execute import attempts, files
from runyard.execute.control import CANCELLED, LISTENED_POLL, LOST, Control
from runyard.execute.events import Event, EventSink, WorkerResult, stop_message
from runyard.execute.experiments import ExperimentInfo
from runyard.execute.extract import file_size
from runyard.execute.gpu_memory import SAMPLE_EVERY
from runyard.execute.ingest import Ingest, Pacer, track
from runyard.execute.launchers import Clock, LaunchRequest, routes
from runyard.execute.provenance import Provenance
from runyard.execute.recording import Recorder
from runyard.execute.recovery import recover
from runyard.execute.retrying import DEFAULT_WINDOW, StoreRetry, Window, guarded
from runyard.execute.running import Running, record_end
from runyard.execute.slots import Slot, SlotPool
from runyard.execute.tuning import PRUNED as PRUNED
from runyard.execute.tuning import Tuning, after_tuning
from runyard.model import Status, WorkerInfo
from runyard.store.base import ExecRecord, Store

#: How long one store call of a worker waits for a SQLite lock held by another process before the retry
#: policy takes over: a worker answers signals at least this often while another process holds the store.
LOCK_SLICE = 1.0
@dataclass(frozen=True)
class Hooks:
    """What the layers above plug into a worker (``app.workers.worker_hooks`` builds the usual ones).

    ``launch_env(store, record)``: extra environment for a step, computed right before it starts (an
    aggregate's run table); raising :class:`LaunchError` fails the step loudly. ``after_record(store,
    emit)``: returns the callable run after each recorded execution (the ``select:`` stage).
    """
    launch_env: Callable[[Store, ExecRecord], dict[str, str]] | None = None
    after_record: Callable[[Store, EventSink], Callable[[ExecRecord], int]] | None = None
    tuning: Callable[[Store, str, EventSink], Tuning] | None = None  # (store, worker id, emit) → the tuner


class Worker:
    def __init__(self, store: Store, pool: SlotPool, *, experiment: str | Sequence[str] | None = None,
                 lease_seconds: float = 30.0,
                 poll_interval: float = 0.5, grace: float = 10.0, on_event: EventSink | None = None,
                 max_executions: int | None = None, metrics_interval: float = 1.0, inline: bool = False,
                 warm: bool = False, hooks: Hooks | None = None, store_timeout: float = DEFAULT_WINDOW,
                 launcher: str = "local", clock: Clock = time.monotonic) -> None:
        # every store call of the worker goes through one retry policy (execute/retrying.py)
        self._retry = StoreRetry(store_timeout)
        self.store = store = guarded(store, self._retry)
        self.pool = pool
        self.experiment = experiment  # one name, several, or None: every experiment
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.grace = grace
        self.on_event = on_event or (lambda event: None)
        self.max_executions = max_executions
        self.inline = inline  # call steps run in this process (runyard run --inline): the "inline" launcher
        # call steps run in persistent processes, one per slot (runyard run --warm): the "warm" launcher
        self._clock = clock  # heartbeats, timeouts and grace periods (tests drive it)
        self._hooks = hooks or Hooks()
        self.host = socket.gethostname()
        self.id = f"{self.host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.result = WorkerResult()
        self._stop_requests = 0
        self._display_failed = False
        self._launched = 0
        self._provenance = Provenance()
        self._experiments = ExperimentInfo(store)
        self._ingest = Ingest(store, owner=self.id)
        self._ingest.abandon = lambda: self._stop_requests > 1  # terminating: a running parser is stopped too
        self._pacer = Pacer(metrics_interval)
        self._tuning = self._hooks.tuning(store, self.id, self._emit) if self._hooks.tuning is not None else None
        after = self._hooks.after_record(store, self._emit) if self._hooks.after_record is not None else None
        self._record = Recorder(store, self.id, self.host, ingest=self._ingest, provenance=self._provenance,
                                result=self.result, emit=self._emit,
                                after=after_tuning(after, self._tuning, self._safe))
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._running = Running(self._selector, routes(launcher, inline=inline, warm=warm), clock=clock, grace=grace,
                                poll_interval=poll_interval)
        self._control: Control | None = None
        self._listen_fd = -1
        self._window = Window(self._retry)  # gave_up: the store stayed away past store_timeout

    # --- control (safe to call from a signal handler) -----------------------------------------------
    def request_stop(self) -> None:
        """First call: launch nothing more, let running steps finish. Second: terminate them."""
        self._stop_requests += 1
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    @property
    def stopping(self) -> bool:
        return self._stop_requests > 0

    @property
    def disk_full(self) -> DiskFull | None:
        """Set when a write under home failed for lack of space: the worker launched nothing more."""
        return self._record.disk_full

    # --- main loop ----------------------------------------------------------------------------------
    def run(self, *, burst: bool = False) -> WorkerResult:
        """Work until stopped; with ``burst``, until nothing claimable is left in scope."""
        started = time.time()
        self.store.wait_for_locks(LOCK_SLICE)
        try:
            self._register(WorkerInfo(id=self.id, host=self.host, pid=os.getpid(), slots=self.pool.describe(),
                                      started=started))
        except BaseException:
            self.store.wait_for_locks(None)
            raise
        next_beat = self._clock() + self.lease_seconds / 3
        terminated = killed = False
        announced = 0
        # a draining worker may wait for other workers' last steps, whose end sends no wake-up: it polls
        self._control = Control(self.store, self.id, poll=self.poll_interval,
                                listened_poll=self.poll_interval if burst else LISTENED_POLL)
        self._watch_listener()
        try:
            self.recover()
            while True:
                if self._stop_requests > announced:
                    announced = self._stop_requests
                    self._announce_stop(announced)
                claimed = 0
                gave_up = self._window.check(running=len(self._running), back=self._store_back)
                if gave_up:
                    self._emit(Event("stopping", message=gave_up))
                if not self.stopping and not self._window.gave_up and not self._limit_reached():
                    self._feed()
                    claimed = self._fill()
                if self._stop_requests > 1 and not terminated:
                    self._running.terminate_all("interrupted")
                    terminated = True
                if self._stop_requests > 2 and not killed:  # a third Ctrl-C: no grace period
                    self._running.kill_all()
                    killed = True
                if not self._running:
                    if self.stopping or self._window.gave_up or self._limit_reached():
                        break
                    if burst and claimed == 0 and not self._tuning_pending() and self._drained():
                        break
                now = self._clock()
                if now >= next_beat:
                    self._heartbeat()
                    self._safe(self.recover)
                    if self._control.keep_alive():
                        self._watch_listener()
                    next_beat = now + self.lease_seconds / 3
                # a trial that ran in this thread (inline) ended: the next one is asked for at once
                again = claimed > 0 and self._tuning is not None and not self._running
                self._wait(0.0 if again else self._timeout(next_beat, idle=not self._running or claimed == 0))
                self._collect()
                self._apply_stops()
                self._poll_metrics()
                self.pool.sample()
                if self._record.pending and self._retry.due():  # not due: the files are not read again
                    self._record.flush()
        finally:
            if self._running:
                self._running.terminate_all("interrupted")
                deadline = time.monotonic() + self.grace + 1
                while self._running and time.monotonic() < deadline:
                    self._wait(0.1)
                    self._collect()
            if self._record.pending:
                self._retry.next_try = 0.0  # one last try before leaving
                self._record.flush()
            if not self._record.pending:
                self._safe(lambda: self.store.unregister_worker(self.id))
            elif not self._window.gave_up:
                kept = len(self._record.pending)
                self._emit(Event("stopping", message=(
                    f"the store is unreachable: the results of {kept} step{'s' if kept != 1 else ''} are kept in "
                    "their meta.json; the next `runyard run` or `runyard worker` records them (not run again)")))
            self._control.close()
            self._running.close()
            self.close()
            self.store.wait_for_locks(None)
        if self._window.gave_up:
            raise self._window.give_up(len(self._record.pending))
        return self.result

    def _register(self, info: WorkerInfo) -> None:
        """Register, waiting for a store that is unreachable (within the window; a stop request ends it)."""
        while True:
            try:
                return self.store.register_worker(info, lease_seconds=self.lease_seconds)
            except StoreUnavailable:
                if self.stopping:
                    raise KeyboardInterrupt from None  # stopped before it started: nothing ran (exit 130)
                if self._retry.expired:
                    raise
            self._wait(max(0.0, self._retry.next_try - time.monotonic()))

    def _store_back(self) -> None:
        """The store answers again: renew the leases and write the results kept meanwhile at once, before
        another worker takes them back."""
        self._heartbeat()
        self._record.flush()

    def close(self) -> None:
        """Release the selector and the wake-up pipe (done by :meth:`run`; for a worker never run)."""
        if self._wake_w < 0:
            return
        wake_r, wake_w = self._wake_r, self._wake_w
        self._wake_r = self._wake_w = -1  # a late request_stop (signal handler) writes nowhere
        self._selector.close()
        os.close(wake_r)
        os.close(wake_w)

    def _emit(self, event: Event) -> None:
        """Tell the display; a failing display never stops the work or its recording."""
        try:
            self.on_event(event)
        except Exception as err:
            if not self._display_failed:
                self._display_failed = True
                with contextlib.suppress(OSError):
                    sys.stderr.write(f"runyard: the progress display failed ({err!r}); the steps go on\n")

    def _announce_stop(self, requests: int) -> None:
        if self._running:
            self._emit(Event("stopping", message=stop_message(requests, len(self._running), self.grace)))

    def recover(self) -> None:
        """Requeue what dead workers held (see :func:`recovery.recover`); with every heartbeat too."""
        recover(self.store, self.id, self.host, self._emit)

    def _limit_reached(self) -> bool:
        if self._record.disk_full is not None:
            return True
        return self.max_executions is not None and self._launched >= self.max_executions

    def _fill(self) -> int:
        limit = self.pool.gpu_units_free + self.pool.cpu_free
        if self.max_executions is not None:
            limit = min(limit, self.max_executions - self._launched)
        if limit <= 0:
            return 0
        reserved: dict[str, Slot] = {}

        def accept(record: ExecRecord) -> bool:
            if record.key in reserved:
                return True
            slot = self.pool.acquire(record.resources)
            if slot is None:
                return False
            reserved[record.key] = slot
            return True

        try:
            claimed = self.store.claim(self.id, accept, limit=limit, experiment=self.experiment,
                                       lease_seconds=self.lease_seconds)
        except StoreUnavailable:
            claimed = []
        keys = {r.key for r in claimed}
        for key, slot in reserved.items():
            if key not in keys:
                self.pool.release(slot)
        for record in claimed:
            self._launch(record, reserved[record.key])
        return len(claimed)

    def _feed(self) -> None:
        """Tuning: the free slots get new trials at once, before the claim."""
        if self._tuning is not None:
            free = self.pool.gpu_units_free + self.pool.cpu_free
            if free > 0:
                tuning = self._tuning
                self._safe(lambda: tuning.feed(free))

    def _tuning_pending(self) -> bool:
        tuning = self._tuning
        return tuning is not None and bool(self._safe(lambda: tuning.pending))

    def _drained(self) -> bool:
        """Nothing left that this worker could ever run: no ready work that fits, nothing running elsewhere."""
        scope = [self.experiment] if self.experiment is None or isinstance(self.experiment, str) else self.experiment
        try:
            return self._experiments.drained(scope, self.pool.can_ever_fit)
        except StoreUnavailable:
            return False

    def _launch(self, record: ExecRecord, slot: Slot) -> None:
        self._launched += 1
        now = time.time()
        env = files.step_env(record, slot.env(), worker_id=self.id, now=now)
        provenance: dict[str, Any] = {}
        spec_folder = record.snapshot or self._experiments.spec_folder(record.experiment)
        attempts.archive_previous(record.folder)  # the previous attempt's log and metrics go to attempts/N/
        # should that fail, this attempt appends to them: its metrics start here
        offsets = {"log": file_size(files.log_path(record)), "metrics": file_size(files.metrics_path(record))}
        self._record.launch_state[record.key] = {"slot": str(slot), "env": env, "metrics_from": offsets}
        try:
            provenance = self._provenance.for_execution(record)
            files.prepare_execution(record)
            if self._hooks.launch_env is not None:
                env.update(self._hooks.launch_env(self.store, record))
            files.write_meta(record, new=True, status="running", attempt=record.attempts, started=now, worker=self.id,
                             host=self.host, slot=str(slot), env=env, metrics_from=offsets, provenance=provenance)
            step = self._running.start(record, slot, LaunchRequest(
                record.command, cwd=record.workdir, log_path=files.log_path(record), env=env,
                pythonpath_first=spec_folder, timeout=record.timeout, grace=self.grace, kind=record.kind))
        except (LaunchError, OSError, DiskFull) as err:
            if isinstance(err, DiskFull):
                self._record.halt(err)
            self.pool.release(slot)
            self._record.launch_failed(record, str(err), provenance)
            return
        self.pool.attach(slot, step.handle.pgid)
        self._safe(lambda: self.store.started(record.key, self.id, pid=step.handle.pid, pgid=step.handle.pgid,
                                              host=self.host, command_env=env, lease_seconds=self.lease_seconds))
        self._ingest.start(track(record, self._experiments.metrics(record.experiment), log_offset=offsets["log"],
                                 metrics_offset=offsets["metrics"], spec_folder=spec_folder))
        self._emit(Event("started", record, Status.RUNNING, slot=str(slot)))
        if record.key in self._running:
            self._pacer.started(time.monotonic())
            return
        try:  # a blocking launcher (--inline): the step runs now, in this thread
            ended = self._running.run_blocking(step, every=self.lease_seconds / 3, beat=lambda: self._safe(
                lambda: self.store.heartbeat(self.id, lease_seconds=self.lease_seconds)))
        finally:
            self.pool.release(slot)
        if ended.reason == "interrupted":
            self.request_stop()
        record_end(self._record, step, ended)

    # --- waiting and reaping ------------------------------------------------------------------------
    def _timeout(self, next_beat: float, *, idle: bool) -> float:
        tick, now = self._clock(), time.monotonic()
        candidates = [next_beat - tick, *self._running.moments(tick)]
        if idle:
            candidates.append(self._control.poll if self._control else self.poll_interval)
        if self._running and self._control is not None:
            candidates.append(self._control.next_check() - now)
        if self._ingest.tracked:
            candidates.append(self._pacer.next - now)
        if self.pool.memory.waiting or any(step.slot.gpu_mem for step in self._running.values()):
            candidates.append(SAMPLE_EVERY)  # free GPU memory changes without waking us: look again
        candidates += self._retry.moments(now)
        return max(0.0, min(candidates))

    def _wait(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            if key.data == "listen":
                if self._control is not None:
                    self._control.woken()
                    if not self._control.listening:  # the link broke and its socket is closed: forget its fd
                        self._watch_listener()       # now, before a new child's pidfd takes the same number
            elif key.data is None:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass

    def _collect(self) -> None:
        for step, ended in self._running.collect():
            used = self.pool.release(step.slot)
            if used is not None:  # a step placed by GPU memory: what it declared and took, for meta.json
                self._record.launch_state.setdefault(step.record.key, {})["gpu_memory"] = used
            record_end(self._record, step, ended)

    def _poll_metrics(self) -> None:
        now = time.monotonic()
        if self._ingest.tracked and self._pacer.due(now):  # the store away and not due: nothing read
            self._pacer.done(now, busy=self._retry.due() and self._ingest.poll())
            tuning = self._tuning
            if tuning is not None and self._running:
                stops = self._safe(lambda: tuning.prune(list(self._running)))
                if stops:
                    self._running.stop(stops)

    def _watch_listener(self) -> None:
        """Wait on the store's wake-up channel (PostgreSQL) next to the children."""
        if self._listen_fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._listen_fd)
            self._listen_fd = -1
        fd = self._control.fileno() if self._control is not None else -1
        if fd >= 0:
            self._selector.register(fd, selectors.EVENT_READ, "listen")
            self._listen_fd = fd

    def _apply_stops(self) -> None:
        """Stop the steps cancelled from elsewhere, or whose lease another worker took over."""
        if self._control is None or not self._running:
            return
        self._running.stop(self._control.stops(list(self._running)))

    def _heartbeat(self) -> None:
        owned = self._safe(lambda: self.store.heartbeat(self.id, lease_seconds=self.lease_seconds))
        if owned is None or self._control is None:
            return
        missing = [k for k, step in self._running.items() if k not in owned and step.reason not in (CANCELLED, LOST)]
        if missing:
            self._running.stop(self._control.stops(missing, force=True), missing)

    def _safe(self, call: Callable[[], Any]) -> Any:
        return self._retry.call(call, None)
