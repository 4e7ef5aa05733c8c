"""Wake-up latency of an idle ``runyard worker``: how long after a submission commits its step starts.

For each trial: an idle ``runyard worker`` (a real subprocess, waiting for work) and a submission of one new
step execution made in this process; the latency is the step's ``started`` time in the store (the worker's
claim) minus the moment just before ``store.submit`` began. A trial that has not started within
``--give-up`` seconds counts as "never". The worker is started once and stays idle between trials
(the next trial waits until the previous step is done).

PostgreSQL: the worker is waited for until its ``LISTEN`` connection is open (pg_stat_activity), so every
trial measures the NOTIFY path; ``--lose-notify`` submits without the NOTIFY (a wake-up lost on the way),
which measures the idle poll of a listening worker. SQLite: the worker polls (``--poll``, 0.5 s by default).

Usage: .venv/bin/python bench/wake.py [--store pg|sqlite] [--trials 8] [--give-up 10] [--src FOLDER]
``--src`` runs the worker with another checkout's ``src`` first on PYTHONPATH (to measure an older version).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = "experiment: wake\nparams: {trial: 0}\nsteps:\n  touch: python -c pass {trial}\n"


def _until(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def measure(store_kind: str, trials: int, give_up: float, src: str | None, *, cli: bool = False,
            gap: float = 1.5, lose_notify: bool = False) -> list[float | None]:
    from runyard.spec import expand, load_spec
    from runyard.store import open_store

    folder = Path(tempfile.mkdtemp(prefix="runyard-wake-"))
    home = folder / "home"
    home.mkdir()
    (folder / "runyard.yaml").write_text(SPEC)
    server = None
    if store_kind == "pg":
        from runyard.testing.pgserver import start_server

        server = start_server()
        url = server.create_database()
    else:
        url = f"sqlite:///{home / 'runyard.db'}"
    store = open_store(url)
    if lose_notify:  # a notification lost on the way: only the worker's idle poll finds the work
        store.notify = lambda conn, payload: None  # type: ignore[attr-defined]
    env = {**os.environ, "RUNYARD_HOME": str(home), "RUNYARD_STORE": url}
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    worker = subprocess.Popen([sys.executable, "-c", "from runyard.cli.main import cli; cli()", "worker",
                               "--jobs", "1", "--gpus", "none"], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies: list[float | None] = []
    try:
        if not _until(lambda: store.workers(), 30):
            raise SystemExit("the worker did not register")
        if server is not None:
            import psycopg

            def listening() -> bool:
                with psycopg.connect(url, autocommit=True) as conn:
                    return bool(conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                             "'runyard-listen' AND query LIKE 'LISTEN%'").fetchone()[0])  # type: ignore[index]
            if not _until(listening, 30):
                raise SystemExit("the worker did not LISTEN")
        time.sleep(1.0)  # let the worker settle into its idle wait (a measurement, not a test)
        for trial in range(1, trials + 1):
            from runyard.spec.expand import Override

            plan = expand(load_spec(str(folder / "runyard.yaml")), home=str(home),
                          overrides=(Override("trial", (trial,), f"trial={trial}"),))
            (key,) = [ex.key for ex in plan.executions]
            began = time.time()
            if cli:
                subprocess.run([sys.executable, "-c", "from runyard.cli.main import cli; cli()", "submit",
                                f"trial={trial}"], cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL)
            else:
                store.submit(plan)

            def started(key: str = key) -> bool:
                found = store.executions("wake", keys=[key])
                return bool(found) and found[0].started is not None

            def done(key: str = key) -> bool:
                return str(store.executions("wake", keys=[key])[0].status) == "done"

            if _until(started, give_up):
                record = store.executions("wake", keys=[key])[0]
                latencies.append(max(0.0, (record.started or began) - began))
                _until(done, 30)
            else:
                latencies.append(None)
            time.sleep(gap)  # idle again, and past any short poll the end of the last step caused
    finally:
        worker.terminate()
        worker.wait(30)
        store.close()
        if server is not None:
            server.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["pg", "sqlite"], default="pg")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--give-up", type=float, default=10.0)
    parser.add_argument("--src", default=None)
    parser.add_argument("--cli", action="store_true", help="submit with `runyard submit` (its start-up counts)")
    parser.add_argument("--gap", type=float, default=1.5, help="idle seconds between trials")
    parser.add_argument("--lose-notify", action="store_true", help="submit without NOTIFY (a lost wake-up)")
    args = parser.parse_args()
    found = measure(args.store, args.trials, args.give_up, args.src, cli=args.cli, gap=args.gap,
                    lose_notify=args.lose_notify)
    seen = [x for x in found if x is not None]
    print("latencies:", " ".join("never" if x is None else f"{x:.3f}" for x in found))
    if seen:
        print(f"{args.store}: median {statistics.median(seen):.3f} s, max {max(seen):.3f} s, "
              f"{len(seen)}/{len(found)} started within {args.give_up:g} s")
    else:
        print(f"{args.store}: 0/{len(found)} started within {args.give_up:g} s")


if __name__ == "__main__":
    main()
