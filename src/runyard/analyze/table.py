"""Results as pandas DataFrames: one row per run, params, metric summaries, names of columns.

:func:`load` reads an experiment in bulk (``Store.results``) and builds :class:`Results`: the frame
(index run id; ``name``, ``status``, every param, the last value of every metric, ``started``,
``ended``, ``duration``) plus the other summary statistics. :meth:`Results.column` resolves every
name the user may give (``--where``, ``--sort``, ``--cols``): builtins, params, metrics and
``metric.stat``. Comparison tables (differing params, ``--over`` aggregation, sorting) live in
``compare.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runyard.analyze.where import suggestions
from runyard.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from runyard.store.roles import ResultsReader

#: Columns every run has (``id`` is the index of the frame).
BUILTINS = ("id", "name", "status", "stage", "origin", "started", "ended", "duration")
#: Labels of runs (``runyard tag``, ``note``): ``tags`` (comma-separated) and ``note`` are columns of the frame
#: when some run has one; ``tag`` is for ``--where`` (``tag = baseline``: the runs with that tag). A param of
#: one of these names keeps it (the label is then not a column).
LABELS = ("tag", "tags", "note")
#: Stages of runs: the sweep's, final runs re-run from selected ones, aggregate runs (study-level steps).
STAGES = ("sweep", "final", "aggregate")
#: ``metric.stat`` suffixes → the store statistics they need.
STATS: dict[str, tuple[str, ...]] = {
    "last": ("last",),
    "min": ("min",),
    "max": ("max",),
    "best": ("min", "max"),
    "count": ("count",),
    "step": ("last_step",),
}
FINISHED = ("done", "failed", "interrupted", "cancelled")
DEFAULT_STAGES = ("sweep", "final")  # aggregate runs hold study-level steps: shown when asked for


def parse_stages(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"final"``, ``"sweep,final"``, ``"all"`` or a list of them → stage names (None: sweep and final)."""
    if value is None:
        return DEFAULT_STAGES
    items = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    chosen: list[str] = []
    for item in (i.strip() for i in items):
        if item == "all":
            chosen.extend(STAGES)
        elif item in STAGES:
            chosen.append(item)
        elif item:
            raise UsageError(f"--stage: {item!r} is not a stage{suggestions(item, [*STAGES, 'all'])} "
                             f"(stages: {', '.join(STAGES)}, all)")
    if not chosen:
        raise UsageError(f"--stage: name a stage ({', '.join(STAGES)}, all)")
    return tuple(dict.fromkeys(chosen))


@dataclass(frozen=True)
class MetricColumn:
    """A metric column: ``column`` is its name in tables (``name``, or ``step.name`` when several
    steps of the experiment report ``name``); ``mode`` (max | min) says which end is best."""

    column: str
    step: str
    name: str
    mode: str = "max"


def stats_for(names: Iterable[str]) -> set[str]:
    """The store statistics needed to resolve ``names`` (any ``x.stat`` may be a metric statistic)."""
    needed = {"last"}
    for name in names:
        head, dot, stat = name.rpartition(".")
        if dot and head and stat in STATS:
            needed.update(STATS[stat])
    return needed


@dataclass
class Results:
    """Every run of one experiment. ``frame`` is what ``RunSet.df`` shows; ``summary`` holds the other
    loaded statistics (``min``, ``max``, ``count``, ``last_step``), each a frame shaped like the
    metric columns of ``frame``."""

    experiment: str
    frame: pd.DataFrame
    params: list[str]
    metrics: list[MetricColumn]
    summary: dict[str, pd.DataFrame] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)  # metric name → its step.name columns
    labels: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)  # run id → (tags, note)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def metric_columns(self) -> list[str]:
        return [m.column for m in self.metrics]

    def metric(self, column: str) -> MetricColumn | None:
        for m in self.metrics:
            if m.column == column:
                return m
        return None

    def names(self) -> list[str]:
        """Every name :meth:`column` resolves (stat forms of the metrics included)."""
        stats = [f"{m.column}.{stat}" for m in self.metrics for stat in STATS]
        return [*BUILTINS, *LABELS, *self.params, *self.metric_columns, *stats]

    def problem(self, name: str) -> str | None:
        """Why ``name`` does not resolve (with suggestions), or None when it does."""
        if name in ("id", *self.frame.columns, *LABELS):
            return None
        head, dot, stat = name.rpartition(".")
        if dot and self.metric(head) is not None and stat in STATS:
            needed = STATS[stat]
            missing = [s for s in needed if s not in self.summary and s != "last"]
            return f"the statistic {stat!r} of {head!r} was not loaded" if missing else None
        if name in self.ambiguous:
            return (f"metric {name!r} is reported by several steps: say which, "
                    f"{' or '.join(repr(c) for c in self.ambiguous[name])}")
        if dot and head in self.ambiguous and stat in STATS:
            options = " or ".join(repr(f"{c}.{stat}") for c in self.ambiguous[head])
            return f"metric {head!r} is reported by several steps: say which, {options}"
        return f"unknown name {name!r}{suggestions(name, self.names())} ({self._valid()})"

    def _valid(self) -> str:
        parts = ["name, status, stage, origin, id, started, ended, duration, tag, tags, note"]
        if self.params:
            parts.append("params: " + ", ".join(self.params[:12]) + (" ..." if len(self.params) > 12 else ""))
        if self.metrics:
            shown = ", ".join(self.metric_columns[:12]) + (" ..." if len(self.metrics) > 12 else "")
            parts.append(f"metrics: {shown} (and metric.min .max .best .count .step)")
        else:
            parts.append("no metrics recorded yet")
        return "; ".join(parts)

    def column(self, name: str) -> pd.Series[Any]:
        """The values of ``name`` for every run (index: run id). KeyError(message) when unknown."""
        import numpy as np
        import pandas as pd

        problem = self.problem(name)
        if problem:
            raise KeyError(problem)
        if name == "id" and "id" not in self.frame.columns:
            ids: pd.Series[Any] = pd.Series(self.frame.index.to_numpy(), index=self.frame.index, name="id")
            return ids
        if name in self.frame.columns:
            found: pd.Series[Any] = self.frame[name]
            return found
        if name in LABELS:
            empty: tuple[tuple[str, ...], str] = ((), "")
            got = [self.labels.get(run_id, empty) for run_id in self.frame.index]
            values: list[Any] = ([tags for tags, _ in got] if name == "tag" else
                                 [",".join(tags) for tags, _ in got] if name == "tags" else [note for _, note in got])
            labelled: pd.Series[Any] = pd.Series(values, index=self.frame.index, name=name, dtype=object)
            return labelled
        head, _, stat = name.rpartition(".")
        metric = self.metric(head)
        assert metric is not None
        if stat == "last":
            series = self.frame[head].copy()
        elif stat == "best":
            series = self.summary["max" if metric.mode == "max" else "min"][head].copy()
        else:
            series = self.summary["last_step" if stat == "step" else stat][head].copy()
        series.name = name
        if stat in ("count", "step"):
            values = series.to_numpy(dtype=float, na_value=np.nan)
            series = series.astype("Int64" if bool(np.isnan(values).any()) else "int64")
        result: pd.Series[Any] = series
        return result

    def select(self, mask: npt.NDArray[np.bool_] | None) -> Results:
        """The same results restricted to the rows of ``mask``."""
        if mask is None:
            return self
        return Results(self.experiment, self.frame[mask], self.params, self.metrics,
                       {k: v[mask] for k, v in self.summary.items()}, self.ambiguous, self.labels)


def _metric_modes(spec: Mapping[str, Any]) -> dict[str, str]:
    modes: dict[str, str] = {}
    metrics = spec.get("metrics")
    if isinstance(metrics, Mapping):
        for name, body in metrics.items():
            mode = body.get("mode") if isinstance(body, Mapping) else None
            modes[str(name)] = "min" if mode == "min" else "max"
    return modes


def _unique(name: str, taken: set[str], *fallbacks: str) -> str:
    for candidate in (name, *fallbacks):
        if candidate not in taken:
            return candidate
    index = 2
    while f"{fallbacks[-1]}#{index}" in taken:
        index += 1
    return f"{fallbacks[-1]}#{index}"


def metric_columns(pairs: Sequence[tuple[str, str]], taken: Collection[str],
                   spec: Mapping[str, Any]) -> tuple[list[MetricColumn], dict[str, list[str]]]:
    """Name the (step, metric) pairs of an experiment, sorted by metric then step: ``metric``, or
    ``step.metric`` for both when two steps report the same metric (or when ``metric`` is already a
    param or builtin name)."""
    modes = _metric_modes(spec)
    steps_of: dict[str, list[str]] = {}
    for step, name in pairs:
        steps_of.setdefault(name, []).append(step)
    used = set(taken)
    columns: list[MetricColumn] = []
    ambiguous: dict[str, list[str]] = {}
    for step, name in sorted(set(pairs), key=lambda pair: (pair[1], pair[0])):
        several = len(set(steps_of[name])) > 1
        plain = name if not several else f"{step}.{name}"
        column = _unique(plain, used, f"{step}.{name}", f"metric:{step}.{name}")
        used.add(column)
        if several:
            ambiguous.setdefault(name, []).append(column)
        columns.append(MetricColumn(column, step, name, modes.get(name, "max")))
    return columns, {k: v for k, v in ambiguous.items() if k not in used}


def load(store: ResultsReader, experiment: str, *, stats: Collection[str] = ("last",)) -> Results:
    """Read every run of ``experiment`` with its metric summaries (bulk reads) into :class:`Results`."""
    wanted = sorted(set(stats) | {"last"})
    tables = store.results(experiment, stats=wanted)  # first: a first import of pandas overlaps with it
    spec = store.experiment(experiment).spec
    import numpy as np
    import pandas as pd

    runs, summ = tables.runs, tables.summaries
    n = len(runs["id"])
    ids = np.asarray(runs["id"], dtype=str)
    names = np.asarray(runs["name"], dtype=str)
    created = np.asarray(runs["created"], dtype=float)
    order = _run_order(created, names, ids)
    index = pd.Index(ids[order], name="id")

    given: Any = runs["params"]
    params = given if isinstance(given, pd.DataFrame) else pd.DataFrame(list(given))
    params = params.iloc[order].reset_index(drop=True) if n else pd.DataFrame(index=pd.RangeIndex(0))
    param_order = sorted(str(c) for c in params.columns)  # the store keeps params (and specs) key-sorted
    renamed = {p: f"params.{p}" for p in param_order if p in BUILTINS}
    params = params[param_order].rename(columns=renamed)
    param_names = [renamed.get(p, p) for p in param_order]

    pairs_step = np.asarray(summ["step"], dtype=object)
    pairs_name = np.asarray(summ["name"], dtype=object)
    step_codes, step_values = pd.factorize(pairs_step)
    name_codes, name_values = pd.factorize(pairs_name)
    combo_codes, combo_values = pd.factorize(step_codes.astype(np.int64) * max(len(name_values), 1) + name_codes)
    pairs = [(str(step_values[c // max(len(name_values), 1)]), str(name_values[c % max(len(name_values), 1)]))
             for c in combo_values]
    metrics, ambiguous = metric_columns(pairs, {*BUILTINS, *param_names}, spec)
    position = {(m.step, m.name): i for i, m in enumerate(metrics)}
    col_of_combo = np.asarray([position[p] for p in pairs], dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    rows = rank[np.asarray(summ["run"], dtype=np.int64)] if len(pairs_step) else np.zeros(0, dtype=np.int64)
    cols = col_of_combo[combo_codes] if len(pairs_step) else np.zeros(0, dtype=np.int64)

    def wide(stat: str) -> pd.DataFrame:
        grid = np.full((n, len(metrics)), np.nan)
        if len(rows):
            grid[rows, cols] = np.asarray(summ[stat], dtype=float)
        found: pd.DataFrame = pd.DataFrame(grid, index=index, columns=[m.column for m in metrics])
        return found

    status = np.asarray(runs["status"], dtype=object)[order]
    finished = np.isin(status, FINISHED)
    started = np.asarray(runs["started"], dtype=float)[order]
    ended = np.where(finished, np.asarray(runs["ended"], dtype=float)[order], np.nan)
    stages = np.asarray(runs["stage"], dtype=object)[order] if n and "stage" in runs else np.full(n, "sweep", object)
    origins = np.asarray(runs["origin"], dtype=object)[order] if n and "origin" in runs else np.full(n, None, object)
    base = pd.DataFrame({"name": names[order].astype(str) if n else [], "status": status.astype(str),
                         "stage": stages, "origin": origins}, index=index)
    params.index = index
    times = pd.DataFrame({
        "started": to_times(started),
        "ended": to_times(ended),
        "duration": np.asarray(runs["duration"], dtype=float)[order],
    }, index=index)
    labels = store.run_labels(experiment)
    if labels:  # shown only when some run has a tag or a note; a param of the same name keeps its name
        got = [labels.get(run_id, ((), "")) for run_id in index]
        if "tags" not in param_names:
            base["tags"] = [",".join(tags) for tags, _ in got]
        if "note" not in param_names:
            base["note"] = [note for _, note in got]
    frame = pd.concat([base, params, wide("last"), times], axis=1)
    from runyard.analyze.tuned import add_trial_columns

    frame = add_trial_columns(store, experiment, spec, frame)
    summary = {stat: wide(stat) for stat in wanted if stat != "last"}
    return Results(experiment, frame, param_names, metrics, summary, ambiguous, labels)


def to_times(seconds: Any) -> Any:
    """Epoch seconds → UTC timestamps, to the microsecond (NaN → NaT)."""
    import numpy as np
    import pandas as pd

    micros = np.round(np.asarray(seconds, dtype=float) * 1e6)
    return pd.to_datetime(micros, unit="us", utc=True)


def _run_order(created: npt.NDArray[np.float64], names: npt.NDArray[np.str_],
               ids: npt.NDArray[np.str_]) -> npt.NDArray[np.int64]:
    """Positions sorted by creation time, then name, then id (as ``Store.runs`` orders them)."""
    import numpy as np

    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((names, created))
    same = (created[order][1:] == created[order][:-1]) & (names[order][1:] == names[order][:-1])
    return np.lexsort((ids, names, created)) if bool(same.any()) else order


def differing(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns whose values are not all the same (a missing value differs from a present one)."""
    found = []
    for name in columns:
        values = frame[name]
        if len(values) < 2:
            continue
        missing = values.isna().to_numpy()
        if missing.all():
            continue
        if missing.any():
            found.append(name)
            continue
        data = values.to_numpy()
        if not bool((data == data[0]).all()):
            found.append(name)
        elif data.dtype == object and len({type(v) for v in data}) > 1:
            found.append(name)  # 1 and True, or 1 and 1.0: different as params
    return found


def choose_experiment(store: ResultsReader, experiment: str | None) -> str:
    """``experiment``, checked, or the only experiment of the store."""
    known = store.experiments()
    if experiment is not None:
        if experiment not in known:
            from runyard.errors import RunNotFound

            listing = ", ".join(known) if known else "none yet"
            raise RunNotFound(f"no experiment {experiment!r}{suggestions(experiment, known)} (experiments: {listing})")
        return experiment
    if not known:
        from runyard.errors import RunNotFound

        raise RunNotFound("the store has no experiments yet: run one with `runyard run`")
    if len(known) > 1:
        raise UsageError(f"the store holds {len(known)} experiments; name one: {', '.join(known)}")
    return known[0]
