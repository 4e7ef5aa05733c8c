"""SQLite fast path of ``Store.results``: table scans packed by SQLite, joined with numpy.

SQLite joins by index lookups, about a microsecond per row on 64-character keys, and building a
Python tuple per row costs nearly as much. So each table is read by ONE aggregate query per
million rows that packs a column into one value: keys concatenated into a blob (read by numpy as
fixed-width ``S64``), text joined with a unit separator, JSON one object per line (parsed by
``param_table.py``), numbers printed with 17 significant digits (exact round trip) and parsed by
``numpy.fromstring``. Runs, executions, run steps and summaries
are read at once on separate connections (SQLite runs those queries without the GIL), then joined
by sorted-key search. A table that breaks the packing (a key that is not 64 characters, a name
holding the separator) makes the caller fall back to the portable joined queries.

Each query reads its own snapshot: a sweep that is being written may show a run whose newest
executions or metrics are not in the answer yet, as any later read would show them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from runyard.store.base import ResultTables
from runyard.store.param_table import param_frame
from runyard.store.records import MISSING_RANK, RANK_STATUS, STATUS_RANK

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from runyard.store.engine import SqlCore

KEY_LEN = 64
SEP = "\x1f"
ROWS_PER_QUERY = 1_000_000  # keeps every packed value far below SQLite's 1e9-byte string limit
SCAN_SHARE = 3  # scan a whole table when the experiment holds at least a third of it, else look up


class Unpackable(Exception):
    """The table does not fit the packing: use the portable path."""


def _column(kind: str, template: str) -> Callable[[str], tuple[str, str]]:
    """How a column is packed: its kind (how it is unpacked) and the aggregate, ``{col}`` the column."""
    return lambda col: (kind, template.format(col=col))


_key = _column("key", "CAST(group_concat({col}, '') AS BLOB), sum(length({col}) != " + str(KEY_LEN) + ")")
_text = _column("text", "group_concat({col}, char(31))")
#: exact: 17 significant digits
_number = _column("number", "group_concat(CASE WHEN {col} IS NULL THEN 'nan' ELSE printf('%!.17g', {col}) END, ',')")
#: SQLite's own conversion, 15 significant digits (10 µs for a time in seconds): faster than printf
_time = _column("number", "group_concat(ifnull({col}, 'nan'), ',')")
#: a one-digit integer per row, concatenated
_digit = _column("digit", "group_concat({col}, '')")
#: text without line breaks (JSON as the store writes it), one line per row
_lines = _column("lines", "group_concat({col}, char(10))")


def _packed(store: SqlCore, table: str, columns: list[tuple[str, str]], where: str = "",
            params: dict[str, Any] | None = None) -> list[Any]:
    """Read ``columns`` of ``table`` (rows matching ``where``) unpacked: one array or list per column."""
    select = ", ".join(["count(*)", *(sql for _, sql in columns)])
    fetched: list[tuple[Any, ...]] = []
    with store.tx(write=False) as conn:  # one snapshot for every chunk
        driver = conn.connection.driver_connection
        assert driver is not None
        cur = driver.cursor()
        top = cur.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
        for low in range(0, top, ROWS_PER_QUERY):
            clause = f"rowid > {low} AND rowid <= {low + ROWS_PER_QUERY}" + (f" AND ({where})" if where else "")
            fetched.append(cur.execute(f"SELECT {select} FROM {table} WHERE {clause}", params or {}).fetchone())
        cur.close()
    import numpy as np  # after the query: a first import of numpy elsewhere overlaps with it

    parts: list[list[Any]] = [[] for _ in columns]
    for row in fetched:
        count, values = row[0], list(row[1:])
        if not count:
            continue
        for index, (kind, _) in enumerate(columns):
            value = values.pop(0)
            if kind == "key":
                if values.pop(0):
                    raise Unpackable(table)
                parts[index].append(np.frombuffer(value, dtype=f"S{KEY_LEN}"))
            elif kind == "text":
                items = value.split(SEP)
                if len(items) != count:
                    raise Unpackable(table)
                parts[index].append(items)
            elif kind == "number":
                parts[index].append(np.fromstring(value, dtype=np.float64, sep=","))
            elif kind == "digit":
                digits = np.frombuffer(value.encode("ascii"), dtype=np.uint8)
                if len(digits) != count:
                    raise Unpackable(table)
                parts[index].append(digits - np.uint8(48))
            else:
                if value.count("\n") + 1 != count:
                    raise Unpackable(table)
                parts[index].append(value)
    found: list[Any] = []
    for (kind, _), chunks in zip(columns, parts, strict=True):
        if kind in ("key", "number", "digit"):
            empty_type: Any = {"key": f"S{KEY_LEN}", "number": np.float64, "digit": np.uint8}[kind]
            found.append(np.concatenate(chunks) if chunks else np.empty(0, dtype=empty_type))
        elif kind == "lines":
            found.append("\n".join(chunks))
        elif len(chunks) == 1:
            found.append(chunks[0])
        else:
            found.append([item for chunk in chunks for item in chunk])
    return found


def _count(store: SqlCore, sql: str, params: dict[str, Any]) -> int:
    with store.tx(write=False) as conn:
        return int(conn.exec_driver_sql(sql, params).scalar_one())


_LOW_NIBBLES = 0x0F0F0F0F0F0F0F0F
_LETTER_BITS = 0x0101010101010101


def _codes(keys: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """64-bit codes of hex keys: their first 16 hex digits, decoded 8 bytes at a time."""
    import numpy as np

    head = np.ascontiguousarray(keys.view(np.uint8).reshape(-1, KEY_LEN)[:, :16])
    words = head.view("<u8")  # (n, 2): 8 ASCII hex digits each (other bytes give some code: matches are checked)
    nibbles = (words & np.uint64(_LOW_NIBBLES)) + np.uint64(9) * ((words >> np.uint64(6)) & np.uint64(_LETTER_BITS))
    packed = (nibbles | (nibbles >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    packed = (packed | (packed >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    packed = (packed | (packed >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)
    codes: npt.NDArray[np.uint64] = (packed[:, 0] << np.uint64(32)) | packed[:, 1]
    return codes


class _Keys:
    """Unique keys for lookups: ``positions(query)`` gives each query key's row, or -1. Keys are
    matched by 64-bit codes (a hash table), and every match is then checked on the whole key."""

    def __init__(self, keys: npt.NDArray[Any]) -> None:
        import pandas as pd

        self.keys = keys
        self.index = pd.Index(_codes(keys))
        if not self.index.is_unique:
            raise Unpackable("two keys share their first 16 digits")

    def positions(self, query: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        import numpy as np

        if not len(self.keys) or not len(query):
            return np.full(len(query), -1, dtype=np.int64)
        codes: Any = _codes(query)
        rows = self.index.get_indexer(codes).astype(np.int64)
        matched = rows >= 0
        if not bool((self.keys[rows[matched]] == query[matched]).all()):
            raise Unpackable("two keys share their first 16 digits")
        return rows


def _runs(store: SqlCore, experiment: str) -> list[Any]:
    cols = [_key("id"), _text("name"), _lines("params"), _time("created")]
    return _packed(store, "runs", cols, "experiment = :e", {"e": experiment})


def _staged(store: SqlCore, experiment: str) -> list[tuple[str, str, str | None]]:
    """(id, stage, origin) of the runs that are not plain sweep runs: few, so read as rows."""
    sql = ("SELECT id, stage, origin FROM runs WHERE experiment = :e AND (stage != 'sweep' OR origin IS NOT NULL)")
    with store.tx(write=False) as conn:
        return [(str(r[0]), str(r[1]), r[2]) for r in conn.exec_driver_sql(sql, {"e": experiment})]


def _executions(store: SqlCore, experiment: str) -> list[Any]:
    rank = " ".join(f"WHEN '{status}' THEN {value}" for status, value in STATUS_RANK.items())
    cols = [_key("key"), _text("step"), _digit(f"CASE status {rank} ELSE {MISSING_RANK} END"), _time("started"),
            _time("ended")]
    return _packed(store, "executions", cols, "experiment = :e", {"e": experiment})


def _links(store: SqlCore, experiment: str, runs_in_experiment: int) -> list[Any]:
    cols = [_key("run_id"), _key("exec_key")]
    total = _count(store, "SELECT count(*) FROM runs", {})
    if runs_in_experiment * SCAN_SHARE >= total:
        return _packed(store, "run_steps", cols)  # runs of other experiments are dropped by the join
    return _packed(store, "run_steps", cols, "run_id IN (SELECT id FROM runs WHERE experiment = :e)",
                   {"e": experiment})


def _summaries(store: SqlCore, experiment: str, stats: list[str]) -> list[Any]:
    cols = [_key("exec_key"), _text("name"), *(_number(f'"{stat}"') for stat in stats)]
    mine = _count(store, "SELECT count(*) FROM executions WHERE experiment = :e", {"e": experiment})
    total = _count(store, "SELECT count(*) FROM executions", {})
    if mine * SCAN_SHARE >= total:
        return _packed(store, "metric_summary", cols)
    return _packed(store, "metric_summary", cols,
                   "exec_key IN (SELECT key FROM executions WHERE experiment = :e)", {"e": experiment})


def sqlite_results(store: SqlCore, experiment: str, stats: list[str]) -> ResultTables | None:
    """The results of ``experiment`` read by scans, or None when the tables do not fit the packing."""
    try:
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="runyard-scan") as pool:
            runs_in_experiment = _count(store, "SELECT count(*) FROM runs WHERE experiment = :e", {"e": experiment})
            execs_job = pool.submit(_executions, store, experiment)
            links_job = pool.submit(_links, store, experiment, runs_in_experiment)
            summaries_job = pool.submit(_summaries, store, experiment, stats)
            staged_job = pool.submit(_staged, store, experiment)
            run_ids, names, params, created = _runs(store, experiment)
            params = param_frame(params)  # while the other reads finish
            exec_keys, exec_step, exec_rank, exec_started, exec_ended = execs_job.result()
            link_run, link_exec = links_job.result()
            summary_key, summary_name, *summary_stats = summaries_job.result()
            staged = staged_job.result()
        return _join(stats, (run_ids, names, params, created, staged),
                     (exec_keys, exec_step, exec_rank, exec_started, exec_ended), (link_run, link_exec),
                     (summary_key, summary_name, summary_stats))
    except Unpackable:
        return None


def _join(stats: list[str], run_cols: tuple[Any, ...], exec_cols: tuple[Any, ...], link_cols: tuple[Any, ...],
          summary_cols: tuple[Any, ...]) -> ResultTables:
    """Runs, executions, run steps and summaries (as read) joined into :class:`ResultTables`."""
    import numpy as np

    run_ids, names, params, created, staged = run_cols
    exec_keys, exec_step, exec_rank, exec_started, exec_ended = exec_cols
    link_run, link_exec = link_cols
    summary_key, summary_name, summary_stats = summary_cols
    n_runs = len(run_ids)
    # run steps of this experiment's runs, with the row of their execution (-1: not in the store)
    link_run_pos = _Keys(run_ids).positions(link_run)
    mine = link_run_pos >= 0
    exec_index = _Keys(exec_keys)
    link_run_pos = link_run_pos[mine]
    link_exec_pos = exec_index.positions(link_exec[mine])
    known = link_exec_pos >= 0
    at = np.where(known, link_exec_pos, 0)

    def per_link(values: npt.NDArray[np.float64], missing: float) -> npt.NDArray[np.float64]:
        return np.where(known, values[at] if len(values) else missing, missing)

    rank = np.zeros(n_runs)
    np.maximum.at(rank, link_run_pos, per_link(exec_rank.astype(np.float64), MISSING_RANK))
    started = np.full(n_runs, np.inf)
    np.fmin.at(started, link_run_pos, per_link(exec_started, np.nan))
    ended = np.full(n_runs, -np.inf)
    np.fmax.at(ended, link_run_pos, per_link(exec_ended, np.nan))
    durations = per_link(exec_ended - exec_started, np.nan)
    has = ~np.isnan(durations)
    duration = np.bincount(link_run_pos[has], weights=durations[has], minlength=n_runs).astype(np.float64)
    duration[np.bincount(link_run_pos[has], minlength=n_runs) == 0] = np.nan
    status = np.asarray(RANK_STATUS, dtype=object)[rank.astype(np.int64)]
    stages = np.full(n_runs, "sweep", dtype=object)
    origins = np.full(n_runs, None, dtype=object)
    if staged:
        at_run = _Keys(run_ids).positions(np.asarray([s[0].encode() for s in staged], dtype=f"S{KEY_LEN}"))
        for position, (_, stage, origin) in zip(at_run.tolist(), staged, strict=True):
            if position >= 0:
                stages[position], origins[position] = stage, origin

    # summaries × the run steps of their execution (an execution shared by runs reports to each)
    summary_exec = exec_index.positions(summary_key)
    keep = np.nonzero(summary_exec >= 0)[0]
    link_order = np.argsort(link_exec_pos, kind="stable")
    link_sorted = link_exec_pos[link_order]
    wanted = summary_exec[keep]
    first = np.searchsorted(link_sorted, wanted, "left")
    counts = np.searchsorted(link_sorted, wanted, "right") - first
    summary_rows = np.repeat(keep, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    link_rows = link_order[np.repeat(first, counts) + offsets]
    summaries: dict[str, Any] = {
        "run": link_run_pos[link_rows],
        "step": np.asarray(exec_step, dtype=object)[summary_exec[summary_rows]],
        "name": np.asarray(summary_name, dtype=object)[summary_rows],
    }
    for stat, values in zip(stats, summary_stats, strict=True):
        summaries[stat] = values[summary_rows]
    runs: dict[str, Any] = {
        "id": run_ids.astype(str),
        "name": names,
        "params": params,
        "created": created,
        "stage": stages,
        "origin": origins,
        "status": status,
        "started": np.where(np.isinf(started), np.nan, started),
        "ended": np.where(np.isinf(ended), np.nan, ended),
        "duration": duration,
    }
    return ResultTables(runs=runs, summaries=summaries)
