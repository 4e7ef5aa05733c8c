"""The ``tune:`` block: bad spaces, samplers, pruners and objectives are spec errors with their key path,
all reported together; the block round-trips through the stored spec; the Python API builds the same."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runyard.errors import SpecError
from runyard.spec.load import load_spec, spec_from_dict

METRICS = "metrics: {acc: {step: train, regex: 'acc=(\\\\S+)'}}"


def _problems(tmp_path: Path, tune: str, *, metrics: str = METRICS) -> str:
    spec = tmp_path / "runyard.yaml"
    spec.write_text("experiment: e\nparams: {opt: adam}\nsteps:\n  train: python t.py [lr] [momentum]\n"
                    + metrics + "\ntune:\n" + textwrap.indent(textwrap.dedent(tune).strip(), "  ") + "\n")
    with pytest.raises(SpecError) as caught:
        load_spec(str(spec))
    return str(caught.value)


def test_bad_spaces_are_reported_with_their_key_paths(tmp_path: Path) -> None:
    text = _problems(tmp_path, """
        params:
          lr: {loguniform: [0, 0.1]}
          layers: {int: [8, 2]}
          momentum: {uniform: [0, 1], when: {optimiser: sgd}}
          drop: {uniform: 0.5}
        objective: {metric: acc, direction: up}
        sampler: bayes
        pruner: percentile
        trials: 0
        """)
    for expected in (
        "tune.params.lr.loguniform: a log scale needs low > 0, not 0",
        "tune.params.layers.int: low (8) must be below high (2)",
        "tune.params.momentum.when.optimiser: 'optimiser' is neither a param nor a searched param",
        "tune.params.drop.uniform: must be [low, high], two numbers",
        "tune.objective.direction: unknown direction 'up' (valid: maximize, minimize)",
        "tune.sampler: unknown sampler 'bayes'", "(valid: tpe, random, cmaes, gp, nsga2, grid)",
        "tune.pruner: unknown pruner 'percentile'",
        "tune.trials:",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert "runyard.yaml:" in text  # the file and line of each problem


def test_an_objective_no_step_produces_is_a_spec_error(tmp_path: Path) -> None:
    text = _problems(tmp_path, """
        params: {lr: {loguniform: [1.0e-5, 0.1]}}
        objective: {metric: loss, direction: minimize}
        """)
    assert "tune.objective.metric: 'loss' is never produced" in text and "metrics: acc" in text


def test_the_block_round_trips_and_conditional_params_have_no_default(tmp_path: Path) -> None:
    data = {
        "experiment": "e", "params": {"dataset": "a"},
        "steps": {"train": {"run": "python t.py --lr {lr} --opt {opt} [momentum] --data {dataset}"}},
        "metrics": {"acc": {"step": "train", "regex": "acc=(\\S+)"}},
        "tune": {"params": {"lr": {"loguniform": [1e-5, 1e-1]}, "opt": {"choice": ["adam", "sgd"]},
                            "momentum": {"uniform": [0.0, 0.99], "when": {"opt": "sgd"}},
                            "layers": {"int": [1, 9], "step": 2}},
                 "grid": {"dataset": ["a", "b"]}, "objective": [{"metric": "acc"}], "trials": 5,
                 "sampler": "random", "seed": 3, "pruner": "none"},
    }
    spec = spec_from_dict(data, folder=tmp_path)
    assert spec.tune is not None
    again = spec_from_dict(spec.to_data(), folder=tmp_path)
    assert again.tune == spec.tune
    assert spec.tune.cells() == [{"dataset": "a"}, {"dataset": "b"}]
    assert "momentum" not in spec.params
    momentum = spec.tune.params[2]
    assert momentum.active({"opt": "sgd"}) and not momentum.active({"opt": "adam"})
    assert spec.tune.in_space({"lr": 0.01, "opt": "adam", "layers": 3}) == {"lr": 0.01, "opt": "adam", "layers": 3}
    assert spec.tune.in_space({"lr": 0.01, "opt": "adam", "layers": 4}) is None  # off the int step
    assert spec.tune.in_space({"lr": 0.01, "opt": "adam", "layers": 3, "momentum": 0.5}) is None
    assert spec.tune.in_space({"lr": 1.0, "opt": "sgd", "layers": 3, "momentum": 0.5}) is None  # lr out of bounds
