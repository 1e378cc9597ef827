"""The causal graph of a run: its cause records as timed edges, with losses and links.

See :mod:`contagion.paths` for the method.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from contagion.paths.text import NodeNamer, _absorbers, _Moves, _phrase, _shock_texts
from contagion.tracing import TimedEdges, Tracing, best_paths, route_load

if TYPE_CHECKING:
    from contagion.result import PropagationResult

_STEP = 100
# (read, write) offsets within a round, in the solver's order (see :mod:`contagion.paths`).
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
    "peg": (0, 45),
    "scenario": (55, 55),
    "writedown": (60, 60),
    "depeg": (0, 0),
}
_MAX_FEED_LEVELS = 9
_CANDIDATES = 20
_SALES = ("sell", "hedge", "perp_liquidation", "run", "redemption")


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
        name = NodeNamer(labels or {})
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
    """Put every row of ``result.losses`` on the causal graph (see :mod:`contagion.paths`).

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
        elif channel == "writedown":
            # The holders' loss from the failure: reached by the scenario's link into the
            # protocol (:func:`_scenario_links`).
            rows.append(_loss_row(last, channel, f"protocol:{pid}", pid, usd))
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
