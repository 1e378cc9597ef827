"""The package as a user imports it: its public names, and what importing it costs.

Each check runs in a fresh interpreter: which libraries are loaded depends on what the
process imported before, and the test process has imported everything.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

HEAVY = ("pandas", "scipy", "matplotlib", "duckdb", "networkx", "pyarrow", "eth_abi", "web3")
"""Libraries a command's work needs, each a tenth of a second to seconds to import."""


def python(code: str) -> list[str]:
    """Run ``code`` in a new interpreter; its stdout lines (stderr shown on failure)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_import_loads_no_heavy_library_and_every_public_name_resolves() -> None:
    out = python(
        f"""
        import sys
        import contagion
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        from contagion import *
        print(sorted(n for n in contagion.__all__ if getattr(contagion, n, None) is None))
        print(sorted(set(contagion.__all__) - set(dir(contagion))))
        print(contagion.options.black_scholes.__module__, contagion.lending.engine.__name__)
        """
    )
    assert out == ["[]", "[]", "[]", "contagion.options contagion.lending.engine"]


@pytest.mark.parametrize("name", ["propagate", "sensitivity", "debtrank"])
def test_a_function_named_like_its_module_stays_the_function(name: str) -> None:
    # Importing the submodule first (as other modules do) must not replace the function.
    out = python(
        f"""
        import importlib, types
        import contagion.{name}
        import contagion
        module = importlib.import_module("contagion.{name}")
        value = contagion.{name}
        from contagion import {name} as imported
        print(isinstance(module, types.ModuleType), isinstance(value, types.ModuleType))
        print(value is imported is getattr(module, "{name}"))
        """
    )
    assert out == ["True False", "True"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    import contagion

    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        _ = contagion.not_a_name  # type: ignore[attr-defined]


def test_command_line_help_and_usage_errors_load_no_heavy_library() -> None:
    """`contagion --help`, a command's help and a usage error answer before anything a
    command's work needs is imported (they took seconds when it was)."""
    out = python(
        f"""
        import sys
        from contagion.cli import main
        for args in (["--help"], ["shock", "--help"], ["index", "--help"], ["backtest", "x"]):
            try:
                main(args)
            except SystemExit as exc:
                print("exit", exc.code)
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        """
    )
    assert [line for line in out if line.startswith("exit")] == ["exit 0"] * 3 + ["exit 2"]
    assert "Commands:" in out and any(line.startswith("Usage: contagion shock") for line in out)
    assert out[-1] == "[]"
