"""Properties of ``submit``'s pure decision step over random DAGs and stored states."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from runyard.model import Plan, Status, StepExec
from runyard.store.submit import Existing, decide, definition
from runyard.testing.store_helpers import ex, plan

HOME = Path("/nonexistent/home")
QUEUED = {Status.RUNNING, Status.READY, Status.WAITING}
UNFINISHED = {Status.FAILED, Status.INTERRUPTED, Status.CANCELLED}


@st.composite
def situations(draw: st.DrawFn) -> tuple[Plan, dict[str, Existing], set[str], set[str]]:
    n = draw(st.integers(1, 10))
    execs: list[StepExec] = []
    for i in range(n):
        needs = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        execs.append(ex(HOME, f"e{i}", [execs[j] for j in sorted(needs)]))
    stored = draw(st.lists(st.sampled_from([None, *Status]), min_size=n, max_size=n))
    existing = {e.key: Existing(s, definition(e)) for e, s in zip(execs, stored, strict=True) if s is not None}
    folders = {e.folder for e in execs if draw(st.booleans())}
    force = {e.key for e in execs if draw(st.booleans())}
    return plan(HOME, *execs), existing, folders, force


@settings(max_examples=300, deadline=None)
@given(situations())
def test_decide_rules_and_idempotence(situation: tuple[Plan, dict[str, Existing], set[str], set[str]]) -> None:
    p, existing, folders, force = situation
    d = decide(p, existing, force, folder_exists=folders.__contains__)
    groups = [d.added, d.cached, d.requeued, d.forced, d.already_queued]
    keys = [e.key for e in p.executions]
    assert sorted(k for g in groups for k in g) == sorted(keys), "every key in exactly one group"
    for e in p.executions:
        old = existing.get(e.key)
        old_status = None if old is None else old.status
        if old_status is None:
            assert e.key in d.added
        elif old_status in QUEUED:
            assert e.key in d.already_queued
        elif e.key in force:
            assert e.key in d.forced
        elif old_status == Status.DONE and e.folder in folders:
            assert e.key in d.cached
        else:
            assert e.key in d.requeued and (old_status in UNFINISHED or e.folder not in folders)
        if old_status == Status.RUNNING:
            assert d.status[e.key] == Status.RUNNING
        elif e.key in d.cached:
            assert d.status[e.key] == Status.DONE
        else:
            ready = all(d.status[n] == Status.DONE for n in e.needs)
            assert d.status[e.key] == (Status.READY if ready else Status.WAITING)
    # applying the decision and submitting again changes nothing
    after = {e.key: Existing(d.status[e.key], definition(e)) for e in p.executions}
    again = decide(p, after, (), folder_exists=folders.__contains__)
    assert again.added == again.requeued == again.forced == again.changed == []
    assert again.status == d.status
