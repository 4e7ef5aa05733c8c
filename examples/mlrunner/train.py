"""A stand-in for fairseq's train.py: one "checkpoint" per epoch in --save-dir."""

import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int)
parser.add_argument("--save-dir")
parser.add_argument("--lr", type=float)
parser.add_argument("--normalization")
parser.add_argument("--early-stop", action="store_true")
args = parser.parse_args()
os.makedirs(args.save_dir, exist_ok=True)
quality = 30 + (2 if args.normalization == "new" else 0) - abs(args.lr - 0.05) * 20 + args.seed * 0.1
for epoch in range(1, 3 if args.early_stop else 4):
    with open(os.path.join(args.save_dir, f"checkpoint{epoch}.txt"), "w") as handle:
        handle.write(f"{quality + epoch}\n")
    print(f"epoch {epoch} done")
