"""``runyard export tensorboard`` on a real sweep: the event files read back with TensorBoard's own
EventAccumulator hold every point and the HParams plugin's data, and a real ``tensorboard --logdir``
serves the HParams table with each run's params and final metrics."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import runyard

from .conftest import ODD, Home

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2


@pytest.fixture(scope="module")
def exported(study: Home, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tb") / "logs"
    done = study.cli("export", "tensorboard", "study", str(folder))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote 5 runs, 2 metrics, 35 points to {folder}: tensorboard --logdir {folder}\n"
    return folder


def accumulate(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return acc


def hparams(acc: EventAccumulator) -> dict[str, plugin_data_pb2.HParamsPluginData]:
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(content)
            for tag, content in acc.PluginTagToContent("hparams").items()}


def test_every_point_of_every_run(study: Home, exported: Path) -> None:
    with runyard.open(study.home) as yard:
        runs = yard.runs("study")
        frame = runs.df
        loss, acc = runs.metrics("loss"), runs.metrics("acc")
    odd = next(name for name in frame["name"] if name.startswith("tag="))
    assert sorted(p.name for p in exported.iterdir() if p.is_dir()) == sorted(frame["name"])
    for name in frame["name"]:
        events = accumulate(exported / name)
        mine = loss[loss["name"] == name]
        scalars = events.Scalars("loss")
        assert [s.step for s in scalars] == mine["step"].tolist() == list(range(6))
        assert [s.value for s in scalars] == pytest.approx(mine["value"].tolist(), rel=1e-6)  # stored as float32
        assert [s.wall_time for s in scalars] == pytest.approx([t.timestamp() for t in mine["time"]], abs=1e-3)
        (final,) = events.Scalars("acc")
        assert final.value == pytest.approx(acc[acc["name"] == name]["value"].item(), rel=1e-6)
        data = hparams(events)
        start = data["_hparams_/session_start_info"].session_start_info
        row = frame[frame["name"] == name].iloc[0]
        assert start.hparams["lr"].number_value == row["lr"] and start.hparams["seed"].number_value == row["seed"]
        assert start.hparams["tag"].string_value == (ODD if name == odd else "plain")
        status = data["_hparams_/session_end_info"].session_end_info.status
        assert status == (api_pb2.STATUS_FAILURE if name == odd else api_pb2.STATUS_SUCCESS)


def test_the_experiment_names_every_param_and_metric(exported: Path) -> None:
    experiment = hparams(accumulate(exported))["_hparams_/experiment"].experiment
    infos = {info.name: info for info in experiment.hparam_infos}
    assert sorted(infos) == ["lr", "seed", "tag"]
    assert (infos["lr"].domain_interval.min_value, infos["lr"].domain_interval.max_value) == (0.1, 0.3)
    assert sorted(infos["tag"].domain_discrete) == sorted([ODD, "plain"])
    assert [m.name.tag for m in experiment.metric_infos] == ["acc", "loss"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def board(exported: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real TensorBoard server on the export (stopped by its pid)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("board") / "tensorboard.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("tensorboard")), "--logdir", str(exported),
                                 "--host", "127.0.0.1", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        from runyard.testing.processes import wait_for

        wait_for(lambda: proc.poll() is not None or _answers(url), what="tensorboard to serve", timeout=120)
        assert proc.poll() is None, log.read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/data/plugins_listing", timeout=5):
            return True
    except OSError:
        return False


def test_tensorboard_shows_the_hparams_table(study: Home, board: str) -> None:
    body = {"experimentName": "", "startIndex": 0, "sliceSize": 100,
            "allowedStatuses": ["STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING", "STATUS_UNKNOWN"],
            "colParams": [{"hparam": "lr"}, {"hparam": "seed"}, {"hparam": "tag"},
                          {"metric": {"tag": "acc"}}, {"metric": {"tag": "loss"}}]}
    request = urllib.request.Request(board + "/data/plugin/hparams/session_groups", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              "X-Requested-With": "XMLHttpRequest"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        groups = json.loads(answer.read())["sessionGroups"]
    with runyard.open(study.home) as yard:
        frame = yard.runs("study").df.set_index("name")
    table = {g["name"]: g for g in groups}
    assert sorted(table) == sorted(frame.index)
    for name, group in table.items():
        assert group["hparams"]["lr"] == frame.at[name, "lr"]
        finals = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert finals == pytest.approx({"acc": frame.at[name, "acc"], "loss": frame.at[name, "loss"]}, rel=1e-6)


def test_bad_input(study: Home, exported: Path, tmp_path: Path) -> None:
    again = study.quick("export", "tensorboard", "study", str(exported))
    assert again.returncode == 2 and "is not an empty folder" in again.stderr and "Traceback" not in again.stderr
    unknown = study.quick("export", "tensorboard", "nope", str(tmp_path / "x"))
    assert unknown.returncode == 2 and "no experiment 'nope'" in unknown.stderr
    assert not os.path.exists(tmp_path / "x")
    missing = study.quick("export", "mlflw", "study", str(tmp_path / "y"))
    assert missing.returncode == 2 and "No such command 'mlflw'" in missing.stderr
    code = ("import sys; sys.modules['tensorboard'] = None\n"
            "from runyard.cli.main import main\n"
            "sys.argv = ['runyard', 'export', 'tensorboard', 'study', sys.argv[1], '--home', sys.argv[2]]\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "z"), str(study.home)], capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 2 and done.stderr == ("runyard: runyard export tensorboard needs the optional package "
                                                    "'tensorboard': pip install 'runyard[tensorboard]'\n"), done
