"""The fenced code blocks of README.md and docs/*.md, and how the docs test treats each.

A block is read with the HTML comment on the line right before its fence, if any:

- ``<!-- not-run: REASON -->``: not run (a second machine, a PostgreSQL server, an install); the test lists
  these with their reason, so skipping is deliberate and visible;
- ``<!-- file: NAME -->``: the block is the file NAME of the document's working folder (later blocks use it);
  a spec file is also loaded and planned (unless ``<!-- file: NAME; invalid -->``: an example of errors);
  ``<!-- file: NAME; then: COMMAND -->`` also runs COMMAND there;
- ``<!-- output -->``: a console block: every ``$ COMMAND`` line runs, and every line shown after it must be
  a line of its output (stdout and stderr; the exit code is not checked; `…` in a shown line stands for
  any text);
- ``<!-- before: COMMAND -->``: COMMAND runs in the working folder first (e.g. the run a block looks at);
- ``<!-- continues -->``: a ``python`` block that goes on from the document's previous python block.

Without a marker: ``yaml`` blocks that are specs (``experiment:``, or the mlrunner ``template:``) are loaded
and planned, other ``yaml`` blocks (fragments of a spec) parsed; ``python`` blocks are executed;
``bash`` blocks are run (``set -e``); ``json`` blocks parsed. Untagged and ``text`` blocks are program output,
diagrams or grammars: shown, not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*([a-z-]+)(?::\s*(.*?))?\s*-->$")
MARKERS = ("not-run", "file", "before", "continues", "output")


@dataclass(frozen=True)
class Block:
    doc: str  # path relative to the repository
    line: int  # of the opening fence
    lang: str
    text: str
    marker: str = ""
    argument: str = ""

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        marker = argument = ""
        before = lines[i - 1].strip() if i > 0 else ""
        matched = _MARKER.match(before)
        if matched:
            marker, argument = matched.group(1), matched.group(2) or ""
        found.append(Block(str(path.relative_to(ROOT)), i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n",
                           marker, argument))
        i = end + 1
    return found
