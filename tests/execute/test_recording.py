"""Recording the end of an attempt when the store's answer is lost: a finish that committed but whose
reply never came is recognised as this attempt's own result, not as a take-over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runyard.errors import StoreUnavailable
from runyard.execute import files
from runyard.execute.events import Event, WorkerResult
from runyard.execute.ingest import Ingest
from runyard.execute.provenance import Provenance
from runyard.execute.recording import Recorder
from runyard.model import Status
from runyard.store import Store, open_store
from runyard.testing.store_helpers import accept_all, ex, plan


class ReplyLost:
    """A real store whose first ``finish`` commits and then loses its answer (a connection cut)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.cut = True

    def finish(self, *args: Any, **kwargs: Any) -> Any:
        done = self._store.finish(*args, **kwargs)
        if self.cut:
            self.cut = False
            raise StoreUnavailable("server closed the connection unexpectedly")
        return done

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _recorder(store: Any, events: list[Event]) -> Recorder:
    return Recorder(store, "w1", "host", ingest=Ingest(store, owner="w1"), provenance=Provenance(),
                    result=WorkerResult(), emit=events.append)


def test_a_finish_whose_answer_was_lost_is_still_this_attempts_result(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_store(f"sqlite:///{home}/runyard.db") as store:
        a = ex(home, "a")
        store.submit(plan(home, a))
        (record,) = store.claim("w1", accept_all, limit=1)
        files.prepare_execution(record)
        events: list[Event] = []
        recorder = _recorder(ReplyLost(store), events)
        recorder.exited(record, 0)  # the answer is lost: kept for a later flush, counted and shown once
        assert list(recorder.pending) == [a.key] and recorder.result.done == 1
        assert json.loads((Path(record.folder) / "meta.json").read_text())["unrecorded"] == "done"
        assert recorder.flush() == 0
        assert recorder.result.done == 1 and [e.kind for e in events] == ["finished"]
        assert store.execution(a.key).status == Status.DONE
        meta = json.loads((Path(record.folder) / "meta.json").read_text())
        assert meta["status"] == "done" and meta["worker"] == "w1" and "unrecorded" not in meta


def test_a_result_recorded_by_another_worker_is_not_claimed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_store(f"sqlite:///{home}/runyard.db") as store:
        a = ex(home, "a", retries=1)
        store.submit(plan(home, a))
        (mine,) = store.claim("w1", accept_all, limit=1, lease_seconds=30)
        store.reap_worker("w1")  # taken back: ready again, then run and finished by w2
        (theirs,) = store.claim("w2", accept_all, limit=1)
        store.finish(a.key, "w2", status=Status.DONE, exit_code=0)
        files.prepare_execution(mine)
        events: list[Event] = []
        lost = ReplyLost(store)
        lost.cut = False
        _recorder(lost, events).exited(mine, 0)
        assert [e.kind for e in events] == ["lost"]
        assert store.execution(a.key).worker_id == "w2" and theirs.attempts == 2
