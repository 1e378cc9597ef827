"""Contagion paths: the run's losses traced back to the shock and ranked by USD.

From a run's cause records (:mod:`contagion.causes`) :func:`rank_paths` builds the weighted
causal graph across rounds, nodes being ``(time, graph node)``, and attributes every loss of
:attr:`PropagationResult.losses` to the chains of causes that led to it by proportional flow
tracing (:mod:`contagion.tracing`: each node's outflow is attributed to its inflows so far in
proportion to their USD, Bialek 1996). Paths from the scenario to a loss are ranked by the
USD they carry; losses whose chain ends at a move with no recorded cause form the residual,
reported per origin, so that ``sum(all paths) + residual == total losses``.

Time inside a round follows the solver's steps (:mod:`contagion.propagate`): oracles read the
previous round's prices, lending liquidates at the new answers, liquidators, dealers and
perpetual venues sell, algorithmic coins redeem and run, the market clears the round's flow
with the scenario's moves, and bad debt writes receipt tokens down. Three kinds of link are
added to the records, each one the solver's own rule:

* a dealer's hedge or a perpetual liquidation in an asset is caused by that asset's price
  (``underlying``: asset -> the venue's book in that asset, ``venue:<venue>|<asset>``, worth
  the venue's flow; one node per underlying, so one asset's move does not share in the
  causes of another's force-closes and losses);
* a composite feed's update is shared among its source feeds in proportion to how far each
  moved since the composite last published (the records split it evenly);
* a scheduled protocol write-down is caused by the scenario (``scenario -> protocol``, worth
  the write-down beyond that round's bad debt).

Losses are the rows of :attr:`~contagion.result.PropagationResult.losses`: a protocol's bad
debt is spread over its ``bad_debt`` records (scaled to the final level, since auctions can
recover part of a shortfall); a perpetual market's insurance-fund draws and ADL are losses of
its venue in the rounds they happened; an algorithmic coin's depeg is a loss of the coin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from contagion.tracing import TimedEdges, Tracing, best_paths, route_load, trace

if TYPE_CHECKING:
    from contagion.dataset import Dataset
    from contagion.result import PropagationResult

__all__ = ["ContagionPath", "PathRanking", "path_labels", "rank_paths"]

_STEP = 100
# (read, write) offsets within a round, in the solver's order (see the module docstring).
_TIME: dict[str, tuple[int, int]] = {
    "underlying": (0, 1),
    "collateral": (25, 25),
    "oracle": (10, 10),
    "liquidation": (20, 20),
    "sell": (30, 30),
    "bad_debt": (30, 30),
    "hedge": (30, 30),
    "perp_liquidation": (30, 30),
    "insurance_fund": (35, 35),
    "adl": (35, 35),
    "redemption": (0, 40),
    "run": (0, 40),
    "shock": (45, 45),
    "scenario": (55, 55),
    "writedown": (60, 60),
    "depeg": (0, 0),
}
_MAX_FEED_LEVELS = 9
_CANDIDATES = 20
_SALES = ("sell", "hedge", "perp_liquidation", "run", "redemption")

RESIDUAL_REASONS = {
    "asset": "price moved with no recorded cause (arbitrage through a pool or PSM, a peg)",
    "feed": "feed moved with no recorded source",
    "venue": "venue traded before any move of its underlying was recorded",
    "protocol": "protocol lost value with no recorded cause",
    "market": "market liquidated with no recorded oracle move",
    "unrecorded": "loss with no cause record",
}


@dataclass(frozen=True)
class ContagionPath:
    """One chain of causes from the shock to a loss, and the USD of that loss it carries.

    ``nodes`` are exposure-graph ids starting with ``scenario``; hop ``i`` goes from
    ``nodes[i]`` to ``nodes[i + 1]`` through ``channels[i]`` in round ``rounds[i]``.
    ``moves[i]`` is the price change of an asset reached by a sale in that round (NaN
    otherwise), ``venues[i]`` the pool or market that absorbed most of that sale.
    """

    nodes: tuple[str, ...]
    channels: tuple[str, ...]
    rounds: tuple[int, ...]
    loss_usd: float
    share: float
    shock: str = ""
    moves: tuple[float, ...] = ()
    venues: tuple[str, ...] = ()

    def describe(self, labels: Mapping[str, str] | None = None) -> str:
        """The path as text, e.g. ``WETH -30% -> ETH / USD -> Aave v3 liquidates WETH -> ...``.

        ``labels`` maps node ids to display names (:func:`path_labels`); ids without one are
        shown shortened.
        """
        name = _Namer(labels or {})
        parts: list[str] = []
        for i, channel in enumerate(self.channels):
            src, dst = self.nodes[i], self.nodes[i + 1]
            move = self.moves[i] if i < len(self.moves) else math.nan
            venue = self.venues[i] if i < len(self.venues) else ""
            parts.extend(_phrase(name, channel, src, dst, move, venue, self.shock))
        return " -> ".join(p for p in parts if p)

    def to_dict(self, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        return {
            "loss_usd": self.loss_usd,
            "share": self.share,
            "path": self.describe(labels),
            "nodes": list(self.nodes),
            "channels": list(self.channels),
            "rounds": list(self.rounds),
        }


@dataclass(frozen=True)
class PathRanking:
    """The ranked paths of a run and how the run's losses split between them.

    ``attributed_usd`` is the loss traced back to the scenario along any path (not only the
    ranked ones), ``residual_usd = total_loss_usd - attributed_usd`` the loss whose chain of
    causes ends somewhere else; ``residual_by_origin`` says where, and why.
    """

    paths: tuple[ContagionPath, ...]
    total_loss_usd: float
    attributed_usd: float
    residual_usd: float
    residual_by_origin: tuple[tuple[str, float, str], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    scenario: str = ""

    def label(self, node: str) -> str:
        """Display name of a node id (its label, or a name composed from its parts)."""
        return _Namer(self.labels)(node)

    def to_frame(self) -> pd.DataFrame:
        """One row per path: rank, loss_usd, share, path (text), nodes, channels, rounds."""
        columns = ["rank", "loss_usd", "share", "path", "nodes", "channels", "rounds"]
        rows = [
            {
                "rank": i,
                "loss_usd": p.loss_usd,
                "share": p.share,
                "path": p.describe(self.labels),
                "nodes": list(p.nodes),
                "channels": list(p.channels),
                "rounds": list(p.rounds),
            }
            for i, p in enumerate(self.paths, start=1)
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: totals, the residual per origin with its reason, and the paths."""
        return {
            "scenario": self.scenario,
            "method": "proportional flow tracing over the round-layered causal graph",
            "total_loss_usd": self.total_loss_usd,
            "attributed_usd": self.attributed_usd,
            "residual_usd": self.residual_usd,
            "residual": [
                {"origin": node, "label": _Namer(self.labels)(node), "usd": usd, "reason": why}
                for node, usd, why in self.residual_by_origin
            ],
            "paths": [
                {"rank": i, **p.to_dict(self.labels)} for i, p in enumerate(self.paths, start=1)
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_markdown(self) -> str:
        """A Markdown section: totals, the ranked paths as a table, the residual per origin.

        Labels are on-chain text: Markdown and HTML characters in them are escaped.
        """
        lines = [
            f"## Contagion paths: {_md(self.scenario)}",
            "",
            f"Total losses {_money(self.total_loss_usd)}; traced to the shock "
            f"{_money(self.attributed_usd)}; residual {_money(self.residual_usd)}.",
            "",
            "| # | loss (USD) | share | path |",
            "|---:|---:|---:|---|",
        ]
        for i, p in enumerate(self.paths, start=1):
            lines.append(
                f"| {i} | {p.loss_usd:,.0f} | {p.share:.1%} | {_md(p.describe(self.labels))} |"
            )
        if self.residual_by_origin:
            lines += ["", "| residual origin | USD | why |", "|---|---:|---|"]
            for node, usd, why in self.residual_by_origin:
                lines.append(f"| {_md(_Namer(self.labels)(node))} | {usd:,.0f} | {_md(why)} |")
        return "\n".join(lines) + "\n"


def rank_paths(
    result: PropagationResult,
    *,
    k: int = 10,
    min_share: float = 0.001,
    labels: Mapping[str, str] | None = None,
) -> PathRanking:
    """The ``k`` contagion paths carrying the most loss, by proportional flow tracing.

    Parameters
    ----------
    result
        A propagation run (:func:`contagion.propagate`).
    k
        Paths to return, heaviest first.
    min_share
        Leave out paths carrying less than this share of the total loss (and stop searching
        below it).
    labels
        Display names of nodes (:func:`path_labels`); asset symbols are known from the run.

    Returns
    -------
    PathRanking
        Paths best first; the total loss (the sum of ``result.losses``), the part traced to
        the scenario along all paths, and the residual per origin.

    Notes
    -----
    Each node of the round-layered causal graph passes on what reached it in proportion to
    the USD of its inflows (Bialek, "Tracing the flow of electricity", 1996; the same
    proportional-sharing rule that attributes defaults to exposures in clearing networks).
    A path's loss is the loss where it ends times the product of the shares along it, so
    the losses of all paths and of the residual add up to the total. The attribution is a
    dynamic programme over time and the paths come from a best-first search bounded by each
    edge's exact best completion (:mod:`contagion.tracing`); neither enumerates paths.

    Examples
    --------
    >>> from contagion import sample_world, propagate
    >>> from contagion.scenario import PriceShock, Scenario
    >>> run = propagate(sample_world(positions=2_000, seed=1),
    ...                 Scenario(name="eth", shocks=(PriceShock("ETH", -0.3),)))
    >>> ranking = rank_paths(run, k=3)
    >>> abs(ranking.attributed_usd + ranking.residual_usd - ranking.total_loss_usd) < 1e-6
    True
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if not 0 <= min_share < 1:
        raise ValueError(f"min_share must be in [0, 1), got {min_share}")
    graph = _CausalGraph.build(result)
    tracing = trace(graph.edges)
    total = float(result.losses["usd"].sum()) if len(result.losses) else 0.0
    origins = tracing.by_origin()
    attributed = origins.pop(0, 0.0)
    residual = total - attributed
    names = graph.names
    residual_rows = tuple(
        (names[i], usd, RESIDUAL_REASONS.get(names[i].split(":", 1)[0], "no recorded cause"))
        for i, usd in sorted(origins.items(), key=lambda kv: -kv[1])
    )
    floor = min_share * total
    paths = graph.routes(tracing, k=k, floor=floor, total=total)
    shown = {a: s for a, s in zip(result.asset_ids, result.symbols, strict=True)}
    merged = {f"asset:{a}": s for a, s in shown.items()}
    merged.update(labels or {})
    return PathRanking(
        paths=paths,
        total_loss_usd=total,
        attributed_usd=attributed,
        residual_usd=residual,
        residual_by_origin=residual_rows,
        labels=merged,
        scenario=result.scenario.name,
    )


def path_labels(dataset: Dataset) -> dict[str, str]:
    """Display names of causal-graph nodes from a dataset's tables (untrusted text: escape
    it where it is rendered)."""
    labels: dict[str, str] = {}
    protocols = dataset.table("protocols").to_pylist()
    for row in protocols:
        labels[f"protocol:{row['protocol_id']}"] = str(row["name"])
        labels[f"venue:{row['protocol_id']}"] = str(row["name"])
    symbol: dict[str, str] = {}
    for row in dataset.table("assets").to_pylist():
        symbol[row["asset_id"]] = str(row["symbol"])
        labels[f"asset:{row['asset_id']}"] = str(row["symbol"])
        labels[f"external:{row['asset_id']}"] = f"outside markets for {row['symbol']}"
    for row in dataset.table("oracle_feeds").to_pylist():
        labels[f"feed:{row['feed_id']}"] = str(row["description"])
    for row in dataset.table("pools").to_pylist():
        pair = "/".join(symbol.get(t, t) for t in row["token_asset_ids"] or ())
        dex = labels.get(f"protocol:{row['protocol_id']}", str(row["protocol_id"]))
        labels[f"pool:{row['pool_id']}"] = f"{dex} {pair} pool"
    for row in protocols:
        # A peg stability module is a venue of its own (its id is the protocol's).
        if row["kind"] == "stablecoin":
            labels.setdefault(f"pool:{row['protocol_id']}", str(row["name"]))
    return labels


# -- the causal graph of a run -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _CausalGraph:
    edges: TimedEdges
    names: list[str]
    channel: NDArray[np.object_]
    round: NDArray[np.int64]
    shock_text: dict[str, str]
    moves: _Moves
    absorber: dict[tuple[str, int], str]

    @classmethod
    def build(cls, result: PropagationResult) -> _CausalGraph:
        causes = result.causes
        absorb = causes[causes["channel"] == "absorb"]
        frame = causes[causes["channel"] != "absorb"]
        frame = _split_venues(_reweigh_composites(frame, result))
        links = [_underlying_links(frame), _collateral_links(frame), _scenario_links(frame, result)]
        frame = _stack([frame, *links])
        frame["loss"] = 0.0
        frame = _stack([frame, _loss_edges(frame, result)])
        frame = frame[frame["usd"] > 0].reset_index(drop=True)
        codes, uniques = pd.factorize(
            pd.concat([pd.Series(["scenario"]), frame["src"], frame["dst"]], ignore_index=True)
        )
        n = len(frame)
        src = codes[1 : n + 1].astype(np.int64)
        dst = codes[n + 1 :].astype(np.int64)
        rounds = frame["round"].to_numpy(dtype=np.int64)
        channel = frame["channel"].to_numpy(dtype=object)
        offsets = np.array([_TIME.get(c, (0, 0)) for c in channel], dtype=np.int64).reshape(n, 2)
        read = rounds * _STEP + offsets[:, 0]
        write = rounds * _STEP + offsets[:, 1]
        feed_level = _feed_levels(frame)
        oracle = channel == "oracle"
        level = frame["dst"].map(feed_level).fillna(0).to_numpy(dtype=np.int64)
        read[oracle] += level[oracle]
        write[oracle] += level[oracle]
        edges = TimedEdges(
            src=src,
            dst=dst,
            read=read,
            write=write,
            usd=frame["usd"].to_numpy(dtype=float),
            loss=frame["loss"].to_numpy(dtype=float),
            n_nodes=len(uniques),
        )
        return cls(
            edges=edges,
            names=[str(x) for x in uniques],
            channel=channel,
            round=rounds,
            shock_text=_shock_texts(result),
            moves=_Moves(result),
            absorber=_absorbers(absorb),
        )

    def routes(
        self, tracing: Tracing, *, k: int, floor: float, total: float
    ) -> tuple[ContagionPath, ...]:
        """The ``k`` heaviest routes: timed paths that differ only in rounds are one route.

        Candidates are the routes of the heaviest timed paths (``_CANDIDATES`` per route
        asked); each candidate's load is then summed exactly over all its timings
        (:func:`~contagion.tracing.route_load`), and the rounds shown are those of its
        heaviest timing.
        """
        if k == 0:
            return ()
        timed = best_paths(tracing, 0, k=k * _CANDIDATES, floor=floor)
        hop_key = list(zip(self.edges.src, self.edges.dst, self.channel, strict=True))
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, key in enumerate(hop_key):
            groups.setdefault(key, []).append(i)
        members = {key: np.asarray(v, dtype=np.int64) for key, v in groups.items()}
        found: dict[tuple[Any, ...], tuple[float, tuple[int, ...]]] = {}
        for p in timed:
            route = tuple(hop_key[i] for i in p.edges)
            if route not in found:
                load = route_load(tracing, [members[h] for h in route])
                found[route] = (load, p.edges)
        ranked = sorted(found.values(), key=lambda item: -item[0])
        return tuple(self.path(chain, load, total) for load, chain in ranked[:k] if load > floor)

    def path(self, chain: tuple[int, ...], load: float, total: float) -> ContagionPath:
        e = self.edges
        nodes = [self.names[int(e.src[chain[0]])], *(self.names[int(e.dst[i])] for i in chain)]
        channels = tuple(str(self.channel[i]) for i in chain)
        rounds = tuple(int(self.round[i]) for i in chain)
        moves = []
        venues = []
        for i in range(len(chain)):
            sale = channels[i] in _SALES
            moves.append(self.moves.move(nodes[i + 1], rounds[i]) if sale else math.nan)
            venues.append(self.absorber.get((nodes[i + 1], rounds[i]), "") if sale else "")
        first = nodes[1] if len(nodes) > 1 else ""
        return ContagionPath(
            nodes=tuple(nodes),
            channels=channels,
            rounds=rounds,
            loss_usd=load,
            share=load / total if total > 0 else 0.0,
            shock=self.shock_text.get(first, self.shock_text.get("", "")),
            moves=tuple(moves),
            venues=tuple(venues),
        )


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of edges one under the other, with numeric round and USD."""
    kept = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(kept, ignore_index=True)
    out["round"] = out["round"].astype(np.int64)
    out["usd"] = out["usd"].astype(float)
    if "loss" in out:
        out["loss"] = out["loss"].astype(float)
    return out


def _reweigh_composites(frame: pd.DataFrame, result: PropagationResult) -> pd.DataFrame:
    """Share each composite feed's update among its sources by how far each source moved."""
    feed_rows = (
        (frame["channel"] == "oracle")
        & frame["src"].str.startswith("feed:")
        & frame["dst"].str.startswith("feed:")
    )
    if not feed_rows.any() or not result.records:
        return frame
    comp = frame[feed_rows].copy()
    index = {f"feed:{f}": i for i, f in enumerate(result.feed_ids)}
    answers = np.vstack([result.initial_answers, *[r.answers for r in result.records]])
    # Rows of ``answers``: 0 = snapshot, r + 1 = after round r.
    published = comp[["dst", "round"]].drop_duplicates().sort_values(["dst", "round"])
    published["previous"] = published.groupby("dst")["round"].shift(1).fillna(-1).astype(int)
    comp = comp.merge(published, on=["dst", "round"], how="left")
    s = comp["src"].map(index).to_numpy()
    known = ~pd.isna(s)
    s_idx = np.where(known, s, 0).astype(np.int64)
    now = answers[comp["round"].to_numpy(dtype=np.int64) + 1, s_idx]
    before = answers[comp["previous"].to_numpy(dtype=np.int64) + 1, s_idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        moved = np.abs(np.log(now / before))
    moved = np.where(known & np.isfinite(moved), moved, 0.0)
    comp["moved"] = moved
    group = comp.groupby(["dst", "round"])
    total_usd = group["usd"].transform("sum")
    total_moved = group["moved"].transform("sum")
    comp["usd"] = np.where(
        total_moved > 0,
        total_usd * comp["moved"] / total_moved.where(total_moved > 0, 1.0),
        comp["usd"],
    )
    comp = comp.drop(columns=["previous", "moved"])
    return pd.concat([frame[~feed_rows], comp], ignore_index=True)


_VENUE_CHANNELS = ["hedge", "perp_liquidation"]


def _venue_node(venue: str, asset_node: str) -> str:
    """A venue's book in one underlying: ``venue:<venue>|<asset id>``."""
    return f"{venue}|{asset_node.removeprefix('asset:')}"


def _split_venues(frame: pd.DataFrame) -> pd.DataFrame:
    """Give each venue one node per underlying it trades.

    The records name the venue (``venue:cex-perps``); traced through that one node, BTC's
    move would share in the causes of ETH's force-closes and losses. Per underlying, each
    book answers only to its own asset.
    """
    rows = frame["channel"].isin(_VENUE_CHANNELS)
    if not rows.any():
        return frame
    frame = frame.copy()
    frame.loc[rows, "src"] = [
        _venue_node(v, a)
        for v, a in zip(frame.loc[rows, "src"], frame.loc[rows, "dst"], strict=True)
    ]
    return frame


def _underlying_links(frame: pd.DataFrame) -> pd.DataFrame:
    """``asset -> venue`` links: a venue's sale of an asset is caused by that asset's price."""
    venue = frame[frame["channel"].isin(_VENUE_CHANNELS)]
    if venue.empty:
        return frame.iloc[0:0]
    links = venue.groupby(["round", "src", "dst"], as_index=False)["usd"].sum()
    return pd.DataFrame(
        {
            "round": links["round"],
            "channel": "underlying",
            "src": links["dst"],
            "dst": links["src"],
            "usd": links["usd"],
        }
    )


def _collateral_links(frame: pd.DataFrame) -> pd.DataFrame:
    """``collateral market -> debt market``: a shortfall is caused by the liquidated collateral.

    Bad debt is recorded on the debt market (what borrowers failed to repay); the accounts
    left short are those whose collateral the protocol was liquidating. Each round's new
    shortfall of a protocol is linked to its collateral markets in proportion to their
    liquidations so far (in that round when there were some).
    """
    bad = frame[frame["channel"] == "bad_debt"]
    liq = frame[frame["channel"] == "liquidation"]
    if bad.empty or liq.empty:
        return frame.iloc[0:0]
    liq = liq.assign(protocol=liq["dst"].str.removeprefix("market:").str.split("|").str[0])
    bad = bad.assign(protocol=bad["dst"].str.removeprefix("protocol:"))
    per_round = liq.groupby(["protocol", "dst", "round"], as_index=False)["usd"].sum()
    rows = []
    for (protocol, r), debt in bad.groupby(["protocol", "round"]):
        mine = per_round[(per_round["protocol"] == protocol) & (per_round["round"] <= r)]
        now = mine[mine["round"] == r]
        causes = (now if len(now) else mine).groupby("dst")["usd"].sum()
        if causes.empty:
            continue
        weight = causes / causes.sum()
        for debt_market, growth in debt.groupby("src")["usd"].sum().items():
            for market, share in weight.items():
                rows.append(
                    {
                        "round": r,
                        "channel": "collateral",
                        "src": market,
                        "dst": debt_market,
                        "usd": float(growth * share),
                    }
                )
    return pd.DataFrame(rows, columns=["round", "channel", "src", "dst", "usd"])


def _scenario_links(frame: pd.DataFrame, result: PropagationResult) -> pd.DataFrame:
    """``scenario -> protocol`` for scheduled write-downs, worth what bad debt does not explain."""
    rows = []
    for failure in result.scenario.protocol_failures:
        node = f"protocol:{failure.protocol}"
        r = failure.at_round
        in_round = frame["round"] == r
        out = frame.loc[in_round & (frame["channel"] == "writedown") & (frame["src"] == node)]
        bad = frame.loc[in_round & (frame["channel"] == "bad_debt") & (frame["dst"] == node)]
        usd = float(out["usd"].sum() - bad["usd"].sum())
        if usd > 0:
            rows.append(
                {"round": r, "channel": "scenario", "src": "scenario", "dst": node, "usd": usd}
            )
    return pd.DataFrame(rows, columns=["round", "channel", "src", "dst", "usd"])


def _loss_edges(frame: pd.DataFrame, result: PropagationResult) -> pd.DataFrame:
    """Put every row of ``result.losses`` on the causal graph (see the module docstring).

    Bad debt is set as the ``loss`` of ``frame``'s own ``bad_debt`` rows (in place); the
    other losses come back as terminal edges ``node -> loss:<channel>|<id>``. A loss with no
    record to hang on leaves from an ``unrecorded:`` node, which has no inflow (residual).
    """
    rows: list[dict[str, Any]] = []
    last = max(result.rounds, 1)
    losses = result.losses
    bad = frame["channel"] == "bad_debt"
    for pid, channel, usd in zip(
        losses["protocol_id"].astype(str),
        losses["channel"].astype(str),
        losses["usd"].to_numpy(dtype=float),
        strict=True,
    ):
        if usd <= 0:
            continue
        if channel == "bad_debt":
            into = bad & (frame["dst"] == f"protocol:{pid}")
            recorded = float(frame.loc[into, "usd"].sum())
            if recorded > 0:
                frame.loc[into, "loss"] = frame.loc[into, "usd"] * (usd / recorded)
                continue
        elif channel in ("insurance_fund", "adl"):
            spread = _perp_loss_by_round(result, pid, channel, usd)
            # The loss hangs on the venue's book in the market's underlying, reached from
            # that asset's price (:func:`_split_venues`).
            underlying = _perp_underlying(result, pid)
            venue = f"venue:{pid.split('/', 1)[0]}"
            book = venue if underlying is None else _venue_node(venue, underlying)
            for r, part in spread.items():
                rows.append(_loss_row(r, channel, book, pid, part))
                if underlying is not None:
                    rows.append(
                        {"round": r, "channel": "underlying", "src": f"asset:{underlying}",
                         "dst": book, "usd": part, "loss": 0.0}
                    )  # fmt: skip
            if spread:
                continue
        elif channel == "depeg":
            # A level at the end of the run: everything that reached the coin caused it.
            rows.append(_loss_row(last, channel, f"asset:{pid}", pid, usd))
            continue
        rows.append(_loss_row(last, channel, f"unrecorded:{channel}|{pid}", pid, usd))
    return pd.DataFrame(rows, columns=["round", "channel", "src", "dst", "usd", "loss"])


def _perp_underlying(result: PropagationResult, market: str) -> str | None:
    """Asset id of a perpetual market's underlying (None when the result does not say)."""
    if market not in result.perp_markets or len(result.perp_underlying) != len(result.perp_markets):
        return None
    return result.perp_underlying[result.perp_markets.index(market)]


def _loss_row(r: int, channel: str, src: str, pid: str, usd: float) -> dict[str, Any]:
    return {
        "round": r,
        "channel": channel,
        "src": src,
        "dst": f"loss:{channel}|{pid}",
        "usd": usd,
        "loss": usd,
    }


def _perp_loss_by_round(
    result: PropagationResult, market: str, channel: str, total: float
) -> dict[int, float]:
    if market not in result.perp_markets or not result.records:
        return {}
    m = result.perp_markets.index(market)
    if channel == "adl":
        per = np.array([r.adl_usd[m] for r in result.records])
    else:
        fund = np.array(
            [result.initial_insurance_fund[m], *[r.insurance_fund[m] for r in result.records]]
        )
        per = np.maximum(fund[:-1] - fund[1:], 0.0)
    if per.sum() <= 0:
        return {}
    per = per * (total / per.sum())
    return {int(r): float(per[r]) for r in np.flatnonzero(per > 0)}


def _feed_levels(frame: pd.DataFrame) -> dict[str, int]:
    """Depth of each composite feed over its sources (0 for a feed read from a market)."""
    composite = frame[(frame["channel"] == "oracle") & frame["src"].str.startswith("feed:")]
    pairs = composite[["src", "dst"]].drop_duplicates()
    level: dict[str, int] = {}
    for _ in range(_MAX_FEED_LEVELS):
        changed = False
        for s, d in pairs.itertuples(index=False):
            want = level.get(s, 0) + 1
            if want > level.get(d, 0) and want <= _MAX_FEED_LEVELS:
                level[d] = want
                changed = True
        if not changed:
            break
    return level


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


class _Namer:
    """Display name of a node: its label, else a name composed from its parts."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = labels

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
    name: _Namer, channel: str, src: str, dst: str, move: float, venue: str, shock: str
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
    if channel == "bad_debt":
        return [f"bad debt at {name(dst)}"]
    if channel == "writedown":
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
