"""Fit y = w x + b by stochastic gradient descent; save the weights.

Reports its training loss with the in-run API (``runyard.log``); test.py's score comes from the
spec's regex instead: both end up in the store.
"""

import argparse
import json
import os
import random

import runyard

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--out", required=True)
args = parser.parse_args()

with open(args.data) as handle:
    points = [tuple(map(float, line.split(","))) for line in handle]
train = points[: len(points) * 4 // 5]
rng = random.Random(args.seed)
w, b = rng.uniform(-1, 1), 0.0
for epoch in range(args.epochs):
    rng.shuffle(train)
    for x, y in train:
        error = w * x + b - y
        w -= args.lr * error * x
        b -= args.lr * error
    loss = sum((w * x + b - y) ** 2 for x, y in train) / len(train)
    runyard.log(train_loss=loss, step=epoch)
    print(f"epoch {epoch} train_loss = {loss:.6f}", flush=True)
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "weights.json"), "w") as handle:
    json.dump({"w": w, "b": b}, handle)
