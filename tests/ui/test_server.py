"""The dashboard's HTTP surface without a browser: the JSON API, files only from inside the home, the
token off the loopback interface, CSRF on state-changing requests, and no such route when read-only."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote, unquote, urlencode

from runyard.store import open_store

from .conftest import Server, Yard


def request(server: Server, method: str, path: str, *, body: str | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """One raw HTTP request: the path is sent exactly as given (no normalisation of ``..``)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode(
            "utf-8", "replace")
    finally:
        connection.close()


def get_json(server: Server, path: str) -> tuple[int, Any]:
    status, _, text = request(server, "GET", path)
    return status, json.loads(text)


def test_the_api_sorts_filters_and_cuts_series(yard: Yard) -> None:
    status, data = get_json(yard.server, "/api/experiments")
    assert status == 200 and {e["experiment"] for e in data["experiments"]} >= {"study"}
    query = urlencode({"experiment": "study", "where": "lr == 0.02", "sort": "-acc"})
    status, table = get_json(yard.server, f"/api/runs?{query}")
    assert status == 200 and table["matched"] == 4 and table["total"] == 8
    accs = [row["acc"] for row in table["rows"]]
    assert accs == sorted(accs, reverse=True) and table["best"]["acc"] == accs[0]
    assert {c["name"] for c in table["columns"]} >= {"seed", "note", "loss", "acc", "status", "duration"}
    status, error = get_json(yard.server, "/api/runs?" + urlencode({"experiment": "study", "where": "lr <"}))
    assert status == 400 and "lr <" in error["error"]
    run_id = table["rows"][0]["id"]
    status, run = get_json(yard.server, f"/api/runs/{run_id}")
    assert status == 200 and run["id"] == run_id and {s["name"] for s in run["steps"]} == {"prep", "train"}
    status, series = get_json(yard.server, f"/api/runs/{run_id}/metrics/loss?points=10")
    assert status == 200 and series["total"] == 60 and 2 <= len(series["steps"]) <= 10
    assert series["steps"] == sorted(series["steps"])
    status, missing = get_json(yard.server, "/api/runs/nosuchrun")
    assert status == 404 and "nosuchrun" in missing["error"]


TRAVERSALS = [
    "/files/../../etc/passwd",
    "/files/%2e%2e/%2e%2e/etc/passwd",
    "/files/..%2f..%2f..%2fetc%2fpasswd",
    "/files/%252e%252e/%252e%252e/etc/passwd",
    "/files//etc/passwd",
    "/files/%2fetc%2fpasswd",
    "/files/study/../../../../etc/passwd",
]


def test_files_outside_the_home_are_refused(yard: Yard) -> None:
    for path in TRAVERSALS:
        status, _, body = request(yard.server, "GET", path)
        assert status in (403, 404) and "root:" not in body, path


def test_a_symbolic_link_out_of_the_home_is_refused_and_a_real_artifact_is_served(yard: Yard) -> None:
    link = next(yard.home.glob("study/steps/train/*/out/escape"))
    model = link.with_name("model.txt")
    status, _, body = request(yard.server, "GET", "/files/" + quote(str(link.relative_to(yard.home))))
    assert status == 404 and "root:" not in body
    status, headers, body = request(yard.server, "GET", "/files/" + quote(str(model.relative_to(yard.home))))
    assert status == 200 and body.startswith("lr=") and headers["content-type"].startswith("text/plain")
    assert "sandbox" in headers["content-security-policy"]


def test_state_changes_need_a_post_with_the_csrf_token(yard: Yard) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    status, _, body = request(yard.server, "POST", "/control/pause", body="experiment=study", headers=form)
    assert status == 403 and "CSRF" in body
    status, _, _ = request(yard.server, "POST", "/control/pause", body="experiment=study&csrf=wrong", headers=form)
    assert status == 403
    _, _, page = request(yard.server, "GET", "/queue")
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    status, _, _ = request(yard.server, "POST", "/control/pause", body=f"experiment=study&csrf={csrf}",
                           headers={**form, "origin": "http://evil.example"})
    assert status == 403
    status, _, _ = request(yard.server, "GET", "/control/pause")
    assert status == 405
    for action, said in (("priority", "quiet: 0 queued steps now have priority 3"),
                         ("cancel", "cancelled experiment quiet: 0 steps")):
        status, headers, _ = request(yard.server, "POST", f"/control/{action}", headers=form,
                                     body=f"experiment=quiet&priority=3&csrf={csrf}")
        assert status == 303 and unquote(headers["location"]) == f"/queue?done={said}"
    status, _, body = request(yard.server, "POST", "/control/priority", headers=form,
                              body=f"experiment=quiet&priority=high&csrf={csrf}")
    assert status == 400 and "priority must be a whole number, not &#39;high&#39;" in body  # escaped
    with open_store(yard.store_url, readonly=True) as store:
        assert not store.experiment("study").paused
    status, _, _ = request(yard.server, "GET", "/", headers={"host": "evil.example"})  # DNS rebinding
    assert status == 403


def test_every_interface_needs_the_token_and_read_only_serves_no_change(yard: Yard, exposed: Server) -> None:
    assert exposed.token
    for path in ("/", "/api/experiments", "/e/study", "/files/" + quote(
            str(next(yard.home.glob("study/steps/train/*/out/model.txt")).relative_to(yard.home)))):
        status, _, body = request(exposed, "GET", path)
        assert status == 401 and "token" in body
    status, _, _ = request(exposed, "GET", "/api/experiments", headers={"authorization": "Bearer wrong"})
    assert status == 401
    status, _, _ = request(exposed, "GET", "/api/experiments", headers={"authorization": f"Bearer {exposed.token}"})
    assert status == 200
    status, headers, _ = request(exposed, "GET", f"/e/study?token={exposed.token}&sort=acc")
    assert status == 303 and headers["location"] == "/e/study?sort=acc"
    cookie = headers["set-cookie"].split(";", 1)[0]
    status, headers, _ = request(exposed, "GET", f"//evil.example/?token={exposed.token}")
    assert status == 303 and headers["location"] == "/evil.example/"  # stays on the dashboard
    status, _, page = request(exposed, "GET", "/queue", headers={"cookie": cookie})
    assert status == 200 and 'method="post"' not in page and "read-only" in page
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    for action in ("pause", "resume", "cancel", "priority"):
        status, _, _ = request(exposed, "POST", f"/control/{action}", body=f"experiment=study&csrf={csrf}",
                               headers={"cookie": cookie, "content-type": "application/x-www-form-urlencoded"})
        assert status in (404, 405)
    with open_store(yard.store_url, readonly=True) as store:
        assert not store.experiment("study").paused
