"""A report as one JSON document: every section's text, tables (as records) and data."""

from __future__ import annotations

import json

from contagion.report.document import Report

__all__ = ["render_json"]


def render_json(report: Report) -> str:
    """The report as JSON (NaN and infinities as null; strict JSON, UTF-8 text)."""
    return json.dumps(report.to_dict(), indent=1, allow_nan=False, ensure_ascii=False) + "\n"
