"""The sections of a report, one builder each, and the default list of them.

A builder takes the :class:`~contagion.report.document.ReportContext` and returns a
:class:`~contagion.report.document.Section` (or None to leave it out). To add a section, write a
builder and pass ``(*DEFAULT_SECTIONS, builder)`` to :func:`~contagion.report.build_report`.
Builders read the runs already made by :func:`~contagion.report.collect`; the only work they
do themselves is cheap (a DuckDB query, a GEX grid, charts).
"""

from __future__ import annotations

from contagion.report.document import SectionBuilder
from contagion.report.sections.exposure import dependency_section, gex_section, ladder_section
from contagion.report.sections.run import (
    losses_section,
    paths_section,
    prices_section,
    summary_section,
)
from contagion.report.sections.scenarios import (
    mitigation_section,
    sensitivity_section,
    stress_section,
)

__all__ = [
    "DEFAULT_SECTIONS",
    "dependency_section",
    "gex_section",
    "ladder_section",
    "losses_section",
    "mitigation_section",
    "paths_section",
    "prices_section",
    "sensitivity_section",
    "stress_section",
    "summary_section",
]

DEFAULT_SECTIONS: tuple[SectionBuilder, ...] = (
    summary_section,
    prices_section,
    losses_section,
    paths_section,
    dependency_section,
    ladder_section,
    gex_section,
    stress_section,
    mitigation_section,
    sensitivity_section,
)
"""The sections of a report, in order (the sensitivity section only when computed)."""
