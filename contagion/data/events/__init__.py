"""Historical price and liquidity series shipped for the backtests (provenance in README.md)."""
