"""Reports of a shock run: one self-contained HTML page, Markdown and JSON.

:func:`collect` runs what a report shows (the main scenario, the stress ladder, the
mitigation comparison, path ranking, dependency scores); :func:`build_report` turns that into
sections with a list of section builders (:data:`DEFAULT_SECTIONS`; add your own);
:func:`write_report` writes ``report.html``, ``report.md`` and ``report.json`` together.

Examples
--------
>>> from contagion import sample_world
>>> from contagion.report import build_report, collect, render_markdown
>>> ctx = collect(sample_world(positions=2_000, seed=1), stress_moves=(), mitigations={},
...               scores=False)
>>> report = build_report(ctx)
>>> [s.key for s in report.sections][:3]
['summary', 'prices', 'losses']
>>> render_markdown(report).startswith("# Contagion report")
True
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

from contagion._atomic import atomic_file
from contagion.exceptions import ContagionError
from contagion.report.build import (
    DEFAULT_MITIGATIONS,
    DEFAULT_SCENARIO,
    DEFAULT_SCORE_COMPONENTS,
    DEFAULT_STRESS_MOVES,
    build_report,
    collect,
    scaled_scenario,
)
from contagion.report.document import (
    Figure,
    Report,
    ReportContext,
    ReportTable,
    Section,
    SectionBuilder,
)
from contagion.report.html import render_html
from contagion.report.json import render_json
from contagion.report.markdown import render_markdown
from contagion.report.sections import DEFAULT_SECTIONS

__all__ = [
    "DEFAULT_MITIGATIONS",
    "DEFAULT_SCENARIO",
    "DEFAULT_SCORE_COMPONENTS",
    "DEFAULT_SECTIONS",
    "DEFAULT_STRESS_MOVES",
    "FORMATS",
    "Figure",
    "Report",
    "ReportContext",
    "ReportTable",
    "Section",
    "SectionBuilder",
    "build_report",
    "collect",
    "render_html",
    "render_json",
    "render_markdown",
    "scaled_scenario",
    "write_report",
]

FORMATS = {"html": "report.html", "md": "report.md", "json": "report.json"}
"""Report formats and the file each is written to."""


def write_report(
    report: Report,
    out_dir: str | os.PathLike[str],
    formats: Iterable[str] = tuple(FORMATS),
    *,
    subtitle: str = "",
) -> list[Path]:
    """Write the report into ``out_dir`` in each format; return the files written.

    Every format is rendered in memory first, then each file is written to a temporary
    sibling and all are renamed into place only once all are complete: a failure leaves
    neither a partial file nor a mix of old and new report files behind.
    """
    chosen = list(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise ContagionError(f"unknown report format(s) {unknown}; known: {', '.join(FORMATS)}")
    texts = {}
    for fmt in chosen:
        if fmt == "html":
            texts[fmt] = render_html(report, subtitle=subtitle)
        elif fmt == "md":
            texts[fmt] = render_markdown(report, subtitle=subtitle)
        else:
            texts[fmt] = render_json(report)
    out = Path(out_dir)
    targets = [out / FORMATS[fmt] for fmt in chosen]
    # Renames happen as the stack unwinds, only when every temporary file was written.
    with ExitStack() as stack:
        temps = [stack.enter_context(atomic_file(t)) for t in targets]
        for fmt, tmp in zip(chosen, temps, strict=True):
            tmp.write_text(texts[fmt], encoding="utf-8")
    return targets
