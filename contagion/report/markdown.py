"""A report as Markdown (CommonMark / GitHub tables): text and tables; charts by reference.

Untrusted text (token symbols, protocol names) is neutralised for Markdown: HTML special
characters become entities, so a symbol like ``<script>`` is shown as text rather than passed
through as raw HTML, and Markdown punctuation (pipes, backticks, emphasis, links) is
backslash-escaped so a cell cannot break its table or turn into a link.
"""

from __future__ import annotations

import html
import re

from contagion.report.document import Report, ReportTable, Section, format_value

__all__ = ["md_text", "render_markdown"]

_NUMERIC = frozenset({"usd", "pct", "share", "number", "int", "price"})
_PUNCT = re.compile(r"([\\`*_\[\]|~])")
_LINE_START = re.compile(r"^([#+=>-]|\d+[.)](?=\s|$))")


def md_text(text: object, *, block: bool = True) -> str:
    r"""``text`` safe inside a Markdown paragraph (``block``) or table cell (one line).

    HTML special characters become entities; emphasis, code, link, table and strikethrough
    punctuation is backslash-escaped everywhere, and in a paragraph a leading heading, list,
    quote or rule marker is escaped so the text cannot start a block of its own.

    Examples
    --------
    >>> print(md_text("<b>|`x`</b>"))
    &lt;b&gt;\|\`x\`&lt;/b&gt;
    >>> print(md_text("# not a heading"))
    \# not a heading
    """
    one_line = " ".join(str(text).split())
    escaped = _PUNCT.sub(r"\\\1", html.escape(one_line, quote=False))
    if not block:
        return escaped
    return _LINE_START.sub(lambda m: "\\" + m.group(1), escaped, count=1)


def _table(table: ReportTable) -> list[str]:
    columns = [str(c) for c in table.frame.columns]
    kinds = [table.kind(c) for c in columns]
    lines = [
        f"**{md_text(table.title)}**",
        "",
        "| " + " | ".join(md_text(c, block=False) for c in columns) + " |",
        "|" + "|".join("---:" if k in _NUMERIC else "---" for k in kinds) + "|",
    ]
    for values in table.frame.itertuples(index=False, name=None):
        cells = (
            md_text(format_value(v, k), block=False) for v, k in zip(values, kinds, strict=True)
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _anchor(key: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", key.lower().replace(" ", "-"))


def _section(section: Section) -> list[str]:
    lines = [f"## {md_text(section.title)}", ""]
    for paragraph in section.text:
        lines += [md_text(paragraph), ""]
    if section.note:
        lines += [f"> {md_text(section.note)}", ""]
    for figure in section.figures:
        lines += [f"*Chart ({md_text(figure.title)}), in report.html:* {md_text(figure.alt)}", ""]
    for table in section.tables:
        lines += _table(table)
    return lines


def render_markdown(report: Report, *, subtitle: str = "") -> str:
    """The report as one Markdown document."""
    lines = [f"# {md_text(report.title)}", ""]
    if subtitle:
        lines += [md_text(subtitle), ""]
    lines += [f"- [{md_text(s.title)}](#{_anchor(s.title)})" for s in report.sections]
    lines.append("")
    for section in report.sections:
        lines += _section(section)
    return "\n".join(lines).rstrip() + "\n"
