"""The --where language: tokens, grammar, precedence, every operator, quoting, errors with their
column, and the vectorised evaluation rules (missing values, mixed types, booleans, times)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from runyard.analyze.where import And, Compare, In, Not, Or, Where, WhereError, describe, parse, tokenize
from runyard.errors import UsageError

FRAME = pd.DataFrame({
    "name": ["a", "b", "c", "d", "e"],
    "status": ["done", "done", "failed", "running", "done"],
    "lr": [0.1, 0.01, 0.001, np.nan, 0.1],  # d has no lr
    "seed": [1, 2, 3, 1, 2],
    "norm": ["batch", "layer", "batch", None, "group"],
    "early-stop": [True, False, True, False, True],
    "tag": ["3", "x", 3, 3.0, None],  # mixed text and numbers
    "model.lr": [1.0, 2.0, 3.0, 4.0, 5.0],
    "odd name": [1, 2, 3, 4, 5],
    "started": pd.to_datetime([1.7e9, 1.7e9 + 86400, np.nan, 1.7e9 + 3 * 86400, 1.7e9], unit="s", utc=True),
})


def rows(text: str, frame: pd.DataFrame = FRAME) -> list[str]:
    def resolve(name: str) -> pd.Series[Any]:
        if name not in frame.columns:
            raise KeyError(f"unknown name {name!r}")
        return frame[name]

    mask = Where.parse(text).evaluate(resolve, len(frame))
    assert mask.dtype == bool
    return list(frame["name"][mask])


def error(text: str) -> WhereError:
    with pytest.raises(WhereError) as caught:
        rows(text)
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2
    return caught.value


# --- tokens and grammar ---------------------------------------------------------------------------

def test_tokens_keep_names_with_dashes_and_dots_whole() -> None:
    kinds = [(t.kind, t.text) for t in tokenize("early-stop==true and model.lr>=1e-3 or `odd name`!='x y'")]
    assert kinds == [("word", "early-stop"), ("op", "=="), ("word", "true"), ("word", "and"), ("word", "model.lr"),
                     ("op", ">="), ("word", "1e-3"), ("word", "or"), ("name", "odd name"), ("op", "!="),
                     ("string", "x y"), ("end", "")]


def test_precedence_not_binds_tighter_than_and_tighter_than_or() -> None:
    node = parse("a == 1 or b == 2 and not c == 3")
    assert isinstance(node, Or) and isinstance(node.right, And) and isinstance(node.right.right, Not)
    assert describe(node) == "(a == 1 or (b == 2 and not (c == 3)))"
    assert describe(parse("(a == 1 or b == 2) and c == 3")) == "((a == 1 or b == 2) and c == 3)"
    assert describe(parse("not not a = 1")) == "not (not (a == 1))"


def test_literals_numbers_words_quotes_and_keywords() -> None:
    node = parse("x in (1, -2.5, 1e3, word, 'q\\'uote', \"dq\", TRUE, false, Null, 2024-05-01,)")
    assert isinstance(node, In)
    assert [(v.kind, v.value) for v in node.values] == [
        ("number", 1.0), ("number", -2.5), ("number", 1000.0), ("text", "word"), ("text", "q'uote"),
        ("text", "dq"), ("bool", True), ("bool", False), ("null", None), ("text", "2024-05-01")]
    assert isinstance(parse("`and` == 1"), Compare)
    negated = parse("x not in (1)")
    assert isinstance(negated, In) and negated.negated and describe(negated) == "x not in (1)"


@pytest.mark.parametrize(("text", "column", "message"), [
    ("lr >< 3", 4, "expected a value after '>'"),
    ("lr ==", 4, "expected a value after '=='"),
    ("lr == and x == 1", 4, "expected a value after '==', not 'and'"),
    ("lr", 3, "expected an operator (== != < <= > >= in) after 'lr', not the end"),
    ("lr 3", 4, "expected an operator"),
    ("(lr == 1", 9, "expected ')' to close the '(' at column 1"),
    ("lr == 1)", 8, "expected 'and', 'or' or the end, not ')'"),
    ("lr == 1 seed == 2", 9, "expected 'and', 'or' or the end, not 'seed'"),
    ("", 1, "empty expression"),
    ("   ", 4, "empty expression"),
    ("== 3", 1, "expected a name"),
    ("3 < lr", 1, "expected a name"),
    ("and == 1", 1, "expected a name"),
    ("lr in 3", 7, "expected '(' after 'in'"),
    ("lr in ()", 7, "expected a value after '('"),
    ("lr in (1 2)", 10, "expected ',' or ')'"),
    ("lr not (1)", 8, "expected 'in' after 'not'"),
    ("x > true", 5, "true can only be compared with == or !="),
    ("x <= null", 6, "null can only be compared with == or !="),
    ("name == 'abc", 9, "unterminated text: add the closing '"),
    ("`abc == 1", 1, "unterminated name"),
    ("a ! b", 3, "'!' must be followed by '='"),
    ("lr == 1 and", 12, "expected a condition"),
    ("lr == 1 and or", 13, "expected a name"),
])
def test_bad_expressions_say_where(text: str, column: int, message: str) -> None:
    with pytest.raises(WhereError) as caught:
        parse(text)
    err = caught.value
    assert err.column == column, str(err)
    assert message in err.reason
    assert f"at column {column}: " in str(err)
    lines = str(err).splitlines()
    assert lines[1] == "  " + text and lines[2] == "  " + " " * (column - 1) + "^"


def test_unknown_names_are_reported_with_their_column() -> None:
    err = error("lr > 0 and sede == 1")
    assert err.column == 12 and "unknown name 'sede'" in err.reason
    where = Where.parse("lr > 0 and sede == 1")
    with pytest.raises(WhereError) as caught:
        where.check(lambda name: None if name == "lr" else f"no {name}; did you mean 'seed'?")
    assert caught.value.column == 12 and "did you mean 'seed'" in str(caught.value)


# --- evaluation ------------------------------------------------------------------------------------

def test_every_comparison_operator_on_numbers() -> None:
    assert rows("lr == 0.1") == ["a", "e"]
    assert rows("lr = 0.1") == ["a", "e"]
    assert rows("lr != 0.1") == ["b", "c"]  # d has no lr: false
    assert rows("lr < 0.1") == ["b", "c"]
    assert rows("lr <= 0.01") == ["b", "c"]
    assert rows("lr > 0.01") == ["a", "e"]
    assert rows("lr >= 0.01") == ["a", "b", "e"]
    assert rows("seed >= 2 and seed < 3") == ["b", "e"]
    assert rows("model.lr > 4") == ["e"]
    assert rows("`odd name` == 3") == ["c"]


def test_missing_values_compare_false_and_null_tests_them() -> None:
    assert rows("lr == null") == ["d"]
    assert rows("lr != null") == ["a", "b", "c", "e"]
    assert rows("not lr < 1") == ["d"]  # not inverts, missing values included
    assert rows("norm == null") == ["d"]
    assert rows("norm not in (batch)") == ["b", "e"]  # missing is in no list and out of none
    assert rows("norm in (batch, null)") == ["a", "c", "d"]


def test_text_comparisons_and_bare_words() -> None:
    assert rows("norm == batch") == ["a", "c"]
    assert rows("norm == 'batch'") == ["a", "c"]
    assert rows("norm != batch") == ["b", "e"]
    assert rows("norm > group") == ["b"]  # text order
    assert rows("status in (failed, running)") == ["c", "d"]
    assert rows("name not in (a, b, 'c')") == ["d", "e"]
    assert rows("norm > 3") == []  # ordering text against a number: false


def test_mixed_types_compare_text_forms_for_equality() -> None:
    assert rows("tag == 3") == ["a", "c", "d"]  # "3", 3 and 3.0
    assert rows("tag == '3'") == ["a", "c", "d"]
    assert rows("tag != 3") == ["b"]
    assert rows("tag > 2") == ["c", "d"]  # only the numbers order against a number
    assert rows("tag in (x, 3)") == ["a", "b", "c", "d"]


def test_booleans() -> None:
    assert rows("early-stop == true") == ["a", "c", "e"]
    assert rows("early-stop != true") == ["b", "d"]
    assert rows("early-stop == 'false'") == ["b", "d"]
    assert rows("early-stop == 1") == []  # a boolean is not a number
    assert rows("early-stop in (true)") == ["a", "c", "e"]


def test_and_or_not_parentheses_combine() -> None:
    assert rows("status == done and (lr < 0.05 or norm == group)") == ["b", "e"]
    assert rows("status == done and lr < 0.05 or norm == group") == ["b", "e"]
    assert rows("not (status == done) or seed == 2") == ["b", "c", "d", "e"]
    assert rows("not status == done and not seed == 1") == ["c"]


def test_times_compare_with_dates() -> None:
    assert rows("started >= 2023-11-15") == ["b", "d"]
    assert rows("started < '2023-11-14 22:14'") == ["a", "e"]
    err = error("started > soon")
    assert err.column == 11 and "not a date or time" in err.reason


def test_evaluation_is_vectorised_over_many_rows() -> None:
    n = 200_000
    frame = pd.DataFrame({"name": np.arange(n).astype(str), "lr": np.linspace(0, 1, n), "seed": np.arange(n) % 5})
    mask = Where.parse("lr < 0.5 and seed in (1, 2) or not seed != 0").evaluate(lambda c: frame[c], n)
    expected = ((frame["lr"] < 0.5) & frame["seed"].isin([1, 2])) | (frame["seed"] == 0)
    assert (mask == expected.to_numpy()).all()
