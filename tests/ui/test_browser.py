"""The dashboard in a real browser (chromium through Playwright) over a home of real runs: every page,
sorting and filtering the runs table, curves and parallel coordinates drawn from the stored points,
a run followed live, a hostile param value shown as text, and the queue's controls."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytest_playwright", reason="the browser tests need playwright and pytest-playwright (dev extra)")

from playwright.sync_api import Page, expect

from runyard.store import open_store
from runyard.testing.processes import wait_for

from .conftest import RUNYARD, XSS, Yard, screenshot


@pytest.fixture(autouse=True)
def patient_expect() -> None:
    """Waits end on the event; 60 s only bounds a hang on a busy machine (not a timing assumption)."""
    expect.set_options(timeout=60_000)


def runs_of(yard: Yard, experiment: str) -> list[Any]:
    with open_store(yard.store_url, readonly=True) as store:
        return store.runs(experiment)


def test_runs_table_sorts_filters_groups_and_marks_the_best(yard: Yard, page: Page) -> None:
    page.goto(yard.server.url)
    page.get_by_role("link", name="study", exact=True).click()
    rows = page.locator("#runs-table tbody tr")
    expect(rows).to_have_count(8)
    headers = ["name", "status", "lr", "note", "seed", "acc", "loss", "duration"]
    expect(page.locator("#runs-table thead th")).to_contain_text(headers)
    acc = page.locator("#runs-table thead a.sort", has_text="acc")
    acc.click()  # ascending, then descending: the server sorts
    expect(page.locator("#runs-table thead")).to_contain_text("acc ▲")
    column = page.locator("#runs-table thead th").all_inner_texts().index("acc ▲") + 0
    ascending = [float(t) for t in page.locator(f"#runs-table tbody tr td:nth-child({column + 1})").all_inner_texts()]
    assert ascending == sorted(ascending) and len(set(ascending)) > 1
    page.locator("#runs-table thead a.sort", has_text="acc").click()
    expect(page.locator("#runs-table thead")).to_contain_text("acc ▼")
    descending = [float(t) for t in page.locator(f"#runs-table tbody tr td:nth-child({column + 1})").all_inner_texts()]
    assert descending == sorted(ascending, reverse=True)
    first_acc = page.locator(f"#runs-table tbody tr:first-child td:nth-child({column + 1})")
    expect(first_acc).to_have_class("n best")  # acc: the highest is best
    expect(page.locator(f"#runs-table tbody tr:last-child td:nth-child({column + 1})")).to_have_class("n")
    screenshot(page, "runs")

    page.fill("#filter input[name=where]", "lr == 0.1 and seed == 2")
    page.click("#filter button")
    expect(page.locator("#matched")).to_have_text("2")
    expect(rows).to_have_count(2)
    assert "where=lr" in page.url  # the filter is in the address: a link to this view

    page.fill("#filter input[name=where]", "lr === 0.1")
    page.click("#filter button")
    expect(page.locator("#table-error")).to_contain_text("lr === 0.1")

    page.fill("#filter input[name=where]", "")
    page.fill("#filter input[name=over]", "seed")
    page.click("#filter button")
    expect(rows).to_have_count(4)  # lr × note, mean ± std over the two seeds
    expect(rows.first).to_contain_text("±")
    expect(rows.first).to_contain_text("n=2")


def test_run_page_draws_the_stored_curve_and_lists_artifacts_and_provenance(yard: Yard, page: Page) -> None:
    run = next(r for r in runs_of(yard, "study") if r.params["note"] == "plain")
    with open_store(yard.store_url, readonly=True) as store:
        points = store.metric_points(dict(run.steps)["train"], "loss")
    page.goto(f"{yard.server.url}run/{run.id}")
    curve = page.locator("figure.curve[data-metric=loss]")
    expect(curve).to_have_attribute("data-drawn", "1")
    assert curve.locator("canvas").count() == 1
    drawn = curve.evaluate("el => [el._plot.data[0], el._plot.data[1]]")
    assert drawn[0] == [float(p.step) for p in points] and drawn[1] == pytest.approx([p.value for p in points])
    box = curve.locator("canvas").bounding_box()
    assert box is not None and box["width"] > 100
    expect(page.locator("#params")).to_contain_text("default")  # seed 1 / note plain are the spec's defaults
    expect(page.locator("#steps")).to_contain_text("prep")
    link = page.locator("#steps a", has_text="model.txt")
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_text().startswith("lr=")
    assert page.locator("#steps a", has_text="escape").count() == 0  # a link out of the home is not listed
    expect(page.locator("table.prov").last).to_contain_text("python train.py")
    screenshot(page, "run")


def test_compare_overlays_curves_and_draws_parallel_coordinates(yard: Yard, page: Page) -> None:
    page.goto(f"{yard.server.url}compare?experiment=study&metric=acc")
    parcoords = page.locator("#parcoords")
    expect(parcoords).to_have_attribute("data-drawn", "1")
    assert parcoords.get_attribute("data-runs") == "8"
    titles = parcoords.locator("text.axis-title").all_text_contents()
    assert sorted(titles[:-1]) == ["lr", "note", "seed"] and titles[-1] == "acc"
    expect(parcoords).to_contain_text(XSS)  # a word param's values are tick labels, as text
    assert parcoords.locator("canvas").count() >= 1
    screenshot(page, "compare")
    page.select_option("#pick select[name=metric]", "loss")
    page.click("#pick button")
    overlay = page.locator("#overlay")
    expect(overlay).to_have_attribute("data-drawn", "1")
    assert overlay.get_attribute("data-series") == "8"
    assert overlay.evaluate("el => el._plot.series.length") == 9  # x and one per run
    assert overlay.evaluate("el => el._plot.data[0].length") == 60


def test_step_graph_draws_a_shared_step_once_and_the_queue_controls_work(yard: Yard, page: Page) -> None:
    page.goto(f"{yard.server.url}graph/study")
    nodes = page.locator("#graph g.node")
    expect(nodes).to_have_count(9)  # one prep shared by the 8 train steps
    expect(page.locator("#graph g.node", has_text="prep [8]")).to_have_count(1)
    expect(page.locator("#graph line.edge")).to_have_count(8)
    screenshot(page, "graph")

    page.goto(f"{yard.server.url}queue")
    row = page.locator("#queue-experiments tr", has_text="quiet")
    row.get_by_role("button", name="pause").click()
    expect(page.locator("#note")).to_contain_text("quiet paused")
    with open_store(yard.store_url, readonly=True) as store:
        assert store.experiment("quiet").paused
    page.locator("#queue-experiments tr", has_text="quiet").get_by_role("button", name="resume").click()
    expect(page.locator("#note")).to_contain_text("quiet resumed")
    with open_store(yard.store_url, readonly=True) as store:
        assert not store.experiment("quiet").paused
    screenshot(page, "queue")


def test_a_hostile_param_value_is_shown_as_text_and_runs_nothing(yard: Yard, page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{yard.server.url}e/study")
    expect(page.locator("#runs-table")).to_contain_text(XSS)
    assert page.locator("img").count() == 0
    run = next(r for r in runs_of(yard, "study") if r.params["note"] == XSS)
    page.goto(f"{yard.server.url}run/{run.id}")
    expect(page.locator("#params")).to_contain_text(XSS)
    expect(page.locator("#log")).to_contain_text(f"note {XSS}")
    assert page.locator("img").count() == 0
    page.goto(f"{yard.server.url}e/study?where=" + "note%20%3D%3D%20%3Cscript%3Ealert(2)%3C%2Fscript%3E")
    expect(page.locator("#filter input[name=where]")).to_have_value("note == <script>alert(2)</script>")
    assert dialogs == []


def test_a_running_run_updates_without_a_reload(yard: Yard, page: Page) -> None:
    started, go = yard.folder / "started", yard.folder / "go"
    env = {**os.environ, "RUNYARD_HOME": str(yard.home)}
    proc = subprocess.Popen([RUNYARD, "run", "live.yaml"], cwd=yard.folder, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(started.exists, timeout=60, what="the live step to start")
        run = runs_of(yard, "live")[0]

        def first_point_stored() -> bool:
            with open_store(yard.store_url, readonly=True) as store:
                return bool(store.metric_summaries([k for _, k in run.steps]))

        wait_for(first_point_stored, timeout=60, what="the live step's first metric point in the store")
        page.goto(f"{yard.server.url}run/{run.id}")
        expect(page.locator("#live")).to_have_attribute("data-status", "running")
        expect(page.locator("#log")).to_contain_text("epoch 1 of the live run")
        curve = page.locator("figure.curve[data-metric=loss]")
        expect(curve).to_have_attribute("data-total", "1")
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        go.touch()
        expect(page.locator("#log")).to_contain_text("epoch 2 finished")
        expect(page.locator("#live")).to_have_attribute("data-status", "done")
        expect(page.locator("#steps")).to_contain_text("done")
        expect(curve).to_have_attribute("data-total", "2")
        assert navigations == []  # all of it without reloading the page
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
