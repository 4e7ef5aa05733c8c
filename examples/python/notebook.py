"""The study of runyard.yaml, defined, run and compared from Python (paste it into a notebook as it is)."""

from steps import data, evaluate, train

import runyard

exp = runyard.Experiment(
    "line-fit-py",
    steps=[data, train, evaluate],
    metrics={"loss": {"step": "train", "mode": "min"}, "mse": {"step": "evaluate", "mode": "min"}},
    sweeps={"lrs": {"cfg.lr": [0.01, 0.1, 0.5]}},
)
runs = exp.run(seed=[1, 2], jobs=2)
print(runs.compare(over="seed", sort="mse.mean").to_string())
best = runs.df.sort_values("mse").iloc[0]
print("best:", best["name"], runyard.load(best.name, "train"))
