"""The top contagion paths drawn as one layered graph, in hand-written SVG.

Paths (:func:`contagion.paths.rank_paths`) are chains of cause records: node, channel, round,
node, ... A node reached in a given round is one *instance*; instances shared by several paths
are drawn once, so the picture is the union of the top paths. Instances are laid out in columns
by longest distance from the source (a Sugiyama-style layering: Sugiyama, Tagawa & Toda 1981,
"Methods for visual understanding of hierarchical system structures"), ordered within a
column by the barycentre of their predecessors, and joined by curves whose width is the USD
the paths carry along that edge and whose colour is the channel.

Every label is untrusted text (token symbols, protocol names) and is escaped with
:func:`html.escape` wherever it enters the SVG, in ``<text>`` and in ``<title>`` tooltips.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import networkx as nx

from contagion.causes import CHANNELS
from contagion.report.document import Figure, format_value

__all__ = ["CHANNEL_COLORS", "PathLike", "path_graph_svg"]

CHANNEL_COLORS: dict[str, str] = dict(
    zip(
        CHANNELS,
        (
            "#3d405b",
            "#6a4c93",
            "#d1495b",
            "#e07a5f",
            "#00798c",
            "#8b1e3f",
            "#b5838d",
            "#1f5fa8",
            "#edae49",
            "#8a9b0f",
            "#81b29a",
            "#5e8c31",
        ),
        strict=True,
    )
)

_COL_W, _BOX_W, _BOX_H, _ROW_H, _PAD = 200, 170, 34, 48, 16
_MAX_CHARS = 26


class PathLike(Protocol):
    """What the drawing reads of a ranked path."""

    @property
    def nodes(self) -> Sequence[str]: ...

    @property
    def channels(self) -> Sequence[str]: ...

    @property
    def rounds(self) -> Sequence[int]: ...

    @property
    def loss_usd(self) -> float: ...


@dataclass
class _Instance:
    node: str
    round: int | None
    usd: float = 0.0
    layer: int = 0
    y: float = 0.0


def _instances(
    paths: Sequence[PathLike], merge: bool
) -> tuple[nx.DiGraph, dict[tuple[object, ...], _Instance]]:
    graph = nx.DiGraph()
    info: dict[tuple[object, ...], _Instance] = {}
    for p, path in enumerate(paths):
        keys: list[tuple[object, ...]] = []
        for k, node in enumerate(path.nodes):
            rnd = None if k == 0 else int(path.rounds[k - 1])
            key: tuple[object, ...] = (node, rnd) if merge else (node, rnd, p)
            if k == 0 and merge:
                key = (node, "source")
            keys.append(key)
            inst = info.setdefault(key, _Instance(node, rnd))
            inst.usd += float(path.loss_usd)
        for k, channel in enumerate(path.channels):
            a, b = keys[k], keys[k + 1]
            if graph.has_edge(a, b) and graph.edges[a, b]["channel"] == channel:
                graph.edges[a, b]["usd"] += float(path.loss_usd)
            else:
                graph.add_edge(
                    a, b, channel=channel, usd=float(path.loss_usd), round=path.rounds[k]
                )
    return graph, info


def _layout(graph: nx.DiGraph, info: dict[tuple[object, ...], _Instance]) -> int:
    for key in nx.topological_sort(graph):
        preds = list(graph.predecessors(key))
        info[key].layer = max((info[p].layer + 1 for p in preds), default=0)
    layers: dict[int, list[tuple[object, ...]]] = {}
    for key, inst in info.items():
        layers.setdefault(inst.layer, []).append(key)
    rows = 0
    for layer in sorted(layers):
        members = layers[layer]

        def order(key: tuple[object, ...]) -> tuple[float, float]:
            preds = [info[p].y for p in graph.predecessors(key)]
            centre = sum(preds) / len(preds) if preds else 0.0
            return (centre, -info[key].usd)

        members.sort(key=order)
        for i, key in enumerate(members):
            info[key].y = float(i)
        rows = max(rows, len(members))
    return rows


def _name(labels: Mapping[str, str], node: str) -> str:
    """Display name of a node: its label, else one composed from its id's parts."""
    if node in labels:
        return labels[node]
    kind, _, rest = node.partition(":")
    if kind == "loss":
        channel, _, who = rest.partition("|")
        return f"{labels.get(f'protocol:{who}', who)} {channel.replace('_', ' ')}"
    if kind == "market":
        protocol, _, asset = rest.partition("|")
        return (
            f"{labels.get(f'protocol:{protocol}', protocol)} {labels.get(f'asset:{asset}', asset)}"
        )
    return node


def _short(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def path_graph_svg(
    paths: Sequence[PathLike], labels: Mapping[str, str], *, key: str = "paths"
) -> Figure:
    """The union of ``paths`` as a layered SVG graph (see the module docstring).

    ``labels`` maps node ids to display text; unknown ids are shown as they are.
    """
    graph, info = _instances(paths, merge=True)
    if not nx.is_directed_acyclic_graph(graph):
        graph, info = _instances(paths, merge=False)
    for inst_key in info:
        graph.add_node(inst_key)
    rows = _layout(graph, info) if info else 0
    n_layers = max((i.layer for i in info.values()), default=-1) + 1
    width = _PAD * 2 + max(n_layers, 1) * _COL_W
    legend_h = 26
    height = _PAD * 2 + 22 + max(rows, 1) * _ROW_H + legend_h
    top = _PAD + 22
    max_usd = max((d["usd"] for *_, d in graph.edges(data=True)), default=1.0) or 1.0

    def pos(k: tuple[object, ...]) -> tuple[float, float]:
        inst = info[k]
        layer_rows = sum(1 for i in info.values() if i.layer == inst.layer)
        offset = (rows - layer_rows) * _ROW_H / 2
        return _PAD + inst.layer * _COL_W, top + offset + inst.y * _ROW_H

    out = [
        f'<svg class="chart path-graph" data-chart="{html.escape(key)}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" font-family="sans-serif">',
        f"<title>{html.escape(f'Top {len(paths)} contagion paths')}</title>",
    ]
    for layer in range(n_layers):
        rounds = sorted(
            {i.round for i in info.values() if i.layer == layer and i.round is not None}
        )
        head = "source" if not rounds else _round_text(rounds)
        x = _PAD + layer * _COL_W + _BOX_W / 2
        out.append(
            f'<text x="{x:.1f}" y="{_PAD + 10}" font-size="11" fill="#555" '
            f'text-anchor="middle">{html.escape(head)}</text>'
        )
    for a, b, data in sorted(graph.edges(data=True), key=lambda e: -e[2]["usd"]):
        (xa, ya), (xb, yb) = pos(a), pos(b)
        x0, y0, x1, y1 = xa + _BOX_W, ya + _BOX_H / 2, xb, yb + _BOX_H / 2
        bend = (x1 - x0) / 2
        stroke = 1.2 + 9.0 * data["usd"] / max_usd
        colour = CHANNEL_COLORS.get(str(data["channel"]), "#999999")
        tip = (
            f"{_name(labels, info[a].node)} → {_name(labels, info[b].node)}"
            f": {data['channel']}, round {data['round']}, {format_value(data['usd'], 'usd')}"
        )
        out.append(
            f'<path class="edge" d="M{x0:.1f},{y0:.1f} C{x0 + bend:.1f},{y0:.1f} '
            f'{x1 - bend:.1f},{y1:.1f} {x1:.1f},{y1:.1f}" fill="none" stroke="{colour}" '
            f'stroke-opacity="0.75" stroke-width="{stroke:.2f}">'
            f"<title>{html.escape(tip)}</title></path>"
        )
    for inst_key, inst in info.items():
        x, y = pos(inst_key)
        label = _name(labels, inst.node)
        kind = inst.node.split(":", 1)[0] if ":" in inst.node else inst.node
        tip = f"{label} ({kind}); paths through it carry {format_value(inst.usd, 'usd')}"
        out.append(
            f'<g class="node"><title>{html.escape(tip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{_BOX_W}" height="{_BOX_H}" rx="5" '
            f'fill="#f7f7fb" stroke="#4a4e69" stroke-width="1"/>'
            f'<text x="{x + 7:.1f}" y="{y + 14:.1f}" font-size="11" fill="#222">'
            f"{html.escape(_short(label))}</text>"
            f'<text x="{x + 7:.1f}" y="{y + 27:.1f}" font-size="9" fill="#666">'
            f"{html.escape(kind)} · {html.escape(format_value(inst.usd, 'usd'))}</text></g>"
        )
    used = [c for c in CHANNELS if any(d["channel"] == c for *_, d in graph.edges(data=True))]
    lx, ly = _PAD, height - _PAD - 6
    for channel in used:
        out.append(
            f'<rect x="{lx}" y="{ly - 8}" width="14" height="6" '
            f'fill="{CHANNEL_COLORS[channel]}"/><text x="{lx + 18}" y="{ly}" font-size="10" '
            f'fill="#333">{html.escape(channel)}</text>'
        )
        lx += 26 + 7 * len(channel)
    out.append("</svg>")
    alt = (
        f"Layered graph of the top {len(paths)} contagion paths: {len(info)} nodes in "
        f"{n_layers} columns; edge width is the USD loss carried, colour the channel."
    )
    return Figure(title="Top contagion paths", svg="".join(out), alt=alt)


def _round_text(rounds: list[int]) -> str:
    if len(rounds) == 1:
        return f"round {rounds[0]}"
    return f"rounds {rounds[0]}–{rounds[-1]}"
