"""Calibration of the world's lending positions: account profiles, their sizes and health.

A *profile* is a kind of account in one protocol (an ETH long on Aave, a wstETH loop in
e-mode, a Maker ETH-A vault, ...): which assets it supplies and borrows, how its health
factor is distributed, and the protocol-wide USD total it is scaled to. Every number here is
an assumption of the sample world, stated in ``docs/sample-world.md`` with what it rests on;
none is read from chain data.

Totals (USD at the world's prices) approximate the public magnitudes of 2023-10-31 (Aave and
DeFiLlama dashboards, makerburn.com): Aave v3 Ethereum about 6.5 B supplied and 2.5 B
borrowed, Compound III USDC about 0.5 B of collateral, Maker's ETH and wstETH vaults about
1 B of DAI. They are totals, so they do not change with the number of positions generated.

Health factors: ``HF - 1`` is lognormal, ``HF = 1 + m * exp(s * Z)``. With ``m = 0.9, s = 1``
(ordinary borrowers) the median HF is 1.9, 28 % of accounts are below 1.5 and 1.4 % between
1.0 and 1.1; e-mode loopers run tighter (``m = 0.1, s = 0.6``: median 1.10); Maker vaults
looser (``m = 0.7, s = 0.7``: median collateral ratio 1.7 times the liquidation ratio, about
250 %). This is the shape reported for Aave and Compound (most debt well collateralised, a
thin tail close to 1; Perez et al. 2021, Qin et al. 2021), not a fit to data. No account
starts liquidatable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from indexers.sample_world.catalog import (
    AAVE,
    COMET_USDC,
    COMET_WETH,
    MAKER,
    SPARK,
    Catalog,
)
from indexers.sample_world.markets import Market

__all__ = ["Profile", "default_profiles", "expected_rows"]

_BILLION = 1e9
_MILLION = 1e6

# Health-factor shapes (median of HF - 1, log-sd).
_HF_BORROWER = (0.9, 1.0)
_HF_LOOP = (0.10, 0.6)
_HF_VAULT = (0.7, 0.7)

# Isolation-mode collateral is scaled to the smaller of its debt ceiling and this share of
# its supply cap (in USD), so neither constraint binds at the snapshot.
_ISOLATED_CAP_SHARE = 0.45
# Small Aave reserves get supplier weight in proportion to their supply cap (in USD): this
# share of the cap on average.
_SMALL_RESERVE_CAP_SHARE = 0.2
_AAVE_SUPPLIED_BY_SUPPLIERS = 1.90 * _BILLION


@dataclass(frozen=True)
class Profile:
    """One kind of account in one lending protocol.

    Collateral is one draw from ``collateral`` (weights), plus up to two further assets from
    ``extras`` (weighted, without replacement) with probabilities ``p_extra`` =
    (P(at least one), P(two)); debt likewise from ``debt`` and ``debt_extras`` (at most one
    more, with probability ``p_debt_extra``). A profile without debt only supplies.
    """

    name: str
    protocol_id: str
    row_share: float
    collateral: Mapping[str, float]
    target_usd: float = 0.0
    target_on: str = "collateral"
    target_by_collateral: Mapping[str, float] | None = None
    extras: Mapping[str, float] = field(default_factory=dict)
    p_extra: tuple[float, float] = (0.0, 0.0)
    debt: Mapping[str, float] = field(default_factory=dict)
    debt_extras: Mapping[str, float] = field(default_factory=dict)
    p_debt_extra: float = 0.0
    emode: int = 0
    hf: tuple[float, float] = _HF_BORROWER
    size_sigma: float = 1.8
    share_accounts_with: str | None = None
    shared_fraction: float = 0.0

    @property
    def borrows(self) -> bool:
        """Whether accounts of this profile borrow."""
        return bool(self.debt)


def expected_rows(p: Profile) -> float:
    """Expected position rows per account of profile ``p``."""
    extras = (p.p_extra[0] + p.p_extra[1]) if p.extras else 0.0
    debt = (1.0 + (p.p_debt_extra if p.debt_extras else 0.0)) if p.borrows else 0.0
    return 1.0 + extras + debt


def _usd(market: Market, amount: float | None, catalog: Catalog) -> float:
    return (amount or 0.0) * catalog[market.key].price_usd


def default_profiles(
    markets: Mapping[tuple[str, str], Market], catalog: Catalog
) -> tuple[Profile, ...]:
    """The world's account profiles; row shares sum to 1."""
    aave = {k: m for (p, k), m in markets.items() if p == AAVE}
    small = (
        "LUSD",
        "FRAX",
        "MKR",
        "UNI",
        "CRV",
        "SNX",
        "ENS",
        "RPL",
        "BAL",
        "1INCH",
        "LDO",
        "STG",
        "KNC",
        "cbETH",
        "rETH",
    )
    suppliers = {
        "USDC": 0.34,
        "USDT": 0.17,
        "WETH": 0.18,
        "DAI": 0.085,
        "wstETH": 0.06,
        "WBTC": 0.05,
        "sDAI": 0.025,
        "LINK": 0.02,
        "AAVE": 0.02,
    }
    for key in small:
        cap_usd = _usd(aave[key], aave[key].supply_cap, catalog)
        suppliers[key] = _SMALL_RESERVE_CAP_SHARE * cap_usd / _AAVE_SUPPLIED_BY_SUPPLIERS
    isolated = {
        key: min(_ISOLATED_CAP_SHARE * _usd(m, m.supply_cap, catalog), m.debt_ceiling or 0.0)
        for key, m in aave.items()
        if m.isolated and m.usage_as_collateral
    }
    stables = {"USDC": 0.64, "USDT": 0.26, "DAI": 0.08, "GHO": 0.02}
    isolation_stables = {"USDC": 0.6, "USDT": 0.3, "DAI": 0.1}

    return (
        # Aave v3 Ethereum.
        Profile(
            "aave-suppliers",
            AAVE,
            0.20,
            suppliers,
            _AAVE_SUPPLIED_BY_SUPPLIERS,
            extras=suppliers,
            p_extra=(0.30, 0.08),
            size_sigma=2.0,
        ),
        Profile(
            "aave-eth-long",
            AAVE,
            0.16,
            {"WETH": 1.0},
            1.70 * _BILLION,
            extras={"WBTC": 0.35, "LINK": 0.25, "AAVE": 0.15, "wstETH": 0.25},
            p_extra=(0.30, 0.08),
            debt=stables,
            debt_extras=stables,
            p_debt_extra=0.25,
        ),
        Profile(
            "aave-lst-loop",
            AAVE,
            0.08,
            {"wstETH": 1.0},
            1.40 * _BILLION,
            extras={"cbETH": 0.4, "rETH": 0.6},
            p_extra=(0.25, 0.05),
            debt={"WETH": 1.0},
            emode=1,
            hf=_HF_LOOP,
        ),
        Profile(
            "aave-btc",
            AAVE,
            0.05,
            {"WBTC": 1.0},
            0.60 * _BILLION,
            extras={"WETH": 0.7, "LINK": 0.3},
            p_extra=(0.30, 0.05),
            debt=isolation_stables,
            debt_extras=isolation_stables,
            p_debt_extra=0.20,
        ),
        Profile(
            "aave-stable-short",
            AAVE,
            0.05,
            {"USDC": 0.6, "USDT": 0.2, "sDAI": 0.2},
            0.45 * _BILLION,
            extras={"DAI": 0.3, "USDC": 0.3, "USDT": 0.2, "sDAI": 0.2},
            p_extra=(0.30, 0.05),
            debt={"WETH": 0.8, "WBTC": 0.15, "LINK": 0.05},
            debt_extras={"WETH": 0.8, "WBTC": 0.15, "LINK": 0.05},
            p_debt_extra=0.15,
        ),
        Profile(
            "aave-isolated",
            AAVE,
            0.03,
            isolated,
            target_by_collateral=isolated,
            debt=isolation_stables,
            debt_extras=isolation_stables,
            p_debt_extra=0.15,
        ),
        # SparkLend (modelled; the aToken listings are synthetic).
        Profile(
            "spark-suppliers",
            SPARK,
            0.02,
            {"DAI": 0.6, "WETH": 0.15, "wstETH": 0.1, "sDAI": 0.1, "WBTC": 0.05},
            0.40 * _BILLION,
            extras={"DAI": 0.6, "WETH": 0.15, "wstETH": 0.1, "sDAI": 0.1, "WBTC": 0.05},
            p_extra=(0.20, 0.0),
            size_sigma=2.0,
        ),
        Profile(
            "spark-eth-dai",
            SPARK,
            0.03,
            {"wstETH": 0.55, "WETH": 0.45},
            0.30 * _BILLION,
            extras={"WETH": 0.3, "wstETH": 0.3, "WBTC": 0.2, "sDAI": 0.2},
            p_extra=(0.25, 0.05),
            debt={"DAI": 1.0},
        ),
        Profile(
            "spark-receipts",
            SPARK,
            0.015,
            {"aEthWETH": 0.75, "aEthUSDC": 0.25},
            0.12 * _BILLION,
            extras={"aEthWETH": 0.5, "aEthUSDC": 0.5},
            p_extra=(0.30, 0.0),
            debt={"DAI": 1.0},
        ),
        Profile(
            "spark-lst-loop",
            SPARK,
            0.015,
            {"wstETH": 1.0},
            0.15 * _BILLION,
            debt={"WETH": 1.0},
            emode=1,
            hf=_HF_LOOP,
            share_accounts_with="aave-lst-loop",
            shared_fraction=0.25,
        ),
        # Compound III USDC.
        Profile(
            "comet-usdc-suppliers", COMET_USDC, 0.05, {"USDC": 1.0}, 0.45 * _BILLION, size_sigma=2.0
        ),
        Profile(
            "comet-usdc-eth",
            COMET_USDC,
            0.07,
            {"WETH": 1.0},
            0.40 * _BILLION,
            extras={"WBTC": 0.4, "LINK": 0.3, "UNI": 0.15, "COMP": 0.15},
            p_extra=(0.25, 0.05),
            debt={"USDC": 1.0},
            share_accounts_with="aave-eth-long",
            shared_fraction=0.20,
        ),
        Profile(
            "comet-usdc-btc",
            COMET_USDC,
            0.02,
            {"WBTC": 1.0},
            0.12 * _BILLION,
            extras={"WETH": 1.0},
            p_extra=(0.20, 0.0),
            debt={"USDC": 1.0},
        ),
        # Compound III WETH (counts in ETH).
        Profile(
            "comet-weth-suppliers", COMET_WETH, 0.02, {"WETH": 1.0}, 0.12 * _BILLION, size_sigma=2.0
        ),
        Profile(
            "comet-weth-lst",
            COMET_WETH,
            0.03,
            {"wstETH": 0.9, "cbETH": 0.1},
            target_by_collateral={"wstETH": 95 * _MILLION, "cbETH": 9 * _MILLION},
            debt={"WETH": 1.0},
            hf=_HF_LOOP,
        ),
        # Maker vaults: one collateral per vault (urn); scaled by DAI debt.
        Profile(
            "maker-eth-a",
            MAKER,
            0.10,
            {"WETH": 1.0},
            0.45 * _BILLION,
            target_on="debt",
            debt={"DAI": 1.0},
            hf=_HF_VAULT,
        ),
        Profile(
            "maker-wsteth-a",
            MAKER,
            0.06,
            {"wstETH": 1.0},
            0.50 * _BILLION,
            target_on="debt",
            debt={"DAI": 1.0},
            hf=_HF_VAULT,
        ),
    )
