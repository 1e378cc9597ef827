"""Oracle feeds: the feeds of a dataset (:mod:`contagion.oracles.feeds`) and the rules by
which their answers follow the market round by round (:mod:`contagion.oracles.rules`):
Chainlink deviation and heartbeat, Uniswap v3 TWAP, Maker's OSM, exchange rates, composite
feeds and fixed pegs, under a scenario's frozen, stale and manipulated overrides.
"""

from contagion.oracles.feeds import KIND, FeedBook, exchange_rates
from contagion.oracles.rules import (
    OVERRIDE_MODES,
    FeedOverrides,
    FeedState,
    market_values,
    next_publication_s,
    protocol_prices,
    update_feeds,
)

__all__ = [
    "KIND",
    "OVERRIDE_MODES",
    "FeedBook",
    "FeedOverrides",
    "FeedState",
    "exchange_rates",
    "market_values",
    "next_publication_s",
    "protocol_prices",
    "update_feeds",
]
