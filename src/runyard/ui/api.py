"""The JSON API under ``/api/`` (what the pages' scripts read; docs/ui.md documents it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runyard.errors import UsageError
from runyard.ui.pages import dashboard_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

DEFAULT_POINTS = 2000


def reply(data: Any, status: int = 200) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse(data, status_code=status)


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {raw!r}") from None


def experiments(request: Request) -> Response:
    from runyard.app.dashboard import experiments as rows

    with dashboard_of(request).reading() as store:
        return reply({"experiments": rows(store)})


def runs(request: Request) -> Response:
    """``/api/runs?experiment=E&where=…&sort=…&over=…&stage=…&page=1&per_page=50``."""
    from runyard.app.dashboard import runs_page

    query = request.query_params
    with dashboard_of(request).reading() as store:
        page = runs_page(store, query.get("experiment", ""), where=query.get("where"), sort=query.get("sort"),
                         over=query.get("over"), stage=query.get("stage") or None,
                         page=_int(request, "page", 1), per_page=_int(request, "per_page", 50),
                         cache=dashboard_of(request).runsets)
    return reply(page.to_json())


def run(request: Request) -> Response:
    from runyard.app.dashboard_run import run_page

    dashboard = dashboard_of(request)
    with dashboard.reading() as store:
        return reply(run_page(store, request.path_params["run"], dashboard.home))


def log(request: Request) -> Response:
    """``/api/runs/<run>/log?step=S``: the end of a step's log."""
    from runyard.app.dashboard_run import log_tail

    with dashboard_of(request).reading() as store:
        return reply(log_tail(store, request.path_params["run"], request.query_params.get("step") or None))


def metric(request: Request) -> Response:
    """``/api/runs/<run>/metrics/<name>?points=2000``: the series cut to at most ``points`` points."""
    from runyard.app.dashboard_run import run_series

    points = _int(request, "points", DEFAULT_POINTS)
    with dashboard_of(request).reading() as store:
        return reply(run_series(store, request.path_params["run"], request.path_params["metric"], points))


def series(request: Request) -> Response:
    """``/api/series?experiment=E&run=ID&run=ID&metric=M&points=N``: several runs' series of one metric."""
    from runyard.app.dashboard_run import series as load

    query = request.query_params
    run_ids = [r for value in query.getlist("run") for r in value.split(",") if r]
    metric_name = query.get("metric", "")
    if not run_ids or not metric_name:
        raise UsageError("series: give run=ID (one or more) and metric=NAME")
    points = _int(request, "points", DEFAULT_POINTS)
    with dashboard_of(request).reading() as store:
        records = [store.run(r, query.get("experiment") or None) for r in run_ids]
        experiment = records[0].experiment
        found = load(store, experiment, [r.id for r in records], metric_name, points)
    for item, record in zip(found, records, strict=True):
        item["name"] = record.name
    return reply({"experiment": experiment, "metric": metric_name, "series": found})


def parallel(request: Request) -> Response:
    """``/api/parallel?experiment=E&metric=M&where=…``: dimensions for parallel coordinates."""
    from runyard.app.dashboard_views import parallel as dims

    query = request.query_params
    with dashboard_of(request).reading() as store:
        return reply(dims(store, query.get("experiment", ""), query.get("metric") or None,
                          where=query.get("where") or None))


def graph(request: Request) -> Response:
    from runyard.app.dashboard_views import plan_graph

    with dashboard_of(request).reading() as store:
        return reply(plan_graph(store, request.path_params["experiment"]))


def queue(request: Request) -> Response:
    from runyard.app.dashboard_views import queue as load

    with dashboard_of(request).reading() as store:
        return reply(load(store))
