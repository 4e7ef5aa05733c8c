"""A tiny text-classification study: synthetic reviews, bag-of-words logistic regression."""
