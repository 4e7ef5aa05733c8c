"""The notebook API: ``runyard.open()`` → :class:`Yard` → :class:`RunSet` (pandas) and :class:`RunView`.

    import runyard
    yard = runyard.open()                      # RUNYARD_STORE / RUNYARD_HOME / nearest .runyard
    runs = yard.runs("norm-study", where="status == done and lr < 0.01")
    runs.df                                    # one row per run: name, status, params, metrics, times
    runs.compare(over="seed", sort="-bleu")    # like `runyard compare`
    runs.metrics("loss")                       # long format: id, name, step, value, time
    yard.run("norm=new").log("train")
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from runyard.analyze.compare import Comparison
from runyard.analyze.compare import compare as compare_table
from runyard.analyze.table import STAGES, Results, choose_experiment, load, parse_stages, stats_for, to_times
from runyard.analyze.where import Where
from runyard.errors import RunNotFound
from runyard.layout import ExecutionPaths, HomePaths, home_in
from runyard.store.checks import sqlite_file

if TYPE_CHECKING:
    import pandas as pd

    from runyard.analyze.curves import Curve
    from runyard.store.base import ExecRecord, MetricSummary, RunRecord, Store
    from runyard.store.roles import ResultsReader


def store_url(home_or_url: str | os.PathLike[str] | None) -> str:
    """The store URL for a home folder (or a project folder holding ``.runyard``), a SQLite file, a URL
    or None (``RUNYARD_STORE``, else
    ``RUNYARD_HOME``, else the nearest ``.runyard``); a SQLite store must exist already."""
    from runyard.home import resolve_home, resolve_store_url

    if home_or_url is None:
        url = resolve_store_url(None, resolve_home(None))
    elif "://" in str(home_or_url):
        url = str(home_or_url)
    else:
        path = Path(home_or_url).expanduser().resolve()
        inner = home_in(str(path))
        if path.is_dir() and not os.path.exists(HomePaths(str(path)).store_file) \
                and os.path.exists(HomePaths(inner).store_file):
            path = Path(inner)  # a project folder: its home is the .runyard inside
        url = f"sqlite:///{path if path.is_file() else HomePaths(str(path)).store_file}"
    file = sqlite_file(url)
    if file is not None and not os.path.exists(file):
        raise RunNotFound(f"no runyard store at {file}: run `runyard run` first, or give the home folder "
                          "or store URL of an existing one")
    return url


def open_yard(home_or_url: str | os.PathLike[str] | None = None) -> Yard:
    """Open the results of a project, read only: a home folder, a ``sqlite:///`` or ``postgresql://``
    URL, or None to resolve like the CLI. Nothing is created."""
    from runyard.store import open_store

    return Yard(open_store(store_url(home_or_url)))


class Yard:
    """The runs and results of a store, read only (``runyard.open()`` gives a :class:`runyard.app.yard.Yard`,
    which adds ``submit``). Use it as a context manager, or call :meth:`close`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def experiments(self) -> list[str]:
        return self.store.experiments()

    def runs(self, experiment: str | None = None, where: str | None = None,
             stage: str | Sequence[str] | None = None) -> RunSet:
        """The runs of ``experiment`` (default: the only one) that match ``where`` (the --where language),
        of ``stage`` (``"sweep"``, ``"final"``, ``"aggregate"``, several, or ``"all"``; default: sweep and final)."""
        name = choose_experiment(self.store, experiment)
        return RunSet(self, name, where, stage)

    def run(self, id_or_name: str, experiment: str | None = None) -> RunView:
        """One run by id (or a unique prefix) or name."""
        return RunView(self.store, self.store.run(id_or_name, experiment))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Yard:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Yard {self.store.url}>"


class RunSet:
    """Runs of one experiment, filtered by a ``where`` expression, as pandas DataFrames."""

    def __init__(self, yard: Yard, experiment: str, where: str | None = None,
                 stage: str | Sequence[str] | None = None) -> None:
        self.yard = yard
        self.experiment = experiment
        self.where = Where.parse(where) if where and where.strip() else None
        self.stages = parse_stages(stage)
        self._all: Results | None = None
        self._results: Results | None = None
        self._stats: set[str] = set()

    def results(self, names: Sequence[str] = ()) -> Results:
        """The filtered :class:`Results`, loaded with the statistics that ``names`` need."""
        wanted = stats_for([*(self.where.names() if self.where else ()), *names])
        if self._results is None or not wanted <= self._stats:
            self._stats |= wanted
            everything = load(self.yard.store, self.experiment, stats=self._stats)
            stages = everything.frame["stage"]
            mask = None if len(self.stages) == len(STAGES) else stages.isin(self.stages).to_numpy()
            if mask is not None and bool(mask.all()):
                mask = None  # every run is of the chosen stages: no copy of the tables
            if self.where is not None:
                self.where.check(everything.problem)
                matched = self.where.evaluate(everything.column, len(everything))
                mask = matched if mask is None else mask & matched
            self._all = everything
            self._results = everything.select(mask)
        return self._results

    @property
    def df(self) -> pd.DataFrame:
        """One row per run (index: run id): name, status, every param, the last value of every
        metric, started, ended (UTC; ended only once the run finished) and duration (seconds).
        A copy: change it freely. The runs are read once per RunSet; ``yard.runs()`` reads them anew."""
        frame: pd.DataFrame = self.results().frame.copy()
        return frame

    def compare(self, over: str | Sequence[str] | None = None, cols: str | Sequence[str] | None = None,
                sort: str | Sequence[str] | None = None, *, all_params: bool = False,
                limit: int | None = None) -> pd.DataFrame:
        """The table of ``runyard compare`` as a DataFrame: per run (index: run id) name, status, the
        params that differ (all with ``all_params``) and the last value of each metric; or the chosen
        ``cols``; sorted by ``sort`` (``"-bleu,lr"``); with ``over`` (``"seed"``), one row per group:
        its params, ``runs``, ``status``, then ``X.mean``, ``X.std`` (ddof=1) and ``X.n`` per metric."""
        return self.comparison(over, cols, sort, all_params=all_params, limit=limit).frame

    def comparison(self, over: str | Sequence[str] | None = None, cols: str | Sequence[str] | None = None,
                   sort: str | Sequence[str] | None = None, *, all_params: bool = False,
                   limit: int | None = None) -> Comparison:
        """Like :meth:`compare`, with what the formats need to know (which columns are aggregated)."""
        from runyard.analyze.compare import parse_sort, split_list

        names = [*split_list(cols), *(name for name, _ in parse_sort(sort))]
        results = self.results(names)
        return compare_table(results, cols=cols, sort=sort, over=over, all_params=all_params, limit=limit)

    def render(self, fmt: str = "markdown", over: str | Sequence[str] | None = None,
               cols: str | Sequence[str] | None = None, sort: str | Sequence[str] | None = None, *,
               all_params: bool = False, limit: int | None = None, raw: bool = False) -> str:
        """The comparison as text: ``table`` (plain, aligned), ``csv``, ``tsv``, ``json`` or ``markdown``
        (exactly what ``runyard compare --format FMT`` prints; ``raw``: every digit, as ``--raw``)."""
        from runyard.analyze.formats import render

        return render(self.comparison(over, cols, sort, all_params=all_params, limit=limit), fmt, raw=raw)

    def best(self, metric: str, by: str | Sequence[str] | None = None, *, over: str | Sequence[str] | None = None,
             mode: str | None = None) -> pd.DataFrame:
        """The best sweep runs of this set on ``metric`` (last value; ``mode`` default: the metric's), one
        per combination of the ``by`` params; with ``over`` (``"seed"``), every run of the config with the
        best mean. Rows of :attr:`df` (index: run id) in pick order. Runs not done or without a value are
        left out; ties go to the first run name (see ``runyard select``)."""
        from runyard.analyze.best import best

        results = self.results([metric])
        sweep = results.select((results.frame["stage"] == "sweep").to_numpy())
        selection = best(sweep, metric, mode=mode, by=by, over=over)
        frame: pd.DataFrame = results.frame.loc[[i for p in selection.picks for i in p.run_ids]].copy()
        return frame

    def metrics(self, name: str) -> pd.DataFrame:
        """Every point of metric ``name`` (a metric column: ``loss`` or ``train.loss``) of these runs,
        long format for plotting: ``id``, ``name`` (the run's), ``step``, ``value``, ``time``."""
        import numpy as np
        import pandas as pd

        results = self.results()
        problem = results.problem(name)
        metric = results.metric(name)
        if metric is None:
            raise RunNotFound(problem or f"{name!r} is not a metric")
        everything = self._all
        subset = None if everything is not None and len(everything) == len(results) else list(results.frame.index)
        data = self.yard.store.metric_series(self.experiment, metric.name, run_ids=subset)
        frame = pd.DataFrame(data)
        if frame.empty:
            frame = pd.DataFrame({c: [] for c in ("run_id", "step_name", "step", "value", "time")})
        frame = frame[frame["step_name"] == metric.step]
        position = pd.Series(np.arange(len(results)), index=results.frame.index)
        names = results.frame["name"]
        frame = frame[frame["run_id"].isin(position.index)]
        out = pd.DataFrame({
            "id": frame["run_id"].to_numpy(dtype=object),
            "name": names.reindex(frame["run_id"]).to_numpy(dtype=object),
            "step": pd.array(frame["step"].to_numpy(dtype=object), dtype="Int64"),
            "value": frame["value"].to_numpy(dtype=float),
            "time": to_times(frame["time"].to_numpy(dtype=float)),
        })
        order = np.lexsort((out["time"].to_numpy(), position.reindex(out["id"]).to_numpy()))
        found: pd.DataFrame = out.iloc[order].reset_index(drop=True)
        return found

    def curves(self, metric: str, over: str | Sequence[str] | None = None) -> list[Curve]:
        """The curves of ``metric``: one per run, or with ``over`` (``"seed"``) one per group of runs that
        differ only in those params (the mean at each step, ``low``/``high`` its mean ± std)."""
        from runyard.analyze.curves import curves_of

        return curves_of(self.results(), self.metrics(metric), over)

    def plot(self, metric: str, over: str | Sequence[str] | None = None, *, ax: Any = None) -> Any:
        """Draw ``metric``'s curves with matplotlib (``pip install 'runyard[plot]'``): one line per run, or
        per group with ``over``, its band shaded. Returns the matplotlib axes."""
        from runyard.analyze.plotting import draw

        return draw(self.curves(metric, over), metric, title=f"{self.experiment}: {metric}", ax=ax,
                    purpose="RunSet.plot")

    def __len__(self) -> int:
        return len(self.results())

    def __iter__(self) -> Iterator[RunView]:
        store = self.yard.store
        for run_id in self.results().frame.index:
            yield RunView(store, run_id)

    def __repr__(self) -> str:
        where = f" where {self.where.text}" if self.where else ""
        return f"<RunSet {self.experiment}: {len(self)} runs{where}>"

    def _repr_html_(self) -> str:
        frame: Any = self.df
        return str(frame._repr_html_())


class RunView:
    """One run: params, status, metric summaries, folders, logs and provenance (read when asked)."""

    def __init__(self, store: ResultsReader, record: RunRecord | str) -> None:
        self._store = store
        self._record = record if not isinstance(record, str) else None
        self.id = record if isinstance(record, str) else record.id
        self._execs: list[ExecRecord] | None = None

    @property
    def record(self) -> RunRecord:
        if self._record is None:
            self._record = self._store.run(self.id)
        return self._record

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def experiment(self) -> str:
        return self.record.experiment

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.record.params)

    @property
    def status(self) -> str:
        return str(self.record.status)

    @property
    def folder(self) -> str:
        """The run folder."""
        return self.record.folder

    @property
    def steps(self) -> list[str]:
        return [step for step, _ in self.record.steps]

    @property
    def executions(self) -> dict[str, ExecRecord]:
        """Step name → its execution record (status, command, times, exit code, provenance ...)."""
        if self._execs is None:
            keys = [key for _, key in self.record.steps]
            self._execs = self._store.executions(self.record.experiment, keys=keys)
        by_key = {ex.key: ex for ex in self._execs}
        return {step: by_key[key] for step, key in self.record.steps if key in by_key}

    @property
    def folders(self) -> dict[str, str]:
        """Step name → the folder of its execution (command, log, metrics, meta.json, out/)."""
        return {step: ex.folder for step, ex in self.executions.items()}

    @property
    def provenance(self) -> dict[str, dict[str, Any]]:
        """Step name → what was recorded when it ran (git, packages, host, GPU, command, env ...)."""
        return {step: dict(ex.provenance or {}) for step, ex in self.executions.items()}

    @property
    def metrics(self) -> dict[str, MetricSummary]:
        """Metric → summary (last, last_step, min, max, count). A metric two steps of the run report
        is named ``step.name`` for both."""
        steps = dict(self.record.steps)
        found = self._store.metric_summaries(list(steps.values()))
        counts: dict[str, int] = {}
        for key in steps.values():
            for metric in found.get(key, {}):
                counts[metric] = counts.get(metric, 0) + 1
        out: dict[str, MetricSummary] = {}
        for step, key in steps.items():
            for metric, summary in found.get(key, {}).items():
                out[metric if counts[metric] == 1 else f"{step}.{metric}"] = summary
        return out

    def log(self, step: str | None = None) -> str:
        """The log of ``step`` (default: the failed step, else the running one, else the last started)."""
        execs = self.executions
        if step is not None:
            if step not in execs:
                from runyard.errors import suggest

                raise RunNotFound(f"run {self.name} has no step {step!r}{suggest(step, execs, most=3)} "
                                  f"(steps: {', '.join(execs)})")
            chosen = execs[step]
        else:
            chosen = _pick(list(execs.values()))
        path = Path(ExecutionPaths(chosen.folder).log)
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def __repr__(self) -> str:
        return f"<Run {self.name} ({self.id[:12]}) {self.status}>"


def _pick(execs: list[ExecRecord]) -> ExecRecord:
    from runyard.model import Status

    for status in (Status.FAILED, Status.RUNNING):
        for ex in execs:
            if ex.status == status:
                return ex
    started = [ex for ex in execs if ex.started is not None]
    if started:
        return max(started, key=lambda ex: ex.started or 0.0)
    if not execs:
        raise RunNotFound("the run has no step executions in the store")
    return execs[0]
