"""The HTML pages (Jinja2, every value escaped), their htmx fragments, file downloads and the control
routes. What they show comes from ``runyard.app``; errors become one clear message."""

from __future__ import annotations

import mimetypes
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from runyard.errors import RunNotFound, RunyardError, UsageError
from runyard.ui import security
from runyard.ui.render import environment

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from runyard.ui.context import Dashboard

INLINE_IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                 ".webp": "image/webp"}
STOP_POLLING = 286  # htmx stops polling an element answered with this status


def dashboard_of(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def render(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    from starlette.responses import HTMLResponse

    dashboard = dashboard_of(request)
    html = environment().get_template(template).render(
        csrf=dashboard.csrf, readonly=dashboard.readonly, path=request.url.path, **values)
    return HTMLResponse(html, status_code=status)


def fragment(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def experiments_page(request: Request) -> Response:
    from runyard.app.dashboard import experiments

    with dashboard_of(request).reading() as store:
        rows = experiments(store)
    return render(request, "experiments.html", experiments=rows, title="experiments")


def runs_page(request: Request) -> Response:
    from runyard.app.dashboard import runs_page as table

    experiment = request.path_params["experiment"]
    query = request.query_params
    args: dict[str, Any] = {"where": query.get("where", ""), "sort": query.get("sort", ""),
                            "over": query.get("over", ""), "stage": query.get("stage") or None}
    error = None
    try:
        page = int(query.get("page", "1") or 1)
    except ValueError:
        page, error = 1, f"page must be a number, not {query.get('page')!r}"
    result = None
    with dashboard_of(request).reading() as store:
        if experiment not in store.experiments():
            raise RunNotFound(f"no experiment {experiment!r} (experiments: {', '.join(store.experiments()) or 'none'})")
        try:
            result = table(store, experiment, page=page, cache=dashboard_of(request).runsets, **args)
        except UsageError as err:
            error = str(err)
    values = {"experiment": experiment, "table": result, "error": error, "args": args, "title": experiment}
    if fragment(request) and request.headers.get("hx-target") == "runs":
        return render(request, "_runs_table.html", **values)
    return render(request, "runs.html", status=400 if error else 200, **values)


def run_page(request: Request) -> Response:
    from runyard.app.dashboard_run import log_tail
    from runyard.app.dashboard_run import run_page as details

    dashboard = dashboard_of(request)
    with dashboard.reading() as store:
        data = details(store, request.path_params["run"], dashboard.home)
        tail = log_tail(store, data["id"])
    return render(request, "run.html", run=data, tail=tail, title=data["name"])


def run_live(request: Request) -> Response:
    """The steps table and the log tail of a run, polled while it runs; the last answer stops the polling."""
    from runyard.app.dashboard_run import log_tail
    from runyard.app.dashboard_run import run_page as details

    dashboard = dashboard_of(request)
    with dashboard.reading() as store:
        data = details(store, request.path_params["run"], dashboard.home)
        tail = log_tail(store, data["id"], request.query_params.get("step") or None)
    return render(request, "_run_live.html", status=200 if data["live"] else STOP_POLLING, run=data, tail=tail)


def compare_page(request: Request) -> Response:
    from runyard.app.dashboard_views import parallel

    query = request.query_params
    run_ids = [r for value in query.getlist("run") for r in value.split(",") if r]
    experiment = query.get("experiment", "")
    with dashboard_of(request).reading() as store:
        if not experiment and run_ids:
            experiment = store.run(run_ids[0]).experiment
        if not experiment:
            names = store.experiments()
            if len(names) != 1:
                raise UsageError("compare: name an experiment (?experiment=NAME) or runs (?run=ID)")
            experiment = names[0]
        data = parallel(store, experiment, query.get("metric") or None, where=query.get("where") or None)
        runs = [store.run(r, experiment) for r in run_ids]
        if not runs:  # default: the first ten runs in the table's order
            every = [r for r in store.runs(experiment) if r.stage != "aggregate"]
            runs = every[:10]
    chosen = [{"id": r.id, "name": r.name} for r in runs]
    return render(request, "compare.html", experiment=experiment, runs=chosen, metric=data["metric"],
                  metrics=data["metrics"], where=query.get("where", ""), title=f"compare {experiment}")


def graph_page(request: Request) -> Response:
    from runyard.app.dashboard_views import plan_graph

    with dashboard_of(request).reading() as store:
        graph = plan_graph(store, request.path_params["experiment"])
    return render(request, "graph.html", graph=graph, experiment=graph["experiment"], title="steps")


def queue_page(request: Request) -> Response:
    from runyard.app.dashboard_views import queue

    with dashboard_of(request).reading() as store:
        data = queue(store)
    return render(request, "queue.html", queue=data, title="queue", note=request.query_params.get("done", ""))


def queue_live(request: Request) -> Response:
    from runyard.app.dashboard_views import queue

    with dashboard_of(request).reading() as store:
        data = queue(store)
    return render(request, "_queue_live.html", queue=data)


async def control(request: Request) -> Response:
    """POST /control/pause|resume|cancel|priority (CSRF token in the form or the X-CSRF-Token header)."""
    from urllib.parse import parse_qsl

    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse, RedirectResponse

    dashboard = dashboard_of(request)
    body = await request.body()
    if len(body) > 64 * 1024:
        return PlainTextResponse("refused: too large", status_code=413)
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    token = request.headers.get(security.CSRF_HEADER) or form.get(security.CSRF_FIELD)
    if token is None or not security.same(token, dashboard.csrf):
        return PlainTextResponse("refused: no valid CSRF token", status_code=403)
    action = request.path_params["action"]
    experiment = str(form.get("experiment") or "")
    target = str(form.get("run") or "") or experiment
    raw_priority = str(form.get("priority") or "0")
    if action not in ("pause", "resume", "cancel", "priority"):
        return PlainTextResponse(f"no action {action!r} (pause, resume, cancel, priority)", status_code=404)
    if not target:
        raise UsageError(f"{action}: name an experiment (or a run to cancel)")
    try:
        priority = int(raw_priority)
    except ValueError:
        raise UsageError(f"priority must be a whole number, not {raw_priority!r}") from None

    def act() -> str:
        from runyard.app import control as use

        with dashboard.writing() as store:
            if action in ("pause", "resume"):
                queued, running = use.set_paused(store, experiment, action == "pause")
                return f"{experiment} {action}d: {queued} queued, {running} running"
            if action == "cancel":
                result = use.cancel(store, target, experiment if form.get("run") else None)
                return f"cancelled {result.what}: {len(result.keys)} steps"
            count = use.set_priority(store, experiment, priority)
            return f"{experiment}: {count} queued steps now have priority {priority}"

    note = await run_in_threadpool(act)
    return RedirectResponse(f"/queue?done={quote(note)}", status_code=303)


def file_download(request: Request) -> Response:
    """A file of the home: images inline, anything else as plain text (never as HTML of this site);
    ``?download=1`` as an attachment. Paths leading out of the home are refused."""
    from starlette.responses import FileResponse, PlainTextResponse

    dashboard = dashboard_of(request)
    path = security.file_inside(dashboard.home, request.path_params["path"])
    if path is None:
        return PlainTextResponse("refused: not a file inside the home", status_code=404)
    name = os.path.basename(path)
    if request.query_params.get("download"):
        guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=guessed, filename=name,
                            headers={"content-security-policy": "sandbox"})
    ext = os.path.splitext(name)[1].lower()
    media = INLINE_IMAGES.get(ext, "text/plain; charset=utf-8")
    return FileResponse(path, media_type=media, headers={"content-security-policy": "sandbox"})


def no_icon(request: Request) -> Response:
    from starlette.responses import Response

    return Response(status_code=204)


def exception_handlers() -> dict[Any, Any]:
    async def known(request: Request, exc: Exception) -> Response:
        from starlette.responses import JSONResponse

        status = 404 if isinstance(exc, RunNotFound) else 400
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc)}, status_code=status)
        return render(request, "error.html", status=status, message=str(exc), title="error")

    return {RunyardError: known}
