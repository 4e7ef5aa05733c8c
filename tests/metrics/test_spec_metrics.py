"""The ``metrics:`` block is validated at load: every bad entry is one clear problem with its place."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runyard.errors import SpecError
from runyard.spec import MetricSpec, load_spec, spec_from_dict

HEAD = """
experiment: m
steps:
  train: python train.py
  test: python test.py
metrics:
"""


def load(tmp_path: Path, metrics: str) -> list[MetricSpec]:
    path = tmp_path / "runyard.yaml"
    path.write_text(textwrap.dedent(HEAD).lstrip() + textwrap.indent(textwrap.dedent(metrics).strip(), "  ") + "\n")
    return list(load_spec(path).metrics)


def problems(tmp_path: Path, metrics: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(tmp_path, metrics)
    return [p.message for p in info.value.problems]


def test_every_source_loads(tmp_path: Path) -> None:
    (tmp_path / "mytools").mkdir()
    (tmp_path / "mytools" / "__init__.py").write_text("")
    (tmp_path / "mytools" / "parse.py").write_text("import json\n\ndef read_scores(folder):\n    return {}\n")
    specs = load(tmp_path, """
        bleu: {step: test, regex: 'BLEU4 = ([0-9.]+)', mode: max}
        loss: {step: train, regex: 'step (?P<step>\\d+) loss (?P<value>[0-9.]+)', mode: min}
        acc: {step: test, file: results.json, key: test.acc}
        val_loss: {step: train, file: 'lightning_logs/*/metrics.csv', column: val_loss, mode: min}
        extra: {step: test, parser: 'mytools.parse:read_scores'}
        train_loss: {mode: min}
        """)
    assert [(m.name, m.step, m.source) for m in specs] == [
        ("bleu", "test", "regex"), ("loss", "train", "regex"), ("acc", "test", "file"),
        ("val_loss", "train", "file"), ("extra", "test", "parser"), ("train_loss", "test", None)]
    assert specs[2].key == "test.acc" and specs[3].column == "val_loss"
    assert specs[4].parser == "mytools.parse:read_scores"
    again = spec_from_dict(load_spec(tmp_path / "runyard.yaml").to_data(), folder=tmp_path)
    assert list(again.metrics) == specs


def test_bad_entries_are_clear_errors(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        a: {regex: 'x = ([0-9]+)', file: r.json}
        b: {file: r.json, column: c}
        c: {file: m.csv, key: x.y}
        d: {key: x.y}
        e: {file: /abs/r.json}
        f: {file: ../r.json}
        g: {file: results.txt}
        h: {regex: '(a)(b)'}
        i: {parser: 'not a target'}
        j: {parser: 'nosuchmodule_xyz:f'}
        k: {file: ''}
        l: {regex: 'x', mode: best, colum: c}
        """)
    expected = [
        "give one source per metric, not regex and file (sources: regex, file, parser)",
        "`column:` names a column of a CSV file: give `file:` ending in .csv or .tsv",
        "`key:` is a key path into a JSON file: give `file:` ending in .json or .jsonl",
        "`key:` is a key path into a JSON file: give `file:` ending in .json or .jsonl",
        "'/abs/r.json': give a path relative to the step's out/ folder ({out}), without '..'",
        "'../r.json': give a path relative to the step's out/ folder ({out}), without '..'",
        "'results.txt': the file must end in .json, .jsonl, .ndjson, .csv or .tsv (that is how runyard reads it); "
        "for any other file write a `parser:`",
        "use at most one capture group (the value), or the named groups (?P<value>…) and (?P<step>…); "
        "(?:…) does not capture",
        "'not a target' is not module:function (e.g. mytools.parse:read_scores)",
        f"no module 'nosuchmodule_xyz' (looked in the spec's folder {tmp_path} and on sys.path)",
        "must be text, not ''",
        "unknown key; did you mean 'column'? (valid: step, regex, file, key, column, parser, mode, timeout)",
        "'best' is not a mode (valid: max, min)",
    ]
    assert sorted(found) == sorted(expected)


def test_a_parser_function_that_is_not_there_is_found_at_load(tmp_path: Path) -> None:
    (tmp_path / "scores.py").write_text("def other(folder):\n    return {}\n")
    assert problems(tmp_path, "x: {parser: 'scores:read'}") == [f"scores ({tmp_path / 'scores.py'}) defines no 'read'"]
    (tmp_path / "broken.py").write_text("def read(:\n")
    assert problems(tmp_path, "x: {parser: 'broken:read'}")[0].startswith(f"cannot read {tmp_path / 'broken.py'}")


def test_problems_name_their_place(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load(tmp_path, "bleu: {step: test, file: r.json, column: c}")
    assert str(info.value).endswith("runyard.yaml:6: metrics.bleu.column: `column:` names a column of a CSV file: "
                                    "give `file:` ending in .csv or .tsv")


def test_the_metrics_example_of_the_spec_docs_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "spec.md").read_text(encoding="utf-8")
    section = doc[doc.index("## metrics\n"):]
    block = section[section.index("```yaml\n") + 8:section.index("```\n", section.index("```yaml\n") + 8)]
    (tmp_path / "mytools").mkdir()
    (tmp_path / "mytools" / "__init__.py").write_text("")
    (tmp_path / "mytools" / "parse.py").write_text("def read_scores(folder):\n    return {}\n")
    metrics = textwrap.dedent(block).split("\n", 1)[1]  # below `metrics:`
    specs = load(tmp_path, metrics)
    assert [m.name for m in specs] == ["bleu", "loss", "acc", "val_loss", "train_loss", "scores", "lr"]
