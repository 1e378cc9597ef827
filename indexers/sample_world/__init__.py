"""The embedded default world: a DeFi snapshot of Ethereum on 2023-10-31, built offline.

Real parameters come from the files shipped in ``contagion/data`` (Aave v3 reserves and
oracles, Compound III markets, Chainlink feed settings, a Deribit option chain); everything
that cannot be read from them (positions, pool balances, perpetual books, a modelled
algorithmic stablecoin) is generated deterministically from one seed and marked
``sample-world:synthetic`` in its ``source`` column. ``docs/sample-world.md`` lists every
number with its source or stated assumption.

For the solver's benchmark the world can be made larger without changing its real part:
synthetic long-tail tokens with their listings, feeds, positions and pools
(:mod:`.longtail`, :mod:`.longtail_pools`) and more option series on the same smile
(:mod:`.smile`).

Modules: :mod:`.reference` (parsing the shipped files), :mod:`.catalog` (tokens, prices,
protocols, wrappers), :mod:`.supply` (circulating supply, external depth), :mod:`.oracles`,
:mod:`.markets`, :mod:`.profiles` and :mod:`.positions` (lending), :mod:`.pools` with
:mod:`.stableswap`, :mod:`.derivatives`, :mod:`.stablecoins`, :mod:`.common`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from contagion.dataset import Dataset
from indexers.sample_world.catalog import (
    assets_table,
    build_catalog,
    chains_table,
    protocols_table,
    wrappers_table,
)
from indexers.sample_world.derivatives import options_table, perps_table
from indexers.sample_world.longtail import (
    add_long_tail_feeds,
    draw_long_tail,
    long_tail_markets,
    long_tail_profiles,
)
from indexers.sample_world.longtail_pools import build_long_tail_pools
from indexers.sample_world.markets import build_markets, markets_table
from indexers.sample_world.oracles import build_oracles, feeds_table, usage_table
from indexers.sample_world.pools import build_pools, pools_table, ticks_table
from indexers.sample_world.positions import generate_positions
from indexers.sample_world.profiles import default_profiles
from indexers.sample_world.reference import load_reference
from indexers.sample_world.stablecoins import stablecoins_table

__all__ = ["build_sample_world"]


def build_sample_world(
    positions: int = 50_000,
    seed: int = 7,
    *,
    long_tail: int = 0,
    option_series: int | None = None,
) -> Dataset:
    """Build the embedded default world as a validated :class:`~contagion.Dataset`.

    Parameters
    ----------
    positions
        About how many ``lending_positions`` rows to generate (within a few percent for a
        few thousand and more; each account profile gets at least one account).
        Protocol totals in USD do not depend on it: more positions means smaller accounts.
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives identical tables.
    long_tail
        Synthetic long-tail tokens to add (0 by default), each with a Chainlink-style feed,
        an Aave listing (and, every second one, a Compound III USDC listing) copied from a
        comparable real reserve, isolation-mode borrowers and 18 pools against WETH and
        USDC. With ``long_tail=30`` the world has 64 assets and 546 pools.
    option_series
        Total number of option series (None: the 620 of the default world); more are
        placed on the same smile, half on BTC and half on ETH.

    Returns
    -------
    Dataset
        All 14 tables, validated against the data contract.

    Raises
    ------
    ValueError
        If ``positions`` or ``long_tail`` is negative, or ``option_series`` is below 620.

    Examples
    --------
    >>> world = build_sample_world(positions=2_000, seed=1)
    >>> sorted(world.table("protocols").column("protocol_id").to_pylist())[:3]
    ['aave-v3-ethereum', 'cex-perps', 'chainlink']
    >>> big = build_sample_world(positions=2_000, long_tail=3, option_series=700)
    >>> big.row_counts()["assets"], big.row_counts()["pools"], big.row_counts()["option_series"]
    (37, 60, 700)
    """
    if positions < 0:
        raise ValueError(f"positions must be >= 0, got {positions}")
    if long_tail < 0:
        raise ValueError(f"long_tail must be >= 0, got {long_tail}")
    # Independent streams, so the number of positions does not change pools or perpetuals,
    # and the benchmark's additions do not change the default world's draws.
    rng_positions, rng_pools, rng_perps, rng_tokens, rng_tail_pools = np.random.default_rng(
        seed
    ).spawn(5)

    ref = load_reference()
    tail = draw_long_tail(long_tail, ref, rng_tokens)
    catalog = build_catalog(ref, tail.assets)
    oracles = build_oracles(ref, catalog)
    add_long_tail_feeds(oracles, tail)
    real_markets = build_markets(ref)
    markets = {**real_markets, **long_tail_markets(tail, real_markets, ref)}
    profiles = long_tail_profiles(tail, markets, catalog, default_profiles(real_markets, catalog))
    book = generate_positions(positions, rng_positions, catalog, markets, oracles, profiles)
    pools = build_pools(catalog, rng_pools)
    pools_rows, ticks_rows = pools_table(pools, catalog), ticks_table(pools, catalog)
    if long_tail:
        extra = build_long_tail_pools(catalog, rng_tail_pools)
        pools_rows = pa.concat_tables([pools_rows, extra.pools])
        ticks_rows = pa.concat_tables([ticks_rows, extra.ticks])
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
            "pools": pools_rows,
            "pool_ticks": ticks_rows,
            "option_series": options_table(ref, catalog, option_series),
            "perp_markets": perps_table(catalog, rng_perps),
            "stablecoins": stablecoins_table(catalog, book.cdp_debt),
            "wrappers": wrappers_table(catalog),
        }
    )
