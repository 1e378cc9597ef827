"""Exact AMM pool math: constant product, concentrated liquidity and StableSwap."""

from contagion.amm.constant_product import (
    get_amount_in,
    get_amount_out,
    swap_out,
    trade_to_price,
)
from contagion.amm.stableswap import (
    StableswapArbitrage,
    get_d,
    get_y,
    stableswap_out,
    stableswap_price,
)

__all__ = [
    "StableswapArbitrage",
    "get_amount_in",
    "get_amount_out",
    "get_d",
    "get_y",
    "stableswap_out",
    "stableswap_price",
    "swap_out",
    "trade_to_price",
]
