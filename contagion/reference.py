"""Reference implementation of a lending round: plain Python, one loan at a time.

This is the obviously-correct version of :func:`contagion.lending.engine.lending_round`,
written from the dataset tables with dictionaries and loops so that each protocol rule reads
as its specification. It exists to check the vectorised engine (the tests compare both on
generated worlds) and to measure how much faster the engine is; it is far too slow for real
use.

The rules are the same as in the engine (see its docstring): Aave v3 ``liquidationCall`` on
the largest debt and collateral with the 50% / 100% close factor, bonus and protocol fee,
liquidators acting when profitable after gas and slippage within a per-round capacity;
Compound III ``absorb`` and store-front sales; Maker-style ``bark`` and keeper auctions, either
at the market price, as Maker's 2020 ``Flipper`` (``flip.sol``: tend, dent, deal, tick) or as
its Liquidations 2.0 (``dog.sol`` ``bark`` one vault after another within the ``Hole`` limits,
``clip.sol`` falling-price auctions, ``redo`` and ``take``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from contagion.dataset import Dataset
from contagion.lending.state import LendingParams

__all__ = ["ReferenceLending", "ReferenceRound"]

CLOSE_FACTOR_HF_THRESHOLD = 0.95
# Aave v3.3 LiquidationLogic: the whole balance may go below 2,000 USD of debt or
# collateral; a partial call leaves at least 1,000 USD of each.
MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD = 2_000.0
MIN_LEFTOVER_BASE = 1_000.0


@dataclass
class _Position:
    asset: str
    collateral: float
    debt: float
    used: bool
    emode: int


@dataclass
class _Loan:
    protocol: str
    account: str
    family: str
    positions: list[_Position]
    auction_tab: float = 0.0
    auction_collateral: float = 0.0
    auction_asset: str = ""
    debt_asset: str = ""
    auction_debt: float = 0.0
    auction_bid: float = 0.0
    auction_tic: float = 0.0
    auction_end: float = 0.0
    auction_top: float = 0.0


@dataclass
class ReferenceRound:
    """What one round did, as plain Python values."""

    flow: dict[str, float] = field(default_factory=dict)
    liquidations: list[dict[str, Any]] = field(default_factory=list)
    bad_debt_usd: dict[str, float] = field(default_factory=dict)
    health_factor: dict[tuple[str, str], float] = field(default_factory=dict)


class ReferenceLending:
    """Lending positions of a dataset, liquidated one loan at a time."""

    def __init__(self, dataset: Dataset) -> None:
        self.markets: dict[tuple[str, str], dict[str, Any]] = {
            (m["protocol_id"], m["asset_id"]): m
            for m in dataset.table("lending_markets").to_pylist()
        }
        self.family = {m["protocol_id"]: m["family"] for m in self.markets.values()}
        self.feed_of = {
            (u["protocol_id"], u["asset_id"]): u["feed_id"]
            for u in dataset.table("oracle_usage").to_pylist()
        }
        self.loans: dict[tuple[str, str], _Loan] = {}
        for row in dataset.table("lending_positions").to_pylist():
            key = (row["protocol_id"], row["account"])
            if key not in self.loans:
                self.loans[key] = _Loan(
                    row["protocol_id"], row["account"], self.family[row["protocol_id"]], []
                )
            self.loans[key].positions.append(
                _Position(
                    row["asset_id"],
                    row["collateral_amount"],
                    row["debt_amount"],
                    row["used_as_collateral"],
                    row["emode_category"],
                )
            )
        self.inventory: dict[tuple[str, str], float] = {}
        # Comets' base asset, targetReserves and reserves (base tokens; NaN when unknown).
        self.comet_base: dict[str, str] = {}
        self.target_reserves: dict[str, float] = {}
        self.reserves: dict[str, float] = {}
        for m in self.markets.values():
            if m["family"] == "compound-v3" and m["role"] == "base":
                protocol = m["protocol_id"]
                self.comet_base[protocol] = m["asset_id"]
                self.target_reserves[protocol] = _nan_if_none(m.get("target_reserves"))
                self.reserves[protocol] = _nan_if_none(m.get("reserves"))
        self.absorbed_usd: dict[str, float] = {}
        self.proceeds_usd: dict[str, float] = {}
        self.auction_bad_debt_usd: dict[str, float] = {}

    # -- rule parameters ---------------------------------------------------------------
    def _param(self, protocol: str, asset: str, name: str) -> float:
        value = self.markets.get((protocol, asset), {}).get(name)
        return math.nan if value is None else float(value)

    def _lt_and_bonus(self, loan: _Loan, p: _Position) -> tuple[float, float]:
        market_emode = self._param(loan.protocol, p.asset, "emode_category")
        if p.emode > 0 and market_emode == p.emode:
            return (
                self._param(loan.protocol, p.asset, "emode_liquidation_threshold"),
                self._param(loan.protocol, p.asset, "emode_liquidation_bonus"),
            )
        return (
            self._param(loan.protocol, p.asset, "liquidation_threshold"),
            self._param(loan.protocol, p.asset, "liquidation_bonus"),
        )

    def _weight(self, loan: _Loan, p: _Position) -> float:
        if loan.family == "aave-v3":
            return _zero_if_nan(self._lt_and_bonus(loan, p)[0])
        if loan.family == "compound-v3":
            return _zero_if_nan(self._param(loan.protocol, p.asset, "liquidate_cf"))
        ratio = self._param(loan.protocol, p.asset, "liquidation_ratio")
        return 0.0 if math.isnan(ratio) else 1.0 / ratio

    def health_factor(self, loan: _Loan, oracle: dict[tuple[str, str], float]) -> float:
        collateral = debt = 0.0
        for p in loan.positions:
            price = oracle[(loan.protocol, p.asset)]
            if p.used:
                collateral += p.collateral * price * self._weight(loan, p)
            debt += p.debt * price
        return collateral / debt if debt > 0 else math.inf

    # -- one round ---------------------------------------------------------------------
    def round(
        self,
        oracle: dict[tuple[str, str], float],
        oracle_usd: dict[tuple[str, str], float],
        market: dict[str, float],
        depth: dict[str, float],
        params: LendingParams,
    ) -> ReferenceRound:
        """Run one round; ``oracle`` maps (protocol, asset) to the price the protocol reads."""
        out = ReferenceRound()
        for key, loan in self.loans.items():
            out.health_factor[key] = self.health_factor(loan, oracle)
        if params.liquidations_enabled:
            self._aave_round(oracle, market, depth, params, out)
            unsafe = []
            for key, loan in self.loans.items():
                if out.health_factor[key] < 1.0 and loan.family == "compound-v3":
                    self._absorb(loan, market, out)
                elif out.health_factor[key] < 1.0 and loan.family == "cdp":
                    if params.clip is None:
                        self._bark(loan, params)
                    else:
                        unsafe.append(loan)
            if params.clip is not None:
                self._clip_barks(unsafe, oracle, market, params)
                self._clip_auctions(oracle, market, params, out)
            elif params.flip is None:
                self._auctions(market, params, out)
            else:
                self._flip_auctions(market, params, out)
            self._sell_inventory(oracle_usd, market, out)
        self._bad_debt(market, out)
        return out

    def _aave_round(
        self,
        oracle: dict[tuple[str, str], float],
        market: dict[str, float],
        depth: dict[str, float],
        params: LendingParams,
        out: ReferenceRound,
    ) -> None:
        candidates = []
        for key, loan in self.loans.items():
            hf = out.health_factor[key]
            if loan.family != "aave-v3" or hf >= 1.0:
                continue
            debt_pos = max(
                (p for p in loan.positions if p.debt > 0),
                key=lambda p: p.debt * oracle[(loan.protocol, p.asset)],
                default=None,
            )
            coll_pos = max(
                (p for p in loan.positions if p.used and p.collateral > 0),
                key=lambda p: p.collateral * oracle[(loan.protocol, p.asset)],
                default=None,
            )
            if debt_pos is None or coll_pos is None:
                continue
            p_debt = oracle[(loan.protocol, debt_pos.asset)]
            p_coll = oracle[(loan.protocol, coll_pos.asset)]
            _, bonus = self._lt_and_bonus(loan, coll_pos)
            fee_share = _zero_if_nan(
                self._param(loan.protocol, coll_pos.asset, "liquidation_protocol_fee")
            )
            repay = self._aave_max_debt(
                loan, debt_pos, coll_pos, p_debt, p_coll, hf, oracle, params
            )
            seize = repay * p_debt / p_coll * bonus
            if seize > coll_pos.collateral:
                seize = coll_pos.collateral
                repay = seize * p_coll / p_debt / bonus
            if (
                params.aave_version == "3.3"
                and repay < debt_pos.debt
                and seize < coll_pos.collateral
                and min((debt_pos.debt - repay) * p_debt, (coll_pos.collateral - seize) * p_coll)
                < MIN_LEFTOVER_BASE
            ):
                # The call would leave dust and revert: the largest one that leaves
                # MIN_LEFTOVER_BASE of debt and of collateral.
                repay = min(
                    repay,
                    debt_pos.debt - MIN_LEFTOVER_BASE / p_debt,
                    (coll_pos.collateral * p_coll - MIN_LEFTOVER_BASE) / (p_debt * bonus),
                )
                repay = max(repay, 0.0)
                seize = repay * p_debt / p_coll * bonus
            fee = (seize - seize / bonus) * fee_share
            received = (seize - fee) * market[coll_pos.asset]
            repaid_usd = repay * market[debt_pos.asset]
            pool = depth.get(coll_pos.asset, 0.0)
            slippage = (
                received * 0.02 * math.sqrt(received / pool) * 2 / 3 if pool > 0 else math.inf
            )
            profit = received - repaid_usd - params.gas_usd - slippage
            if profit > 0 and repay > 0:
                candidates.append((profit, loan, debt_pos, coll_pos, repay, seize, fee, repaid_usd))
        candidates.sort(key=lambda c: -c[0])
        spent = 0.0
        for _, loan, debt_pos, coll_pos, repay, seize, fee, repaid_usd in candidates:
            room = params.liquidator_capacity_usd - spent
            if room <= 0:
                break
            # The liquidation that does not fit whole takes what capacity is left, and is last.
            take = min(1.0, room / repaid_usd)
            spent = params.liquidator_capacity_usd if take < 1.0 else spent + repaid_usd
            repay, seize, fee = repay * take, seize * take, fee * take
            coll_pos.collateral = max(coll_pos.collateral - seize, 0.0)
            debt_pos.debt = max(debt_pos.debt - repay, 0.0)
            out.flow[coll_pos.asset] = out.flow.get(coll_pos.asset, 0.0) - (seize - fee)
            out.flow[debt_pos.asset] = out.flow.get(debt_pos.asset, 0.0) + repay
            out.liquidations.append(
                {
                    "kind": "aave-liquidation-call",
                    "protocol": loan.protocol,
                    "account": loan.account,
                    "collateral_asset": coll_pos.asset,
                    "debt_asset": debt_pos.asset,
                    "collateral_seized": seize,
                    "debt_repaid": repay,
                    "protocol_fee": fee,
                }
            )

    def _aave_max_debt(
        self,
        loan: _Loan,
        debt_pos: _Position,
        coll_pos: _Position,
        p_debt: float,
        p_coll: float,
        hf: float,
        oracle: dict[tuple[str, str], float],
        params: LendingParams,
    ) -> float:
        """Most of the debt position one call may repay: v3.0, half its balance above HF
        0.95; v3.3, half the loan's whole debt when the debt and collateral balances are both
        worth 2,000 USD or more and HF is above 0.95, else all of it."""
        if params.aave_version == "3.0":
            return debt_pos.debt * (0.5 if hf > CLOSE_FACTOR_HF_THRESHOLD else 1.0)
        if (
            coll_pos.collateral * p_coll >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
            and debt_pos.debt * p_debt >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
            and hf > CLOSE_FACTOR_HF_THRESHOLD
        ):
            whole = sum(p.debt * oracle[(loan.protocol, p.asset)] for p in loan.positions)
            if debt_pos.debt * p_debt > 0.5 * whole:
                return 0.5 * whole / p_debt
        return debt_pos.debt

    def _absorb(self, loan: _Loan, market: dict[str, float], out: ReferenceRound) -> None:
        credit = debt_usd = 0.0
        debt_asset = next((p.asset for p in loan.positions if p.debt > 0), "")
        for p in loan.positions:
            taken = p.collateral if p.used else 0.0
            factor = self._param(loan.protocol, p.asset, "liquidation_factor")
            credit += taken * market[p.asset] * _zero_if_nan(factor)
            debt_usd += p.debt * market[p.asset]
            if taken > 0:
                key = (loan.protocol, p.asset)
                self.inventory[key] = self.inventory.get(key, 0.0) + taken
                out.liquidations.append(
                    {
                        "kind": "comet-absorb",
                        "protocol": loan.protocol,
                        "account": loan.account,
                        "collateral_asset": p.asset,
                        "debt_asset": debt_asset,
                        "collateral_seized": taken,
                        "protocol_fee": 0.0,
                    }
                )
            p.collateral -= taken
            p.debt = 0.0
        surplus = max(credit - debt_usd, 0.0)
        self.absorbed_usd[loan.protocol] = (
            self.absorbed_usd.get(loan.protocol, 0.0) + debt_usd + surplus
        )
        if loan.protocol in self.reserves:
            # Reserves pay the debt written off and the surplus credited as base supply.
            base = self.comet_base[loan.protocol]
            self.reserves[loan.protocol] -= debt_usd / market[base] + surplus / market[base]

    def _sell_inventory(
        self,
        oracle_usd: dict[tuple[str, str], float],
        market: dict[str, float],
        out: ReferenceRound,
    ) -> None:
        # Comet.buyCollateral reverts NotForSale while reserves >= targetReserves; checked
        # once a round per protocol, before its buys.
        closed = {p for p, r in self.reserves.items() if r >= self.target_reserves.get(p, math.nan)}
        for (protocol, asset), amount in self.inventory.items():
            if amount <= 0 or protocol in closed:
                continue
            factor = self._param(protocol, asset, "liquidation_factor")
            store = self._param(protocol, asset, "store_front_price_factor")
            price = oracle_usd[(protocol, asset)] * (1 - store * (1 - factor))
            if price <= market[asset]:
                out.flow[asset] = out.flow.get(asset, 0.0) - amount
                self.proceeds_usd[protocol] = self.proceeds_usd.get(protocol, 0.0) + amount * price
                self.inventory[(protocol, asset)] = 0.0
                if protocol in self.reserves:
                    base = self.comet_base[protocol]
                    self.reserves[protocol] += amount * price / market[base]

    def _bark(self, loan: _Loan, params: LendingParams) -> None:
        penalty = max(
            _zero_if_nan(self._param(loan.protocol, p.asset, "liquidation_penalty"))
            for p in loan.positions
        )
        if params.flip is not None:
            # flip.sol ``kick``: bid 0, no bid expiry yet, the auction ends after ``tau``.
            loan.auction_bid = loan.auction_tic = 0.0
            loan.auction_end = params.now_s + params.flip.tau_s
        for p in loan.positions:
            if p.debt > 0:
                loan.debt_asset = p.asset
                loan.auction_tab += p.debt * (1 + penalty)
                loan.auction_debt += p.debt
                p.debt = 0.0
            if p.used and p.collateral > 0:
                loan.auction_asset = p.asset
                loan.auction_collateral += p.collateral
                p.collateral = 0.0

    def _auctions(
        self, market: dict[str, float], params: LendingParams, out: ReferenceRound
    ) -> None:
        open_auctions = [loan for loan in self.loans.values() if loan.auction_tab > 0]
        total = sum(loan.auction_tab * market[loan.debt_asset] for loan in open_auctions)
        for loan in open_auctions:
            tab_usd = loan.auction_tab * market[loan.debt_asset]
            capacity = params.keeper_capacity_usd * tab_usd / total
            price = market[loan.auction_asset] * (1 - params.keeper_margin)
            spend = min(tab_usd, loan.auction_collateral * price, max(capacity, 0.0))
            sold = min(spend / price, loan.auction_collateral)
            out.flow[loan.auction_asset] = out.flow.get(loan.auction_asset, 0.0) - sold
            out.flow[loan.debt_asset] = (
                out.flow.get(loan.debt_asset, 0.0) + spend / market[loan.debt_asset]
            )
            tab_left = tab_usd - spend
            coll_left = loan.auction_collateral - sold
            exhausted = coll_left <= 1e-12 * max(loan.auction_collateral, 1.0)
            if sold > 0:
                _record_sale(out, loan, "cdp-auction", sold, spend / market[loan.debt_asset])
            raised = loan.auction_bid + spend / market[loan.debt_asset]
            if exhausted and tab_left > 0:
                # The debt the auction did not raise is bad debt; the penalty is not.
                owed = max(loan.auction_debt - loan.auction_bid, 0.0) * market[loan.debt_asset]
                self.auction_bad_debt_usd[loan.protocol] = self.auction_bad_debt_usd.get(
                    loan.protocol, 0.0
                ) + max(owed - spend, 0.0)
                loan.auction_tab = loan.auction_collateral = 0.0
                loan.auction_debt = loan.auction_bid = 0.0
            elif tab_left <= 0:
                for p in loan.positions:
                    if p.used:
                        p.collateral += coll_left
                loan.auction_tab = loan.auction_collateral = 0.0
                loan.auction_debt = loan.auction_bid = 0.0
            else:
                loan.auction_tab = tab_left / market[loan.debt_asset]
                loan.auction_collateral = coll_left
                loan.auction_bid = raised

    def _flip_auctions(
        self, market: dict[str, float], params: LendingParams, out: ReferenceRound
    ) -> None:
        """flip.sol one auction at a time: tick, keepers' tend and dent, deal, zero bids."""
        rules = params.flip
        assert rules is not None
        now = params.now_s
        open_auctions = [loan for loan in self.loans.values() if loan.auction_tab > 0]
        wanted = []
        for loan in open_auctions:
            if loan.auction_tic == 0 and loan.auction_end <= now:
                loan.auction_end = now + rules.tau_s  # tick
            unit = market[loan.debt_asset]
            bid, tab = loan.auction_bid * unit, loan.auction_tab * unit
            keeper_price = market[loan.auction_asset] * (1 - params.keeper_margin)
            value = loan.auction_collateral * max(keeper_price, 0.0)
            target = min(tab, value)
            ok = target > bid and (target >= bid * (1 + rules.beg) or target >= tab)
            wanted.append(
                (loan, bid, tab, keeper_price, value, target, target - bid if ok else 0.0)
            )
        # Keepers' capacity goes to the most profitable raises first.
        ranked = sorted(wanted, key=lambda w: -(w[4] - w[1]) if w[6] > 0 else math.inf)
        spent = 0.0
        placed: set[int] = set()
        for loan, bid, tab, keeper_price, _, target, need in ranked:
            unit = market[loan.debt_asset]
            room = max(params.keeper_capacity_usd - spent, 0.0)
            spent += need
            new = target if room >= need else bid + room
            if need > 0 and new > bid and (new >= bid * (1 + rules.beg) or new >= tab):
                loan.auction_bid = new / unit
                out.flow[loan.debt_asset] = out.flow.get(loan.debt_asset, 0.0) + (new - bid) / unit
                bid = new
                placed.add(id(loan))
            target_lot = tab / keeper_price if keeper_price > 0 else math.inf
            if bid >= tab and target_lot * (1 + rules.beg) <= loan.auction_collateral:
                # dent: the collateral given up goes back to the vault.
                for p in loan.positions:
                    if p.used:
                        p.collateral += loan.auction_collateral - target_lot
                loan.auction_collateral = target_lot
                placed.add(id(loan))
        for loan in open_auctions:
            tic, end, bid_now = loan.auction_tic, loan.auction_end, id(loan) in placed
            if bid_now:
                loan.auction_tic = now + rules.ttl_s
            if tic > 0 and ((tic <= now and not bid_now) or end <= now):
                self._deal(loan, market, out)
            elif rules.zero_bidder and tic == 0 and not bid_now:
                loan.auction_tic = now + rules.ttl_s

    def _deal(self, loan: _Loan, market: dict[str, float], out: ReferenceRound) -> None:
        """flip.sol ``deal``: the lot to the last bidder, the debt not bid left as bad debt."""
        out.flow[loan.auction_asset] = (
            out.flow.get(loan.auction_asset, 0.0) - loan.auction_collateral
        )
        deficit = max(loan.auction_debt - loan.auction_bid, 0.0) * market[loan.debt_asset]
        self.auction_bad_debt_usd[loan.protocol] = (
            self.auction_bad_debt_usd.get(loan.protocol, 0.0) + deficit
        )
        kind = "cdp-auction" if loan.auction_bid > 0 else "cdp-zero-bid"
        _record_sale(out, loan, kind, loan.auction_collateral, loan.auction_bid)
        loan.auction_tab = loan.auction_collateral = loan.auction_debt = 0.0
        loan.auction_bid = loan.auction_tic = loan.auction_end = 0.0

    # -- Liquidations 2.0: Dog and Clipper ----------------------------------------------
    def _penalty(self, loan: _Loan) -> float:
        return max(
            _zero_if_nan(self._param(loan.protocol, p.asset, "liquidation_penalty"))
            for p in loan.positions
        )

    def _clip_top(self, loan: _Loan, oracle: dict[tuple[str, str], float], buf: float) -> float:
        """``buf`` times the protocol's oracle price of the collateral in debt units."""
        coll = oracle[(loan.protocol, loan.auction_asset)]
        debt = oracle[(loan.protocol, loan.debt_asset)]
        return buf * coll / debt if debt > 0 else 0.0

    def _pay_keeper(self, loan: _Loan, market: dict[str, float], tab: float, rules: Any) -> None:
        """``tip + chip · tab`` from the Vow to the keeper: the protocol's cost."""
        reward = (rules.tip + rules.chip * tab) * market[loan.debt_asset]
        self.auction_bad_debt_usd[loan.protocol] = (
            self.auction_bad_debt_usd.get(loan.protocol, 0.0) + reward
        )

    def _clip_barks(
        self,
        unsafe: list[_Loan],
        oracle: dict[tuple[str, str], float],
        market: dict[str, float],
        params: LendingParams,
    ) -> None:
        """dog.sol ``bark``, one unsafe vault after another, largest tab first: each for what
        room its ``ilk.hole`` leaves, then what room the ``Hole`` leaves; a partial bark that
        would leave the vault under ``dust`` takes it whole, one that would start an auction
        under ``dust`` reverts (and, as in the engine, that limit is closed for the round).
        A vault whose auction is open waits."""
        rules = params.clip
        assert rules is not None
        dirt: dict[Any, float] = {}
        closed: set[Any] = set()
        for loan in self.loans.values():
            if loan.auction_tab > 0:
                ilk = (loan.protocol, loan.auction_asset)
                dirt[ilk] = dirt.get(ilk, 0.0) + loan.auction_tab
                dirt[loan.protocol] = dirt.get(loan.protocol, 0.0) + loan.auction_tab
        tabs = []
        for loan in unsafe:
            if loan.auction_tab > 0:
                continue
            debt = sum(p.debt for p in loan.positions)
            tabs.append((loan, debt * (1 + self._penalty(loan))))
        for loan, tab in sorted(tabs, key=lambda item: -item[1]):
            collateral_asset = next(p.asset for p in loan.positions if p.used)
            ilk = (loan.protocol, collateral_asset)
            least = rules.dust * (1 + self._penalty(loan))
            barked = tab
            ilk_hole = rules.ilk_holes.get(collateral_asset, rules.ilk_hole)
            for limit, hole in ((ilk, ilk_hole), (loan.protocol, rules.hole)):
                room = 0.0 if limit in closed else max(hole - dirt.get(limit, 0.0), 0.0)
                cut = min(barked, room)
                if 0 < cut < tab:
                    if tab - cut < least:
                        cut = tab  # the rest would be dust: the whole vault
                    elif cut < least:
                        cut = 0.0  # a dusty auction: the bark reverts
                        closed.add(limit)
                barked = cut
            if barked <= 0 or tab <= 0:
                continue
            share = barked / tab
            due = 0.0
            loan.auction_asset = collateral_asset
            for p in loan.positions:
                if p.debt > 0:
                    loan.debt_asset = p.asset
                    due += p.debt * share
                    p.debt -= p.debt * share
                if p.used:
                    taken = p.collateral * share
                    loan.auction_collateral += taken
                    p.collateral -= taken
            if not loan.debt_asset:
                loan.debt_asset = next(p.asset for p in loan.positions if not p.used)
            loan.auction_tab = due * (1 + self._penalty(loan))
            loan.auction_debt = due
            loan.auction_bid = 0.0
            loan.auction_tic = params.now_s
            loan.auction_top = self._clip_top(loan, oracle, rules.buf)
            dirt[ilk] = dirt.get(ilk, 0.0) + barked
            dirt[loan.protocol] = dirt.get(loan.protocol, 0.0) + barked
            self._pay_keeper(loan, market, loan.auction_tab, rules)

    def _clip_auctions(
        self,
        oracle: dict[tuple[str, str], float],
        market: dict[str, float],
        params: LendingParams,
        out: ReferenceRound,
    ) -> None:
        """clip.sol one auction at a time: ``redo`` where needed, then keepers ``take`` the
        largest discounts first within their capacity, paying the auction's price."""
        rules = params.clip
        assert rules is not None
        now = params.now_s
        quotes = []
        for loan in self.loans.values():
            if loan.auction_tab <= 0:
                continue
            elapsed = now - loan.auction_tic
            price = loan.auction_top * rules.cut ** math.floor(elapsed / rules.step_s)
            if elapsed > rules.tail_s or price / loan.auction_top < rules.cusp:
                loan.auction_top = self._clip_top(loan, oracle, rules.buf)
                loan.auction_tic = now
                price = loan.auction_top
                self._pay_keeper(loan, market, loan.auction_tab, rules)
            worth = (
                market[loan.auction_asset] * (1 - params.keeper_margin) / market[loan.debt_asset]
            )
            if 0 < price <= worth and loan.auction_collateral > 0:
                quotes.append((loan, price, worth / price))
        spent = 0.0
        for loan, price, _ in sorted(quotes, key=lambda q: -q[2]):
            unit = market[loan.debt_asset]
            lot, tab = loan.auction_collateral, loan.auction_tab
            full = min(tab, lot * price)
            room = max(max(params.keeper_capacity_usd, 0.0) - spent, 0.0)
            spent += full * unit
            owe = full if full * unit <= room else room / unit
            chost = rules.dust * (1 + self._penalty(loan))
            if owe < full and tab - owe < chost:
                # clip.sol: a partial purchase leaves at least chost of tab.
                owe = tab - chost if tab > chost else 0.0
            bought = lot if owe >= lot * price else min(owe / price, lot)
            if bought <= 0:
                continue
            out.flow[loan.auction_asset] = out.flow.get(loan.auction_asset, 0.0) - bought
            out.flow[loan.debt_asset] = out.flow.get(loan.debt_asset, 0.0) + owe
            _record_sale(out, loan, "cdp-auction", bought, owe)
            raised = loan.auction_bid + owe
            if bought >= lot:
                deficit = max(loan.auction_debt - raised, 0.0) * unit
                self.auction_bad_debt_usd[loan.protocol] = (
                    self.auction_bad_debt_usd.get(loan.protocol, 0.0) + deficit
                )
            elif tab - owe <= 0:
                for p in loan.positions:
                    if p.used:
                        p.collateral += lot - bought
            else:
                loan.auction_tab, loan.auction_collateral = tab - owe, lot - bought
                loan.auction_bid = raised
                continue
            loan.auction_tab = loan.auction_collateral = loan.auction_debt = 0.0
            loan.auction_bid = loan.auction_tic = loan.auction_top = 0.0

    def _bad_debt(self, market: dict[str, float], out: ReferenceRound) -> None:
        bad = dict.fromkeys(self.family, 0.0)
        for key, loan in self.loans.items():
            if loan.family != "aave-v3" or out.health_factor[key] >= 1.0:
                continue
            collateral = sum(p.collateral * market[p.asset] for p in loan.positions if p.used)
            debt = sum(p.debt * market[p.asset] for p in loan.positions)
            bad[loan.protocol] += max(debt - collateral, 0.0)
        for protocol in bad:
            held = sum(
                amount * market[asset]
                for (proto, asset), amount in self.inventory.items()
                if proto == protocol
            )
            bad[protocol] += max(
                self.absorbed_usd.get(protocol, 0.0) - self.proceeds_usd.get(protocol, 0.0) - held,
                0.0,
            )
            bad[protocol] += self.auction_bad_debt_usd.get(protocol, 0.0)
        out.bad_debt_usd = bad

    def balances(self) -> dict[tuple[str, str, str], tuple[float, float]]:
        """(protocol, account, asset) -> (collateral, debt) after the rounds run so far."""
        return {
            (loan.protocol, loan.account, p.asset): (p.collateral, p.debt)
            for loan in self.loans.values()
            for p in loan.positions
        }


def _record_sale(out: ReferenceRound, loan: _Loan, kind: str, sold: float, repaid: float) -> None:
    """A CDP auction's sale of collateral for debt, as a liquidation record."""
    out.liquidations.append(
        {
            "kind": kind,
            "protocol": loan.protocol,
            "account": loan.account,
            "collateral_asset": loan.auction_asset,
            "debt_asset": loan.debt_asset,
            "collateral_seized": sold,
            "debt_repaid": repaid,
            "protocol_fee": 0.0,
        }
    )


def _nan_if_none(value: Any) -> float:
    return math.nan if value is None else float(value)


def _zero_if_nan(value: float) -> float:
    return 0.0 if math.isnan(value) else value
