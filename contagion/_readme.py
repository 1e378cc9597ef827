"""Generated parts of the README: the CLI reference (from ``--help``) and the data contract.

``python -m contagion._readme README.md`` rewrites the marked sections in place; a test fails
when the README differs from what this module generates.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from contagion._atomic import atomic_write_text
from contagion.schema import TABLES

__all__ = ["cli_reference", "data_contract", "graph_kinds", "render_readme"]

_WIDTH = 100


def _help(command: click.Command, path: list[str], parent: click.Context | None) -> str:
    ctx = click.Context(
        command, info_name=path[-1], parent=parent, terminal_width=_WIDTH, max_content_width=_WIDTH
    )
    return command.get_help(ctx)


def cli_reference() -> str:
    """Markdown: the ``--help`` text of ``contagion`` and of each of its commands."""
    from contagion.cli import cli

    # The group's own context settings (``-h`` as well as ``--help``), as a real invocation
    # gets them: click caches a command's help option once made, so the text must not depend
    # on whether the command ran earlier in the process.
    settings = {**cli.context_settings, "terminal_width": _WIDTH, "max_content_width": _WIDTH}
    root = click.Context(cli, info_name="contagion", **settings)
    parts = ["### contagion", "", "```", cli.get_help(root), "```", ""]
    for name in sorted(cli.list_commands(root)):
        command = cli.get_command(root, name)
        assert command is not None
        parts += [
            f"### contagion {name}",
            "",
            "```",
            _help(command, ["contagion", name], root),
            "```",
            "",
        ]
    return "\n".join(parts)


def data_contract() -> str:
    """Markdown: one section per table with its key and columns."""
    parts: list[str] = []
    for spec in TABLES.values():
        parts += [
            f"#### `{spec.name}`",
            "",
            spec.doc,
            "",
            f"Key: `{', '.join(spec.key)}`",
            "",
            "| column | type | null | meaning |",
            "|---|---|---|---|",
        ]
        for col in spec.columns:
            rules = []
            if col.positive:
                rules.append("> 0")
            elif col.non_negative:
                rules.append(">= 0")
            if col.choices:
                rules.append("one of " + ", ".join(col.choices))
            if col.references:
                rules.append(f"refers to {col.references[0]}.{col.references[1]}")
            extra = f" ({'; '.join(rules)})" if rules else ""
            parts.append(
                f"| `{col.name}` | {col.type} | {'yes' if col.nullable else ''} | "
                f"{col.doc}{extra} |"
            )
        parts.append("")
    return "\n".join(parts)


def graph_kinds() -> str:
    """Markdown: the exposure graph's node and edge kinds with what their weight measures."""
    from contagion.graph import EDGE_KINDS, NODE_KINDS

    parts = ["| node kind | what it is |", "|---|---|"]
    parts += [f"| `{kind}` | {text} |" for kind, text in NODE_KINDS.items()]
    parts += ["", "| edge kind | direction and USD weight |", "|---|---|"]
    parts += [f"| `{kind}` | {text} |" for kind, text in EDGE_KINDS.items()]
    return "\n".join(parts) + "\n"


def _replace(text: str, marker: str, body: str) -> str:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    head, sep, rest = text.partition(start)
    if not sep:
        raise ValueError(f"README has no {start} marker")
    _, sep, tail = rest.partition(end)
    if not sep:
        raise ValueError(f"README has no {end} marker")
    return f"{head}{start}\n{body.rstrip()}\n{end}{tail}"


def render_readme(text: str) -> str:
    """``text`` with its generated sections replaced by the current ones."""
    text = _replace(text, "cli-reference", cli_reference())
    text = _replace(text, "graph-kinds", graph_kinds())
    return _replace(text, "data-contract", data_contract())


if __name__ == "__main__":
    readme = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    atomic_write_text(readme, render_readme(readme.read_text(encoding="utf-8")))
