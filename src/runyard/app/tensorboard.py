"""``runyard export tensorboard``: an experiment's runs as TensorBoard event files (the ``tensorboard``
extra; TensorFlow and torch are not needed).

``DIR/<run name>/`` holds one run: a scalar per point of every metric series (tag: the metric's column
name, step: the point's training step or its number, wall time: the point's time) and the HParams
plugin's session data (the run's params, its status). ``DIR`` itself holds the HParams experiment
(every param with its values, every metric), so ``tensorboard --logdir DIR`` shows the HParams table
with each run's params and final metric values.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runyard.errors import MissingDependency, UsageError

if TYPE_CHECKING:
    from runyard.store.base import Store

MAX_NAME = 120  # characters of a run's folder name
_UNSAFE = re.compile(r"[/\\\x00-\x1f]")


@dataclass(frozen=True)
class Exported:
    folder: str
    runs: int
    metrics: int
    points: int


def folder_names(names: Mapping[str, str]) -> dict[str, str]:
    """Run id → a folder name made from its run name: path separators and control characters replaced,
    long names cut, and the short id added where two runs would share a folder."""
    made: dict[str, str] = {}
    for run_id, name in names.items():
        text = _UNSAFE.sub("_", name).strip() or run_id[:12]
        if text in (".", ".."):
            text = text.replace(".", "_")
        made[run_id] = text[:MAX_NAME]
    counts: dict[str, int] = {}
    for text in made.values():
        counts[text.lower()] = counts.get(text.lower(), 0) + 1  # case-insensitive file systems
    return {run_id: text if counts[text.lower()] == 1 else f"{text[:MAX_NAME - 13]}-{run_id[:12]}"
            for run_id, text in made.items()}


def _modules() -> Any:
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise MissingDependency("tensorboard", "tensorboard", "runyard export tensorboard") from None
    return event_pb2, summary_pb2, api_pb2, metadata, plugin_data_pb2, EventFileWriter


def export_tensorboard(store: Store, experiment: str | None, folder: str, *, where: str | None = None) -> Exported:
    """Write the runs of ``experiment`` (matching ``where``) under ``folder``, which must be new or empty."""
    from runyard.app.results import run_set

    event_pb2, summary_pb2, api_pb2, metadata, plugin_data_pb2, writer_class = _modules()
    if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
        raise UsageError(f"{folder} is not an empty folder: export into a new one (event files of two exports "
                         "would mix in TensorBoard)")
    runs = run_set(store, experiment, where, stage=None)
    results = runs.results()
    frame = results.frame
    metrics = [m.column for m in results.metrics]
    series = {metric: runs.metrics(metric) for metric in metrics}
    names = folder_names({str(i): str(n) for i, n in zip(frame.index, frame["name"], strict=True)})
    os.makedirs(folder, exist_ok=True)

    def summary(tag: str, data: Any) -> Any:
        value = summary_pb2.Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data),
                                          tensor=metadata.NULL_TENSOR)
        return summary_pb2.Summary(value=[value])

    params = {p: [_param(v) for v in frame[p].tolist()] for p in results.params}
    kinds = {name: _kind(values) for name, values in params.items()}
    infos = [_hparam_info(api_pb2, name, kinds[name], values) for name, values in params.items()]
    experiment_pb = api_pb2.Experiment(hparam_infos=infos, metric_infos=[
        api_pb2.MetricInfo(name=api_pb2.MetricName(tag=m), display_name=m) for m in metrics])
    top = writer_class(folder)
    top.add_event(event_pb2.Event(summary=summary(metadata.EXPERIMENT_TAG,
                                                  plugin_data_pb2.HParamsPluginData(experiment=experiment_pb))))
    top.close()
    points = 0
    started = frame["started"].tolist() if "started" in frame.columns else [None] * len(frame)
    for row, run_id in enumerate(frame.index):
        writer = writer_class(os.path.join(folder, names[str(run_id)]))
        start = plugin_data_pb2.SessionStartInfo(group_name=str(frame.at[run_id, "name"]),
                                                 start_time_secs=_seconds(started[row]))
        for name, values in params.items():
            value = values[row]
            if value is None:
                continue
            if kinds[name] == "bool":
                start.hparams[name].bool_value = bool(value)
            elif kinds[name] == "number":
                start.hparams[name].number_value = float(value)
            else:
                start.hparams[name].string_value = _text(value)
        writer.add_event(event_pb2.Event(summary=summary(metadata.SESSION_START_INFO_TAG,
                                                         plugin_data_pb2.HParamsPluginData(session_start_info=start))))
        for metric, frame_points in series.items():
            mine = frame_points[frame_points["id"] == run_id]
            steps = mine["step"].to_numpy(dtype="float64", na_value=math.nan).tolist()  # no step: NaN
            times = [_seconds(t) for t in mine["time"].tolist()]
            for i, (step, value, when) in enumerate(zip(steps, mine["value"].tolist(), times, strict=True)):
                writer.add_event(event_pb2.Event(
                    wall_time=when, step=i if math.isnan(step) else int(step),
                    summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=metric,
                                                                                 simple_value=float(value))])))
                points += 1
        status = _STATUS.get(str(frame.at[run_id, "status"]), "STATUS_RUNNING")
        end = plugin_data_pb2.SessionEndInfo(status=getattr(api_pb2, status),
                                             end_time_secs=_seconds(frame.at[run_id, "ended"]) if "ended" in frame
                                             else 0.0)
        writer.add_event(event_pb2.Event(summary=summary(metadata.SESSION_END_INFO_TAG,
                                                         plugin_data_pb2.HParamsPluginData(session_end_info=end))))
        writer.close()
    return Exported(folder, len(frame), len(metrics), points)


# a run's status → the plugin's (which has no word for interrupted or cancelled: unknown)
_STATUS = {"done": "STATUS_SUCCESS", "failed": "STATUS_FAILURE", "interrupted": "STATUS_UNKNOWN",
           "cancelled": "STATUS_UNKNOWN"}


def _seconds(value: Any) -> float:
    """Epoch seconds of a pandas timestamp (0 when missing)."""
    if value is None or value != value:
        return 0.0
    stamp = getattr(value, "timestamp", None)
    return float(stamp()) if callable(stamp) else float(value)


def _param(value: Any) -> Any:
    """A param value as the HParams plugin takes it: bool, number or text (None when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, (int, float)) or type(value).__module__ == "numpy":
        try:
            return float(value)
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, (list, tuple, dict)):
        import json

        return json.dumps(value, sort_keys=True)
    return str(value)


def _kind(values: Sequence[Any]) -> str:
    """``bool``, ``number`` or ``string``: how the HParams plugin holds a param (text when its values mix)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, float) for v in present):
        return "number"
    return "string"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _hparam_info(api_pb2: Any, name: str, kind: str, values: Sequence[Any]) -> Any:
    present = [v for v in values if v is not None]
    if kind == "bool":
        return api_pb2.HParamInfo(name=name, type=api_pb2.DATA_TYPE_BOOL)
    if kind == "number":
        info = api_pb2.HParamInfo(name=name, type=api_pb2.DATA_TYPE_FLOAT64)
        finite = [v for v in present if math.isfinite(v)]
        if finite:
            info.domain_interval.min_value = min(finite)
            info.domain_interval.max_value = max(finite)
        return info
    info = api_pb2.HParamInfo(name=name, type=api_pb2.DATA_TYPE_STRING)
    info.domain_discrete.extend(sorted({_text(v) for v in present}))
    return info
