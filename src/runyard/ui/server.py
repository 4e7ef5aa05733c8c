"""The dashboard application: routes, the access and CSRF guard, security headers, and serving it.

:func:`make_app` builds a Starlette application over one store (opened read-only; a writable store is
opened only for the control routes, which ``readonly`` leaves out). :func:`serve` binds the socket
first (``port=0`` picks a free one), prints the URL to open, then runs uvicorn on it.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from runyard.ui import security
from runyard.ui.context import STATIC, Dashboard

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

CSP = ("default-src 'self'; script-src 'self'{eval}; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def make_app(dashboard: Dashboard) -> Starlette:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from runyard.ui import api, pages

    routes = [
        Route("/", pages.experiments_page),
        Route("/e/{experiment:path}", pages.runs_page),
        Route("/run/{run}", pages.run_page),
        Route("/run/{run}/live", pages.run_live),
        Route("/compare", pages.compare_page),
        Route("/graph/{experiment:path}", pages.graph_page),
        Route("/queue", pages.queue_page),
        Route("/queue/live", pages.queue_live),
        Route("/files/{path:path}", pages.file_download),
        Route("/api/experiments", api.experiments),
        Route("/api/runs", api.runs),
        Route("/api/runs/{run}", api.run),
        Route("/api/runs/{run}/log", api.log),
        Route("/api/runs/{run}/metrics/{metric:path}", api.metric),
        Route("/api/series", api.series),
        Route("/api/parallel", api.parallel),
        Route("/api/graph/{experiment:path}", api.graph),
        Route("/api/queue", api.queue),
        Route("/favicon.ico", pages.no_icon),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
    if not dashboard.readonly:  # read-only: no route changes anything
        routes += [Route("/control/{action}", pages.control, methods=["POST"])]
    app = Starlette(routes=routes, middleware=[Middleware(GZipMiddleware, minimum_size=1024)],
                    exception_handlers=pages.exception_handlers())
    app.state.dashboard = dashboard
    guarded: Any = Guard(app, dashboard)
    return guarded  # type: ignore[no-any-return]


class Guard:
    """ASGI wrapper: host check, token (cookie, bearer header or ``?token=`` login link), CSRF on every
    non-GET request, and the security headers of every response."""

    def __init__(self, app: Any, dashboard: Dashboard) -> None:
        self.app = app
        self.dashboard = dashboard
        self.state = app.state

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request

        request = Request(scope, receive)
        refusal = self.check(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        eval_ok = scope["path"] == "/compare"  # plotly's WebGL code compiles functions at run time

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {b"x-content-type-options": b"nosniff", b"x-frame-options": b"DENY",
                         b"referrer-policy": b"same-origin",
                         b"content-security-policy": CSP.format(eval=" 'unsafe-eval'" if eval_ok else "").encode()}
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

    def check(self, request: Request) -> Response | None:
        from starlette.responses import PlainTextResponse, RedirectResponse

        dashboard = self.dashboard
        host = host_name(request.headers.get("host") or "")
        if dashboard.token is None and host not in dashboard.allowed_hosts:
            return PlainTextResponse(f"refused: host {host!r} is not this dashboard's", status_code=403)
        if dashboard.token is not None:
            given = request.query_params.get("token")
            if given is not None and request.method == "GET":
                if not security.same(given, dashboard.token):
                    return PlainTextResponse("refused: wrong token", status_code=401)
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                path = "/" + request.url.path.lstrip("/")  # never //elsewhere (another site)
                target = path + (f"?{urlencode(rest)}" if rest else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(security.TOKEN_COOKIE, dashboard.token, httponly=True, samesite="strict")
                return response
            presented = request.cookies.get(security.TOKEN_COOKIE) or security.bearer(
                request.headers.get("authorization"))
            if not security.same(presented, dashboard.token):
                return PlainTextResponse("refused: this dashboard needs its token (open the link `runyard ui` "
                                         "printed, or send Authorization: Bearer TOKEN)", status_code=401)
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
                return PlainTextResponse("refused: a request from another site", status_code=403)
            # the CSRF token itself is checked by the handler (``pages.control``), which reads the form
        return None


def host_name(header: str) -> str:
    """``example.org:8765`` → ``example.org``; ``[::1]:8765`` → ``[::1]``."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0]


def serve(dashboard: Dashboard, host: str, port: int, *, announce: Callable[[str], None] = print) -> None:
    """Bind ``host:port`` (0: a free port), say the URL to open, and serve until interrupted."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = socket.gethostname()
    dashboard.allowed_hosts |= {"127.0.0.1", "localhost", "[::1]", shown, host}
    url = f"http://{shown}:{bound}/"
    if dashboard.token is not None:
        url += f"?token={dashboard.token}"
    announce(f"runyard ui: open {url}" + (" (read-only)" if dashboard.readonly else ""))
    config = uvicorn.Config(make_app(dashboard), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        dashboard.close()
        sock.close()
