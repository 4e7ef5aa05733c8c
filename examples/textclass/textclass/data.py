"""Data preparation: synthetic two-class "reviews" split into train, valid and test.

Positive and negative documents prefer different sentiment words; some phrases flip their meaning
("not good" in a negative review), which bigram features can see and unigram features cannot.
"""

from __future__ import annotations

import random

NEUTRAL = [f"w{i}" for i in range(60)]
POSITIVE = ["good", "great", "fine", "love", "best", "nice"]
NEGATIVE = ["bad", "poor", "awful", "hate", "worst", "dull"]


def _review(rng: random.Random, label: int) -> str:
    words = [rng.choice(NEUTRAL) for _ in range(rng.randint(8, 16))]
    own, other = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
    for _ in range(rng.randint(1, 2)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(own))
    if rng.random() < 0.5:  # "not bad" in a positive review, "not good" in a negative one
        at = rng.randrange(len(words) + 1)
        words[at:at] = ["not", rng.choice(other)]
    return " ".join(words)


def prepare(docs: int = 600, data_seed: int = 0) -> dict[str, list[list[object]]]:
    """``docs`` labelled reviews (10 % of the labels flipped), split 60 / 20 / 20 into train, valid, test."""
    rng = random.Random(data_seed)
    rows: list[list[object]] = []
    for _ in range(docs):
        label = rng.randint(0, 1)
        text = _review(rng, label)
        rows.append([text, 1 - label if rng.random() < 0.1 else label])
    cut1, cut2 = int(docs * 0.6), int(docs * 0.8)
    return {"train": rows[:cut1], "valid": rows[cut1:cut2], "test": rows[cut2:]}
