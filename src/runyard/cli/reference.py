"""Generate the CLI reference (docs/cli.md) from the click commands themselves, so it never drifts.

``python -m runyard.cli.reference > docs/cli.md``; a test checks the file is current.
"""

from __future__ import annotations

import click

from runyard.cli.main import COMMANDS, cli


def reference() -> str:
    lines = [
        "# CLI reference",
        "",
        "Generated from the commands themselves (`python -m runyard.cli.reference > docs/cli.md`).",
        "Every command prints one clear message and exits 2 on a usage or spec error.",
        "",
    ]
    # the group's help names (-h, --help), as when the commands run: click caches each command's help
    # option on first use, so a context without them would make the text depend on what ran before
    names = cli.context_settings.get("help_option_names", ["--help"])
    ctx = click.Context(cli, info_name="runyard", terminal_width=100, max_content_width=100, help_option_names=names)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        if command is None:  # pragma: no cover - COMMANDS lists only real commands
            continue
        sub = click.Context(command, info_name=name, parent=ctx, terminal_width=100, max_content_width=100)
        lines += [f"## `runyard {name}`", "", "```", command.get_help(sub).rstrip(), "```", ""]
        if isinstance(command, click.Group):  # its subcommands, each with its own section
            for inner in command.list_commands(sub):
                leaf = command.get_command(sub, inner)
                if leaf is None:  # pragma: no cover - a group lists only real commands
                    continue
                leaf_ctx = click.Context(leaf, info_name=inner, parent=sub, terminal_width=100, max_content_width=100)
                lines += [f"### `runyard {name} {inner}`", "", "```", leaf.get_help(leaf_ctx).rstrip(), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference(), end="")
