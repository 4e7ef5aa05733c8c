"""What the terminal says about a real sweep: executions named by step and run, commands taking a key,
the results table ``runyard run`` ends with, ``compare --over`` and ``show``'s metrics."""

from __future__ import annotations

import math
import re

import pytest

import runyard

from .conftest import Home


def keys(home: Home) -> dict[tuple[str, str], str]:
    """(step, run name) → execution key."""
    with runyard.open(home.home) as yard:
        return {(step, run.name): key for run in yard.store.runs("study") for step, key in run.steps}


def test_progress_and_the_failure_summary_name_step_and_run(study: Home) -> None:
    out = study.run.stdout
    found = keys(study)
    shared = found[("train", "default")]
    assert f"done train default +1 run ({shared[:12]})" in out  # one train shared by two runs
    odd = next(name for step, name in found if name.startswith("tag="))
    check = found[("check", odd)]
    assert f"failed check {odd} ({check[:12]}): exit code 3" in out
    assert re.search(rf"^  failed check {re.escape(odd)} \({check[:12]}\) \(exit code 3\) · log ", out, re.M)
    assert f"done check lr=0.3,seed=2 ({found[('check', 'lr=0.3,seed=2')][:12]})" in out


def test_run_ends_with_the_results_table(study: Home) -> None:
    out = study.run.stdout
    table = out[out.index("\nacc, best starred:\n"):].splitlines()[2:]
    assert table[0].split() == ["name", "status", "lr", "seed", "tag", "acc"]
    rows = {line.split()[0]: line for line in table[1:]}
    with runyard.open(study.home) as yard:
        acc = yard.runs("study").df.set_index("name")["acc"]
    assert set(rows) == set(acc.index)
    best = acc.idxmax()
    assert rows[best].endswith(f"{acc[best]:.6g} *")
    assert [name for name, line in rows.items() if line.endswith("*")] == [best]
    assert "loss" not in table[0]  # only the first declared metric


def test_show_and_logs_take_a_key_or_a_unique_prefix(study: Home) -> None:
    found = keys(study)
    key = found[("train", "lr=0.3,seed=2")]
    shown = study.cli("show", key[:8])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("lr=0.3,seed=2  (") and lines[1] == f"{key[:12]} is its step train"
    metrics = lines[lines.index("metrics") + 1:]
    assert metrics[0].split() == ["metric", "last", "min", "max", "points", "step"]
    loss = next(line.split() for line in metrics if line.split()[0] == "loss")
    with runyard.open(study.home) as yard:
        points = yard.runs("study", where="name == 'lr=0.3,seed=2'").metrics("loss")["value"].tolist()
    assert loss[1:6] == [f"{points[-1]:.6g}", f"{min(points):.6g}", f"{max(points):.6g}", "6", "5"]
    assert len(loss[6]) == 6 and set(loss[6]) <= set("▁▂▃▄▅▆▇█") and loss[6][0] == "█" and loss[6][-1] == "▁"
    logs = study.cli("logs", key)
    assert logs.returncode == 0 and logs.stdout == "trained 0.3 2\n"
    by_name = study.cli("logs", "lr=0.3,seed=2", "--step", "check")
    assert by_name.returncode == 0 and by_name.stdout.startswith("checking plain")


def test_a_shared_step_names_every_run_holding_it(study: Home) -> None:
    key = keys(study)[("train", "default")]
    shown = study.cli("show", key[:12])
    assert shown.returncode == 0
    first, second = shown.stdout.splitlines()[:2]
    assert first.startswith("default  (")
    assert second.startswith(f"{key[:12]} is its step train; also a step of tag=")


def test_unknown_and_ambiguous_targets_are_one_clear_message(study: Home) -> None:
    with runyard.open(study.home) as yard:
        run_ids = [run.id for run in yard.store.runs("study")]
    every = sorted({*keys(study).values(), *run_ids})  # a prefix may match runs and step executions alike
    prefix = next(k[:1] for k in every if sum(o.startswith(k[:1]) for o in every) > 1)
    for command in ("show", "logs", "cancel"):
        ambiguous = study.quick(command, prefix)
        assert ambiguous.returncode == 2 and ambiguous.stdout == "", ambiguous
        assert "is ambiguous" in ambiguous.stderr and "Traceback" not in ambiguous.stderr
        assert sum(k[:12] in ambiguous.stderr for k in every if k.startswith(prefix)) >= 2
        unknown = study.quick(command, "nothing-like-this")
        assert unknown.returncode == 2 and "no run matches 'nothing-like-this'" in unknown.stderr
        assert "Traceback" not in unknown.stderr


def test_cancel_takes_a_key(study: Home) -> None:
    key = keys(study)[("check", "seed=2")]
    done = study.cli("cancel", key[:10])
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"step execution check seed=2 ({key[:12]}) of study: nothing to cancel (no queued or " \
                          "running step)\n"


def test_compare_over_sorts_groups_stars_the_best_and_rounds(study: Home) -> None:
    out = study.cli("compare", "--over", "seed", "--where", "tag == plain", "--cols", "acc,loss.min").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["lr", "runs", "acc", "acc.n", "loss.min", "loss.min.n"]
    assert [line.split()[0] for line in lines[1:]] == ["0.1", "0.3"]
    with runyard.open(study.home) as yard:
        df = yard.runs("study", where="tag == plain").df
    best = df[df["lr"] == 0.3]["acc"]
    mean, std = best.mean(), best.std()
    digits = 1 - math.floor(math.log10(std))
    assert f"{round(mean, digits):.6g} ± {round(std, digits):.6g} *" in lines[2]
    assert lines[1].count("*") == 0 and lines[2].count("*") == 2  # acc (max) and loss.min (min) both best at 0.3
    raw = study.cli("compare", "--over", "seed", "--where", "tag == plain", "--cols", "acc", "--raw").stdout
    shown_mean, shown_std = re.findall(r"(\S+) ± (\S+) \*", raw)[0]  # every digit: what reads back as the number
    assert shown_mean == repr(float(mean)) and float(shown_std) == pytest.approx(std, rel=1e-12)
