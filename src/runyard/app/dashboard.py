"""What the web dashboard shows, as plain data: the experiments, and one page of an experiment's runs
table (the same filtering, sorting and ``--over`` grouping as ``runyard compare``, best values marked).

Every function takes a store opened for reading; the UI (``runyard.ui``) only renders what these return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runyard.errors import UsageError

if TYPE_CHECKING:
    from runyard.store.roles import ResultsReader

PER_PAGE = 50
MAX_PER_PAGE = 1000


def experiments(store: ResultsReader) -> list[dict[str, Any]]:
    """Each experiment: name, number of runs, runs per shown status, paused, last update (epoch s)."""
    from runyard.execute.lost import lost_keys, shown_run_status

    lost = lost_keys(store, None)
    rows = []
    for name in store.experiments():
        record = store.experiment(name)
        counts: dict[str, int] = {}
        runs = store.runs(name)
        for run in runs:
            shown = shown_run_status(run, lost)
            counts[shown] = counts.get(shown, 0) + 1
        rows.append({"experiment": name, "runs": len(runs), "status": counts, "paused": record.paused,
                     "updated": record.updated})
    return rows


@dataclass(frozen=True)
class Column:
    """A column of the runs table: ``kind`` is builtin, param, metric or group (``--over``: mean ± std)."""

    name: str
    kind: str
    mode: str = ""  # for metrics: max | min (which end is best)


@dataclass
class RunsPage:
    experiment: str
    columns: list[Column]
    rows: list[dict[str, Any]]  # column name → value; ``id`` (per run), ``X.std`` and ``X.n`` (grouped)
    matched: int  # rows after filtering (and grouping)
    total: int  # runs of the experiment of the chosen stages
    page: int
    pages: int
    per_page: int
    best: dict[str, float] = field(default_factory=dict)  # metric column → its best value over every row
    where: str = ""
    sort: str = ""
    over: str = ""
    running: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "where": self.where, "sort": self.sort, "over": self.over,
                "columns": [{"name": c.name, "kind": c.kind, "mode": c.mode} for c in self.columns],
                "rows": self.rows, "matched": self.matched, "total": self.total, "page": self.page,
                "pages": self.pages, "per_page": self.per_page, "best": self.best, "running": self.running}


class RunSets:
    """The runs of recent tables, kept while their experiment has nothing running and nothing changed
    (same counts by status, same update time) for at most ``max_age`` seconds: sorting, paging and
    grouping a large sweep then reads the store once."""

    def __init__(self, max_age: float = 120.0, size: int = 8) -> None:
        self.max_age = max_age
        self.size = size
        self._kept: dict[tuple[str, str, str], tuple[tuple[Any, ...], float, Any]] = {}

    def get(self, store: ResultsReader, experiment: str, where: str, stage: str | None) -> Any:
        import time

        from runyard.analyze.yard import RunSet, Yard
        from runyard.model import Status

        counts = store.counts(experiment)
        state = (tuple(sorted((str(k), v) for k, v in counts.items())), store.experiment(experiment).updated)
        now = time.monotonic()
        key = (experiment, where, stage or "")
        kept = self._kept.get(key)
        if kept is not None and kept[0] == state and now - kept[1] < self.max_age:
            return kept[2]
        runset = RunSet(Yard(store), experiment, where or None, stage)  # type: ignore[arg-type]
        if not counts.get(Status.RUNNING):
            if len(self._kept) >= self.size:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = (state, now, runset)
        return runset


def runs_page(store: ResultsReader, experiment: str, *, where: str | None = None, sort: str | None = None,
              over: str | None = None, page: int = 1, per_page: int = PER_PAGE, stage: str | None = None,
              cache: RunSets | None = None) -> RunsPage:
    """One page of the runs table of ``experiment``. ``where``/``sort``/``over``/``stage`` as in
    ``runyard compare``; ``cache`` keeps the runs read for the next call. UsageError (one clear message)
    for a bad expression or an unknown name."""
    from runyard.analyze.compare import compare, parse_sort
    from runyard.analyze.table import choose_experiment
    from runyard.analyze.yard import RunSet, Yard

    if per_page < 1 or per_page > MAX_PER_PAGE:
        raise UsageError(f"per_page must be 1 to {MAX_PER_PAGE}, not {per_page}")
    if page < 1:
        raise UsageError(f"page must be 1 or more, not {page}")
    name = choose_experiment(store, experiment)
    where = (where or "").strip()
    if cache is not None:
        runset = cache.get(store, name, where, stage)
    else:
        runset = RunSet(Yard(store), name, where or None, stage)  # type: ignore[arg-type]

    results = runset.results([n for n, _ in parse_sort(sort)])
    table = compare(results, sort=sort or None, over=over or None)
    frame = table.frame
    modes = {m.column: m.mode for m in results.metrics}
    grouped = bool(table.over)
    columns: list[Column] = []
    for col in frame.columns:
        text = str(col)
        if grouped:
            base, dot, stat = text.rpartition(".")
            if dot and base in table.aggregated:
                if stat == "mean":
                    columns.append(Column(base, "group", modes.get(base, "max")))
                continue
        if text in modes:
            columns.append(Column(text, "metric", modes[text]))
        elif text in results.params:
            columns.append(Column(text, "param"))
        else:
            columns.append(Column(text, "builtin"))
    if not grouped:
        columns.append(Column("duration", "builtin"))
    best = _best(frame, columns, grouped)
    matched = len(frame)
    pages = max(1, math.ceil(matched / per_page))
    page = min(page, pages)
    chunk = frame.iloc[(page - 1) * per_page: page * per_page]
    rows = _rows(chunk, columns, grouped, results.frame)
    running = bool((results.frame["status"] == "running").any()) if len(results.frame) else False
    every = runset._all  # every run of the experiment, before the stage and where filters
    total = int(every.frame["stage"].isin(runset.stages).sum()) if every is not None else matched
    return RunsPage(name, columns, rows, matched, total, page, pages, per_page, best, where, sort or "", over or "",
                    running)


def _best(frame: Any, columns: list[Column], grouped: bool) -> dict[str, float]:
    import pandas as pd

    best: dict[str, float] = {}
    for col in columns:
        if col.kind not in ("metric", "group"):
            continue
        source = frame[f"{col.name}.mean"] if grouped else frame[col.name]
        values = pd.to_numeric(source, errors="coerce")
        value = values.min() if col.mode == "min" else values.max()
        if value == value and value is not None:  # not NaN
            best[col.name] = float(value)
    return best


def _rows(chunk: Any, columns: list[Column], grouped: bool, every: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    records = chunk.to_dict("records")
    ids = list(chunk.index)
    for position, record in enumerate(records):
        row: dict[str, Any] = {}
        for col in columns:
            if col.kind == "group":
                row[col.name] = plain(record.get(f"{col.name}.mean"))
                row[f"{col.name}.std"] = plain(record.get(f"{col.name}.std"))
                row[f"{col.name}.n"] = plain(record.get(f"{col.name}.n"))
            elif col.name == "duration" and not grouped:
                row["duration"] = plain(every.at[ids[position], "duration"])
            else:
                row[col.name] = plain(record.get(col.name))
        if not grouped:
            row["id"] = str(ids[position])
        rows.append(row)
    return rows


def plain(value: Any) -> Any:
    """A JSON-ready value: NaN / NaT / NA → None, numpy scalars → Python, timestamps → ISO text."""
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
