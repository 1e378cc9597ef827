"""docs/VALIDATION.md is current: the inputs hash it states is today's, and its deterministic
sections (test vectors, the Uniswap v2 replay) regenerate verbatim.

Regenerating the whole document runs every backtest and the sensitivity analysis (minutes),
too slow for the suite; any change to the model's code or shipped data changes the hash, so
a stale document fails here with the command that regenerates it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contagion.backtests import run_backtest
from contagion.validation_report import inputs_hash, published_vectors, vectors_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "VALIDATION.md"
REGENERATE = "run `contagion validate` to regenerate docs/VALIDATION.md"


@pytest.fixture(scope="module")
def doc() -> str:
    assert DOC.exists(), REGENERATE
    return DOC.read_text(encoding="utf-8")


def test_every_published_vector_passes() -> None:
    vectors = published_vectors()
    assert len(vectors) >= 15
    assert all(v.passed for v in vectors), [v for v in vectors if not v.passed]


def test_inputs_hash_is_current(doc: str) -> None:
    assert f"Inputs hash: `{inputs_hash()}`" in doc, REGENERATE


def test_vector_section_regenerates_verbatim(doc: str) -> None:
    assert vectors_markdown() in doc, REGENERATE


def test_uniswap_backtest_section_regenerates_verbatim(doc: str) -> None:
    assert run_backtest("crash-2021").to_markdown(level=3) in doc, REGENERATE


def test_document_covers_every_backtest_and_the_sensitivity(doc: str) -> None:
    for heading in (
        "## Published test vectors",
        "Black Thursday",
        "2021-05-19 crash",
        "UST/LUNA",
        "FTX",
        "USDC/SVB",
        "## Sensitivity",
        "## Known limitations",
        "Where the model misses",
    ):
        assert heading in doc
