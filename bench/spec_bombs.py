"""Hostile specs stay cheap: `--sample N` on a 10^9-run grid, and a billion-laughs YAML file.

Times, in the same run, (a) expanding `--sample 5` of a grid of 10^9 runs (drawn lazily: only the 5 runs
are built) against `--sample 5` of a grid of 1,000 runs (expanded in full, then sampled), and (b) loading
a billion-laughs file (refused once its aliases pass the budget) against loading a plain spec of the same
size. Prints each figure, its ratio to the baseline and the peak memory allocated (tracemalloc).
Budget: both well under a second and O(N) in memory.

Usage: .venv/bin/python bench/spec_bombs.py [--sample 5] [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from runyard.errors import SpecError
from runyard.spec import expand, load_spec, spec_from_dict

LAUGHS = ("experiment: laughs\nsteps: {a: echo hi}\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
          + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)))


def grid_spec(axes: int) -> dict[str, object]:
    names = [f"p{i}" for i in range(axes)]
    return {"experiment": "grid", "params": dict.fromkeys(names, 0),
            "steps": {"a": "echo " + " ".join(f"{{{n}}}" for n in names)},
            "sweeps": {"big": {n: list(range(10)) for n in names}}}


def measure(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall time of ``repeat`` calls (seconds) and the peak memory of one call (MB)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return best, peak


def refused(path: Path) -> Callable[[], object]:
    def load() -> object:
        try:
            load_spec(path)
        except SpecError as err:
            return err
        raise SystemExit(f"{path} loaded: the alias budget did not hold")

    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runyard-bombs-") as tmp:
        folder = Path(tmp)
        huge, small = spec_from_dict(grid_spec(9), folder=folder), spec_from_dict(grid_spec(3), folder=folder)
        home = str(folder / "home")
        lazy, lazy_mem = measure(lambda: expand(huge, home=home, sample=args.sample), args.repeat)
        full, full_mem = measure(lambda: expand(small, home=home, sample=args.sample), args.repeat)
        print(f"--sample {args.sample}, best of {args.repeat}")
        print(f"  grid of 1,000 runs (expanded, then sampled): {full * 1e3:8.2f} ms  peak {full_mem:6.2f} MB")
        print(f"  grid of 10^9 runs (drawn lazily):           {lazy * 1e3:8.2f} ms  peak {lazy_mem:6.2f} MB  "
              f"ratio {lazy / full:.2f}x (budget: well under 1 s)")
        bomb = folder / "laughs.yaml"
        bomb.write_text(LAUGHS)
        plain = folder / "plain.yaml"
        plain.write_text("experiment: plain\nsteps: {a: echo hi}\nparams:\n"
                         + "".join(f"  p{i}: {i}\n" for i in range(len(LAUGHS) // 10)))
        bomb_time, bomb_mem = measure(refused(bomb), args.repeat)
        plain_time, plain_mem = measure(lambda: load_spec(plain), args.repeat)
        print(f"YAML files of {len(LAUGHS)} and {plain.stat().st_size} bytes, best of {args.repeat}")
        print(f"  plain spec, loaded:                          {plain_time * 1e3:8.2f} ms  peak {plain_mem:6.2f} MB")
        print(f"  billion laughs (10^9 values), refused:       {bomb_time * 1e3:8.2f} ms  peak {bomb_mem:6.2f} MB  "
              f"ratio {bomb_time / plain_time:.2f}x (budget: well under 1 s)")


if __name__ == "__main__":
    main()
