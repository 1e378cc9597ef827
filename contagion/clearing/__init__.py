"""Market clearing: the prices at which AMM pools, external markets and peg stability modules
together absorb a round's net flow (step 5 of the propagation model).

:func:`clear` solves one round; :class:`Venues` describes the venues (read from a dataset
with :meth:`Venues.from_dataset`) and :class:`MarketState` their state between rounds.
"""

from contagion.clearing.external import (
    IMPACT_AT_DEPTH,
    impact,
    impact_for_units,
    sold_for_impact,
    units_to_impact,
)
from contagion.clearing.pools import (
    ConcentratedPools,
    ConstantProductPools,
    PegStabilityModules,
    StableswapPools,
)
from contagion.clearing.solver import Clearing, QuietClearing, clear
from contagion.clearing.venues import MarketState, Venues

__all__ = [
    "IMPACT_AT_DEPTH",
    "Clearing",
    "ConcentratedPools",
    "ConstantProductPools",
    "MarketState",
    "PegStabilityModules",
    "QuietClearing",
    "StableswapPools",
    "Venues",
    "clear",
    "impact",
    "impact_for_units",
    "sold_for_impact",
    "units_to_impact",
]
