"""``runyard.Experiment(...).tune(...)``: the same search from Python; a grid axis gives one study per
value (tune ``x`` for each ``dataset``), each with its own trial numbers; the runs carry trial columns."""

from __future__ import annotations

import sys
from pathlib import Path

import runyard

OBJ_PY = '''
def score(x: float = 0.0, dataset: str = "a") -> dict:
    target = 0.25 if dataset == "a" else 0.75
    return {"err": abs(x - target)}
'''


def test_tune_from_python_with_a_study_per_grid_value(tmp_path: Path) -> None:
    (tmp_path / "tunedobj.py").write_text(OBJ_PY)
    sys.path.insert(0, str(tmp_path))
    try:
        exp = runyard.Experiment("py-tune", {"fit": "tunedobj:score"}, folder=tmp_path, home=tmp_path / ".runyard")
        runs = exp.tune({"x": {"uniform": [0, 1]}}, {"metric": "err", "direction": "minimize"}, trials=6,
                        sampler="random", seed=4, grid={"dataset": ["a", "b"]}, inline=True)
    finally:
        sys.path.remove(str(tmp_path))
    frame = runs.df
    assert len(frame) == 12 and set(frame["trial_state"]) == {"complete"}
    for dataset in ("a", "b"):
        mine = frame[frame["dataset"] == dataset]
        assert sorted(mine["trial"].tolist()) == list(range(6))  # one study per grid value
        assert (mine["best"] == "*").sum() == 1
        best = mine[mine["best"] == "*"].iloc[0]
        assert best["err"] == mine["err"].min()
