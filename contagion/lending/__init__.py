"""Liquidation rules of lending protocol families, exact to each protocol's contracts."""

from contagion.lending.aave import (
    CLOSE_FACTOR_HF_THRESHOLD,
    DEFAULT_CLOSE_FACTOR,
    MAX_CLOSE_FACTOR,
    AaveLiquidation,
    aave_close_factor,
    aave_health_factor,
    aave_liquidation,
)
from contagion.lending.cdp import (
    CdpLiquidation,
    FlipBids,
    FlipRules,
    cdp_is_unsafe,
    cdp_liquidation,
    flip_bids,
    flip_deficit,
)
from contagion.lending.compound import (
    CometAbsorb,
    comet_absorb,
    comet_is_liquidatable,
    comet_store_front_price,
)

__all__ = [
    "CLOSE_FACTOR_HF_THRESHOLD",
    "DEFAULT_CLOSE_FACTOR",
    "MAX_CLOSE_FACTOR",
    "AaveLiquidation",
    "CdpLiquidation",
    "CometAbsorb",
    "FlipBids",
    "FlipRules",
    "aave_close_factor",
    "aave_health_factor",
    "aave_liquidation",
    "cdp_is_unsafe",
    "cdp_liquidation",
    "comet_absorb",
    "comet_is_liquidatable",
    "comet_store_front_price",
    "flip_bids",
    "flip_deficit",
]
