"""The embedded default world: a DeFi snapshot of Ethereum on 2023-10-31, built offline.

Real parameters come from the files shipped in ``contagion/data`` (Aave v3 reserves and
oracles, Compound III markets, Chainlink feed settings, a Deribit option chain); everything
that cannot be read from them (positions, pool balances, perpetual books, a modelled
algorithmic stablecoin) is generated deterministically from one seed and marked
``sample-world:synthetic`` in its ``source`` column. ``docs/sample-world.md`` lists every
number with its source or stated assumption.

Modules: :mod:`.reference` (parsing the shipped files), :mod:`.catalog` (tokens, prices,
protocols, wrappers), :mod:`.supply` (circulating supply, external depth), :mod:`.oracles`,
:mod:`.markets`, :mod:`.profiles` and :mod:`.positions` (lending), :mod:`.pools` with
:mod:`.stableswap`, :mod:`.derivatives`, :mod:`.stablecoins`, :mod:`.common`.
"""

from __future__ import annotations

import numpy as np

from contagion.dataset import Dataset
from indexers.sample_world.catalog import (
    assets_table,
    build_catalog,
    chains_table,
    protocols_table,
    wrappers_table,
)
from indexers.sample_world.derivatives import options_table, perps_table
from indexers.sample_world.markets import build_markets, markets_table
from indexers.sample_world.oracles import build_oracles, feeds_table, usage_table
from indexers.sample_world.pools import build_pools, pools_table, ticks_table
from indexers.sample_world.positions import generate_positions
from indexers.sample_world.profiles import default_profiles
from indexers.sample_world.reference import load_reference
from indexers.sample_world.stablecoins import stablecoins_table

__all__ = ["build_sample_world"]


def build_sample_world(positions: int = 50_000, seed: int = 7) -> Dataset:
    """Build the embedded default world as a validated :class:`~contagion.Dataset`.

    Parameters
    ----------
    positions
        About how many ``lending_positions`` rows to generate (within a few percent for a
        few thousand and more; each of the 17 account profiles gets at least one account).
        Protocol totals in USD do not depend on it: more positions means smaller accounts.
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives identical tables.

    Returns
    -------
    Dataset
        All 14 tables, validated against the data contract.

    Raises
    ------
    ValueError
        If ``positions`` is negative.

    Examples
    --------
    >>> world = build_sample_world(positions=2_000, seed=1)
    >>> sorted(world.table("protocols").column("protocol_id").to_pylist())[:3]
    ['aave-v3-ethereum', 'cex-perps', 'chainlink']
    """
    if positions < 0:
        raise ValueError(f"positions must be >= 0, got {positions}")
    # Independent streams, so the number of positions does not change pools or perpetuals.
    rng_positions, rng_pools, rng_perps = np.random.default_rng(seed).spawn(3)

    ref = load_reference()
    catalog = build_catalog(ref)
    oracles = build_oracles(ref, catalog)
    markets = build_markets(ref)
    book = generate_positions(
        positions, rng_positions, catalog, markets, oracles, default_profiles(markets, catalog)
    )
    pools = build_pools(catalog, rng_pools)
    a_tokens = {k: w.underlying for k, w in catalog.wrappers.items() if w.kind == "receipt"}
    return Dataset(
        {
            "chains": chains_table(),
            "protocols": protocols_table(ref, catalog),
            "assets": assets_table(
                catalog, {k: book.aave_supplied_raw[u] for k, u in a_tokens.items()}
            ),
            "oracle_feeds": feeds_table(oracles, catalog),
            "oracle_usage": usage_table(oracles, catalog),
            "lending_markets": markets_table(markets, catalog),
            "lending_positions": book.table,
            "pools": pools_table(pools, catalog),
            "pool_ticks": ticks_table(pools, catalog),
            "option_series": options_table(ref, catalog),
            "perp_markets": perps_table(catalog, rng_perps),
            "stablecoins": stablecoins_table(catalog, book.cdp_debt),
            "wrappers": wrappers_table(catalog),
        }
    )
