"""One bad line of a metrics file costs that line only (real ``runyard run`` subprocesses): every good
point is stored, the step is done, and one warning (how many lines, the first ``file:line``, why) is
stored with the execution, written to meta.json and shown by ``runyard show``. NaN and infinity are
values the store holds: they are kept as points, without a warning."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.store import open_store
from runyard.testing.faults import Yard, make_yard

# the step writes 1000 good lines {"step": i, "loss": i + 0.5}; the bad bytes go in before line 501
STEP = r'''
import os, sys
bad = open(sys.argv[1], "rb").read()
with open(os.environ["RUNYARD_METRICS"], "ab") as f:
    for i in range(1000):
        if i == 500 and not bad.startswith(b"TAIL:"):
            f.write(bad + b"\n")
        f.write(b'{"step": %d, "loss": %d.5}\n' % (i, i))
    if bad.startswith(b"TAIL:"):
        f.write(bad[5:])  # a last line without its newline: the writer crashed mid-line
'''

BAD = {
    "int beyond 2**63": (b'{"step": 7, "loss": 18446744073709551616}', 501,
                         "loss: the integer 18446744073709551616 is out of range"),
    "step 1e30": (b'{"step": 1e30, "loss": 1.5}', 501, "step 1e+30 is not a whole number"),
    "200-deep nesting": (b'{"step": 7, "loss": 1.0, "deep": ' + b"[" * 200 + b"]" * 200 + b"}", 501,
                         "deep: JSON nested deeper than 32 levels"),
    "100000-deep nesting": (b'{"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 501,
                            "JSON nested too deeply to read"),
    "non-UTF-8 bytes": (b'{"step": 7, "lo\xff\xfess": 1.0}', 501, "not UTF-8 text (byte 0xff at column 16)"),
    "a 10 MB line": (b'{"step": 7, "pad": "' + b"x" * (10 << 20) + b'"}', 501, "longer than a read chunk"),
    "time NaN": (b'{"time": NaN, "step": 7, "loss": 1.0}', 501, "time nan is not a finite number of seconds"),
    "a name that is not text": (b'{"step": 7, "\\ud800": 1.0}', 501, "the metric name '\\ud800' is not valid text"),
    "a truncated last line": (b'TAIL:{"step": 1000, "loss": 10', 1001, "the last line has no newline and is not "
                                                                        "valid JSON"),
}


@pytest.fixture
def yard(tmp_path: Path) -> Iterator[Yard]:
    made = make_yard(tmp_path)
    yield made
    made.stop_all()


def run_with(yard: Yard, bad: bytes, *store: str) -> None:
    (yard.root / "bad.bin").write_bytes(bad)
    yard.file("step.py", STEP)
    yard.file("runyard.yaml", """
        experiment: lines
        steps:
          train: python step.py bad.bin
        metrics:
          loss: {mode: min}
        """)
    done = yard.run("run", *store)
    assert done.code == 0, done


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_line_is_skipped_with_one_warning_and_every_good_point_is_kept(yard: Yard, kind: str) -> None:
    bad, line, reason = BAD[kind]
    run_with(yard, bad)
    ex = yard.execution("train")
    assert str(ex.status) == "done" and ex.exit_code == 0
    loss = yard.points("train", "loss")
    assert [(p.step, p.value) for p in loss] == [(i, i + 0.5) for i in range(1000)]  # every good point
    assert {p.name for p in yard.points("train")} == {"loss"}
    where = f"{ex.folder}/metrics.jsonl:{line}: "
    assert ex.error is not None and ex.error.startswith("metrics warning: 1 bad line(s) in the metrics file skipped")
    assert where + reason in ex.error, ex.error
    meta = json.loads((Path(ex.folder) / "meta.json").read_text())
    assert meta["status"] == "done" and meta["error"] == ex.error and len(meta["metric_problems"]) == 1
    with yard.store() as store:
        run_id = store.runs("lines")[0].id
    shown = yard.run("show", run_id[:12])
    assert shown.code == 0 and "\n  metrics warning: 1 bad line(s)" in shown.stdout, shown
    assert where + reason in shown.stdout


@pytest.mark.parametrize("kind, text, value", [("NaN", b"NaN", math.nan), ("null", b"null", math.nan),
                                                ("Infinity", b"Infinity", math.inf), ("-1e999", b"-1e999", -math.inf)])
def test_nan_and_infinity_are_kept_as_points(yard: Yard, kind: str, text: bytes, value: float) -> None:
    run_with(yard, b'{"step": 1000, "loss": ' + text + b"}")
    ex = yard.execution("train")
    assert str(ex.status) == "done" and ex.error is None  # a value the store holds: no warning
    loss = yard.points("train", "loss")
    assert [(p.step, p.value) for p in loss[:1000]] == [(i, i + 0.5) for i in range(1000)]
    last = loss[1000]
    assert last.step == 1000 and (math.isnan(last.value) if math.isnan(value) else last.value == value)


MIXED = (b'{"step": 7, "loss": 18446744073709551616}\n{"step": 1e30, "loss": 1.5}\n{"step": 1000, "loss": NaN}\n'
         b'{"step": 1001, "loss": Infinity}\n{"step": 1002, "loss": -Infinity}\n{"step": 7, "lo\xffss": 1.0}\n'
         b'{"step": 7, "\\ud800": 1.0}\n{"step": -9223372036854775809, "loss": 1}')


@pytest.mark.postgres
def test_bad_lines_on_postgresql_too(yard: Yard, pg_url: str) -> None:
    """The same rules on PostgreSQL: NaN and ±inf stored, lines its driver would reject skipped."""
    run_with(yard, MIXED, "--store", pg_url)
    with open_store(pg_url) as store:
        ex = store.executions("lines")[0]
        points = sorted(store.metric_points(ex.key, "loss"), key=lambda p: p.step or 0)
    assert str(ex.status) == "done"
    assert [(p.step, p.value) for p in points[:1000]] == [(i, i + 0.5) for i in range(1000)]
    assert [p.step for p in points[1000:]] == [1000, 1001, 1002]
    assert math.isnan(points[1000].value) and points[1001].value == math.inf and points[1002].value == -math.inf
    assert ex.error is not None and "5 bad line(s)" in ex.error and "metrics.jsonl:501: loss: the integer" in ex.error


def test_reparse_over_bad_lines_exits_0_with_the_warning_and_the_good_points(yard: Yard) -> None:
    run_with(yard, MIXED)
    ex = yard.execution("train")
    assert ex.error is not None and "5 bad line(s)" in ex.error
    with yard.store() as store:
        store.clear_metrics(ex.key)
    again = yard.run("reparse")
    assert again.code == 0, again
    assert "Traceback" not in again.output
    assert f"warning: train {ex.short}: 5 bad line(s) in the metrics file skipped" in again.stderr
    assert f"{ex.folder}/metrics.jsonl:501: loss: the integer 18446744073709551616 is out of range" in again.stderr
    assert "lines: 1003 points from 1 done step execution(s)" in again.stdout
    assert len(yard.points("train", "loss")) == 1003


API = r'''
import runyard
runyard.log(step=2**64, loss=1.0)            # a step the store cannot hold: logged without a step
runyard.log(step=1e30, loss=2.0)
runyard.log(step=3, loss=2**70)              # an integer beyond int64: written as a float
runyard.log(step=4, **{"\ud800": 1.0, "acc": 0.5})  # a name that is not text: that metric skipped
runyard.log(step=5, loss=float("nan"), acc=float("inf"))
'''


def test_runyard_log_never_writes_a_line_the_store_cannot_hold(yard: Yard) -> None:
    yard.file("api.py", API)
    yard.file("runyard.yaml", "experiment: api\nsteps:\n  train: python api.py\n")
    done = yard.run("run")
    assert done.code == 0, done
    ex = yard.execution("train")
    assert str(ex.status) == "done" and ex.error is None  # no bad line in the file
    points = [(p.name, p.step, p.value) for p in yard.points("train")]
    assert points[:4] == [("acc", 4, 0.5), ("acc", 5, math.inf), ("loss", None, 1.0), ("loss", None, 2.0)]
    assert points[4] == ("loss", 3, float(2**70)) and points[5][:2] == ("loss", 5) and math.isnan(points[5][2])
    assert len(points) == 6


def test_line_numbers_stay_exact_around_blank_and_joined_lines() -> None:
    from runyard.execute.metric_lines import BadLines, metric_rows

    bad = BadLines("m.jsonl")
    data = b'\n{"a": 1}\n{"a": 2}, {"a": 3}\n\n{"a": 4}\n  \n[1]\n{"step": 1e300, "a": 6}\n{"a": 5}'
    rows = metric_rows("k", data, first_line=10, bad=bad, final=True)
    assert [r[3] for r in rows] == [1, 4, 5]
    assert bad.count == 3 and bad.message().endswith("first: m.jsonl:12: not JSON (Extra data at column 9)")
    bad = BadLines("m.jsonl")
    metric_rows("k", b'{"a": 1}\n{"step": NaN, "a": 2}\n', first_line=10, bad=bad)
    assert (bad.count, bad.first_line, bad.first_reason) == (1, 11, "step nan is not a whole number from -2**63 to "
                                                                    "2**63-1")
