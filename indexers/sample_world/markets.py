"""Risk parameters of every lending market: Aave v3, SparkLend, Compound III and Maker vaults.

* Aave v3 Ethereum: all 25 reserves exactly as configured on 2023-10-31 (basis points / 1e4;
  ``liquidationBonus`` 10500 -> 1.05; debt ceiling in USD), e-mode category 1 "ETH
  correlated" (LTV 0.90, LT 0.93, bonus 1.01), close factor 0.5 and full liquidation below
  HF 0.95 (Aave v3 ``LiquidationLogic``: ``DEFAULT_LIQUIDATION_CLOSE_FACTOR`` and
  ``CLOSE_FACTOR_HF_THRESHOLD``). A reserve that is no collateral (bonus 0 in the file) gets
  a null bonus rather than a meaningless 0x multiplier.
* SparkLend (modelled): an Aave v3 fork; its DAI, sDAI, WETH, wstETH and WBTC reserves take
  Aave's parameters for the same token, and the synthetic aEthWETH / aEthUSDC listings take
  the parameters of their underlying. Caps are not modelled (null).
* Compound III USDC and WETH: a ``base`` row and one ``collateral`` row per collateral with
  the deployment file's borrowCF, liquidateCF, liquidationFactor and storeFrontPriceFactor;
  ``debt_asset_id`` is the base on every row. A deployment supply cap of 0 means "not yet
  enabled" in the file and was raised by governance later, so it is null (unknown) here.
* Maker: ETH-A (WETH) with liquidation ratio 1.45 and penalty 0.13, and WSTETH-A (wstETH)
  with 1.50 and 0.13 (ratio lowered from 1.60 by the executive spell of July 2023; penalty
  1300 bps since onboarding in 2021); debt in DAI. One ilk per collateral token, as the
  contract keys markets by (protocol, asset).

References
----------
Aave (2022). Aave v3 technical paper, sections on e-mode, isolation mode and liquidations.
Compound Labs. Compound III documentation, "Liquidation".
MakerDAO. Executive spells (WSTETH-A onboarding 2021; "Stability Scope Parameter Changes #3",
forum thread 21238, 2023).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pyarrow as pa

from indexers.sample_world.catalog import (
    AAVE,
    COMET_USDC,
    COMET_WETH,
    MAKER,
    SPARK,
    Catalog,
)
from indexers.sample_world.common import (
    PUBLISHED,
    SYNTHETIC,
    data_source,
    onchain_row,
    rows_table,
)
from indexers.sample_world.reference import (
    AAVE_FILE,
    COMET_FILES,
    CometMarket,
    Reference,
    scaled_amount,
)

__all__ = ["Market", "build_markets", "markets_table"]

_CLOSE_FACTOR = 0.5
_CLOSE_FACTOR_FULL_HF = 0.95
# (key, liquidation ratio, liquidation penalty) of the Maker ilks in the world.
_MAKER_ILKS = (("WETH", 1.45, 0.13), ("wstETH", 1.50, 0.13))
_SPARK_RESERVES = {
    "DAI": "DAI",
    "sDAI": "sDAI",
    "WETH": "WETH",
    "wstETH": "wstETH",
    "WBTC": "WBTC",
    "aEthWETH": "WETH",
    "aEthUSDC": "USDC",
}


@dataclass(frozen=True)
class Market:
    """One (protocol, asset) lending market; fields that do not apply are None."""

    protocol_id: str
    family: str
    key: str
    role: str
    source: str
    usage_as_collateral: bool
    borrowing_enabled: bool
    debt_key: str | None = None
    ltv: float | None = None
    liquidation_threshold: float | None = None
    liquidation_bonus: float | None = None
    liquidation_protocol_fee: float | None = None
    close_factor: float | None = None
    close_factor_full_hf: float | None = None
    emode_category: int | None = None
    emode_ltv: float | None = None
    emode_liquidation_threshold: float | None = None
    emode_liquidation_bonus: float | None = None
    supply_cap: float | None = None
    borrow_cap: float | None = None
    debt_ceiling: float | None = None
    borrow_cf: float | None = None
    liquidate_cf: float | None = None
    liquidation_factor: float | None = None
    store_front_price_factor: float | None = None
    target_reserves: str | None = None
    """Comet ``targetReserves`` in base units as the deployment file writes it (base row)."""
    liquidation_ratio: float | None = None
    liquidation_penalty: float | None = None
    borrowable_in_isolation: bool = False

    @property
    def isolated(self) -> bool:
        """Aave isolation-mode collateral (a debt ceiling)."""
        return bool(self.debt_ceiling)

    def health_weight(self, emode: int = 0) -> float:
        """What one unit of collateral value counts for in the protocol's health check.

        Aave: the liquidation threshold (the e-mode one when the account's category matches);
        Compound III: liquidateCF; CDP: 1 / liquidation ratio. 0 when it is no collateral.
        """
        if not self.usage_as_collateral:
            return 0.0
        if self.family == "aave-v3":
            if emode and emode == self.emode_category and self.emode_liquidation_threshold:
                return self.emode_liquidation_threshold
            return self.liquidation_threshold or 0.0
        if self.family == "compound-v3":
            return self.liquidate_cf or 0.0
        return 1.0 / self.liquidation_ratio if self.liquidation_ratio else 0.0


def _aave(ref: Reference) -> list[Market]:
    markets = []
    source = data_source(AAVE_FILE)
    for r in ref.aave.reserves:
        emode = ref.aave.emodes.get(r.emode_category)
        collateral = r.usage_as_collateral and r.liquidation_threshold > 0
        markets.append(
            Market(
                protocol_id=AAVE,
                family="aave-v3",
                key=r.symbol,
                role="reserve",
                source=source,
                usage_as_collateral=collateral,
                borrowing_enabled=r.borrowing_enabled,
                ltv=r.ltv,
                liquidation_threshold=r.liquidation_threshold,
                liquidation_bonus=r.liquidation_bonus if r.liquidation_bonus > 0 else None,
                liquidation_protocol_fee=r.liquidation_protocol_fee,
                close_factor=_CLOSE_FACTOR,
                close_factor_full_hf=_CLOSE_FACTOR_FULL_HF,
                emode_category=r.emode_category,
                emode_ltv=emode.ltv if emode else None,
                emode_liquidation_threshold=emode.liquidation_threshold if emode else None,
                emode_liquidation_bonus=emode.liquidation_bonus if emode else None,
                supply_cap=r.supply_cap,
                borrow_cap=r.borrow_cap,
                debt_ceiling=r.debt_ceiling_usd,
                borrowable_in_isolation=r.borrowable_in_isolation,
            )
        )
    return markets


def _spark(aave: dict[str, Market]) -> list[Market]:
    markets = []
    for key, like in _SPARK_RESERVES.items():
        template = aave[like]
        receipt = key != like
        markets.append(
            replace(
                template,
                protocol_id=SPARK,
                key=key,
                source=SYNTHETIC,
                # An aToken can be supplied but not borrowed, and sits outside e-mode.
                borrowing_enabled=template.borrowing_enabled and not receipt,
                emode_category=0 if receipt else template.emode_category,
                emode_ltv=None if receipt else template.emode_ltv,
                emode_liquidation_threshold=None
                if receipt
                else template.emode_liquidation_threshold,
                emode_liquidation_bonus=None if receipt else template.emode_liquidation_bonus,
                supply_cap=None,
                borrow_cap=None,
                debt_ceiling=None,
                borrowable_in_isolation=False,
            )
        )
    return markets


def _comet(protocol_id: str, market: CometMarket, file: str) -> list[Market]:
    source = data_source(file)
    base = market.base_symbol
    rows = [
        Market(
            protocol_id=protocol_id,
            family="compound-v3",
            key=base,
            role="base",
            source=source,
            usage_as_collateral=False,
            borrowing_enabled=True,
            debt_key=base,
            store_front_price_factor=market.store_front_price_factor,
            target_reserves=market.target_reserves,
        )
    ]
    for a in market.assets:
        rows.append(
            Market(
                protocol_id=protocol_id,
                family="compound-v3",
                key=a.symbol,
                role="collateral",
                source=source,
                usage_as_collateral=True,
                borrowing_enabled=False,
                debt_key=base,
                borrow_cf=a.borrow_cf,
                liquidate_cf=a.liquidate_cf,
                liquidation_factor=a.liquidation_factor,
                store_front_price_factor=market.store_front_price_factor,
                supply_cap=a.supply_cap if a.supply_cap > 0 else None,
            )
        )
    return rows


def _maker() -> list[Market]:
    return [
        Market(
            protocol_id=MAKER,
            family="cdp",
            key=key,
            role="collateral",
            source=PUBLISHED,
            usage_as_collateral=True,
            borrowing_enabled=False,
            debt_key="DAI",
            liquidation_ratio=ratio,
            liquidation_penalty=penalty,
        )
        for key, ratio, penalty in _MAKER_ILKS
    ]


def build_markets(ref: Reference) -> dict[tuple[str, str], Market]:
    """Every lending market of the world by (protocol_id, asset key)."""
    aave = _aave(ref)
    by_key = {m.key: m for m in aave}
    markets = [
        *aave,
        *_spark(by_key),
        *_comet(COMET_USDC, ref.comet["usdc"], COMET_FILES["usdc"]),
        *_comet(COMET_WETH, ref.comet["weth"], COMET_FILES["weth"]),
        *_maker(),
    ]
    return {(m.protocol_id, m.key): m for m in markets}


def markets_table(markets: dict[tuple[str, str], Market], catalog: Catalog) -> pa.Table:
    """The ``lending_markets`` table."""
    rows = []
    for m in markets.values():
        rows.append(
            onchain_row(
                m.source,
                market_id=f"{m.protocol_id}/{catalog[m.key].symbol}",
                protocol_id=m.protocol_id,
                family=m.family,
                asset_id=catalog.id(m.key),
                role=m.role,
                debt_asset_id=catalog.id(m.debt_key) if m.debt_key else None,
                usage_as_collateral=m.usage_as_collateral,
                borrowing_enabled=m.borrowing_enabled,
                ltv=m.ltv,
                liquidation_threshold=m.liquidation_threshold,
                liquidation_bonus=m.liquidation_bonus,
                liquidation_protocol_fee=m.liquidation_protocol_fee,
                close_factor=m.close_factor,
                close_factor_full_hf=m.close_factor_full_hf,
                emode_category=m.emode_category,
                emode_ltv=m.emode_ltv,
                emode_liquidation_threshold=m.emode_liquidation_threshold,
                emode_liquidation_bonus=m.emode_liquidation_bonus,
                supply_cap=m.supply_cap,
                borrow_cap=m.borrow_cap,
                debt_ceiling=m.debt_ceiling,
                borrow_cf=m.borrow_cf,
                liquidate_cf=m.liquidate_cf,
                liquidation_factor=m.liquidation_factor,
                store_front_price_factor=m.store_front_price_factor,
                target_reserves=(
                    None
                    if m.target_reserves is None
                    else scaled_amount(m.target_reserves, catalog[m.key].decimals)
                ),
                liquidation_ratio=m.liquidation_ratio,
                liquidation_penalty=m.liquidation_penalty,
            )
        )
    return rows_table("lending_markets", rows)
