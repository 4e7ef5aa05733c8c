"""``runyard ui``: the web dashboard (experiments, runs tables, runs, curves, compare, step graph, queue).

The command table of ``runyard`` (``cli/main.py``) names this module; ``ui`` sits above ``cli`` in the
layers, so the command takes the CLI's ``--home``/``--store`` options and its one-line error messages.
"""

from __future__ import annotations

import click

from runyard.cli.common import store_options
from runyard.cli.main import friendly


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Any address but the loopback needs a token (made and printed when "
                   "--token is not given).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--token", envvar="RUNYARD_UI_TOKEN", metavar="TOKEN",
              help="Require this token on every request (the printed link logs the browser in).")
@click.option("--readonly", is_flag=True, help="Serve no route that changes anything (no pause, resume, "
                                                "cancel or priority).")
@store_options
@friendly
def ui(host: str, port: int, token: str | None, readonly: bool, home: str | None, store_url: str | None) -> None:
    """Serve the web dashboard of a store and print the URL to open.

    Pages: experiments; each experiment's runs table (sort, filter with the --where language of
    `runyard compare`, group --over seeds); a run (params, metrics, curves, steps, live log,
    artifacts, provenance); compare (curves overlaid, parallel coordinates); the step graph; the
    queue. The JSON API under /api/ is described in docs/ui.md. Works offline.
    """
    import importlib.util

    from runyard.errors import MissingDependency

    for package in ("starlette", "uvicorn", "jinja2"):
        if importlib.util.find_spec(package) is None:
            raise MissingDependency(package, "ui", "runyard ui")
    from runyard.app.stores import open_existing
    from runyard.home import resolve_home, resolve_store_url
    from runyard.ui import security
    from runyard.ui.context import Dashboard
    from runyard.ui.server import serve

    resolved = resolve_home(home)
    url = resolve_store_url(store_url, resolved)
    open_existing(home, store_url).close()  # a clear message when there is no store, before binding
    if token is not None and not token.strip():
        from runyard.errors import UsageError

        raise UsageError("--token: give a non-empty token (or leave it out)")
    if token is None and not security.is_loopback(host):
        token = security.new_token()
        click.echo(f"runyard ui: {host} is reachable from other machines: every request needs the token "
                   f"{token}", err=True)
    dashboard = Dashboard(home=str(resolved), store_url=url, readonly=readonly, token=token)
    try:
        serve(dashboard, host, port, announce=lambda line: click.echo(line, err=False))
    except OSError as err:
        from runyard.errors import UsageError

        raise UsageError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
