"""Score saved weights on the held-out fifth of the data."""

import argparse
import json

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--weights", required=True)
args = parser.parse_args()

with open(args.data) as handle:
    points = [tuple(map(float, line.split(","))) for line in handle]
held_out = points[len(points) * 4 // 5 :]
with open(args.weights) as handle:
    weights = json.load(handle)
mse = sum((weights["w"] * x + weights["b"] - y) ** 2 for x, y in held_out) / len(held_out)
print(f"test_mse = {mse:.6f}")
