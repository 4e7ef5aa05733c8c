"""The size of a plan before it is expanded, and a random subset of a grid too large to expand.

A grid's runs are numbered in expansion order (the grids of the selected sweeps one after the other,
in each the last param varying fastest), so run number ``i`` is decoded from ``i`` alone: ``--sample N``
draws N numbers and builds only those runs (memory O(N), whatever the grid's size).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Hashable, Sequence

from runyard.errors import Problem, SpecError
from runyard.model import ParamValue
from runyard.spec.types import Grid

MAX_RUNS = 1_000_000  # a plan of more runs is refused unless --sample picks some

Axes = Sequence[tuple[str, Sequence[ParamValue]]]
Assignment = tuple[dict[str, ParamValue], Grid]


def grid_size(axes: Axes) -> int:
    return math.prod(len(values) for _, values in axes)


def too_many(total: int, source: str) -> SpecError:
    return SpecError([Problem(f"{source}: sweeps",
                              f"the selected sweeps expand to {total:,} runs, more than {MAX_RUNS:,}: run a random "
                              "subset with --sample N (sample= from Python), or pick fewer values (--sweep NAME, "
                              "KEY=VALUE pins a param)")])


def every_run(grids: Sequence[tuple[Axes, Grid]]) -> list[Assignment]:
    """Every run of the grids, in expansion order."""
    out: list[Assignment] = []
    for axes, grid in grids:
        keys = [k for k, _ in axes]
        for combo in itertools.product(*(values for _, values in axes)):
            out.append((dict(zip(keys, combo, strict=True)), grid))
    return out


def nth(grids: Sequence[tuple[Axes, Grid]], index: int) -> Assignment:
    """Run number ``index`` of the grids, in expansion order."""
    for axes, grid in grids:
        size = grid_size(axes)
        if index < size:
            values: dict[str, ParamValue] = {}
            for key, choices in reversed(axes):  # the last axis varies fastest
                index, pick = divmod(index, len(choices))
                values[key] = choices[pick]
            return {key: values[key] for key, _ in axes}, grid
        index -= size
    raise IndexError(index)


def sample_lazily(grids: Sequence[tuple[Axes, Grid]], total: int, count: int, seed: int,
                  identity: Callable[[dict[str, ParamValue]], Hashable]) -> list[Assignment]:
    """``count`` runs of distinct ``identity`` drawn (seeded) from the ``total`` runs of ``grids``, in expansion
    order; fewer only when the grids hold fewer distinct runs among the numbers tried."""
    rng = random.Random(seed)
    tried: set[int] = set()
    picked: dict[Hashable, int] = {}
    draws = rng.sample(range(total), min(count, total))  # O(count) for a range, whatever its length
    attempts = 20 * count + 100  # duplicates only arise across grids: a few redraws suffice
    while draws:
        for index in draws:
            tried.add(index)
            ident = identity(nth(grids, index)[0])
            if ident not in picked:
                picked[ident] = index
        missing = count - len(picked)
        attempts -= len(draws)
        draws = []
        while missing > 0 and attempts > 0 and len(tried) + len(draws) < total:
            index = rng.randrange(total)
            if index not in tried and index not in draws:
                draws.append(index)
                missing -= 1
    return [nth(grids, index) for index in sorted(picked.values())]
