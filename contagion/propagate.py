"""The propagation solver: a shock spread round by round across protocols to a fixed point.

Each round follows the model of ``docs`` (ARCHITECTURE, "Propagation model"):

1. **oracles** update from the market prices of the previous round by each feed's rule
   (:mod:`contagion.oracles`), under the scenario's overrides;
2. **lending** protocols liquidate what their rules allow at their own oracle prices
   (:mod:`contagion.lending.engine`);
3. **derivatives**: option dealers re-hedge (:mod:`contagion.dealers`) and perpetual positions
   past their liquidation price are force-closed (:mod:`contagion.perps`);
4. **stablecoins**: algorithmic coins are redeemed into their governance token and holders run
   (:mod:`contagion.stablecoins`); PSM-backed coins and staking tokens move through their
   venues in the next step;
5. **market clearing**: the round's net flow of every market, and the scenario's exogenous
   moves, are absorbed by all venues together (:mod:`contagion.clearing`);
6. **balance sheets**: bad debt writes down the issuing protocol's receipt tokens, which
   reprices positions holding them elsewhere through their exchange-rate feeds
   (:mod:`contagion.balance_sheet`).

Rounds repeat until the scenario's schedule is over and a round changes nothing (no
liquidation, no open auction, prices still within ``tol``), or until ``max_rounds``. A run that
hits the limit is unconverged: :func:`propagate` raises :class:`ConvergenceError` carrying the
partial result, unless ``allow_unconverged=True``, in which case the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from contagion.balance_sheet import receipt_writedown
from contagion.causes import RunCauses
from contagion.clearing import Clearing, MarketState, QuietClearing, clear
from contagion.dataset import Dataset
from contagion.dealers import DealerParams, DealerRound, dealer_round, initial_dealer_state
from contagion.engine import Engine, build_engine
from contagion.exceptions import ConvergenceError
from contagion.lending.cdp import FlipRules
from contagion.lending.cdp_step import clip_next_event_s
from contagion.lending.engine import (
    LendingParams,
    LendingState,
    lending_round,
)
from contagion.lending.screen import HealthScreen, PositionPrices
from contagion.oracles import FeedOverrides, FeedState, next_publication_s, update_feeds
from contagion.perps import initial_perp_state, perp_round
from contagion.result import PropagationResult, RoundRecord
from contagion.scenario import ModelParams, Scenario, Schedule
from contagion.stablecoins import (
    AlgorithmicParams,
    algorithmic_round,
    change_redemption,
    governance_reference,
    initial_algorithmic_state,
)
from contagion.world import World

__all__ = ["propagate"]

FloatArray = NDArray[np.float64]

_FROZEN = 1
_FLIP = FlipRules()


def propagate(
    dataset: Dataset | World | Engine,
    scenario: Scenario,
    *,
    max_rounds: int | None = None,
    tol: float | None = None,
    seed: int | None = None,
    allow_unconverged: bool = False,
) -> PropagationResult:
    """Spread ``scenario`` through ``dataset`` round by round to a fixed point.

    Parameters
    ----------
    dataset
        A dataset, or the :class:`~contagion.engine.Engine` built from one (reuse it to run
        many scenarios on the same data).
    scenario
        What happens (:class:`~contagion.scenario.Scenario`; ``load_scenario`` reads TOML).
    max_rounds, tol
        Override the scenario's ``params.max_rounds`` and ``params.tol``.
    seed
        Seed of the run's random draws. The model's rules are deterministic; the seed is
        recorded in the result and passed to any randomised behaviour, so equal seeds give
        equal results.
    allow_unconverged
        Return a result that reached ``max_rounds`` without settling (its ``converged`` is
        False) instead of raising.

    Returns
    -------
    PropagationResult
        Prices, oracle answers, flows, liquidations, bad debt and losses per round, dealer
        hedges and GEX, and every flow and loss with its cause.

    Raises
    ------
    ConvergenceError
        When the run reaches ``max_rounds`` without settling (the partial result is
        ``error.result``).
    ScenarioError
        When the scenario names assets, feeds or protocols the dataset does not have.

    Examples
    --------
    >>> from contagion import sample_world
    >>> from contagion.scenario import PriceShock, Scenario
    >>> result = propagate(sample_world(positions=2_000, seed=1),
    ...                    Scenario(name="eth", shocks=(PriceShock("ETH", -0.3),)))
    >>> result.converged, result.total_liquidated_usd > 0
    (True, True)
    """
    engine = dataset if isinstance(dataset, Engine) else build_engine(dataset)
    params = scenario.params
    if max_rounds is not None or tol is not None:
        params = replace(
            params,
            max_rounds=max_rounds or params.max_rounds,
            tol=tol if tol is not None else params.tol,
        )
    resolved = scenario.resolve(engine.dataset)
    schedule = resolved.schedule(
        params.max_rounds,
        list(engine.world.assets.ids),
        feed_ids=list(engine.feeds.feed_ids),
        protocol_ids=list(engine.dataset.table("protocols").column("protocol_id").to_pylist()),
    )
    if resolved.clip is not None:
        params = replace(params, clip=resolved.clip)  # its ilk_holes by asset id
    run = _Run(engine, scenario, params, schedule, seed)
    result = run.execute()
    if not result.converged and not allow_unconverged:
        raise ConvergenceError(
            f"scenario {scenario.name!r} did not settle within {params.max_rounds} rounds "
            f"(last price change {result.last_price_change:.3g}, tolerance {params.tol:g})",
            result=result,
        )
    return result


@dataclass
class _Prices:
    root: FloatArray
    rate: FloatArray
    wrapper_rate: FloatArray

    def token(self, engine: Engine) -> FloatArray:
        result: FloatArray = engine.world.assets.token_price(self.root, self.rate)
        return result


_PEG_BAND = 5e-4
"""Log move of an underlying's market (relative to its anchor) below which the staking
tokens' outside markets do not follow it: the fee of the Uniswap v3 LST/WETH pools."""


class _Run:
    """The state of one run and the round loop over it."""

    def __init__(
        self,
        engine: Engine,
        scenario: Scenario,
        params: ModelParams,
        schedule: Schedule,
        seed: int | None,
    ) -> None:
        self.engine = engine
        self.scenario = scenario
        self.params = params
        self.schedule = schedule
        self.seed = seed
        a = engine.world.assets
        self.prices = _Prices(
            a.root_price(a.price, a.rate), a.rate.copy(), engine.wrapper_rate.copy()
        )
        self.ref = self.prices.root.copy()
        self.venues = engine.scaled_venues(params.external_depth_scale)
        # What liquidators and redemption arbitrage price their slippage with, in the same
        # outside markets.
        self.liquidation_depth = engine.liquidation_depth(params.external_depth_scale)
        self.market = MarketState.initial(self.venues, self.prices.root)
        # The last clearing that solved for prices: the next one starts from its secant.
        self.last_solve: Clearing | None = None
        self.quiet: QuietClearing | None = None
        self.feeds = FeedState.initial(engine.feeds)
        self.lending = LendingState.initial(engine.world.lending, len(a))
        self.health_screen = HealthScreen()
        mitigations = scenario.mitigations
        self.dealer_params = DealerParams(
            iv_response=params.iv_response,
            down_only=False,
            dealer_sign=params.dealer_sign,
            options_amm_buffer_usd=(
                mitigations.options_amm.buffer_usd if mitigations.options_amm else 0.0
            ),
        )
        self.dealers = initial_dealer_state(
            engine.options, self.prices.token(engine), self.dealer_params
        )
        self.iv0 = self.dealers.iv.copy()
        self.hedge_price = self.prices.token(engine)
        self.perps = initial_perp_state(engine.perps)
        self.algos = initial_algorithmic_state(engine.algorithmic)
        self.algo_book = engine.algorithmic
        self.run_params = AlgorithmicParams(
            params.run_rate_per_day, params.run_depeg_saturation, params.covered_run_weight
        )
        self.receipt_multiplier = np.ones(len(engine.receipt_asset))
        self.protocol_writedown = np.ones(len(engine.receipt_asset))
        self.paused_until = -1
        self.cover = np.ones(engine.world.assets.n_roots)
        # Per staking-token root, its underlying's price over that one's anchor (1 elsewhere).
        self.follow = np.ones(engine.world.assets.n_roots)
        self.last_anchor: FloatArray | None = None
        self.clock = 0.0
        self.skip_to = 0.0
        self.recorder = RunCauses(engine)
        self.causes = self.recorder.log
        self.records: list[RoundRecord] = []

    # -- the loop ----------------------------------------------------------------------
    def execute(self) -> PropagationResult:
        p = self.params
        last_event = self._last_event_round()
        converged = False
        change = np.inf
        for r in range(p.max_rounds):
            change, busy = self._round(r)
            if r >= last_event and not busy and change < p.tol:
                # Quiet, but an oracle may still be due to catch up with the market (a
                # heartbeat, an OSM hop): skip the idle time to it, or stop at the fixed point.
                price = self.prices.token(self.engine)
                due = next_publication_s(self.engine.feeds, self.feeds, price)
                if p.cdp_auction == "clip":
                    # Clipper auctions waiting for their price to fall: the next take or redo.
                    book = self.engine.world.lending
                    margin = LendingParams.keeper_margin  # the default: no scenario sets it
                    due = min(
                        due,
                        clip_next_event_s(book, self.lending, price, self.clock, margin, p.clip),
                    )
                if not np.isfinite(due):
                    converged = True
                    break
                self.skip_to = due
        return PropagationResult.build(
            self.engine,
            self.scenario,
            self.seed,
            self.records,
            self.causes,
            converged=converged,
            last_price_change=change,
        )

    def _last_event_round(self) -> int:
        s = self.schedule
        events = (
            (np.abs(s.move).sum(axis=1) > 0)
            | (s.oracle_mode != 0).any(axis=1)
            | ((s.vol_points != 0) | (s.vol_multiplier != 1)).any(axis=1)
            | (s.writedown != 0).any(axis=1)
        )
        rows = np.flatnonzero(events)
        last = int(rows[-1]) if len(rows) else 0
        last = max([last, *(c.at_round for c in s.redemption_changes)])
        overrides_open = (s.oracle_mode != 0).any(axis=1)
        if overrides_open.any():
            last = max(last, int(np.flatnonzero(overrides_open)[-1]) + 1)
        return last

    def _round(self, r: int) -> tuple[float, bool]:
        e, a, book = self.engine, self.engine.world.assets, self.engine.world.lending
        p = self.params
        now = max(self.clock + p.round_seconds, self.skip_to)
        self.clock = now
        price = self.prices.token(e)
        paused = r <= self.paused_until

        # 1. oracles
        overrides = self.schedule.feed_overrides(r)
        if paused:
            overrides = FeedOverrides(
                np.full(len(e.feeds), _FROZEN, np.int8),
                np.ones(len(e.feeds)),
                np.full(len(e.feeds), np.nan),
            )
        before = self.feeds.answer
        self.feeds, updated = update_feeds(
            e.feeds, self.feeds, price, self._exchange_rates(), now, overrides
        )
        self.recorder.oracles(r, self.feeds.answer, before, updated)

        # 2. lending
        # Per-position oracle prices are read through the feeds, only where they are needed.
        quote = e.feeds.quote
        op = PositionPrices(self.feeds.answer, e.position_feed)
        oracle_usd = PositionPrices(
            self.feeds.answer,
            e.position_feed,
            np.where(quote >= 0, price[np.maximum(quote, 0)], 1.0),
        )
        keepers = p.keeper_capacity_path
        lending_params = LendingParams(
            liquidator_capacity_usd=p.liquidator_capacity_usd,
            gas_usd=p.gas_usd,
            keeper_capacity_usd=keepers[r] if r < len(keepers) else p.keeper_capacity_usd,
            liquidations_enabled=not paused,
            flip=_FLIP if p.cdp_auction == "flip" else None,
            clip=p.clip if p.cdp_auction == "clip" else None,
            now_s=now,
            aave_version=p.aave_version,
        )
        bad_before = self.records[-1].bad_debt_by_asset if self.records else None
        total_bad_before = self.records[-1].bad_debt_usd if self.records else None
        self.lending, lr = lending_round(
            book,
            self.lending,
            op,
            oracle_usd,
            price,
            self.liquidation_depth,
            lending_params,
            self._margin_scale(),
            self.health_screen,
            in_place=True,
        )
        self.recorder.lending(r, lr, bad_before, total_bad_before, price)

        # 3. derivatives. Time decay is left out: a cascade lasts minutes to hours, over which
        # the options' own drift in delta is small beside the hedge of the price move, and
        # letting the clock run would keep dealers trading after everything else has settled.
        self.dealers, dr = dealer_round(
            e.options,
            self.dealers,
            price,
            0.0,
            self.dealer_params,
            vol_spike=self.schedule.vol_points[r],
            vol_multiplier=self.schedule.vol_multiplier[r],
        )
        dr = self._hedging_band(dr, price)
        self.perps, pr = perp_round(e.perps, self.perps, price)

        # 4. stablecoins, under the governance changes scheduled for this round
        for c in self.schedule.redemption_changes:
            if c.at_round == r:
                self.algo_book = change_redemption(
                    self.algo_book,
                    a.ids.index(c.asset_id),
                    redemption_limit_usd=c.redemption_limit_usd,
                    redemption_fee=c.redemption_fee,
                    base_pool_usd=c.base_pool_usd,
                    recovery_blocks=c.pool_recovery_blocks,
                    block_seconds=c.block_seconds,
                )
        # Books hold tokens: a market's USD depth follows its token's price.
        depth = self.liquidation_depth * price / e.world.assets.price
        self.algos, ar = algorithmic_round(
            self.algo_book,
            self.algos,
            price,
            p.round_seconds,
            self.run_params,
            governance_depth_usd=depth,
        )

        # 5. market clearing
        token_flow = lr.flow + dr.hedge_flow + pr.flow + ar.flows
        root_flow: FloatArray = np.asarray(
            np.bincount(a.root, weights=token_flow * self.prices.rate, minlength=a.n_roots),
            dtype=float,
        )
        move = self._root_moves(self.schedule.move[r])
        self.ref = self.ref * (1.0 + move)
        self._backing_cover(ar.coverage, price)
        old_root = self.prices.root
        ref = self._anchors(r)
        cleared = (
            None
            if self.quiet is None
            else self.quiet.answer(self.market, root_flow, ref, self.prices.rate)
        )
        if cleared is None:
            cleared = clear(
                self.venues, self.market, root_flow, ref, self.prices.rate, previous=self.last_solve
            )
            self.quiet = QuietClearing.of(self.market, root_flow, ref, self.prices.rate, cleared)
        if cleared.active.any():
            self.last_solve = cleared
        self.market = cleared.state
        self.prices.root = cleared.price
        change = float(np.max(np.abs(np.log(cleared.price / old_root)))) if len(old_root) else 0.0
        self.recorder.flows(r, move, dr.hedge_flow, pr.flow, ar, cleared, price)
        breaker = self.scenario.mitigations.circuit_breaker
        if breaker is not None and change > np.log1p(breaker.max_move):
            self.paused_until = r + breaker.pause_rounds

        # 6. balance sheets
        self._writedowns(r, lr.bad_debt_by_asset)

        self.records.append(
            RoundRecord(
                price=self.prices.token(e),
                root_price=cleared.price.copy(),
                ref_price=self.ref.copy(),
                answers=self.feeds.answer.copy(),
                lending_flow=lr.flow,
                hedge_flow=dr.hedge_flow,
                perp_flow=pr.flow,
                algorithmic_flow=ar.flows,
                liquidations=lr.liquidations,
                bad_debt_usd=lr.bad_debt_usd,
                bad_debt_by_asset=lr.bad_debt_by_asset,
                gex=dr.gex,
                iv_mean=self._iv_mean(),
                perp_closed_oi=pr.closed_oi,
                insurance_fund=self.perps.insurance_fund.copy(),
                adl_usd=pr.adl_usd,
                coverage=ar.coverage,
                coin_supply=self.algos.coin_supply.copy(),
                governance_supply=self.algos.governance_supply.copy(),
                receipt_multiplier=self.receipt_multiplier.copy(),
                paused=paused,
                clearing_converged=cleared.converged,
                clearing_residual=cleared.residual,
                time_s=now,
            )
        )
        # Open Clipper auctions nobody took only wait for their price to fall (skipped to).
        busy = (
            len(lr.liquidations) > 0
            or (p.cdp_auction != "clip" and bool(len(self.lending.open_auctions(book))))
            or self.lending.inventory_for_sale(book)
            or bool(np.abs(pr.flow).sum() > 0)
            or bool(np.abs(ar.flows).sum() > 0)
        )
        return change, busy

    # -- helpers -----------------------------------------------------------------------
    def _backing_cover(self, coverage: FloatArray, price: FloatArray) -> None:
        """Outside markets value an algorithmic coin at no more than its backing per coin.

        Once the governance token's market value falls below the coin's supply (coverage
        below 1), a coin is a claim on less than a dollar of backing; the external market's
        reference follows, which is what turns a run into a spiral (Terra, May 2022).
        """
        book = self.engine.algorithmic
        if len(book.coin) == 0:
            return
        roots = self.engine.world.assets.root[book.coin]
        self.cover[roots] = np.minimum(1.0, np.nan_to_num(coverage, nan=1.0))
        # Outside markets price the governance token as a share of the coin's franchise: its
        # reference falls as holders leave the coin, as its price falls and as minting dilutes
        # the supply.
        gov_roots = self.engine.world.assets.root[book.governance]
        self.cover[gov_roots] = governance_reference(book, self.algos, price[book.coin])

    def _hedging_band(self, dr: DealerRound, price: FloatArray) -> DealerRound:
        """Keep the old hedge of underlyings that stay inside their hedging band.

        Dealers re-hedge at increments, not every tick (Whalley & Wilmott 1997: a band around
        the target delta); without the band, hedges answering their own market impact would
        keep a settled market trading. An underlying is re-hedged once it has moved by the
        threshold since its last hedge, or once the hedge it needs differs from the one held
        by more than that move would change it (``|gamma| · S · threshold``, from the GEX):
        a jump of implied volatility shifts deltas with the price still.
        """
        band = self.params.hedge_threshold
        if band <= 0:
            return dr
        calm = np.abs(np.log(price / self.hedge_price)) < band
        # GEX is USD of hedge per 1 % move: |GEX| · (band / 1 %) / S units for a move of band.
        gap = np.abs(dr.hedge_flow + dr.absorbed_flow)
        with np.errstate(divide="ignore", invalid="ignore"):
            drift = np.where(price > 0, np.abs(dr.gex) * (band / 0.01) / price, 0.0)
        calm &= gap <= drift
        if not calm.any():
            self.hedge_price = price.copy()
            return dr
        hedge = self.dealers.hedge.copy()
        hedge[calm] -= dr.hedge_flow[calm] + dr.absorbed_flow[calm]
        self.dealers = replace(self.dealers, hedge=hedge)
        self.hedge_price = np.where(calm, self.hedge_price, price)
        flow = np.where(calm, 0.0, dr.hedge_flow)
        absorbed = np.where(calm, 0.0, dr.absorbed_flow)
        return replace(dr, hedge_flow=flow, absorbed_flow=absorbed)

    def _exchange_rates(self) -> FloatArray:
        return self.prices.wrapper_rate

    def _root_moves(self, asset_move: FloatArray) -> FloatArray:
        """Scenario moves of assets, applied to the markets they trade in.

        A staking token's market (stETH, cbETH, rETH) follows its underlying's exogenous
        move unless the scenario moves it itself in the same round (a depeg, or a correlated
        beta): a claim on ETH does not hold its price when ETH falls.
        """
        a = self.engine.world.assets
        move = np.zeros(a.n_roots)
        moved = np.flatnonzero(asset_move != 0)
        move[a.root[moved]] = asset_move[moved]
        parent = self.engine.root_parent
        follows = (parent >= 0) & (move == 0)
        move[follows] = move[parent[follows]]
        return move

    def _anchors(self, r: int) -> FloatArray:
        """The prices the outside markets are anchored to this round.

        A root's reference (its exogenous moves), times its backing cover; a staking token's
        market (stETH, cbETH, rETH) is further carried along by its underlying's move away
        from its own anchor. Those markets trade mostly against ETH (Uniswap v3, Balancer
        and Curve pools against WETH, ``docs/sample-world.md``): when liquidation sales push
        ETH below its reference, arbitrage between the ETH-quoted venues and the rest takes
        the staking token with it, keeping its ratio to ETH; the token's own flows then move
        it from there (its discount). The underlying's move is read at the start of the
        round, where the last clearing left it, so the token follows one round later, and
        only by more than the arbitrage's cost (``_PEG_BAND``, the 5 bp fee of the Uniswap v3
        cbETH/WETH and rETH/WETH pools): a market drifting back by basis points does not drag
        the staking tokens along round after round.
        """
        anchor = self.ref * self.cover
        parent = self.engine.root_parent
        child = np.flatnonzero(parent >= 0)
        if len(child) and self.last_anchor is not None:
            under = parent[child]
            follow = self.prices.root[under] / self.last_anchor[under]
            before = self.follow[child]
            move = np.abs(np.log(follow / before))
            moved = move > _PEG_BAND
            self.recorder.peg(r, under[moved], child[moved], move[moved])
            self.follow[child[moved]] = follow[moved]
        anchor *= self.follow
        self.last_anchor = anchor
        return anchor

    def _iv_mean(self) -> FloatArray:
        book = self.engine.options
        n = len(self.engine.world.assets)
        weight = np.bincount(book.underlying, weights=book.open_interest, minlength=n)
        total = np.bincount(
            book.underlying, weights=book.open_interest * self.dealers.iv, minlength=n
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            result: FloatArray = np.where(
                weight > 0, total / np.where(weight > 0, weight, 1), np.nan
            )
        return result

    def _margin_scale(self) -> FloatArray | None:
        dm = self.scenario.mitigations.dynamic_margin
        if dm is None:
            return None
        e, a = self.engine, self.engine.world.assets
        scale_root = np.ones(a.n_roots)
        book = e.options
        if dm.mode == "volatility":
            n = len(a)
            w = np.bincount(book.underlying, weights=book.open_interest, minlength=n)
            iv0 = np.bincount(book.underlying, weights=book.open_interest * self.iv0, minlength=n)
            iv = np.bincount(
                book.underlying, weights=book.open_interest * self.dealers.iv, minlength=n
            )
            has = w > 0
            ratio = np.ones(n)
            ratio[has] = (iv0[has] / iv[has]) ** dm.sensitivity
            np.minimum.at(scale_root, a.root[has], ratio[has])
        else:
            gex = self.records[-1].gex if self.records else np.zeros(len(a))
            depth = np.maximum(a.depth_2pct_usd, 1.0)
            negative = np.bincount(a.root, weights=np.maximum(-gex, 0.0), minlength=a.n_roots)
            scale_root = np.maximum(1.0 - dm.sensitivity * negative / depth, 0.0)
        result: FloatArray = np.minimum(scale_root[a.root], 1.0)
        return result

    def _writedowns(self, r: int, bad_by_asset: FloatArray) -> None:
        e = self.engine
        if len(e.receipt_asset) == 0:
            return
        deposits = e.deposits_usd[e.receipt_protocol, e.receipt_underlying]
        bad = bad_by_asset[e.receipt_protocol, e.receipt_underlying]
        lending_loss = receipt_writedown(bad, deposits)
        issuer_ids = e.dataset.table("protocols").column("protocol_id").to_pylist()
        issuers = [issuer_ids.index(e.world.lending.protocol_ids[k]) for k in e.receipt_protocol]
        scheduled = 1.0 - self.schedule.writedown[r][issuers]
        self.protocol_writedown = self.protocol_writedown * scheduled
        multiplier = lending_loss * self.protocol_writedown
        delta = self.receipt_multiplier - multiplier
        self.recorder.writedown(r, delta * deposits)
        self.receipt_multiplier = multiplier
        a = e.world.assets
        self.prices.rate[e.receipt_asset] = a.rate[e.receipt_asset] * multiplier
        self.prices.wrapper_rate[e.receipt_asset] = e.wrapper_rate[e.receipt_asset] * multiplier
