"""Make a noisy linear data set: y = 3 x - 1 + noise."""

import argparse
import os
import random

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

rng = random.Random(0)
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "data.csv"), "w") as handle:
    for _ in range(args.n):
        x = rng.uniform(-1, 1)
        handle.write(f"{x},{3 * x - 1 + rng.gauss(0, 0.1)}\n")
print(f"wrote {args.n} points to {args.out}/data.csv")
