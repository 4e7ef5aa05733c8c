"""A stand-in for fairseq's average_checkpoints.py: the mean of the last N checkpoints."""

import argparse
import glob
import os

parser = argparse.ArgumentParser()
parser.add_argument("--inputs")
parser.add_argument("--num-epoch-checkpoints", type=int)
parser.add_argument("--output")
args = parser.parse_args()
paths = sorted(glob.glob(os.path.join(args.inputs, "checkpoint*.txt")))[-args.num_epoch_checkpoints:]
values = []
for path in paths:
    with open(path) as handle:
        values.append(float(handle.read()))
with open(args.output, "w") as handle:
    handle.write(f"{sum(values) / len(values)}\n")
print(f"averaged {len(values)} checkpoints")
