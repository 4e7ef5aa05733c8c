"""Extraction sources, as pure functions: the metrics file, regexes on the log, JSON key paths, CSV
columns (a Lightning ``metrics.csv``), parser functions, and the incremental tail."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from runyard.execute.extract import (
    MetricSourceError,
    Rule,
    Tail,
    after_exit,
    json_points,
    jsonl_points,
    lookup,
    regex_points,
)
from runyard.spec.types import MetricSpec


def triples(points: list) -> list[tuple[str, float, int | None]]:  # type: ignore[type-arg]
    return [(p.name, p.value, p.step) for p in points]


def test_metrics_file_lines_bad_lines_are_counted_not_fatal() -> None:
    data = (b'{"time": 1.5, "step": 1, "loss": 0.5, "note": "text", "flag": true, "bad": null}\n'
            b'\n'
            b'not json\n'
            b'[1, 2]\n'
            b'{"step": 2.0, "loss": 1e999, "nested": {"x": 1}}\r\n'
            b'{"time": 3, "step": "two", "loss": -1}\n')
    points, bad = jsonl_points(data)
    assert bad == 2
    assert [(p.name, p.step, p.time) for p in points] == [
        ("loss", 1, 1.5), ("bad", 1, 1.5), ("loss", 2, None), ("loss", None, 3.0)]
    assert math.isnan(points[1].value) and points[2].value == math.inf


def rule(regex: str, name: str = "m") -> Rule:
    return Rule.of(MetricSpec(name=name, step="s", regex=regex))


def test_regex_every_match_is_a_point_in_order_and_counts_carry_over() -> None:
    rules = [rule(r"bleu = ([0-9.]+)", "bleu"), rule(r"loss (?P<value>[0-9.]+) at (?P<step>\d+)", "loss")]
    text = "start\nbleu = 1.5 ... bleu = 2.5\rprogress bleu = 3\nloss 0.7 at 100\nbleu = x.y\nloss 0.6 at 200"
    points, counts = regex_points(text, rules, {})
    assert triples(points) == [("bleu", 1.5, 0), ("bleu", 2.5, 1), ("bleu", 3.0, 2), ("loss", 0.7, 100),
                               ("loss", 0.6, 200)]
    more, counts = regex_points("bleu = 4\n", rules, counts)
    assert triples(more) == [("bleu", 4.0, 3)] and counts == {"bleu": 4, "loss": 2}
    assert regex_points("runyard: metrics: bleu = 5 is not read\n", rules, {})[0] == []  # runyard's own notes
    whole, _ = regex_points("score: 17 done", [rule(r"(?<=score: )\d+")], {})
    assert triples(whole) == [("m", 17.0, 0)]


def test_json_key_paths(tmp_path: Path) -> None:
    data = {"test": {"bleu": 31.5, "curve": [1, 2.5, "3"]}, "a.b": {"c": 4}, "runs": [{"x": 9}]}
    assert triples(json_points(data, "test.bleu", "bleu", "r.json")) == [("bleu", 31.5, None)]
    assert triples(json_points(data, "test.curve", "c", "r.json")) == [("c", 1, 0), ("c", 2.5, 1), ("c", 3, 2)]
    assert lookup(data, "a.b.c") == 4 and lookup(data, "runs.0.x") == 9
    with pytest.raises(MetricSourceError, match=r"has no key 'test\.rouge'"):
        json_points(data, "test.rouge", "r", "r.json")
    with pytest.raises(MetricSourceError, match="not a number"):
        json_points(data, "test", "r", "r.json")
    records = [{"step": 10, "acc": 0.5}, {"step": 20}, {"step": 30, "acc": 0.75}]
    assert triples(json_points(records, "acc", "acc", "r.json")) == [("acc", 0.5, 10), ("acc", 0.75, 30)]


LIGHTNING_CSV = """epoch,step,train_loss,val_loss,val_acc
0,49,0.91,,
0,99,0.72,,
0,99,,0.80,0.61
1,149,0.55,,
1,199,0.41,,
1,199,,0.52,0.77
"""


def test_every_file_source_after_exit(tmp_path: Path) -> None:
    out = tmp_path / "exec" / "out"
    (out / "lightning_logs" / "version_0").mkdir(parents=True)
    (out / "lightning_logs" / "version_0" / "metrics.csv").write_text(LIGHTNING_CSV)
    (out / "results.json").write_text(json.dumps({"test": {"bleu": 27.25}}))
    (out / "evals.jsonl").write_text('{"epoch": 1, "f1": 0.5}\n{"epoch": 2, "f1": 0.625}\n')
    (out / "table.tsv").write_text("k\tscore\na\t3\nb\t4\n")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "__init__.py").write_text("")
    (tmp_path / "tools" / "scores.py").write_text(
        "def read(folder):\n"
        "    text = (folder / 'out' / 'results.json').read_text()\n"
        "    return {'chars': len(text), 'curve': [3, 2, 1]}\n"
        "def broken(folder):\n    raise RuntimeError('no scores here')\n"
        "def wrong(folder):\n    return {'x': 'high'}\n")
    specs = [
        MetricSpec("val_loss", "s", file="lightning_logs/*/metrics.csv"),
        MetricSpec("train", "s", file="lightning_logs/version_0/metrics.csv", column="train_loss"),
        MetricSpec("bleu", "s", file="results.json", key="test.bleu"),
        MetricSpec("f1", "s", file="evals.jsonl"),
        MetricSpec("score", "s", file="table.tsv"),
        MetricSpec("parsed", "s", parser="tools.scores:read"),
        MetricSpec("missing", "s", file="nothing/*.csv"),
        MetricSpec("no_column", "s", file="table.tsv", column="nope"),
        MetricSpec("broken", "s", parser="tools.scores:broken"),
        MetricSpec("wrong", "s", parser="tools.scores:wrong"),
        MetricSpec("gone", "s", parser="tools.nothing:read"),
    ]
    try:
        found = after_exit(specs, str(tmp_path / "exec"), str(tmp_path))
    finally:
        for name in [m for m in sys.modules if m == "tools" or m.startswith("tools.")]:
            del sys.modules[name]
    by_name: dict[str, list[tuple[float, int | None]]] = {}
    for p in found.points:
        by_name.setdefault(p.name, []).append((p.value, p.step))
    assert by_name.pop("val_loss") == [(0.80, 99), (0.52, 199)]
    assert by_name.pop("train") == [(0.91, 49), (0.72, 99), (0.55, 149), (0.41, 199)]
    assert by_name.pop("bleu") == [(27.25, None)]
    assert by_name.pop("f1") == [(0.5, 1), (0.625, 2)]
    assert by_name.pop("score") == [(3, 0), (4, 1)]
    assert by_name.pop("chars") == [(len(json.dumps({"test": {"bleu": 27.25}})), None)]
    assert by_name.pop("curve") == [(3, 0), (2, 1), (1, 2)]
    assert by_name == {}
    problems = "\n".join(found.problems)
    assert "'missing': no file matches out/nothing/*.csv" in problems
    assert "'no_column'" in problems and "has no column 'nope' (columns: k, score)" in problems
    assert "'broken': parser tools.scores:broken raised RuntimeError: no scores here" in problems
    assert "'wrong': parser tools.scores:wrong returned x='high'" in problems
    assert "'gone': cannot import parser module 'tools.nothing'" in problems
    assert len(found.problems) == 5


def test_tail_reads_whole_lines_and_moves_only_when_told(tmp_path: Path) -> None:
    path = tmp_path / "f"
    tail = Tail(str(path))
    assert tail.read() == (b"", 0, False, 0)  # no file yet
    path.write_bytes(b"one\ntw")
    data, end, more, _ = tail.read()
    assert (data, end, more) == (b"one\n", 4, False)
    assert tail.read()[0] == b"one\n"  # not advanced: the same lines again
    tail.advance(end)
    assert tail.read() == (b"", 4, False, 0)  # half a line waits for its newline
    assert tail.read(final=True) == (b"tw", 6, False, 0)  # ... unless the writer is gone
    path.write_bytes(b"x" * 10 + b"\n" + b"y" * 30 + b"\n")
    tail = Tail(str(path))
    assert tail.read(limit=16) == (b"x" * 10 + b"\n", 11, True, 0)
    tail.advance(11, 1)
    assert tail.read(limit=16) == (b"y" * 16, 27, True, 0)  # a line longer than a chunk comes in pieces
    metrics = Tail(str(path), 11, skip_long=True)
    assert metrics.line == 2  # the line number at the offset
    assert metrics.read(limit=16) == (b"", 42, True, 1)  # ... or, in a metrics file, is passed over whole
    with open(path, "ab") as handle:
        handle.write(b"z" * 20)
    metrics.advance(42, 1)
    assert metrics.read(limit=16) == (b"", 42, False, 0)  # an over-long last line waits for its end ...
    assert metrics.read(limit=16, final=True) == (b"", 62, False, 1)  # ... unless the writer is gone
