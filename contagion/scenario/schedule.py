"""A scenario resolved against a dataset, and its per-round schedule for the solver."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from contagion.exceptions import ScenarioError
from contagion.oracles import OVERRIDE_MODES, FeedOverrides
from contagion.scenario._checks import _err, _int
from contagion.scenario.events import _REDEMPTION_FIELDS

if TYPE_CHECKING:
    from contagion.dataset import Dataset
    from contagion.lending.cdp import ClipRules
    from contagion.scenario.model import Scenario

FloatArray = NDArray[np.float64]

# -- resolution against a dataset and the per-round schedule ----------------------------------


@dataclass(frozen=True, eq=False)
class Schedule:
    """The scenario's exogenous inputs per round (rows) and asset, feed or protocol (columns).

    Attributes
    ----------
    move
        Relative move of each asset's reference price within the round (-0.1 = falls 10%).
    oracle_mode, oracle_factor, oracle_value
        Feed overrides per round (codes of :data:`contagion.oracles.OVERRIDE_MODES`; factor 1
        and value NaN where there is none); :meth:`feed_overrides` gives one round's.
    vol_points, vol_multiplier
        Implied-volatility jumps per underlying asset in the round they happen (0 and 1
        elsewhere); the new level persists.
    writedown
        Fraction of the remaining value behind each protocol's receipt tokens lost in the round.
    redemption_changes
        Governance changes of algorithmic coins' redemption rules, in round order (those past
        the last round are cut off).
    """

    asset_ids: tuple[str, ...]
    feed_ids: tuple[str, ...]
    protocol_ids: tuple[str, ...]
    move: FloatArray
    oracle_mode: NDArray[np.int8]
    oracle_factor: FloatArray
    oracle_value: FloatArray
    vol_points: FloatArray
    vol_multiplier: FloatArray
    writedown: FloatArray
    redemption_changes: tuple[ResolvedRedemptionChange, ...] = ()

    @property
    def n_rounds(self) -> int:
        return int(self.move.shape[0])

    @property
    def level(self) -> FloatArray:
        """Reference price after each round relative to the snapshot (cumulative product)."""
        return np.asarray(np.cumprod(1.0 + self.move, axis=0), dtype=np.float64)

    def feed_overrides(self, round_index: int) -> FeedOverrides:
        """The overrides :func:`contagion.oracles.update_feeds` takes for one round."""
        r = round_index
        return FeedOverrides(self.oracle_mode[r], self.oracle_factor[r], self.oracle_value[r])


class ResolvedMove(NamedTuple):
    """A resolved shock, correlated move or depeg: total log move spread over rounds."""

    asset_id: str
    log_move: float
    at_round: int
    over_rounds: int


class ResolvedPath(NamedTuple):
    """A resolved price path: log levels, one per ``step_rounds`` rounds."""

    asset_id: str
    log_levels: tuple[float, ...]
    start_round: int
    step_rounds: int


class ResolvedOverride(NamedTuple):
    """A resolved oracle failure (``mode`` is a code of ``OVERRIDE_MODES``)."""

    feed_id: str
    mode: int
    factor: float
    value: float
    from_round: int
    to_round: int | None


class ResolvedSpike(NamedTuple):
    """A resolved volatility spike (points 0 or multiplier 1 when not given)."""

    asset_id: str
    points: float
    multiplier: float
    at_round: int


class ResolvedRedemptionChange(NamedTuple):
    """A resolved redemption change (None: the parameter keeps its value)."""

    asset_id: str
    at_round: int
    redemption_limit_usd: float | None
    redemption_fee: float | None
    base_pool_usd: float | None
    pool_recovery_blocks: float | None
    block_seconds: float | None


class ResolvedWritedown(NamedTuple):
    """A resolved protocol failure."""

    protocol_id: str
    writedown: float
    at_round: int


@dataclass(frozen=True, eq=False)
class ResolvedScenario:
    """A scenario whose names are the dataset's ids (see :meth:`Scenario.resolve`).

    ``moves`` holds every shock, correlated move and depeg as a log move spread over rounds;
    ``paths``, ``oracle``, ``vols`` and ``writedowns`` the other events, all as named tuples
    of ids and numbers. ``asset_ids``, ``feed_ids`` and ``protocol_ids`` are in dataset order;
    ``clip``, the scenario's Clipper rules with ``ilk_holes`` keyed by asset id.
    """

    scenario: Scenario
    asset_ids: tuple[str, ...]
    feed_ids: tuple[str, ...]
    protocol_ids: tuple[str, ...]
    moves: tuple[ResolvedMove, ...]
    paths: tuple[ResolvedPath, ...]
    oracle: tuple[ResolvedOverride, ...]
    vols: tuple[ResolvedSpike, ...]
    writedowns: tuple[ResolvedWritedown, ...]
    redemption_changes: tuple[ResolvedRedemptionChange, ...] = ()
    clip: ClipRules | None = None

    def schedule(
        self,
        n_rounds: int,
        asset_ids: list[str] | tuple[str, ...] | None = None,
        *,
        feed_ids: list[str] | tuple[str, ...] | None = None,
        protocol_ids: list[str] | tuple[str, ...] | None = None,
    ) -> Schedule:
        """Per-round arrays for ``n_rounds`` rounds, columns in the given id orders (dataset
        order by default). Events past the last round are cut off.

        Examples
        --------
        >>> import contagion
        >>> from contagion.scenario import PriceShock, Scenario
        >>> world = contagion.sample_world(positions=200)
        >>> s = Scenario("x", shocks=[PriceShock("ETH", "-19%", over_rounds=2)])
        >>> sched = s.resolve(world).schedule(3)
        >>> eth = sched.asset_ids.index("1:0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
        >>> [round(float(x), 6) for x in sched.move[:, eth]]
        [-0.1, -0.1, 0.0]
        """
        assets = tuple(asset_ids) if asset_ids is not None else self.asset_ids
        feeds = tuple(feed_ids) if feed_ids is not None else self.feed_ids
        protos = tuple(protocol_ids) if protocol_ids is not None else self.protocol_ids
        col = _columns(assets, "asset")
        n = _int("n_rounds", n_rounds, 1)
        log_move = np.zeros((n, len(assets)))
        for asset, total, at, over in self.moves:
            log_move[at : at + over, col(asset)] += total / over
        for asset, levels, start, step in self.paths:
            steps = np.repeat(np.diff(np.asarray(levels), prepend=0.0) / step, step)
            end = min(n, start + steps.size)
            if end > start:
                log_move[start:end, col(asset)] += steps[: end - start]
        fcol = _columns(feeds, "feed")
        mode = np.zeros((n, len(feeds)), np.int8)
        factor, value = np.ones((n, len(feeds))), np.full((n, len(feeds)), np.nan)
        for feed, code, fac, val, start, stop in self.oracle:
            rows, c = slice(start, n if stop is None else stop + 1), fcol(feed)
            mode[rows, c], factor[rows, c], value[rows, c] = code, fac, val
        points, mult = np.zeros((n, len(assets))), np.ones((n, len(assets)))
        for asset, pts, mul, at in self.vols:
            if at < n:
                points[at, col(asset)] += pts
                mult[at, col(asset)] *= mul
        keep = np.ones((n, len(protos)))
        pcol = _columns(protos, "protocol")
        for protocol, loss, at in self.writedowns:
            if at < n:
                keep[at, pcol(protocol)] *= 1.0 - loss
        return Schedule(
            asset_ids=assets,
            feed_ids=feeds,
            protocol_ids=protos,
            move=np.expm1(log_move),
            oracle_mode=mode,
            oracle_factor=factor,
            oracle_value=value,
            vol_points=points,
            vol_multiplier=mult,
            writedown=1.0 - keep,
            redemption_changes=tuple(
                sorted(
                    (c for c in self.redemption_changes if c.at_round < n),
                    key=lambda c: c.at_round,
                )
            ),
        )


def _columns(ids: tuple[str, ...], what: str) -> Any:
    where = {x: i for i, x in enumerate(ids)}

    def col(x: str) -> int:
        if x not in where:
            raise ScenarioError(f"the scenario moves {what} {x!r}, which the given ids lack")
        return where[x]

    return col


def _lookup(name: str, ids: list[str], labels: list[str], what: str, field_: str) -> str:
    """Resolve ``name`` as an id or an exact label (untrusted text); list candidates."""
    by_label = [i for i, label in zip(ids, labels, strict=True) if label == name]
    hits = list(dict.fromkeys(([name] if name in ids else []) + by_label))
    if len(hits) == 1:
        return hits[0]
    if hits:
        listed = ", ".join(repr(h) for h in hits)
        raise _err(field_, f"{what} {name!r} is ambiguous: {listed}; give one of these ids")
    fold = name.casefold()
    near = [i for i, label in zip(ids, labels, strict=True) if label.casefold() == fold]
    close = difflib.get_close_matches(name, labels, n=5, cutoff=0.6)
    near += [i for i, label in zip(ids, labels, strict=True) if label in close and i not in near]
    near += [i for i in difflib.get_close_matches(name, ids, n=3, cutoff=0.8) if i not in near]
    shown = [
        f"{labels[ids.index(i)]!r} ({i})" if labels[ids.index(i)] != i else repr(i) for i in near
    ]
    hint = f"candidates: {', '.join(shown)}" if shown else f"no similar {what} in the dataset"
    raise _err(field_, f"unknown {what} {name!r}; {hint}")


def _end(to_round: int | None) -> float:
    return math.inf if to_round is None else to_round


def resolve_scenario(s: Scenario, dataset: Dataset) -> ResolvedScenario:
    assets = dataset.table("assets")
    asset_ids = [str(a) for a in assets.column("asset_id").to_pylist()]
    symbols = [str(x) for x in assets.column("symbol").to_pylist()]
    price = dict(zip(asset_ids, assets.column("price_usd").to_pylist(), strict=True))
    feeds = dataset.table("oracle_feeds")
    feed_ids = [str(f) for f in feeds.column("feed_id").to_pylist()]
    descriptions = [str(d) for d in feeds.column("description").to_pylist()]
    protocol_ids = [str(p) for p in dataset.table("protocols").column("protocol_id").to_pylist()]

    def asset(name: str, where: str) -> str:
        return _lookup(name, asset_ids, symbols, "asset", where)

    moves: list[ResolvedMove] = []
    for i, shock in enumerate(s.shocks):
        main = asset(shock.asset, f"shocks[{i}].asset")
        moves.append(ResolvedMove(main, math.log1p(shock.move), shock.at_round, shock.over_rounds))
        for name, beta in shock.correlated.items():
            other = asset(name, f"shocks[{i}].correlated.{name}")
            if other == main:
                raise _err(f"shocks[{i}].correlated.{name}", "is the shocked asset itself")
            log_move = beta * math.log1p(shock.move)
            moves.append(ResolvedMove(other, log_move, shock.at_round, shock.over_rounds))
    for i, d in enumerate(s.depegs):
        a = asset(d.asset, f"depegs[{i}].asset")
        total = math.log(d.price / price[a]) if d.price is not None else math.log1p(d.move or 0.0)
        moves.append(ResolvedMove(a, total, d.at_round, d.over_rounds))
    paths = tuple(
        ResolvedPath(
            asset(p.asset, f"paths[{i}].asset"),
            tuple(np.log(p.relative).tolist()),
            p.start_round,
            p.step_rounds,
        )
        for i, p in enumerate(s.paths)
    )
    oracle: list[ResolvedOverride] = []
    for i, o in enumerate(s.oracle_failures):
        f = _lookup(o.feed, feed_ids, descriptions, "feed", f"oracle_failures[{i}].feed")
        for j, prev in enumerate(oracle):
            if (
                prev.feed_id == f
                and o.from_round <= _end(prev.to_round)
                and prev.from_round <= _end(o.to_round)
            ):
                raise _err(
                    f"oracle_failures[{i}]",
                    f"overlaps oracle_failures[{j}] (same feed)",
                )
        fac = o.factor if o.factor is not None else 1.0
        val = o.value if o.value is not None else math.nan
        oracle.append(
            ResolvedOverride(f, OVERRIDE_MODES.index(o.mode), fac, val, o.from_round, o.to_round)
        )
    options = set(dataset.table("option_series").column("underlying_asset_id").to_pylist())
    vols: list[ResolvedSpike] = []
    for i, v in enumerate(s.volatility_spikes):
        where = f"volatility_spikes[{i}].underlying"
        a = asset(v.underlying, where)
        if a not in options:
            listed = ", ".join(f"{symbols[asset_ids.index(u)]!r} ({u})" for u in sorted(options))
            raise _err(where, f"no option series on {v.underlying!r}; underlyings: {listed}")
        pts = v.iv_points if v.iv_points is not None else 0.0
        mult = v.iv_multiplier if v.iv_multiplier is not None else 1.0
        vols.append(ResolvedSpike(a, pts, mult, v.at_round))
    issuers = sorted(
        set(dataset.table("wrappers").column("protocol_id").to_pylist())
        | set(dataset.table("stablecoins").column("protocol_id").to_pylist())
    )
    writedowns: list[ResolvedWritedown] = []
    for i, w in enumerate(s.protocol_failures):
        where = f"protocol_failures[{i}].protocol"
        p = _lookup(w.protocol, protocol_ids, protocol_ids, "protocol", where)
        if p not in issuers:
            listed = ", ".join(issuers)
            raise _err(where, f"{p!r} issues no receipt or stablecoin token; issuers: {listed}")
        writedowns.append(ResolvedWritedown(p, w.writedown, w.at_round))
    return ResolvedScenario(
        scenario=s,
        asset_ids=tuple(asset_ids),
        feed_ids=tuple(feed_ids),
        protocol_ids=tuple(protocol_ids),
        moves=tuple(moves),
        paths=paths,
        oracle=tuple(oracle),
        vols=tuple(vols),
        writedowns=tuple(writedowns),
        redemption_changes=_redemption_changes(s, dataset, asset),
        clip=_clip_by_id(s, asset),
    )


def _clip_by_id(s: Scenario, asset: Any) -> ClipRules:
    """The scenario's Clipper rules with ``ilk_holes`` keyed by asset id."""
    holes: dict[str, float] = {}
    for name, hole in s.params.clip.ilk_holes.items():
        where = f"params.clip.ilk_holes.{name}"
        a = asset(name, where)
        if a in holes:
            raise _err(where, f"names asset {a!r} again")
        holes[a] = hole
    return replace(s.params.clip, ilk_holes=holes)


def _redemption_changes(
    s: Scenario, dataset: Dataset, asset: Any
) -> tuple[ResolvedRedemptionChange, ...]:
    """Resolve ``redemption_changes``: algorithmic coins only, and a virtual pool complete."""
    coins = dataset.df("stablecoins")
    algorithmic = set(coins.loc[coins["mechanism"] == "algorithmic", "asset_id"])
    pool_keys = ("base_pool_usd", "pool_recovery_blocks", "block_seconds")
    known: dict[str, set[str]] = {}
    out: list[ResolvedRedemptionChange] = []
    order = sorted(range(len(s.redemption_changes)), key=lambda i: s.redemption_changes[i].at_round)
    for i in order:
        c = s.redemption_changes[i]
        where = f"redemption_changes[{i}]"
        a = asset(c.asset, f"{where}.asset")
        if a not in algorithmic:
            raise _err(f"{where}.asset", f"{c.asset!r} is not an algorithmic stablecoin")
        have = known.setdefault(a, set())
        have |= {k for k in pool_keys if getattr(c, k) is not None}
        if have and have != set(pool_keys):
            missing = ", ".join(k for k in pool_keys if k not in have)
            raise _err(where, f"a virtual pool also needs {missing} (here or earlier)")
        out.append(
            ResolvedRedemptionChange(a, c.at_round, *(getattr(c, f) for f in _REDEMPTION_FIELDS))
        )
    return tuple(out)
