"""The state a lending round works on and the record of what it did.

:class:`LendingState` holds the balances liquidations change (positions, open auctions,
Comet's inventory, written-off loans), :class:`LendingParams` the liquidators' and keepers'
behaviour, :class:`Liquidations` and :class:`LendingRound` what a round did
(:func:`contagion.lending.engine.lending_round`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from contagion.lending.aave import AAVE_VERSIONS
from contagion.lending.cdp import ClipRules, FlipRules
from contagion.lending.layout import LoanGroup
from contagion.world import LendingBook

__all__ = [
    "KIND_AAVE",
    "KIND_ABSORB",
    "KIND_AUCTION",
    "KIND_ZERO_BID",
    "LIQUIDATION_KINDS",
    "LendingParams",
    "LendingRound",
    "LendingState",
    "Liquidations",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

KIND_AAVE, KIND_ABSORB, KIND_AUCTION, KIND_ZERO_BID = 0, 1, 2, 3
LIQUIDATION_KINDS = ("aave-liquidation-call", "comet-absorb", "cdp-auction", "cdp-zero-bid")


@dataclass(frozen=True)
class LendingParams:
    """Behaviour of liquidators and keepers in one round.

    Attributes
    ----------
    liquidator_capacity_usd
        Debt (USD) liquidators can repay per round across Aave-family protocols.
    gas_usd
        Cost of one liquidation transaction.
    keeper_capacity_usd
        USD keepers can spend per round on CDP auctions.
    keeper_margin
        Discount to the market price keepers require to buy auctioned collateral.
    liquidations_enabled
        False while a circuit breaker pauses liquidations.
    flip
        Run CDP auctions as Maker's ``Flipper`` with these rules; None (the default) runs
        the market-price auctions of :func:`~contagion.lending.cdp.cdp_liquidation`.
    clip
        Run CDP barks and auctions as Maker's ``Dog`` and ``Clipper`` (Liquidations 2.0)
        with these rules (not together with ``flip``).
    now_s
        Time of the round (seconds): flip auctions' ``tic`` and ``end``, and clip auctions'
        ``tic``, are measured on it.
    aave_version
        Aave liquidation rules: ``"3.0"`` or ``"3.3"``
        (:func:`~contagion.lending.aave.aave_liquidation`).
    """

    liquidator_capacity_usd: float = np.inf
    gas_usd: float = 30.0
    keeper_capacity_usd: float = np.inf
    keeper_margin: float = 0.02
    liquidations_enabled: bool = True
    flip: FlipRules | None = None
    clip: ClipRules | None = None
    now_s: float = 0.0
    aave_version: str = "3.0"

    def __post_init__(self) -> None:
        if self.flip is not None and self.clip is not None:
            raise ValueError("CDP auctions follow either flip or clip rules, not both")
        if self.aave_version not in AAVE_VERSIONS:
            known = ", ".join(AAVE_VERSIONS)
            raise ValueError(f"unknown Aave version {self.aave_version!r}; known: {known}")


@dataclass(frozen=True)
class LendingState:
    """Balances that change as loans are liquidated."""

    collateral: FloatArray
    debt: FloatArray
    auction_tab: FloatArray
    """Per loan: debt plus penalty an open CDP auction must still raise (debt-asset units)."""
    auction_collateral: FloatArray
    """Per loan: collateral left in the open auction."""
    inventory: FloatArray
    """Per protocol x asset: collateral absorbed by Comet and not sold yet."""
    absorbed_usd: FloatArray
    """Per protocol: debt written off (plus surplus credited) by absorb, cumulative, USD."""
    proceeds_usd: FloatArray
    """Per protocol: what absorbed collateral fetched, cumulative, USD."""
    auction_bad_debt_usd: FloatArray
    """Per protocol: CDP debt auctions left uncovered (and Clipper keeper rewards), cumulative,
    USD."""
    auction_debt: FloatArray
    """Per loan: debt (without penalty) of the open flip or clip auction, debt-asset units."""
    auction_bid: FloatArray
    """Per loan: the open flip auction's bid; what the clip auction has raised (debt-asset
    units)."""
    auction_tic: FloatArray
    """Per loan: when the flip auction's last bid expires (s; 0 while it has no bid); when
    the clip auction started or was last reset."""
    auction_end: FloatArray
    """Per loan: when the flip auction ends (s)."""
    auction_top: FloatArray
    """Per loan: the clip auction's starting price ``top`` (debt-asset units per collateral
    token)."""
    written_off: NDArray[np.bool_]
    """Per loan: an Aave-family loan with debt and no collateral left, which no
    ``liquidationCall`` can reach again (there is nothing to seize) and nothing in a round
    changes: its whole debt is bad debt for good."""
    written_off_debt: FloatArray
    """Per protocol x asset: debt (tokens) of the written-off loans."""
    comet_reserves: FloatArray
    """Per protocol: a Comet's reserves (``getReserves``, whole base tokens): lowered by what
    ``absorb`` writes off and credits, raised by what ``buyCollateral`` takes in; NaN where
    unknown (its absorbed collateral is then always for sale) or not a Comet."""

    def copy(self) -> LendingState:
        """A state with its own copies of every array (updated in place during a round)."""
        return LendingState(**{k: getattr(self, k).copy() for k in self.__dataclass_fields__})

    def open_auctions(self, book: LendingBook) -> IntArray:
        """Loans with an open auction (sorted), looked for among the CDP vaults only."""
        found = [
            np.flatnonzero(self.auction_tab[start:stop] > 0) + start
            for start, stop in book.cdp_loan_runs
        ]
        result: IntArray = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        return result

    @classmethod
    def initial(cls, book: LendingBook, n_assets: int) -> LendingState:
        n_protocols = len(book.protocol_ids)
        state = cls(
            collateral=book.collateral.copy(),
            debt=book.debt.copy(),
            auction_tab=np.zeros(book.n_loans),
            auction_collateral=np.zeros(book.n_loans),
            inventory=np.zeros((n_protocols, n_assets)),
            absorbed_usd=np.zeros(n_protocols),
            proceeds_usd=np.zeros(n_protocols),
            auction_bad_debt_usd=np.zeros(n_protocols),
            auction_debt=np.zeros(book.n_loans),
            auction_bid=np.zeros(book.n_loans),
            auction_tic=np.zeros(book.n_loans),
            auction_end=np.zeros(book.n_loans),
            auction_top=np.zeros(book.n_loans),
            written_off=np.zeros(book.n_loans, dtype=bool),
            written_off_debt=np.zeros((n_protocols, n_assets)),
            comet_reserves=book.reserves.copy(),
        )
        state.write_off(book, book.uncollateralised_aave_loans)
        return state

    def for_sale(self, book: LendingBook) -> NDArray[np.bool_]:
        """Per protocol: whether its absorbed collateral is for sale. Comet's
        ``buyCollateral`` reverts ``NotForSale`` while reserves are at or above
        ``targetReserves``; unknown reserves or targets leave it for sale."""
        result: NDArray[np.bool_] = ~(self.comet_reserves >= book.target_reserves)
        return result

    def inventory_for_sale(self, book: LendingBook) -> bool:
        """Whether any protocol holds absorbed collateral it may sell."""
        held = (self.inventory > 0).any(axis=1)
        return bool((held & self.for_sale(book)).any())

    def write_off(self, book: LendingBook, loans: IntArray) -> IntArray:
        """Write off those of the Aave-family ``loans`` (sorted, not written off yet) left with
        debt and no collateral; they are returned.

        Aave's ``liquidationCall`` seizes only reserves the borrower uses as collateral
        (``validateLiquidationCall``): with none left the loan is beyond reach, and nothing in
        the model repays or adds to it. Its debt is kept per market in the state, valued at
        each round's prices as bad debt, and the loan leaves the rounds' work."""
        loans = loans[~self.written_off[loans]]
        if len(loans) == 0:
            return loans
        group = LoanGroup.of(book, loans)
        pos, local = group.pos, group.local
        left = np.bincount(local, self.collateral[pos] * book.used[pos], len(loans))
        owed = np.bincount(local, self.debt[pos], len(loans))
        gone = (left == 0.0) & (owed > 0.0)
        if not gone.any():
            return loans[:0]
        rows = np.flatnonzero(gone[local])
        n_protocols, n_assets = self.written_off_debt.shape
        market = book.loan_protocol[book.loan[pos[rows]]] * n_assets + book.asset[pos[rows]]
        self.written_off_debt[...] += np.bincount(
            market, self.debt[pos[rows]], n_protocols * n_assets
        ).reshape(n_protocols, n_assets)
        emptied: IntArray = loans[gone]
        self.written_off[emptied] = True
        return emptied


@dataclass(frozen=True)
class Liquidations:
    """The liquidations of one round, one entry per liquidated loan and asset pair."""

    kind: IntArray
    loan: IntArray
    protocol: IntArray
    collateral_asset: IntArray
    debt_asset: IntArray
    collateral_seized: FloatArray
    debt_repaid: FloatArray
    protocol_fee: FloatArray
    collateral_usd: FloatArray
    debt_usd: FloatArray

    @classmethod
    def empty(cls) -> Liquidations:
        i, f = np.zeros(0, dtype=np.int64), np.zeros(0)
        return cls(i, i, i, i, i, f, f, f, f, f)

    @classmethod
    def concat(cls, parts: list[Liquidations]) -> Liquidations:
        fields = cls.__dataclass_fields__
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in fields})

    def __len__(self) -> int:
        return len(self.loan)


@dataclass(frozen=True)
class LendingRound:
    """What one round of liquidations did."""

    flow: FloatArray
    """Per asset, tokens: positive bought (debt repaid, DAI for tabs), negative sold."""
    liquidations: Liquidations
    health_factor: FloatArray
    """Per loan, before this round's liquidations (protocol oracle prices)."""
    bad_debt_usd: FloatArray
    """Per protocol, after the round: Aave-family shortfall + Comet loss + CDP bad debt."""
    bad_debt_by_asset: FloatArray
    """Per protocol x asset: the Aave-family shortfall allocated to debt assets (USD)."""
    skipped_unprofitable: int
    skipped_capacity: int
    store_sales: FloatArray | None = None
    """Per protocol x asset: absorbed collateral (tokens) Comets sold through
    ``buyCollateral`` this round, whether absorbed this round or before."""
