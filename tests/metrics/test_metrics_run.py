"""Metrics through real ``runyard run`` subprocesses: every source in one run, live ingestion while a
step runs, crashes, retries, and ``runyard reparse``."""

from __future__ import annotations

import json
import time

from runyard.testing.processes import wait_for

from .conftest import Yard

TRAIN = r'''
import json, os, sys
import runyard

out = runyard.out_dir()
for epoch in range(3):
    runyard.log(loss=1.0 / (epoch + 1), step=epoch)
    print(f"epoch {epoch} bleu = {10 + epoch}.5", flush=True)
version = out / "lightning_logs" / "version_0"
version.mkdir(parents=True)
(version / "metrics.csv").write_text("epoch,step,train_loss,val_loss\n0,9,0.9,\n0,9,,0.8\n1,19,0.7,\n1,19,,0.6\n")
(out / "results.json").write_text(json.dumps({"test": {"acc": 0.875}, "params": runyard.params()}))
'''

CHECK = r'''
import os, runyard
from runyard.store import open_store

# a dependent step starts only once its upstream's metrics are stored
store = open_store("sqlite:///" + os.path.join(os.environ["RUNYARD_HOME"], "runyard.db"))
train = [ex for ex in store.executions("every") if ex.step == "train"][0]
print(f"seen = {len(store.metric_points(train.key))}")
'''


def test_every_source_in_one_run(yard: Yard) -> None:
    yard.file("train.py", TRAIN)
    yard.file("check.py", CHECK)
    yard.file("tools.py", "def scores(folder):\n"
                          "    return {'log_lines': len((folder / 'log').read_text().splitlines())}\n")
    yard.file("runyard.yaml", """
        experiment: every
        params: {lr: 0.1}
        steps:
          train: python train.py --lr {lr}
          check: python check.py
        metrics:
          bleu: {step: train, regex: 'bleu = ([0-9.]+)', mode: max}
          acc: {step: train, file: results.json, key: test.acc}
          val_loss: {step: train, file: 'lightning_logs/*/metrics.csv', mode: min}
          train_loss: {step: train, file: 'lightning_logs/*/metrics.csv', column: train_loss}
          lines: {step: train, parser: 'tools:scores'}
          seen: {step: check, regex: 'seen = (\\d+)'}
          loss: {step: train, mode: min}
        """)
    done = yard.run("run")
    assert done.code == 0, done
    assert yard.series("train", "loss") == [1.0, 0.5, 1 / 3]  # runyard.log
    assert yard.series("train", "bleu") == [10.5, 11.5, 12.5]  # regex: every match, in order
    assert yard.series("train", "acc") == [0.875]  # JSON key path
    assert [(p.value, p.step) for p in yard.points("train", "val_loss")] == [(0.8, 9), (0.6, 19)]  # CSV
    assert [p.value for p in yard.points("train", "train_loss")] == [0.9, 0.7]
    assert yard.series("train", "log_lines") == [3.0]  # parser
    total = 3 + 3 + 1 + 2 + 2 + 1
    assert yard.series("check", "seen") == [float(total)]
    with yard.store() as store:
        key = yard.execution("train").key
        summary = store.metric_summaries([key])[key]
        assert (summary["bleu"].last, summary["bleu"].max, summary["bleu"].count) == (12.5, 12.5, 3)
    results = json.loads((yard.home / "every" / "steps" / "train").glob("*/out/results.json").__next__().read_text())
    assert results["params"] == {"lr": 0.1}  # runyard.params() inside the step


LIVE = r'''
import os, time, runyard
for i in range(3):
    runyard.log(loss=float(i), step=i)
print("score = 7", flush=True)
deadline = time.time() + 30
while not os.path.exists("go") and time.time() < deadline:
    time.sleep(0.02)
runyard.log(loss=3.0, step=3)
'''


def test_points_reach_the_store_while_the_step_runs(yard: Yard) -> None:
    yard.file("live.py", LIVE)
    yard.file("runyard.yaml", """
        experiment: live
        steps:
          live: python live.py
        metrics:
          score: {regex: 'score = (\\d+)'}
        """)
    proc = yard.start("run")

    def stored() -> int:
        if not (yard.home / "runyard.db").exists():
            return 0
        with yard.store() as store:
            found = [ex for ex in store.executions("live")]
            if not found:
                return 0
            count = len(store.metric_points(found[0].key))
            assert count == 0 or str(store.execution(found[0].key).status) == "running"
            return count

    assert wait_for(lambda: stored() == 4, timeout=20, what="3 loss points and the score while the step runs")
    (yard.root / "go").write_text("")
    assert proc.wait(30) == 0
    assert yard.series("live", "loss") == [0.0, 1.0, 2.0, 3.0]
    assert yard.series("live", "score") == [7.0]


CRASH = r'''
import os, signal, sys, runyard
for i in range(50):
    runyard.log(loss=i / 10, step=i)
    print(f"acc = {i}", flush=True)
if sys.argv[1] == "raise":
    raise RuntimeError("diverged")
os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_crash_keeps_every_point_logged_before_it(yard: Yard) -> None:
    yard.file("crash.py", CRASH)
    yard.file("runyard.yaml", """
        experiment: crash
        params: {how: raise}
        steps:
          crash: python crash.py {how}
        metrics:
          acc: {regex: 'acc = (\\d+)'}
        sweeps:
          both: {how: [raise, kill]}
        """)
    done = yard.run("run")
    assert done.code == 1, done
    with yard.store() as store:
        execs = store.executions("crash")
        assert len(execs) == 2 and {str(ex.status) for ex in execs} == {"failed"}
        for ex in execs:
            loss = sorted(store.metric_points(ex.key, "loss"), key=lambda p: p.step or 0)
            assert [p.step for p in loss] == list(range(50)), ex.command
            assert len(store.metric_points(ex.key, "acc")) == 50


RETRY = r'''
import os, sys, runyard
first = not os.path.exists("tried")
for i in range(5 if first else 3):
    runyard.log(loss=100.0 + i if first else float(i), step=i)
print("score = 1" if first else "score = 2", flush=True)
if first:
    open("tried", "w").close()
    sys.exit(3)
'''


def test_a_retry_starts_its_metrics_afresh_and_reparse_agrees(yard: Yard) -> None:
    yard.file("retry.py", RETRY)
    yard.file("runyard.yaml", """
        experiment: retry
        steps:
          train:
            run: python retry.py
            retries: 1
        metrics:
          score: {regex: 'score = (\\d+)'}
        """)
    done = yard.run("run")
    assert done.code == 0, done
    ex = yard.execution("train")
    assert ex.attempts == 2
    folder = yard.home / "retry" / "steps" / "train" / ex.short
    log, first = (folder / "log").read_text(), (folder / "attempts" / "1" / "log").read_text()
    assert "score = 2" in log and "score = 1" in first and "score = 1" not in log  # each attempt its own log ...
    assert yard.series("train", "loss") == [0.0, 1.0, 2.0]  # ... the store only the last one's metrics
    assert yard.series("train", "score") == [2.0]

    again = yard.run("reparse")
    assert again.code == 0, again
    assert yard.series("train", "loss") == [0.0, 1.0, 2.0] and yard.series("train", "score") == [2.0]


def test_reparse_after_a_spec_change(yard: Yard) -> None:
    yard.file("say.py", "import sys\nprint(f'acc: {sys.argv[1]} / f1: {float(sys.argv[1]) / 2}')\n")
    spec = yard.file("runyard.yaml", """
        experiment: study
        params: {x: 1}
        steps:
          say: python say.py {x}
        metrics:
          acc: {regex: 'acc: ([0-9.]+)'}
        sweeps:
          xs: {x: [1, 3]}
        """)
    assert yard.run("run").code == 0
    with yard.store() as store:
        keys = {ex.params["x"]: ex.key for ex in store.executions("study")}
        assert {x: [p.name for p in store.metric_points(k)] for x, k in keys.items()} == {1: ["acc"], 3: ["acc"]}
    spec.write_text(spec.read_text().replace("acc: {regex: 'acc: ([0-9.]+)'}", "f1: {regex: 'f1: ([0-9.]+)'}"))
    before = time.time()
    done = yard.run("reparse", "study")
    assert done.code == 0, done
    assert "study: 2 points from 2 done step execution(s); spec metrics: f1" in done.stdout
    with yard.store() as store:
        for x, key in keys.items():
            points = store.metric_points(key)
            assert [(p.name, p.value) for p in points] == [("f1", x / 2)]  # acc is gone: replaced, not added
            assert set(store.metric_summaries([key])[key]) == {"f1"}
            assert points[0].time is not None and points[0].time >= before - 1
    assert yard.run("run").stdout.count("everything is cached") == 1  # reparse ran nothing and changed no key


def test_reparse_errors_are_clear(yard: Yard) -> None:
    spec = yard.file("runyard.yaml", "experiment: one\nsteps:\n  s: 'true'\n")
    no_store = yard.run("reparse")
    assert no_store.code == 2 and "no runyard store at" in no_store.stderr
    assert yard.run("run").code == 0
    unknown = yard.run("reparse", "onr")
    assert unknown.code == 2 and "no experiment matches 'onr'; did you mean 'one'?" in unknown.stderr, unknown
    yard.file("two.yaml", "experiment: two\nsteps:\n  s: 'true'\n")
    assert yard.run("run", "two.yaml").code == 0
    several = yard.run("reparse")
    assert several.code == 2 and "name the experiment to reparse (experiments: one, two)" in several.stderr
    spec.unlink()
    gone = yard.run("reparse", "one")
    assert gone.code == 2 and f"the spec of experiment 'one' was {spec}, which no longer exists" in gone.stderr
    yard.file("two.yaml", "experiment: two\nsteps:\n  s: 'true'\nmetrics:\n  m: {regex: '(('}\n")
    bad = yard.run("reparse", "two")
    assert bad.code == 2 and "metrics.m.regex: invalid regular expression" in bad.stderr
