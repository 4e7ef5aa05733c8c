"""What planning pays to keep the identity of runs that ran before a param was added: reading the stored runs'
params and the last spec's defaults (``readonly.earlier_runs``) instead of their names alone
(``readonly.run_names``, the baseline), and expanding with them, for a stored sweep of N runs. Both in the
same process, interleaved, best of R.

Usage: .venv/bin/python bench/earlier_runs.py [--runs 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def best(func: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="runyard-earlier-"))
    try:
        from runyard.app.planning import plan_spec_file
        from runyard.spec import load_spec
        from runyard.spec.expand import expand
        from runyard.spec.identity import Earlier
        from runyard.store import open_store
        from runyard.store.readonly import earlier_runs, run_names

        spec_file = folder / "runyard.yaml"
        values = ", ".join(str(i) for i in range(args.runs))
        spec_file.write_text("experiment: grow\nparams: {i: 0, lr: 0.1}\nsteps:\n  a: 'true {name}'\n"
                             f"sweeps:\n  all: {{i: [{values}]}}\n")
        home = folder / "home"
        home.mkdir()
        url = f"sqlite:///{home / 'runyard.db'}"
        with open_store(url) as store:
            store.submit(plan_spec_file([str(spec_file)], home=str(home)).plan)
        names = best(lambda: run_names(url, "grow"), args.repeat)
        earlier = best(lambda: earlier_runs(url, "grow"), args.repeat)
        taken = run_names(url, "grow")
        runs, defaults = earlier_runs(url, "grow")
        same = load_spec(spec_file)
        same_names = best(lambda: expand(same, home=str(home), taken=taken), args.repeat)
        same_earlier = best(lambda: expand(same, home=str(home), earlier=Earlier(runs, defaults)), args.repeat)
        spec_file.write_text(spec_file.read_text().replace("lr: 0.1}", "lr: 0.1, epochs: 3}"))  # a param added
        spec = load_spec(spec_file)
        plan_names = best(lambda: expand(spec, home=str(home), taken=taken), args.repeat)
        plan_earlier = best(lambda: expand(spec, home=str(home), earlier=Earlier(runs, defaults)), args.repeat)
        kept = expand(spec, home=str(home), earlier=Earlier(runs, defaults))
        assert {r.id for r in kept.runs} == {rid for rid, _ in runs.values()}, "every run kept its id"
        print(f"a stored sweep of {args.runs} runs, a param added at its default; best of {args.repeat}")
        print(f"  read names (baseline):           {names * 1000:8.1f} ms")
        print(f"  read names, params and defaults: {earlier * 1000:8.1f} ms  ratio {earlier / names:.2f}x")
        print(f"  expand, same spec, names (baseline): {same_names * 1000:8.1f} ms")
        print(f"  expand, same spec, earlier runs:     {same_earlier * 1000:8.1f} ms  "
              f"ratio {same_earlier / same_names:.2f}x")
        print(f"  expand with names (baseline):    {plan_names * 1000:8.1f} ms  (every run renamed and new)")
        ratio = plan_earlier / plan_names
        print(f"  expand keeping earlier runs:     {plan_earlier * 1000:8.1f} ms  ratio {ratio:.2f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
