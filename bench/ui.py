"""The dashboard's speed over large sweeps, and the weight of each page.

Builds SQLite stores of N synthetic finished runs (``bench/compare.py``'s builder: 20 params, 5 metrics,
3 steps a run), serves each with a real ``runyard ui`` subprocess and times, best of ``--repeat``, HTTP
requests of the runs table (first page, sorted, filtered + sorted, grouped ``--over seed``, and the JSON
API), against the baseline in the same run: ``runyard.open(home).runs(exp).df``, the DataFrame the table is
made from (in-process, no HTTP). "first" is the first request of a view, "best" the best of
``--repeat``: the dashboard keeps the runs it read (per experiment and filter) while nothing changes, so a
re-sort, a page or a grouping of the same view answers without reading the store again.

Then one execution gets a 1,000,000-point series: the time to answer ``/api/runs/<run>/metrics/loss?points=2000``
and the points it returns, against reading the raw series from the store (``Store.metric_series``).
Last, the bytes of each page and of the files it loads, as sent (gzip) and unpacked.

Budgets: the runs table of 10,000 runs in <= 1 s; 100,000 usable; 1,000,000 points sent as <= 2,000.

Usage: .venv/bin/python bench/ui.py [--runs 10000,100000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).parent))
from compare import EXPERIMENT, build

RUNYARD = str(Path(sys.executable).with_name("runyard"))
SERIES_POINTS = 1_000_000


def start_ui(home: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([RUNYARD, "ui", "--home", str(home), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "open http" not in line:
        sys.exit(f"runyard ui did not start: {line!r}")
    return proc, int(line.split("open http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def fetch(port: int, path: str, *, packed: bool = False) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("GET", path, headers={"accept-encoding": "gzip"} if packed else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def timings(func: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(first, best) wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return times[0], min(times), result


def best(func: Callable[[], object], repeat: int) -> tuple[float, object]:
    _, fastest, result = timings(func, repeat)
    return fastest, result


def timed_get(port: int, path: str, repeat: int) -> tuple[float, float, int]:
    def get() -> object:
        status, body = fetch(port, path)
        if status != 200:
            sys.exit(f"GET {path}: {status} {body[:300]!r}")
        return len(body)

    first, fastest, size = timings(get, repeat)
    return first, fastest, int(size)  # type: ignore[call-overload]


def add_long_series(home: Path) -> tuple[str, str]:
    """1,000,000 points of ``loss`` for the train step of the first run: (run id, execution key)."""
    db = sqlite3.connect(home / "runyard.db")
    run_id, key = db.execute("SELECT r.id, rs.exec_key FROM runs r JOIN run_steps rs ON rs.run_id = r.id "
                             "WHERE rs.step = 'train' ORDER BY r.name LIMIT 1").fetchone()
    rng = random.Random(1)
    value = 10.0
    rows = []
    for step in range(SERIES_POINTS):
        value = max(0.01, value * 0.999995 + rng.gauss(0, 0.01))
        rows.append((key, "loss", step + 2, value, 1e9 + step))
    with db:
        db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)
        db.execute("UPDATE metric_summary SET count = count + ?, last = ?, last_step = ? "
                   "WHERE exec_key = ? AND name = 'loss'", (SERIES_POINTS, value, SERIES_POINTS + 1, key))
    db.close()
    return run_id, key


def page_weights(port: int, run_id: str) -> list[tuple[str, int, int, int, int]]:
    """Per page: (page, HTML bytes, HTML gzip bytes, files it loads, their gzip bytes)."""
    pages = {"experiments": "/", "runs table": f"/e/{EXPERIMENT}", "run": f"/run/{run_id}",
             "compare": f"/compare?experiment={EXPERIMENT}&metric=loss", "step graph": f"/graph/{EXPERIMENT}",
             "queue": "/queue"}
    out = []
    for name, path in pages.items():
        _, html = fetch(port, path)
        _, packed = fetch(port, path, packed=True)
        assets = re.findall(r'(?:src|href)="(/(?:static|vendor)/[^"]+)"', html.decode())
        raw = sum(len(fetch(port, a)[1]) for a in assets)
        sent = 0
        for asset in assets:
            body = fetch(port, asset, packed=True)[1]
            sent += len(body)
            assert body[:2] == b"\x1f\x8b" or len(body) < 1024 or gzip  # small files are sent as they are
        out.append((name, len(html), len(packed), raw, sent))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="10000,100000", help="Sizes of the sweeps (comma-separated).")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="Build the stores in DIR and keep them (reused when present).")
    args = parser.parse_args()
    sizes = [int(s) for s in args.runs.split(",")]
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="runyard-ui-bench-"))
    import runyard

    try:
        for count in sizes:
            home = folder / f"home-{count}"
            if not (home / "runyard.db").exists():
                home.mkdir(parents=True, exist_ok=True)
                start = time.perf_counter()
                build(home, count)
                if count == sizes[0]:
                    add_long_series(home)
                print(f"built {count:,} runs in {time.perf_counter() - start:.1f} s")

            def frame(home: Path = home) -> object:
                with runyard.open(str(home)) as yard:
                    return yard.runs(EXPERIMENT).df

            t_base, _ = best(frame, args.repeat)
            proc, port = start_ui(home)
            try:
                # the process's first table imports pandas and numpy: done here, off the figures
                fetch(port, "/api/runs?" + urlencode({"experiment": EXPERIMENT, "where": "lr > 100"}))
                print(f"\n{count:,} runs — baseline runyard.open().runs().df: {t_base:.3f} s")
                print(f"{'request':52} {'first s':>8} {'× base':>7} {'best s':>7} {'× base':>7} {'bytes':>8}")
                where = quote("lr < 0.05 and data == wmt14")
                for label, path in [
                    ("runs table, first page", f"/e/{EXPERIMENT}"),
                    ("sorted by -bleu", f"/e/{EXPERIMENT}?sort=-bleu"),
                    ("filtered (lr < 0.05, data == wmt14), sorted", f"/e/{EXPERIMENT}?where={where}&sort=loss"),
                    ("grouped over seed (mean ± std)", f"/e/{EXPERIMENT}?over=seed&sort=-bleu"),
                    ("page 100", f"/e/{EXPERIMENT}?sort=-bleu&page=100"),
                    ("/api/runs sorted (JSON, 50 rows)", "/api/runs?" + urlencode(
                        {"experiment": EXPERIMENT, "sort": "-bleu"})),
                ]:
                    first, seconds, size = timed_get(port, path, args.repeat)
                    print(f"{label:52} {first:8.3f} {first / t_base:7.2f} {seconds:7.3f} {seconds / t_base:7.2f} "
                          f"{size:8,}")
                if count == sizes[0]:
                    series_figures(home, port, args.repeat)
                    print("\npage weights (10k-run store): HTML and the files it loads, unpacked / as sent (gzip)")
                    print(f"{'page':14} {'HTML':>9} {'sent':>8} {'files':>10} {'sent':>10}")
                    db = sqlite3.connect(home / "runyard.db")
                    run_id = db.execute("SELECT id FROM runs ORDER BY name LIMIT 1").fetchone()[0]
                    db.close()
                    for name, html, html_gz, raw, sent in page_weights(port, run_id):
                        print(f"{name:14} {html:9,} {html_gz:8,} {raw:10,} {sent:10,}")
            finally:
                proc.terminate()
                proc.wait()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def series_figures(home: Path, port: int, repeat: int) -> None:
    import json

    from runyard.store import open_store

    db = sqlite3.connect(home / "runyard.db")
    run_id = db.execute("SELECT r.id FROM runs r JOIN run_steps rs ON rs.run_id = r.id JOIN metrics m "
                        "ON m.exec_key = rs.exec_key GROUP BY r.id ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    db.close()
    with open_store(f"sqlite:///{home / 'runyard.db'}", readonly=True) as store:
        t_raw, raw = best(lambda: store.metric_series(EXPERIMENT, "loss", run_ids=[run_id]), repeat)
    total = len(raw["value"])  # type: ignore[index]
    path = f"/api/runs/{run_id}/metrics/loss?points=2000"
    _, seconds, size = timed_get(port, path, repeat)
    answer = json.loads(fetch(port, path)[1])
    print(f"\n{total:,}-point series — baseline Store.metric_series (raw rows): {t_raw:.3f} s")
    print(f"{'/api/runs/<run>/metrics/loss?points=2000':52} {seconds:8.3f} {seconds / t_raw:7.2f} {size:9,}"
          f"  → {len(answer['steps']):,} points of {answer['total']:,}")


if __name__ == "__main__":
    main()
