"""The trials of tuned experiments: which trial number ran which run, and how it ended.

Two tables of their own, created the first time a study is opened (a store that never tuned has
neither): ``tune_studies`` (experiment, study: the grid cell as JSON, target: how many trials it
should reach) and ``tune_trials`` (experiment, study, number, run id, params, state, values, worker).
:meth:`TrialsMixin.tune_ask` is the one place a trial number is handed out: it runs the caller's
proposal inside one write transaction holding the study's row (``BEGIN IMMEDIATE`` on SQLite, ``FOR
UPDATE`` on PostgreSQL), so two workers never ask for the same number nor propose from the same
history.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Column, Connection, Float, Integer, MetaData, String, Table, Text, insert, select, text, update

from runyard.model import ParamValue
from runyard.store.engine import SqlCore

metadata = MetaData()

studies = Table(
    "tune_studies", metadata,
    Column("experiment", String, primary_key=True),
    Column("study", String, primary_key=True),
    Column("target", Integer, nullable=False),
)

trials = Table(
    "tune_trials", metadata,
    Column("experiment", String, primary_key=True),
    Column("study", String, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("run_id", String, nullable=False),
    Column("params", Text, nullable=False),  # JSON: the searched values (inactive ones absent)
    Column("state", String, nullable=False),  # running | complete | pruned | failed
    Column("trial_values", Text),  # JSON list: one value per objective (complete, pruned: the last seen)
    Column("intermediate", Text),  # JSON object: the objective's values by step while it ran
    Column("attrs", Text),  # JSON object: the pruner's marks on the trial (successive halving's rungs)
    Column("worker", String),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

_TABLES_LOCK = 0x74756E65  # advisory lock id serialising the creation of these tables ("tune")
STATES = ("running", "complete", "pruned", "failed")


@dataclass(frozen=True)
class TrialRow:
    experiment: str
    study: str
    number: int
    run_id: str
    params: Mapping[str, ParamValue]
    state: str
    values: tuple[float, ...] | None = None
    worker: str | None = None
    intermediate: Mapping[int, float] | None = None
    attrs: Mapping[str, Any] | None = None


Proposal = tuple[str, Mapping[str, ParamValue]]  # (run id, searched params)


class TrialStore(Protocol):
    """What tuning needs of a store (every SQL store has it)."""

    def tune_target(self, experiment: str, study: str, *, at_least: int = 0, more: int | None = None) -> int: ...
    def tune_trials(self, experiment: str, study: str | None = None) -> list[TrialRow]: ...
    def tune_ask(self, experiment: str, study: str, worker: str,
                 propose: Callable[[list[TrialRow], int], Proposal | None]) -> TrialRow | None: ...
    def tune_tell(self, experiment: str, study: str, number: int, state: str,
                  values: Sequence[float] | None = None, intermediate: Mapping[int, float] | None = None,
                  attrs: Mapping[str, Any] | None = None) -> None: ...
    def tune_studies(self, experiment: str | None = None) -> list[tuple[str, str, int]]: ...


def _row(row: Mapping[Any, Any]) -> TrialRow:
    values = json.loads(row["trial_values"]) if row["trial_values"] else None
    steps = json.loads(row["intermediate"]) if row["intermediate"] else None
    return TrialRow(row["experiment"], row["study"], row["number"], row["run_id"], json.loads(row["params"]),
                    row["state"], tuple(values) if values is not None else None, row["worker"],
                    None if steps is None else {int(k): v for k, v in steps.items()},
                    json.loads(row["attrs"]) if row["attrs"] else None)


class TrialsMixin(SqlCore):
    _trial_tables = False

    def _ensure_trial_tables(self, conn: Connection) -> None:
        if self._trial_tables:
            return
        if self.is_pg:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _TABLES_LOCK})
        metadata.create_all(conn, checkfirst=True)
        self._trial_tables = True

    def _has_trial_tables(self, conn: Connection) -> bool:
        from sqlalchemy import inspect

        return self._trial_tables or bool(inspect(conn).has_table("tune_trials"))

    def tune_target(self, experiment: str, study: str, *, at_least: int = 0, more: int | None = None) -> int:
        """Open the study (creating the tables on first use) and raise its target: to ``at_least``, or
        to the trials it has plus ``more``. The target it now has."""
        with self.tx() as conn:
            self._ensure_trial_tables(conn)
            where = (studies.c.experiment == experiment) & (studies.c.study == study)
            current = conn.execute(select(studies.c.target).where(where).with_for_update()).scalar()
            wanted = at_least
            if more is not None:
                count = conn.execute(select(trials.c.number).where(
                    (trials.c.experiment == experiment) & (trials.c.study == study))).all()
                wanted = len(count) + more
            if current is None:
                conn.execute(insert(studies).values(experiment=experiment, study=study, target=wanted))
                return wanted
            if wanted > current:
                conn.execute(update(studies).where(where).values(target=wanted))
                return wanted
            return int(current)

    def tune_studies(self, experiment: str | None = None) -> list[tuple[str, str, int]]:
        """(experiment, study, target) of every open study."""
        with self.tx(write=False) as conn:
            if not self._has_trial_tables(conn):
                return []
            stmt = select(studies.c.experiment, studies.c.study, studies.c.target)
            if experiment is not None:
                stmt = stmt.where(studies.c.experiment == experiment)
            return [(r[0], r[1], r[2]) for r in conn.execute(stmt)]

    def tune_trials(self, experiment: str, study: str | None = None) -> list[TrialRow]:
        with self.tx(write=False) as conn:
            if not self._has_trial_tables(conn):
                return []
            stmt = select(trials).where(trials.c.experiment == experiment)
            if study is not None:
                stmt = stmt.where(trials.c.study == study)
            return [_row(r) for r in conn.execute(stmt.order_by(trials.c.study, trials.c.number)).mappings()]

    def tune_ask(self, experiment: str, study: str, worker: str,
                 propose: Callable[[list[TrialRow], int], Proposal | None]) -> TrialRow | None:
        """Hand out the study's next trial number: ``propose(rows, number)`` sees every trial recorded so
        far and returns the run id and params of the new trial (or None: nothing more to ask), all
        inside one transaction holding the study. None when the target is reached."""
        with self.tx() as conn:
            self._ensure_trial_tables(conn)
            where = (studies.c.experiment == experiment) & (studies.c.study == study)
            target = conn.execute(select(studies.c.target).where(where).with_for_update()).scalar()
            rows = [_row(r) for r in conn.execute(select(trials).where(
                (trials.c.experiment == experiment) & (trials.c.study == study)).order_by(trials.c.number)).mappings()]
            if target is None or len(rows) >= target:
                return None
            number = len(rows)
            proposal = propose(rows, number)
            if proposal is None:
                return None
            run_id, params = proposal
            now = self.clock()
            conn.execute(insert(trials).values(
                experiment=experiment, study=study, number=number, run_id=run_id,
                params=json.dumps(dict(params), sort_keys=True), state="running", trial_values=None, worker=worker,
                created=now, updated=now))
            return TrialRow(experiment, study, number, run_id, dict(params), "running", None, worker)

    def tune_tell(self, experiment: str, study: str, number: int, state: str,
                  values: Sequence[float] | None = None, intermediate: Mapping[int, float] | None = None,
                  attrs: Mapping[str, Any] | None = None) -> None:
        """Record how a trial ended (or ``running`` again: requeued), with the objective's values by step."""
        if state not in STATES:
            raise ValueError(f"unknown trial state {state!r}")
        with self.tx() as conn:
            conn.execute(update(trials).where(
                (trials.c.experiment == experiment) & (trials.c.study == study) & (trials.c.number == number)
            ).values(state=state, trial_values=None if values is None else json.dumps(list(values)),
                     intermediate=None if intermediate is None else json.dumps({str(k): v for k, v in
                                                                                intermediate.items()}),
                     attrs=json.dumps(dict(attrs)) if attrs else None, updated=self.clock()))
