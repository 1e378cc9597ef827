"""Plain-language text of contagion paths: moves, absorbers, shock texts, names and phrases."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from contagion.result import PropagationResult

# -- text ----------------------------------------------------------------------------------


class _Moves:
    """Price change of an asset over one round, looked up for the hops of the shown paths."""

    def __init__(self, result: PropagationResult) -> None:
        self._index = {f"asset:{a}": i for i, a in enumerate(result.asset_ids)}
        self._prices = [result.initial_price, *[r.price for r in result.records]]

    def move(self, node: str, r: int) -> float:
        i = self._index.get(node)
        if i is None or r + 1 >= len(self._prices):
            return math.nan
        before, after = self._prices[r][i], self._prices[r + 1][i]
        return float(after / before - 1.0) if before > 0 else math.nan


def _absorbers(absorb: pd.DataFrame) -> dict[tuple[str, int], str]:
    """The venue that took the largest part of each asset's flow in each round."""
    if absorb.empty:
        return {}
    top = absorb.loc[absorb.groupby(["src", "round"])["usd"].idxmax()]
    return {
        (str(s), int(r)): str(d)
        for s, r, d in zip(top["src"], top["round"], top["dst"], strict=True)
    }


def _percent(move: float) -> str:
    text = f"{move * 100:+.1f}".removesuffix(".0")
    return f"{text}%"


def _shock_texts(result: PropagationResult) -> dict[str, str]:
    """What the scenario did, keyed by the node it hit (``""``: the only event, if one)."""
    s = result.scenario
    by_name: dict[str, str] = {}
    for a, sym in zip(result.asset_ids, result.symbols, strict=True):
        by_name.setdefault(sym, a)
        by_name[a] = a
    texts: dict[str, str] = {}
    events: list[str] = []
    for shock in s.shocks:
        text = f"{shock.asset} {_percent(shock.move)}"
        events.append(text)
        if shock.asset in by_name:
            texts[f"asset:{by_name[shock.asset]}"] = text
    for depeg in s.depegs:
        if depeg.price is not None:
            text = f"{depeg.asset} depegs to ${depeg.price:g}"
        else:
            text = f"{depeg.asset} depegs {_percent(depeg.move or 0.0)}"
        events.append(text)
        if depeg.asset in by_name:
            texts[f"asset:{by_name[depeg.asset]}"] = text
    for failure in s.protocol_failures:
        text = f"{failure.protocol} writes down {failure.writedown:.0%}"
        events.append(text)
        texts[f"protocol:{failure.protocol}"] = text
    if len(events) == 1:
        texts[""] = events[0]
    return texts


class NodeNamer:
    """Display name of a node: its label (:func:`~contagion.paths.path_labels`), else a name
    composed from its parts (a market as protocol and asset, an address shortened)."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = labels

    def bearer(self, key: str) -> str:
        """Display name of who bears a row of :attr:`PropagationResult.losses` or of a
        per-protocol table: a protocol, an asset (a depegged coin's holders) or a venue."""
        for node in (f"protocol:{key}", f"asset:{key}", f"venue:{key}"):
            if node in self.labels:
                return self.labels[node]
        return key

    def __call__(self, node: str) -> str:
        found = self.labels.get(node)
        if found is not None:
            return found
        kind, _, rest = node.partition(":")
        if kind == "market":
            protocol, _, asset = rest.partition("|")
            return f"{self(f'protocol:{protocol}')} {self(f'asset:{asset}')}"
        if kind == "loss":
            return rest.partition("|")[2]
        if kind == "venue" and "|" in rest:
            return self(f"venue:{rest.partition('|')[0]}")
        if kind in ("asset", "feed", "pool", "external") and ":0x" in rest:
            address = rest.partition(":")[2]
            return f"{address[:8]}…" if len(address) > 10 else rest
        return rest or node


def _verb(protocol: str) -> str:
    if protocol.startswith("compound-v3"):
        return "absorbs"
    if protocol.startswith("maker"):
        return "auctions"
    return "liquidates"


def _phrase(
    name: NodeNamer, channel: str, src: str, dst: str, move: float, venue: str, shock: str
) -> list[str]:
    """The words of one hop (empty where the next hop says it)."""
    moved = [f"{name(dst)} {_percent(move)}"] if math.isfinite(move) and abs(move) >= 5e-4 else []
    into = f" into {name(venue)}" if venue else ""
    if channel == "shock":
        return [shock or f"{name(dst)} shock"]
    if channel == "scenario":
        return [shock or f"{name(dst)} fails"]
    if channel == "oracle":
        return [name(dst)]
    if channel == "liquidation":
        protocol, _, asset = dst.removeprefix("market:").partition("|")
        return [f"{name(f'protocol:{protocol}')} {_verb(protocol)} {name(f'asset:{asset}')}"]
    if channel == "sell":
        return [f"sells {name(dst)}{into}", *moved]
    if channel == "hedge":
        return [f"dealers on {name(src)} sell {name(dst)}{into}", *moved]
    if channel == "perp_liquidation":
        return [f"{name(src)} force-closes longs, sells {name(dst)}{into}", *moved]
    if channel == "redemption":
        return [f"{name(src)} redeemed for {name(dst)}", *moved]
    if channel == "run":
        return [f"run on {name(dst)}", *moved]
    if channel == "peg":
        return [f"{name(dst)} follows {name(src)}"]
    if channel == "bad_debt":
        return [f"bad debt at {name(dst)}"]
    if channel == "writedown":
        if dst.startswith("loss:"):
            return [f"{name(src)}'s receipt-token holders lose the write-down"]
        return [f"{name(dst)} written down"]
    if channel == "underlying":
        # Name the asset a perpetual market follows unless the scenario text already does.
        asset = name(src)
        return [] if not src.startswith("asset:") or shock.startswith(asset) else [asset]
    if channel == "collateral":
        protocol, _, asset = dst.removeprefix("market:").partition("|")
        return [f"{name(f'protocol:{protocol}')} left short on {name(f'asset:{asset}')} debt"]
    if channel == "insurance_fund":
        return [f"insurance fund of {name(dst)} pays"]
    if channel == "adl":
        return [f"{name(dst)} auto-deleverages profitable shorts"]
    if channel == "depeg":
        return [f"{name(src)} holders lose the depeg"]
    return [f"{name(dst)} ({channel})"]


_MD_SPECIAL = str.maketrans(
    {c: f"\\{c}" for c in "\\`*_{}[]()#+!|~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def _md(text: str) -> str:
    """Untrusted text made inert in a Markdown table cell."""
    return " ".join(text.split()).translate(_MD_SPECIAL)


def _money(value: float) -> str:
    return f"${value:,.0f}"
