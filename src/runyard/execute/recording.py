"""How a worker records the end of each attempt: the final metrics, the compare-and-set ``finish``
in the store, ``meta.json`` and the worker's tally (DESIGN §6, §10: nothing lost, never recorded over
another worker's result).

A step that ends while the store is unreachable keeps its result (status, exit code, end time, metrics
offsets) in memory and in its ``meta.json``, marked ``"unrecorded": "<status>"``; :meth:`Recorder.flush` writes
it once the store is back, with the time the step really ended. An exit-0 step is never recorded failed or
interrupted because the store was down. A worker that exits with results still unwritten leaves them in
``meta.json``, where the next worker or submit finds them (:mod:`runyard.execute.unwritten`)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runyard.errors import DiskFull, LeaseLost, StoreUnavailable
from runyard.execute import files
from runyard.execute.diskspace import full_after_exit
from runyard.execute.events import Event, WorkerResult
from runyard.execute.extract import OWN_NOTE
from runyard.execute.ingest import Ingest, metric_warning
from runyard.execute.provenance import Provenance
from runyard.execute.tuning import PRUNED
from runyard.model import Status
from runyard.store.base import ExecRecord, Store

#: meta.json key, set while the store has not got this attempt's result: the status to record
UNRECORDED = "unrecorded"


@dataclass
class Ending:
    """The end of one attempt, on its way to the store."""

    record: ExecRecord
    status: Status
    code: int | None
    error: str | None
    provenance: dict[str, Any]
    launched: dict[str, Any]
    ended: float = field(default_factory=time.time)
    problems: list[str] | None = None  # None: the final metrics are not stored yet
    tried: bool = False  # a finish was sent and its answer lost: it may have committed
    counted: bool = False  # already in the worker's tally (and shown)

    @property
    def expected(self) -> Status:
        """The status the store will give it (a failed attempt with retries left goes back to ready)."""
        if self.status == Status.FAILED and self.record.attempts <= self.record.retries:
            return Status.READY
        return self.status


class Recorder:
    def __init__(self, store: Store, worker_id: str, host: str, *, ingest: Ingest, provenance: Provenance,
                 result: WorkerResult, emit: Callable[[Event], None],
                 after: Callable[[ExecRecord], object] | None = None) -> None:
        self.store = store
        self.worker_id = worker_id
        self.host = host
        self.ingest = ingest
        self.provenance = provenance
        self.result = result
        self.emit = emit
        self.after = after  # called with each recorded final result (not retries)
        self.launch_state: dict[str, dict[str, Any]] = {}  # key → slot and env of the attempt, for meta.json
        self.pending: dict[str, Ending] = {}  # ended while the store was unreachable, not recorded yet
        self.disk_full: DiskFull | None = None  # the first out-of-space write under home: launch nothing more

    def finished(self, record: ExecRecord, status: Status, code: int | None, error: str | None,
                 provenance: dict[str, Any] | None = None) -> None:
        """The attempt ended with ``status``: store its metrics, then its result, then ``meta.json``; when
        the store is unreachable, keep it (memory and ``meta.json``) for :meth:`flush`."""
        launched = self.launch_state.pop(record.key, {})
        provenance = provenance or self.provenance.for_execution(record)
        if "gpu_memory" in launched:  # which GPUs a step placed by memory ran on, what it declared and took
            provenance = {**provenance, "gpu_memory": launched["gpu_memory"]}
        ending = Ending(record, status, code, error, provenance, launched)
        if not self._record(ending):
            self._keep(ending)

    def flush(self) -> int:
        """Record what ended while the store was unreachable, oldest first; returns how many are left."""
        for key, ending in list(self.pending.items()):
            if not self._record(ending):
                break
            del self.pending[key]
        return len(self.pending)

    def _record(self, ending: Ending) -> bool:
        """Try to record ``ending``; False when the store is unreachable (nothing lost: try again)."""
        record = ending.record
        if ending.problems is None:
            problems = self._final_metrics(record)  # before finish: dependents start with these metrics stored
            if problems is None:
                return False
            ending.problems = problems
            if problems and ending.status == Status.DONE:
                self._note(record, problems)
                ending.launched["metric_problems"] = problems
                ending.error = metric_warning(problems)  # a done step's error field holds its metrics warning
        try:
            updated = self.store.finish(record.key, self.worker_id, status=ending.status, exit_code=ending.code,
                                        error=ending.error, provenance=ending.provenance, ended=ending.ended)
        except StoreUnavailable:  # the finish may have committed without its answer reaching us
            ending.tried = True
            return False
        if updated is None and ending.tried:
            updated = self._already_recorded(record, ending.code)
        if updated is None:
            self.result.lost.append(record.key)
            self.emit(Event("lost", record, message=f"{record.step} {record.short}: lease was taken over; "
                                                       "the result of this attempt was not recorded"))
            return True
        try:
            files.write_meta(record, status=str(updated.status), exit_code=ending.code, error=ending.error,
                             attempt=record.attempts, started=updated.started, ended=updated.ended or ending.ended,
                             duration=updated.duration, worker=self.worker_id, host=self.host, **ending.launched,
                             provenance=ending.provenance)
        except DiskFull as err:  # the store has the result; meta.json will be rewritten by the next attempt
            self.halt(err)
        if not ending.counted:
            self._count(updated, ending.error)
        if self.after is not None and updated.status != Status.READY:
            self.after(updated)
        return True

    def _keep(self, ending: Ending) -> None:
        """The store is unreachable: the result waits in memory and in ``meta.json``."""
        record = ending.record
        started = record.started or ending.ended
        self.pending[record.key] = ending
        expected = ending.expected
        try:
            files.write_meta(record, status=str(expected), exit_code=ending.code, error=ending.error,
                             attempt=record.attempts, started=started, ended=ending.ended,
                             duration=ending.ended - started, worker=self.worker_id, host=self.host,
                             **{**ending.launched, UNRECORDED: str(ending.status)}, provenance=ending.provenance)
        except DiskFull as err:  # the result waits in memory only
            self.halt(err)
        except OSError:
            pass
        shown = dataclasses.replace(record, status=expected, exit_code=ending.code, error=ending.error,
                                    ended=ending.ended, duration=ending.ended - started)
        self._count(shown, ending.error)
        ending.counted = True

    def _count(self, updated: ExecRecord, error: str | None) -> None:
        final = updated.status
        if final == Status.DONE:
            self.result.done += 1
        elif final == Status.READY:
            self.result.retried += 1
        elif final == Status.INTERRUPTED:
            self.result.interrupted.append(updated.key)
        else:
            self.result.failed.append(updated)
        self.emit(Event("finished", updated, final, message=error or ""))

    def exited(self, record: ExecRecord, code: int | None, reason: str = "") -> None:
        """A step's process ended with ``code``; ``reason`` says why the worker stopped it, if it did."""
        # a step that ends with its file system full failed writing its log, metrics or outputs (even if it
        # exited 0: runyard.log only warns), whatever its code says: the disk is to blame, not the step
        full = None if reason else full_after_exit(record.folder, [files.log_path(record), files.metrics_path(record)])
        if full is not None:
            self.halt(full)
            self.finished(record, Status.FAILED, code, str(full))
        elif reason == "interrupted":
            self.finished(record, Status.INTERRUPTED, code, "interrupted")
        elif reason == "timeout":
            self.finished(record, Status.FAILED, code, f"timed out after {record.timeout:g} s")
        elif reason == PRUNED:  # the tuner stopped it: its trial is recorded pruned, its metrics kept
            self.finished(record, Status.FAILED, code, PRUNED)
        elif code == 0:
            self.finished(record, Status.DONE, code, None)
        else:
            self.finished(record, Status.FAILED, code, f"exit code {code}")

    def halt(self, err: DiskFull) -> None:
        """Keep the first out-of-space error: the worker launches nothing more and exits with it."""
        if self.disk_full is None:
            self.disk_full = err
            self.emit(Event("stopping", message=f"{err}: launching nothing more"))

    def launch_failed(self, record: ExecRecord, message: str, provenance: dict[str, Any]) -> None:
        self._note(record, [f"could not start the step: {message}"], prefix="runyard: ")
        self.finished(record, Status.FAILED, None, f"could not start: {message}", provenance)

    def cancelled(self, record: ExecRecord, code: int | None) -> None:
        """Stopped because it was cancelled: the store says so already; ``meta.json`` too now."""
        launched = self.launch_state.pop(record.key, {})
        self.ingest.drop(record.key)
        try:
            files.write_meta(record, status=str(Status.CANCELLED), exit_code=code, error="cancelled",
                             attempt=record.attempts, ended=time.time(), worker=self.worker_id, host=self.host,
                             **launched)
        except DiskFull as err:
            self.halt(err)
        self.result.cancelled.append(record.key)
        self.emit(Event("finished", record, Status.CANCELLED, message="cancelled"))

    def lost(self, record: ExecRecord) -> None:
        """Stopped because another worker took the execution over: record nothing."""
        self.launch_state.pop(record.key, None)
        self.ingest.drop(record.key)
        self.result.lost.append(record.key)
        self.emit(Event("lost", record, message=f"{record.step} {record.short}: lease was taken over by another "
                                                 "worker; this attempt was stopped"))

    def _final_metrics(self, record: ExecRecord) -> list[str] | None:
        """The final metrics of an exited step into the store (the problems worth telling); None when the
        store is unreachable (the points are still in the files: try again)."""
        try:
            return self.ingest.finish(record.key)
        except StoreUnavailable:
            return None
        except LeaseLost:  # taken over: finish() will not record this attempt either
            return []
        except Exception as err:  # never let metrics stop the recording of the step itself
            self.ingest.drop(record.key)
            return [f"metrics were not stored: {type(err).__name__}: {err} (runyard reparse reads them again)"]

    def _note(self, record: ExecRecord, lines: list[str], *, prefix: str = OWN_NOTE) -> None:
        with contextlib.suppress(OSError), open(files.log_path(record), "a", encoding="utf-8") as log:
            log.writelines(f"{prefix}{line}\n" for line in lines)

    def _already_recorded(self, record: ExecRecord, code: int | None) -> ExecRecord | None:
        """After a lost connection a finish may have committed without its answer reaching us: the
        retry then finds the execution finished. It is this attempt's own result when the stored
        worker, attempt and exit code are this attempt's."""
        try:
            stored = self.store.execution(record.key)
        except StoreUnavailable:
            return None
        mine = stored.worker_id == self.worker_id and stored.attempts == record.attempts
        ended = stored.status.finished or (stored.status == Status.READY and stored.attempts == 0)
        if mine and stored.exit_code == code and (ended or stored.status == Status.READY):
            return stored
        return None
