"""``runyard report`` and ``runyard plot`` on a real sweep: one self-contained HTML file drawn from the
store's values, escaped, and bad input answered with one message."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

import runyard

from .conftest import ODD, Home


def loss_points(home: Home) -> dict[str, list[float]]:
    with runyard.open(home.home) as yard:
        points = yard.runs("study").metrics("loss")
    return {str(name): group["value"].tolist() for name, group in points.groupby("name")}


def test_report_is_one_offline_file_drawn_from_the_store(study: Home, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = study.cli("report", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {out}: 5 runs, 2 metrics\n"
    page = out.read_text(encoding="utf-8")
    # self-contained: nothing fetched, no script at all
    assert not re.search(r"https?:|<script|<link|<img|<iframe|@import|url\(", page, re.I)
    assert ODD not in page and "&lt;img src=x onerror=alert(1)&gt;" in page  # a param value is text
    assert page.count('<svg class="chart"') == 2 and page.count('<svg class="parallel"') == 2
    points = loss_points(study)
    for name, values in points.items():  # one loss curve per run, its polyline holding every point
        tip = f"{name}: last {values[-1]:.6g}"
        match = re.search(rf'<polyline points="([^"]+)"[^>]*><title>{re.escape(tip)}</title>', page)
        assert match, name
        assert len(match.group(1).split()) == len(values)
    provenance = page[page.index("<h2>Provenance</h2>"):]
    assert "<dt>python</dt>" in provenance and "<dt>runyard</dt>" in provenance
    best = max(((v[-1], n) for n, v in points.items()), key=lambda x: -x[0])  # loss: lowest is best
    assert f"<b>loss</b> (lowest): {best[1]} with {best[0]:.6g}" in unescape(page)


def test_report_over_seed_and_where(study: Home, tmp_path: Path) -> None:
    out = tmp_path / "grouped.html"
    done = study.cli("report", "study", "--over", "seed", "--where", "tag == plain", "-o", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "4 runs · where tag == plain · mean ± std over seed" in unescape(page)
    table = page[page.index("<table>"):page.index("</table>")]
    assert [unescape(h) for h in re.findall(r"<th>([^<]*)</th>", table)] == ["lr", "runs", "status", "acc", "acc.n",
                                                                          "loss", "loss.n"]
    assert len(re.findall(r"<polygon ", page)) >= 4  # each group's band, for each metric
    assert ODD not in page and "&lt;img" not in page


@pytest.mark.parametrize(("args", "message"), [
    (["report", "nope"], "no experiment 'nope'"),
    (["report", "--where", "lr >< 1"], "bad --where expression"),
    (["report", "-o", "/nonexistent-folder/r.html"], "the folder /nonexistent-folder does not exist"),
    (["report", "--over", "sed"], "did you mean 'seed'"),
    (["plot", "study", "los"], "did you mean 'loss'"),
    (["plot", "study", "loss", "-o", "chart.gif"], "must end in .html, .png, .svg, .pdf"),
    (["plot", "nope", "loss"], "nope"),
])
def test_bad_input_is_one_message(study: Home, args: list[str], message: str) -> None:
    done = study.quick(*args)
    assert done.returncode == 2 and message in done.stderr, done
    assert "Traceback" not in done.stderr and done.stderr.startswith("runyard: ")


def test_plot_html_png_and_svg(study: Home, tmp_path: Path) -> None:
    html = study.cli("plot", "study", "loss", cwd=tmp_path)
    assert html.returncode == 0 and html.stdout == "wrote study-loss.html: 5 curves\n", html
    page = (tmp_path / "study-loss.html").read_text(encoding="utf-8")
    assert page.count("<polyline") == 5 and "<script" not in page
    pytest.importorskip("matplotlib")
    png = study.cli("plot", "study", "loss", "--over", "seed", "-o", str(tmp_path / "loss.png"))
    assert png.returncode == 0 and png.stdout.endswith(": 3 curves\n"), png  # lr 0.1, lr 0.3, the odd tag
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = study.cli("plot", "study", "acc", "-o", str(tmp_path / "acc.svg"))
    assert svg.returncode == 0 and (tmp_path / "acc.svg").read_text().lstrip().startswith("<?xml")


def test_runset_plot_draws_the_curves(study: Home) -> None:
    pytest.importorskip("matplotlib")
    with runyard.open(study.home) as yard:
        runs = yard.runs("study", where="tag == plain")
        ax = runs.plot("loss", over="seed")
        curves = runs.curves("loss", over="seed")
    assert [line.get_label() for line in ax.get_lines()] == ["lr=0.1 (2 runs)", "lr=0.3 (2 runs)"]
    points = loss_points(study)
    for curve in curves:
        lr = curve.label.removeprefix("lr=")
        members = [v for n, v in points.items() if ("lr=0.3" in n) == (lr == "0.3") and not n.startswith("tag")]
        assert curve.ys[-1] == pytest.approx(sum(m[-1] for m in members) / 2)
        spread = math.sqrt(sum((m[-1] - curve.ys[-1]) ** 2 for m in members))  # ddof=1 over two runs
        assert curve.high[-1] - curve.ys[-1] == pytest.approx(spread)


def test_without_matplotlib_plot_names_the_extra(study: Home) -> None:
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import runyard\n"
            "with runyard.open(sys.argv[1]) as yard:\n"
            "    try:\n"
            "        yard.runs('study').plot('loss')\n"
            "    except runyard.errors.RunyardError as err:\n"
            "        print(err)\n")
    done = subprocess.run([sys.executable, "-c", code, str(study.home)], capture_output=True, text=True, check=False,
                          timeout=60)
    assert done.stdout == "RunSet.plot needs the optional package 'matplotlib': pip install 'runyard[plot]'\n", done
