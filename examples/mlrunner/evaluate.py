"""A stand-in for fairseq's generate.py: prints the BLEU line mlrunner users grep for."""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--path")
args = parser.parse_args()
with open(args.path) as handle:
    score = float(handle.read())
print(f"Generate test with beam=5: BLEU4 = {score:.2f}, 60.1/35.2/22.0/14.3")
