"""Run numbers decode to the same runs a full expansion lists, and a lazy sample draws distinct runs."""

from __future__ import annotations

import itertools

from runyard.spec.keys import canonical_json
from runyard.spec.sampling import grid_size, nth, sample_lazily
from runyard.spec.types import Grid

GRIDS = [
    ([("a", (1, 2, 3)), ("b", ("x", "y"))], Grid(axes=())),
    ([("a", (1, 2)), ("c", (True, False, None))], Grid(axes=(), steps=("s",))),
]


def expanded() -> list[tuple[dict[str, object], Grid]]:
    out = []
    for axes, grid in GRIDS:
        keys = [k for k, _ in axes]
        out += [(dict(zip(keys, combo, strict=True)), grid) for combo in itertools.product(*(v for _, v in axes))]
    return out


def test_run_numbers_decode_in_expansion_order() -> None:
    total = sum(grid_size(axes) for axes, _ in GRIDS)
    assert [nth(GRIDS, i) for i in range(total)] == expanded()


def test_lazy_sample_is_seeded_distinct_and_in_expansion_order() -> None:
    total = sum(grid_size(axes) for axes, _ in GRIDS)
    order = [canonical_json(p) for p, _ in expanded()]
    picked = sample_lazily(GRIDS, total, 5, seed=3, identity=canonical_json)
    assert picked == sample_lazily(GRIDS, total, 5, seed=3, identity=canonical_json)
    positions = [order.index(canonical_json(p)) for p, _ in picked]
    assert len(picked) == 5 and positions == sorted(set(positions))


def test_lazy_sample_skips_runs_two_grids_share() -> None:
    grids = [([("a", (1, 2))], Grid(axes=())), ([("a", (1, 2))], Grid(axes=()))]  # the same 2 runs twice
    picked = sample_lazily(grids, 4, 4, seed=0, identity=canonical_json)
    assert sorted(p["a"] for p, _ in picked) == [1, 2]
