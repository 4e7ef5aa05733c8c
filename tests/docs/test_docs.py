"""The documentation a user reads matches the code."""

from __future__ import annotations

import re
from pathlib import Path

from runyard.cli.reference import reference

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current() -> None:
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == reference(), "docs/cli.md is stale: python -m runyard.cli.reference > docs/cli.md"


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert links
    for link in links:
        assert (ROOT / link).exists(), link


def test_readme_commands_match_ci() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash .ci/run" in readme
    assert "runyard run examples/quickstart/runyard.yaml" in readme
    assert (ROOT / "examples" / "quickstart" / "runyard.yaml").exists()
