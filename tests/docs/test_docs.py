"""The documentation a user reads matches the code."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from runyard.cli.reference import reference

from .doc_blocks import MARKERS, ROOT, Block, blocks, documents

BIN = Path(sys.executable).parent
SPEC_SUFFIXES = (".yaml", ".yml")


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


# --- every code block of README.md and docs/ runs (see doc_blocks.py for the markers) -------------------------
class DocRunner:
    """Runs the blocks of one document in order, in a working folder holding a copy of examples/."""

    def __init__(self, work: Path, home: Path) -> None:
        self.work = work
        shutil.copytree(ROOT / "examples", work / "examples")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        env.update(RUNYARD_HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                   PYTHONPATH=str(work), MPLBACKEND="Agg")
        self.env = env
        self.last_python = ""
        self.outcomes: list[tuple[Block, str]] = []  # (block, what was done)

    def shell(self, script: str, what: str) -> None:
        script = script.replace("../../.venv/bin/runyard", "runyard")
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.work, env=self.env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"{what}: exit {done.returncode}\n$ {script}\n{done.stdout}{done.stderr}"

    def python(self, source: str, what: str) -> None:
        done = subprocess.run([sys.executable, "-c", source], cwd=self.work, env=self.env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, f"{what}: exit {done.returncode}\n{done.stdout}{done.stderr}"

    def output(self, block: Block, what: str) -> str:
        """A console block: each ``$ COMMAND`` runs; every line shown after it must be in its output."""
        commands: list[tuple[str, list[str]]] = []
        for line in block.text.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            elif line.strip():
                assert commands, f"{what}: output before the first `$ COMMAND` line"
                commands[-1][1].append(line.rstrip())
        for command, expected in commands:
            done = subprocess.run(["bash", "-c", command], cwd=self.work, env=self.env, capture_output=True,
                                  text=True, timeout=300, check=False)
            shown = [line.rstrip() for line in (done.stdout + done.stderr).splitlines()]
            missing = [line for line in expected if not any(_same(line, got) for got in shown)]
            assert not missing, f"{what}: $ {command}: lines not in the output: {missing}\nactual:\n" + "\n".join(shown)
        return f"run, output checked ({len(commands)} commands)"

    def plan(self, path: Path, what: str) -> None:
        from runyard.spec import expand, load_spec

        try:
            plan = expand(load_spec(str(path)), home=str(self.work / "plan-home"))
        except Exception as err:
            raise AssertionError(f"{what}: the spec does not load: {err}") from None
        assert plan.executions, f"{what}: the spec plans nothing"

    def run(self, block: Block) -> str:
        """Run one block; returns what was done (for the listing)."""
        what = f"{block.where} ({block.lang or 'untagged'} block)"
        assert block.marker in ("", *MARKERS), f"{what}: unknown marker {block.marker!r} (known: {MARKERS})"
        if block.marker == "not-run":
            assert block.argument, f"{what}: say why it is not run: <!-- not-run: REASON -->"
            return f"not run: {block.argument}"
        if block.marker == "before":
            self.shell(block.argument, f"{what} <!-- before -->")
        if block.marker == "file":
            name, *options = [part.strip() for part in block.argument.split(";")]
            target = self.work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
            if block.lang == "python":
                self.last_python = block.text
            done = f"file {name}"
            if target.suffix in SPEC_SUFFIXES and _is_spec(block.text) and "invalid" not in options:
                self.plan(target, what)
                done += ", planned"
            for option in options:
                if option.startswith("then:"):
                    command = option.removeprefix("then:").strip()
                    self.shell(command, f"{what} then")
                    done += f", then {command}"
                else:
                    assert option == "invalid", f"{what}: unknown file option {option!r} (then: COMMAND, invalid)"
            return done
        if block.marker == "output":
            return self.output(block, what)
        if block.lang == "yaml":
            return self._yaml(block, what)
        if block.lang == "python":
            source = (self.last_python + "\n" if block.marker == "continues" else "") + block.text
            self.last_python = source
            self.python(source, what)
            return "executed"
        if block.lang in ("bash", "console", "sh"):
            self.shell(block.text, what)
            return "run"
        if block.lang == "json":
            json.loads(block.text)
            return "parsed"
        assert block.lang in ("", "text"), f"{what}: a {block.lang!r} block: give it a marker or a known language"
        return "shown (output, diagram or grammar)"

    def _yaml(self, block: Block, what: str) -> str:
        try:
            documents = list(yaml.safe_load_all(block.text))
        except yaml.YAMLError as err:
            raise AssertionError(f"{what}: not YAML: {err}") from None
        if not _is_spec(block.text):
            assert documents and all(d is not None for d in documents), f"{what}: an empty YAML block"
            return "parsed (a fragment of a spec)"
        path = self.work / f"block-{block.line}.yaml"
        path.write_text(block.text)
        self.plan(path, what)
        return "planned"


def _same(expected: str, line: str) -> bool:
    """A shown output line and an actual one: equal, where ``…`` in the shown line stands for any text."""
    if "…" not in expected:
        return expected == line
    return re.fullmatch(".*".join(re.escape(part) for part in expected.split("…")), line) is not None


def _is_spec(text: str) -> bool:
    try:
        first = next(iter(yaml.safe_load_all(text)), None)
    except yaml.YAMLError:
        return False
    return isinstance(first, dict) and ("experiment" in first or "template" in first)


def _documents() -> Iterator[Path]:
    for path in documents():
        if path.name != "cli.md":  # the generated command reference: test_cli_reference_is_current
            yield path


@pytest.mark.parametrize("doc", list(_documents()), ids=lambda p: p.name)
def test_every_code_block_runs(doc: Path, tmp_path: Path) -> None:
    runner = DocRunner(tmp_path / "work", tmp_path / "home")
    listing = []
    for block in blocks(doc):
        listing.append(f"  {block.where} [{block.lang or '-'}] {runner.run(block)}")
    skipped = [line for line in listing if "not run:" in line]
    print(f"{doc.name}: {len(listing)} blocks, {len(skipped)} not run\n" + "\n".join(listing))


def test_blocks_not_run_are_few_and_listed() -> None:
    """Every block that is not run says why; the count is visible (and may only grow on purpose)."""
    skipped = [b for doc in _documents() for b in blocks(doc) if b.marker == "not-run"]
    for block in skipped:
        print(f"not run: {block.where}: {block.argument}")
    assert all(b.argument for b in skipped)
    # 25: Ray, Slurm, a shared queue, a server, Lightning: blocks that need a cluster or run until stopped
    assert len(skipped) <= 25, [b.where for b in skipped]
