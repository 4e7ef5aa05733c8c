"""Comparison tables: differing params, --cols, sorting, --over (mean, std with ddof=1, n), limit,
and every output format parsed back."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

import runyard
from runyard.errors import UsageError

from .conftest import SPEC, Project

BOX = set("│┃─━┼╋┌┐└┘├┤┬┴═║╭╮╯╰")


def comparison(project: Project, where: str | None = None, **kwargs: Any) -> Any:
    with runyard.open(project.home) as yard:
        return yard.runs(where=where).comparison(**kwargs)


def text(project: Project, fmt: str, where: str | None = None, **kwargs: Any) -> str:
    with runyard.open(project.home) as yard:
        return yard.runs(where=where).render(fmt, **kwargs)


def test_only_differing_params_unless_all_params(project: Project) -> None:
    frame = comparison(project).frame
    assert list(frame.columns) == ["name", "status", "norm", "seed", "bleu", "loss"]
    assert list(comparison(project, "seed == 2").frame.columns) == ["name", "status", "norm", "bleu", "loss"]
    everything = comparison(project, all_params=True).frame
    assert list(everything.columns) == ["name", "status", "data", "early-stop", "lr", "norm", "seed", "bleu", "loss"]


def test_a_metric_no_shown_run_reports_is_no_column_unless_asked(tmp_path: Path) -> None:
    proj = Project(tmp_path, SPEC)
    proj.finish_all()
    for run in proj.plan.runs:
        proj.log(run, "train", loss=[1.0, float(run.params["seed"])])
        if run.params["norm"] == "batch":
            proj.log(run, "test", bleu=30.0)
    assert "bleu" in comparison(proj).frame.columns
    shown = comparison(proj, "norm != batch")  # no shown run reports bleu
    assert "bleu" not in shown.frame.columns and "loss" in shown.frame.columns
    assert "bleu.mean" not in comparison(proj, "norm != batch", over="seed").frame.columns
    assert "bleu" in comparison(proj, "norm != batch", cols="name,bleu").frame.columns
    proj.close()


def test_a_param_missing_in_some_runs_differs(tmp_path: Path) -> None:
    spec = dict(SPEC, groups={"opt": {"sgd": {"momentum": 0.9}, "adam": {"beta": 0.99}}},
                params={**SPEC["params"], "opt": "sgd"}, sweeps={"main": {"opt": ["sgd", "adam"]}})
    spec["steps"] = {"train": "echo {norm} [momentum] [beta] {out}", "test": "echo {train.out}"}
    proj = Project(tmp_path, spec)
    frame = comparison(proj).frame
    assert list(frame.columns) == ["name", "status", "beta", "momentum", "opt"]
    assert frame.set_index("opt").loc["sgd", "momentum"] == 0.9 and frame.set_index("opt")["beta"].isna().sum() == 1
    proj.close()


def test_cols_pick_stats_and_builtins(project: Project) -> None:
    frame = comparison(project, "name == default", cols="id,name,loss,loss.min,loss.max,loss.best,loss.count,"
                       "loss.step,loss.last,bleu.best,duration,lr").frame
    row = frame.iloc[0]
    assert list(frame.columns)[:2] == ["id", "name"] and row["id"] == project.run(norm="batch", seed=1).id
    assert (row["loss"], row["loss.min"], row["loss.max"], row["loss.best"]) == (3.0, 2.1, 4.0, 2.1)  # loss: min
    assert (row["loss.count"], row["loss.step"], row["loss.last"], row["bleu.best"]) == (3, 2, 3.0, 31.0)
    assert row["duration"] == 20.0 and row["lr"] == 0.1
    for bad, hint in (("bleuu", "did you mean 'bleu'"), ("bleu.mean", "did you mean 'bleu.min'"),
                      ("sed", "did you mean 'seed'")):
        with pytest.raises(UsageError, match=f"--cols: unknown name '{bad}'; {hint}"):
            comparison(project, cols=f"name,{bad}")


def test_sorting(project: Project) -> None:
    assert list(comparison(project, sort="-bleu").frame["bleu"]) == [33.0, 32.0, 31.0, 23.0, 22.0, 21.0]
    assert list(comparison(project, sort="bleu").frame["bleu"]) == [21.0, 22.0, 23.0, 31.0, 32.0, 33.0]
    by_two = comparison(project, sort="-seed,norm", cols="norm,seed").frame
    assert list(zip(by_two["seed"], by_two["norm"], strict=True)) == [
        (3, "batch"), (3, "layer"), (2, "batch"), (2, "layer"), (1, "batch"), (1, "layer")]
    assert comparison(project, sort="-lr,name", cols="name").frame["name"].iloc[0] == "default"  # ties: stable
    assert list(comparison(project, sort="-bleu", limit=2).frame["bleu"]) == [33.0, 32.0]
    assert comparison(project, limit=0).frame.empty
    with pytest.raises(UsageError, match="--sort: unknown name 'blue'; did you mean 'bleu'"):
        comparison(project, sort="-blue")


def test_missing_counts_and_steps_in_every_format(project: Project) -> None:
    project.log(project.run(norm="batch", seed=1), "train", extra=5.0)
    cols = "name,extra.count,extra.step,extra"
    frame = comparison(project, "norm == batch", cols=cols, sort="name").frame
    assert str(frame["extra.count"].dtype) == "Int64"
    rows = list(csv.reader(io.StringIO(text(project, "csv", "norm == batch", cols=cols, sort="name"))))
    assert rows[1] == ["default", "1", "0", "5.0"] and rows[2] == ["seed=2", "", "", ""]
    assert json.loads(text(project, "json", "norm == batch", cols=cols, sort="name"))[1] == {
        "name": "seed=2", "extra.count": None, "extra.step": None, "extra": None}
    assert text(project, "markdown", "norm == batch", cols=cols, sort="name").splitlines()[3] == "| seed=2 |  |  |  |"
    assert "<NA>" not in text(project, "table", "norm == batch", cols=cols)


def test_sort_puts_missing_values_last_both_ways(project: Project) -> None:
    project.log(project.run(norm="batch", seed=1), "train", extra=5.0)
    project.log(project.run(norm="batch", seed=2), "train", extra=7.0)
    assert list(comparison(project, sort="extra", cols="extra").frame["extra"])[:3] == [5.0, 7.0, pytest.approx(
        float("nan"), nan_ok=True)]
    assert list(comparison(project, sort="-extra", cols="extra").frame["extra"])[:2] == [7.0, 5.0]


def test_over_seed_mean_std_n(project: Project) -> None:
    result = comparison(project, over="seed")
    frame = result.frame
    assert result.aggregated == ("bleu", "loss") and result.over == ("seed",)
    assert list(frame.columns) == ["norm", "runs", "status", "bleu.mean", "bleu.std", "bleu.n", "loss.mean",
                                   "loss.std", "loss.n"]
    rows = {r["norm"]: r for r in frame.to_dict("records")}
    assert rows["batch"]["bleu.mean"] == 32.0 and rows["batch"]["bleu.std"] == 1.0 and rows["batch"]["bleu.n"] == 3
    assert rows["layer"]["bleu.mean"] == 22.0 and rows["layer"]["bleu.std"] == 1.0 and rows["layer"]["runs"] == 3
    assert rows["batch"]["loss.mean"] == 3.0 and rows["batch"]["loss.std"] == 0.0 and rows["batch"]["status"] == "done"
    # uneven values against the statistics module; a group of one has no std
    min_loss = {1: 2.1, 2: 2.2, 3: 2.3}
    over = comparison(project, "not (norm == layer and seed > 1)", over="seed", cols="loss.min,bleu",
                      sort="-loss.min").frame
    batch, layer = over.to_dict("records")
    assert batch["norm"] == "batch" and batch["loss.min.n"] == 3
    assert batch["loss.min.mean"] == pytest.approx(statistics.mean(min_loss.values()), rel=1e-15)
    assert batch["loss.min.std"] == pytest.approx(statistics.stdev(min_loss.values()), rel=1e-12)
    assert layer["bleu.n"] == 1 and layer["bleu.mean"] == 21.0 and layer["bleu.std"] != layer["bleu.std"]  # NaN


def test_over_counts_present_values_and_mixed_status(project: Project) -> None:
    project.log(project.run(norm="batch", seed=1), "train", extra=1.0)
    project.log(project.run(norm="batch", seed=2), "train", extra=2.0)
    project.log(project.run(norm="batch", seed=3), "train", extra=4.0)
    project.log(project.run(norm="layer", seed=3), "train", extra=8.0)
    frame = comparison(project, over="seed", cols="extra,status").frame
    batch, layer = frame.to_dict("records")
    assert (batch["extra.n"], layer["extra.n"], layer["runs"]) == (3, 1, 3)
    assert batch["extra.mean"] == pytest.approx(7 / 3, rel=1e-15)
    assert batch["extra.std"] == pytest.approx(statistics.stdev([1.0, 2.0, 4.0]), rel=1e-12)


def test_over_errors(project: Project) -> None:
    with pytest.raises(UsageError, match="--over: 'sede' is not a param of norm; did you mean 'seed'"):
        comparison(project, over="sede")
    with pytest.raises(UsageError, match="'seed' is the param --over aggregates"):
        comparison(project, over="seed", cols="seed,bleu")
    with pytest.raises(UsageError, match="'name' differs from run to run"):
        comparison(project, over="seed", cols="name,bleu")
    with pytest.raises(UsageError, match="--sort: with --over, sort by a column of the table; did you mean 'bleu'"):
        comparison(project, over="seed", sort="blue")
    over_all = comparison(project, over="seed,norm").frame
    assert len(over_all) == 1 and over_all.iloc[0]["runs"] == 6 and over_all.iloc[0]["bleu.mean"] == 27.0


def test_csv_and_tsv_parse_back_exactly(project: Project) -> None:
    for fmt, delimiter in (("csv", ","), ("tsv", "\t")):
        out = text(project, fmt, sort="name", cols="name,status,seed,early-stop,bleu,loss.min,started")
        rows = list(csv.reader(io.StringIO(out), delimiter=delimiter))
        assert rows[0] == ["name", "status", "seed", "early-stop", "bleu", "loss.min", "started"]
        assert rows[1][:6] == ["default", "done", "1", "false", "31.0", "2.1"]
        assert rows[1][6].endswith("+00:00") and "T" in rows[1][6]
        assert len(rows) == 7 and all(len(r) == 7 for r in rows)
    over = list(csv.DictReader(io.StringIO(text(project, "csv", over="seed"))))
    assert over[0]["bleu.mean"] == "32.0" and over[0]["bleu.std"] == "1.0" and over[0]["bleu.n"] == "3"
    single = list(csv.DictReader(io.StringIO(text(project, "csv", "seed == 1", over="seed"))))
    assert single[0]["bleu.std"] == "" and single[0]["bleu.n"] == "1"


def test_json_rows(project: Project) -> None:
    rows = json.loads(text(project, "json", sort="-bleu", limit=2))
    assert rows == [{"name": "seed=3", "status": "done", "norm": "batch", "seed": 3, "bleu": 33.0, "loss": 3.0},
                    {"name": "seed=2", "status": "done", "norm": "batch", "seed": 2, "bleu": 32.0, "loss": 3.0}]
    over = json.loads(text(project, "json", over="seed"))
    assert over[0] == {"norm": "batch", "runs": 3, "status": "done", "bleu": {"mean": 32.0, "std": 1.0, "n": 3},
                       "loss": {"mean": 3.0, "std": 0.0, "n": 3}}
    single = json.loads(text(project, "json", "seed == 1", over="seed"))
    assert single[0]["bleu"] == {"mean": 31.0, "std": None, "n": 1}
    assert json.loads(text(project, "json", "seed > 9")) == []


def test_markdown_table_shape(project: Project) -> None:
    lines = text(project, "markdown", sort="name").splitlines()
    assert lines[0] == "| name | status | norm | seed | bleu | loss |"
    assert lines[1] == "|---|---|---|---:|---:|---:|"
    assert lines[2] == "| default | done | batch | 1 | 31 | 3 |"
    assert len(lines) == 8 and all(line.startswith("| ") and line.endswith(" |") for line in lines if line != lines[1])
    over = text(project, "markdown", over="seed").splitlines()
    assert over[0] == "| norm | runs | status | bleu | bleu.n | loss | loss.n |"
    assert over[2] == "| batch | 3 | done | 32 ± 1 | 3 | 3 ± 0 | 3 |"


def test_plain_table_is_aligned_text_without_box_characters(project: Project) -> None:
    out = text(project, "table", sort="-bleu", cols="name,seed,bleu")
    lines = out.splitlines()
    assert not BOX & set(out)
    assert lines[0].split() == ["name", "seed", "bleu"]
    assert lines[1].split() == ["seed=3", "3", "33"]
    end = lines[0].index("seed") + len("seed")  # numbers right-aligned under their header
    assert all(line[end - 1] != " " and line[end] == " " for line in lines)
    over = text(project, "table", over="seed").splitlines()
    assert "32 ± 1" in over[1] and over[0].split()[:3] == ["norm", "runs", "status"]


def test_odd_values_are_quoted_and_escaped(tmp_path: Path) -> None:
    note = 'a,b "q" | pipe\ttab'
    spec = dict(SPEC, params={**SPEC["params"], "note": "plain"}, sweeps={"main": {"note": ["plain", note]}})
    spec["steps"] = {"train": "echo {note} {out}", "test": "echo {train.out}"}
    proj = Project(tmp_path, spec)
    for fmt, delimiter in (("csv", ","), ("tsv", "\t")):
        rows = list(csv.reader(io.StringIO(text(proj, fmt, cols="note", sort="note")), delimiter=delimiter))
        assert rows == [["note"], [note], ["plain"]]
    assert json.loads(text(proj, "json", cols="note", sort="note"))[0] == {"note": note}
    md = text(proj, "markdown", cols="note", sort="note").splitlines()
    assert md[2] == "| a,b \"q\" \\| pipe\ttab |"
    proj.close()


def test_formats_render_unknown_format() -> None:
    from runyard.analyze.compare import Comparison
    from runyard.analyze.formats import render

    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render(Comparison(__import__("pandas").DataFrame()), "xml")


def test_where_on_stats_loads_them(project: Project) -> None:
    frame = comparison(project, "loss.count == 3 and bleu.best >= 33", cols="name").frame
    assert list(frame["name"]) == ["seed=3"]
    with pytest.raises(UsageError, match=re.escape("unknown name 'bleu.avg'")):
        comparison(project, "bleu.avg > 1")
