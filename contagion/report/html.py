"""A report as one self-contained HTML file: charts inline as SVG, styles inline, no scripts.

The page loads nothing: there are no external stylesheets, fonts, images or scripts, and a
Content-Security-Policy (``default-src 'none'``) forbids the browser from fetching or running
anything should a crafted string slip through. Every text that comes from the dataset is
escaped with :func:`html.escape` (table cells, paragraphs, captions, the title); charts are
SVG written by :mod:`contagion.report.charts` (matplotlib escapes its text) and
:mod:`contagion.report.pathgraph` (escaped there).

The page layout is the template ``template.html`` shipped with this package.
"""

from __future__ import annotations

import html
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from string import Template

from contagion.report.document import Figure, Report, ReportTable, Section, format_value

__all__ = ["render_html"]

_NUMERIC = frozenset({"usd", "pct", "share", "number", "int", "price"})


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(table: ReportTable) -> str:
    columns = [str(c) for c in table.frame.columns]
    kinds = [table.kind(c) for c in columns]
    head = "".join(
        f'<th scope="col"{" class=num" if k in _NUMERIC else ""}>{_e(c)}</th>'
        for c, k in zip(columns, kinds, strict=True)
    )
    rows = []
    for values in table.frame.itertuples(index=False, name=None):
        cells = "".join(
            f"<td{' class=num' if k in _NUMERIC else ''}>{_e(format_value(v, k))}</td>"
            for v, k in zip(values, kinds, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table><caption>{_e(table.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _figure(figure: Figure) -> str:
    return (
        f'<figure role="group" aria-label="{_e(figure.alt)}">{figure.svg}'
        f"<figcaption>{_e(figure.title)}</figcaption></figure>"
    )


def _section(section: Section) -> str:
    parts = [f'<section id="{_e(section.key)}"><h2>{_e(section.title)}</h2>']
    parts.extend(f"<p>{_e(p)}</p>" for p in section.text)
    if section.note:
        parts.append(f'<p class="note">{_e(section.note)}</p>')
    parts.extend(_figure(f) for f in section.figures)
    parts.extend(_table(t) for t in section.tables)
    parts.append("</section>")
    return "\n".join(parts)


def _version() -> str:
    try:
        return version("contagion")
    except PackageNotFoundError:
        return "unknown"


def render_html(report: Report, *, subtitle: str = "") -> str:
    """The report as a standalone HTML document (UTF-8 text)."""
    template = Template(
        resources.files("contagion.report").joinpath("template.html").read_text("utf-8")
    )
    toc = "".join(f'<li><a href="#{_e(s.key)}">{_e(s.title)}</a></li>' for s in report.sections)
    timings = ", ".join(f"{_e(k)} {v:.1f} s" for k, v in report.timings_s.items() if v >= 0.05)
    footer = f"Made by contagion {_e(_version())}." + (
        f" Time spent: {timings}." if timings else ""
    )
    return template.substitute(
        title=_e(report.title),
        subtitle=_e(subtitle),
        version=_e(_version()),
        toc=toc,
        body="\n".join(_section(s) for s in report.sections),
        footer=footer,
    )
