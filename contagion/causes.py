"""Cause records: every flow and loss of a run, with its round, channel and from -> to nodes.

Nodes use the exposure graph's ids (``asset:…``, ``feed:…``, ``market:<protocol>|<asset>``,
``protocol:…``, ``pool:…``, ``venue:…``) plus ``scenario`` for exogenous events, so a cause
chain read across rounds is a contagion path through the graph. Records are appended as
numpy arrays (one call per channel per round, never per position) and aggregated once at the
end by (round, channel, src, dst).

Channels, in the order a cascade usually meets them:

========================  ====================================================================
``shock``                 scenario -> asset: the exogenous move (USD of lending collateral moved)
``oracle``                asset or source feed -> feed: an update (USD of positions repriced)
``liquidation``           feed -> market: collateral liquidated because that feed moved (USD)
``sell``                  market or venue -> asset: liquidated collateral or hedges sold (USD)
``absorb``                asset -> pool or ``external:<asset>``: where the round's flow went
``bad_debt``              market -> protocol: new shortfall in that debt market (USD)
``writedown``             protocol -> asset: receipt tokens written down (USD of value lost)
``hedge``                 venue -> asset: dealers' hedge sells (USD)
``perp_liquidation``      venue -> asset: force-closed perpetual longs sold (USD)
``redemption``            asset -> asset: algorithmic coin redeemed, governance token sold (USD)
``run``                   asset -> asset: holders selling the coin as backing cover falls (USD)
========================  ====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = ["CHANNELS", "CauseLog", "NodeIndex"]

CHANNELS = (
    "shock",
    "oracle",
    "liquidation",
    "sell",
    "absorb",
    "bad_debt",
    "writedown",
    "hedge",
    "perp_liquidation",
    "redemption",
    "run",
)
_CHANNEL = {name: i for i, name in enumerate(CHANNELS)}


@dataclass
class NodeIndex:
    """Node names and their integer ids; ids are handed out on first use."""

    names: list[str] = field(default_factory=lambda: ["scenario"])
    _ids: dict[str, int] = field(default_factory=lambda: {"scenario": 0})

    def id(self, name: str) -> int:
        """The id of ``name``, registering it if new."""
        found = self._ids.get(name)
        if found is None:
            found = len(self.names)
            self._ids[name] = found
            self.names.append(name)
        return found

    def ids(self, names: list[str] | tuple[str, ...]) -> NDArray[np.int64]:
        return np.array([self.id(n) for n in names], dtype=np.int64)


@dataclass
class CauseLog:
    """Accumulates cause records of a run."""

    nodes: NodeIndex = field(default_factory=NodeIndex)
    _round: list[NDArray[np.int64]] = field(default_factory=list)
    _channel: list[NDArray[np.int64]] = field(default_factory=list)
    _src: list[NDArray[np.int64]] = field(default_factory=list)
    _dst: list[NDArray[np.int64]] = field(default_factory=list)
    _usd: list[NDArray[np.float64]] = field(default_factory=list)

    def add(
        self, round_: int, channel: str, src: ArrayLike, dst: ArrayLike, usd: ArrayLike
    ) -> None:
        """Record edges ``src[i] -> dst[i]`` worth ``usd[i]`` (non-positive weights dropped)."""
        s, d, u = np.broadcast_arrays(
            np.asarray(src, dtype=np.int64),
            np.asarray(dst, dtype=np.int64),
            np.asarray(usd, dtype=float),
        )
        keep = (u > 0) & np.isfinite(u) & (s >= 0) & (d >= 0)
        if not keep.any():
            return
        s, d, u = s[keep], d[keep], u[keep]
        if len(u) > 1:
            # Edges of one call that share (src, dst) are summed now: a round's liquidations
            # become one record per (feed, market), not one per loan.
            width = int(max(s.max(), d.max())) + 1
            pairs, inverse = np.unique(s * width + d, return_inverse=True)
            u = np.bincount(inverse.ravel(), weights=u, minlength=len(pairs))
            s, d = pairs // width, pairs % width
        n = len(u)
        self._round.append(np.full(n, round_, dtype=np.int64))
        self._channel.append(np.full(n, _CHANNEL[channel], dtype=np.int64))
        self._src.append(np.array(s, dtype=np.int64))
        self._dst.append(np.array(d, dtype=np.int64))
        self._usd.append(np.array(u, dtype=float))

    def frame(self) -> pd.DataFrame:
        """Records aggregated by (round, channel, src, dst), largest first within a round."""
        columns = ["round", "channel", "src", "dst", "usd"]
        if not self._round:
            return pd.DataFrame(
                {c: pd.Series(dtype=float if c == "usd" else object) for c in columns}
            )
        r = np.concatenate(self._round)
        c = np.concatenate(self._channel)
        s = np.concatenate(self._src)
        d = np.concatenate(self._dst)
        u = np.concatenate(self._usd)
        # One integer key per (round, channel, src, dst): a 1-D unique instead of a row sort.
        n_nodes = len(self.nodes.names)
        if (int(r.max()) + 1) * len(CHANNELS) * n_nodes**2 >= 2**62:
            raise OverflowError("too many rounds and nodes to key cause records")
        key = ((r * len(CHANNELS) + c) * n_nodes + s) * n_nodes + d
        unique, inverse = np.unique(key, return_inverse=True)
        total = np.bincount(inverse.ravel(), weights=u, minlength=len(unique))
        dst, rest = unique % n_nodes, unique // n_nodes
        src, rest = rest % n_nodes, rest // n_nodes
        channel, round_ = rest % len(CHANNELS), rest // len(CHANNELS)
        names = np.asarray(self.nodes.names, dtype=object)
        frame = pd.DataFrame(
            {
                "round": round_,
                "channel": np.asarray(CHANNELS, dtype=object)[channel],
                "src": names[src],
                "dst": names[dst],
                "usd": total,
            }
        )
        return frame.sort_values(
            ["round", "usd"], ascending=[True, False], kind="stable"
        ).reset_index(drop=True)
