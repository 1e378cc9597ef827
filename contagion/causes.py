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
        n = int(keep.sum())
        self._round.append(np.full(n, round_, dtype=np.int64))
        self._channel.append(np.full(n, _CHANNEL[channel], dtype=np.int64))
        self._src.append(s[keep].copy())
        self._dst.append(d[keep].copy())
        self._usd.append(u[keep].copy())

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
        key = np.stack([r, c, s, d], axis=1)
        unique, inverse = np.unique(key, axis=0, return_inverse=True)
        total = np.bincount(inverse.ravel(), weights=u, minlength=len(unique))
        names = np.asarray(self.nodes.names, dtype=object)
        frame = pd.DataFrame(
            {
                "round": unique[:, 0],
                "channel": np.asarray(CHANNELS, dtype=object)[unique[:, 1]],
                "src": names[unique[:, 2]],
                "dst": names[unique[:, 3]],
                "usd": total,
            }
        )
        return frame.sort_values(
            ["round", "usd"], ascending=[True, False], kind="stable"
        ).reset_index(drop=True)
