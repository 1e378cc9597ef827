"""Stablecoins and what backs them: DAI (PSM and vaults), USDC, USDT and the modelled UST.

Supplies are the coins' circulating supplies in :mod:`.supply` (the ``assets`` table's
``total_supply``), so both tables agree.

* DAI: supply 5.35 B (about its market capitalisation at the end of October 2023). 30 % is
  backed by USDC through the PSM (assumed share; the PSM held roughly a third of DAI's
  backing in late 2023, the rest being vaults and real-world assets, which the world does not
  model), swaps free in both directions (PSM-USDC-A ``tin`` = ``tout`` = 0 in 2023) and
  limited only by what the PSM holds. The vault rows' shares are the DAI actually owed in
  the world's ETH-A and WSTETH-A vaults divided by the supply, so the table and the
  positions agree.
* USDC (24.4 B) and USDT (84.5 B), supplies approximating end-October 2023 market
  capitalisations, fully backed by off-chain dollars (``0:usd``); Tether charges 0.1 % on
  redemptions, Circle nothing.
* mUST, a synthetic algorithmic coin modelled on Terra's UST, redeemable into its
  governance token mLUNA through a market module: Terra's 2022 supply of UST (18.7 B) scaled
  by 1/10, its minimum Luna swap spread of 0.5 % as the redemption fee, and a daily
  redemption capacity of 1.5 % of supply, the order of magnitude of Terra's market-module
  capacity before May 2022 (a few hundred million USD per day); ``backing_share`` 1.0
  because every coin is redeemable for governance tokens worth one dollar, whatever their
  market depth.
"""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa

from indexers.sample_world.catalog import CIRCLE, MAKER, PSM, TERRA, TETHER, Catalog
from indexers.sample_world.common import PUBLISHED, SYNTHETIC, onchain_row, rows_table

__all__ = ["stablecoins_table"]

_DAI_PSM_SHARE = 0.30
_USDT_REDEMPTION_FEE = 0.001
_MUST_SPREAD = 0.005
_MUST_DAILY_CAPACITY = 0.015


class _Backing(NamedTuple):
    asset: str
    protocol: str
    mechanism: str
    supply: float
    backing: str
    share: float
    limit: float | None
    fee: float
    source: str


def stablecoins_table(catalog: Catalog, cdp_debt: dict[str, float]) -> pa.Table:
    """The ``stablecoins`` table; ``cdp_debt`` is the DAI owed per vault collateral."""

    def supply(key: str) -> float:
        value = catalog[key].supply
        if value is None:
            raise ValueError(f"stablecoin {key} has no supply in the catalog")
        return float(value)

    dai, must = supply("DAI"), supply("mUST")
    rows = [
        _Backing("DAI", PSM, "psm", dai, "USDC", _DAI_PSM_SHARE, None, 0.0, PUBLISHED),
        *(
            _Backing("DAI", MAKER, "cdp", dai, key, owed / dai, None, 0.0, SYNTHETIC)
            for key, owed in sorted(cdp_debt.items())
        ),
        _Backing("USDC", CIRCLE, "fiat", supply("USDC"), "USD", 1.0, None, 0.0, PUBLISHED),
        _Backing(
            "USDT",
            TETHER,
            "fiat",
            supply("USDT"),
            "USD",
            1.0,
            None,
            _USDT_REDEMPTION_FEE,
            PUBLISHED,
        ),
        _Backing(
            "mUST",
            TERRA,
            "algorithmic",
            must,
            "mLUNA",
            1.0,
            _MUST_DAILY_CAPACITY * must,
            _MUST_SPREAD,
            SYNTHETIC,
        ),
    ]
    return rows_table(
        "stablecoins",
        [
            onchain_row(
                r.source,
                asset_id=catalog.id(r.asset),
                protocol_id=r.protocol,
                mechanism=r.mechanism,
                peg_usd=1.0,
                supply=r.supply,
                backing_asset_id=catalog.id(r.backing),
                backing_share=r.share,
                redemption_limit_usd=r.limit,
                redemption_fee=r.fee,
            )
            for r in rows
        ],
    )
