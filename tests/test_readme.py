"""The README stays true: generated sections are current and set-up is two commands."""

from __future__ import annotations

import re
from pathlib import Path

import click

from contagion._readme import render_readme
from contagion.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_generated_sections_are_current() -> None:
    assert render_readme(README) == README, (
        "README is stale: run `python -m contagion._readme README.md`"
    )


def test_every_command_is_documented() -> None:
    ctx = click.Context(cli, info_name="contagion")
    for name in cli.list_commands(ctx):
        assert f"### contagion {name}" in README
        command = cli.get_command(ctx, name)
        assert command is not None and command.help and "Example" in command.help, name


def test_setup_is_exactly_two_commands() -> None:
    block = README.split("<!-- setup:start -->")[1].split("<!-- setup:end -->")[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("```")]
    assert len(commands) == 2
    assert re.search(r"pip install \. .*contagion demo$", commands[0])
    assert re.search(r'pip install "\.\[test\]" .*pytest$', commands[1])
    assert README.index("<!-- setup:start -->") < README.index("## Using it")


def test_ci_runs_the_readme_commands() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "setup:start" in script and "pytest" in README
    assert "-eq 5" in script
