"""Derivative venues: Deribit BTC and ETH options and perpetual futures, on chain 0.

Options. The BTC chain is Deribit's real chain of 2020-05-14 (310 series), moved to the world
date without changing its shape:

* strikes and underlying (forward) prices are multiplied by ``k = BTC world price / snapshot
  BTC index`` (34,814.14 / 9,348.52, the chain's median index), so every series keeps its
  moneyness K/F and its IV;
* expiries keep their time to expiry: ``expiry' = 2023-10-31 + (expiry - snapshot time)``;
* ``mark_price`` (BTC per BTC of underlying, Deribit's inverse quote) becomes USD as
  ``mark_price * index * k`` with the row's own index, which is exact because option prices
  are homogeneous of degree one in (S, K, F);
* ``mark_iv`` (percent) becomes a fraction; open interest stays in BTC as read (96,276 BTC in
  total: 2020 sizes, not 2023 ones).

The ETH chain is generated from the same rows at the same moneyness, time and IV around the
ETH price; its open interest is the BTC series' USD notional times an assumed ETH/BTC
notional ratio of 0.4, in ETH. Instrument names are rebuilt from the shifted expiry and the
rounded strike; each row's ``source`` names the Deribit instrument it comes from.

With ``option_series`` set, further series on the same smile are added (:mod:`.smile`) until
the table has that many rows, half on each underlying, and every series' open interest is
scaled so each chain's total is unchanged.

Dealer positioning is the convention behind published gamma-exposure estimates: customers
buy puts and sell (overwrite) calls, so dealers are short puts (``dealer_sign = -1``) and
long calls (``+1``).

Perpetuals. Aggregate exchange open interest per side in buckets of liquidation price: entry
prices lognormal around the price (drift -5 %, sd 6 %, for the October 2023 rally), leverage
from a discrete distribution, ``liq = entry * (1 - 1/L + m)`` for longs and
``entry * (1 + 1/L - m)`` for shorts with maintenance margin m; positions already past
their liquidation price are dropped; both sides are scaled to the same assumed notional.

References
----------
Black, F. (1976). The pricing of commodity contracts (Black-76, Deribit's mark model).
SqueezeMetrics (2017). Gamma Exposure (GEX) white paper (dealer positioning convention).
"""

from __future__ import annotations

from datetime import UTC

import numpy as np
import pandas as pd
import pyarrow as pa

from contagion.schema import TABLES
from indexers.deribit import DEALER_SIGN
from indexers.sample_world.catalog import DERIBIT, PERPS, Catalog
from indexers.sample_world.common import (
    OFFCHAIN_CHAIN_ID,
    SNAPSHOT_TIME,
    SYNTHETIC,
    data_source,
)
from indexers.sample_world.reference import DERIBIT_FILE, Reference, deribit_snapshot_time
from indexers.sample_world.smile import extend_chain

__all__ = ["default_option_series", "options_table", "perps_table"]

_ETH_TO_BTC_OPTION_NOTIONAL = 0.4
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# Perpetuals: (market, underlying key, notional per side USD, maintenance margin, insurance
# fund USD). Notionals and funds are assumptions of the order of late-2023 aggregate
# exchange figures; the margins are tier-one rates of large USD-margined venues.
_PERP_MARKETS = (
    ("BTC-PERP", "BTC", 10e9, 0.004, 400e6),
    ("ETH-PERP", "ETH", 5e9, 0.005, 200e6),
)
_LEVERAGE = np.array([2, 3, 5, 10, 20, 50, 100], dtype=float)
_LEVERAGE_P = np.array([0.15, 0.15, 0.25, 0.25, 0.12, 0.05, 0.03])
_ENTRY_DRIFT, _ENTRY_SD = -0.05, 0.06
_PERP_DRAWS = 200_000
_BUCKET = 0.005  # bucket width, share of the price


def _instrument(prefix: str, expiry: pd.Series, strike: np.ndarray, kind: pd.Series) -> list[str]:
    date = [f"{d.day}{_MONTHS[d.month - 1]}{d.year % 100:02d}" for d in expiry]
    return [
        f"{prefix}-{d}-{k:.0f}-{'C' if t == 'call' else 'P'}"
        for d, k, t in zip(date, strike, kind, strict=True)
    ]


def default_option_series(ref: Reference) -> int:
    """Series in the default world: the real BTC chain and the ETH chain made from it."""
    return 2 * len(ref.deribit)


def options_table(ref: Reference, catalog: Catalog, total: int | None = None) -> pa.Table:
    """The ``option_series`` table: the real BTC chain moved to 2023-10-31 and an ETH chain,
    extended on their smile to ``total`` series when given.

    Raises
    ------
    ValueError
        If ``total`` is below the default number of series.
    """
    chain = ref.deribit
    default = default_option_series(ref)
    total = default if total is None else total
    if total < default:
        raise ValueError(f"option_series must be at least {default}, got {total}")
    extra = total - default
    snapshot = deribit_snapshot_time(chain)
    btc, eth = catalog["BTC"].price_usd, catalog["ETH"].price_usd
    expiry = pd.to_datetime(chain["expiration_timestamp"], unit="ms", utc=True)
    moved = (SNAPSHOT_TIME + (expiry - snapshot)).dt.round("s")
    # One scale per chain (the median index), so that a call and a put of the same strike
    # keep the same strike; each row's own index converts its BTC premium to USD.
    index = float(chain["index_price"].median())
    premium_usd = chain["mark_price"].to_numpy() * chain["index_price"].to_numpy()
    iv = chain["mark_iv"].to_numpy() / 100.0
    oi_btc = chain["open_interest"].to_numpy()

    parts = []
    for n_extra, (prefix, key, spot, oi) in zip(
        (extra - extra // 2, extra // 2),
        (
            ("BTC", "BTC", btc, oi_btc),
            ("ETH", "ETH", eth, oi_btc * btc * _ETH_TO_BTC_OPTION_NOTIONAL / eth),
        ),
        strict=True,
    ):
        scale = spot / index
        strike = chain["strike"].to_numpy() * scale
        n = len(chain)
        parts.append(
            pd.DataFrame(
                {
                    "chain_id": np.full(n, OFFCHAIN_CHAIN_ID, dtype=np.int64),
                    "series_id": _instrument(prefix, moved, strike, chain["option_type"]),
                    "protocol_id": DERIBIT,
                    "underlying_asset_id": catalog.id(key),
                    "expiry": moved.dt.tz_convert(UTC),
                    "strike": strike,
                    "option_type": chain["option_type"].to_numpy(),
                    "open_interest": oi,
                    "mark_iv": iv,
                    "mark_price": premium_usd * scale,
                    "underlying_price": chain["underlying_price"].to_numpy() * scale,
                    "dealer_sign": chain["option_type"].map(DEALER_SIGN).to_numpy(dtype=np.int8),
                    "source": [
                        f"{data_source(DERIBIT_FILE)}#{name}"
                        if prefix == "BTC"
                        else f"{SYNTHETIC}#from:{name}"
                        for name in chain["instrument_name"]
                    ],
                    "block_number": pd.array([None] * n, dtype="Int64"),
                    "timestamp": SNAPSHOT_TIME,
                }
            )
        )
        if n_extra:
            parts[-1] = _extended(parts[-1], n_extra, prefix)
    frame = pd.concat(parts, ignore_index=True)
    return pa.Table.from_pandas(frame, schema=TABLES["option_series"].schema, preserve_index=False)


def _extended(real: pd.DataFrame, n_extra: int, prefix: str) -> pd.DataFrame:
    """``real`` plus ``n_extra`` series on its smile, open interest scaled to its total."""

    def namer(expiry: pd.Series, strike: np.ndarray, kind: pd.Series) -> list[str]:
        return _instrument(prefix, expiry, strike, kind)

    new = extend_chain(real, n_extra, set(real["series_id"]), namer)
    n = len(new)
    new = new.assign(
        chain_id=np.full(n, OFFCHAIN_CHAIN_ID, dtype=np.int64),
        protocol_id=DERIBIT,
        underlying_asset_id=real["underlying_asset_id"].iloc[0],
        dealer_sign=new["option_type"].map(DEALER_SIGN).to_numpy(dtype=np.int8),
        source=f"{SYNTHETIC}#smile:{prefix}",
        block_number=pd.array([None] * n, dtype="Int64"),
        timestamp=SNAPSHOT_TIME,
    )
    both = pd.concat([real, new[real.columns]], ignore_index=True)
    both["open_interest"] *= real["open_interest"].sum() / both["open_interest"].sum()
    return both


def perps_table(catalog: Catalog, rng: np.random.Generator) -> pa.Table:
    """The ``perp_markets`` table: open interest by side and liquidation-price bucket."""
    columns: dict[str, list[object]] = {c: [] for c in TABLES["perp_markets"].column_names}
    for market, key, notional, margin, fund in _PERP_MARKETS:
        spot = catalog[key].price_usd
        for side, sign in (("long", -1.0), ("short", 1.0)):
            entry = spot * np.exp(_ENTRY_DRIFT + _ENTRY_SD * rng.standard_normal(_PERP_DRAWS))
            leverage = rng.choice(_LEVERAGE, size=_PERP_DRAWS, p=_LEVERAGE_P)
            size = np.exp(rng.standard_normal(_PERP_DRAWS))  # units of underlying, relative
            liq = entry * (1.0 + sign * (1.0 / leverage - margin))
            alive = (liq < spot) if side == "long" else (liq > spot)
            # Bucket edges on the far side from the price: a bucket's liquidation price is
            # never the price itself, so nothing starts at its liquidation point.
            steps = liq[alive] / (spot * _BUCKET)
            bucket = (np.floor(steps) if side == "long" else np.ceil(steps)).astype(np.int64)
            oi = np.bincount(bucket, weights=size[alive])
            filled = np.flatnonzero(oi)
            filled = filled[filled > 0]  # a liquidation price must be positive
            oi_units = oi[filled] * (notional / spot) / oi[filled].sum()
            for b, units in zip(filled.tolist(), oi_units.tolist(), strict=True):
                columns["chain_id"].append(OFFCHAIN_CHAIN_ID)
                columns["protocol_id"].append(PERPS)
                columns["market"].append(market)
                columns["underlying_asset_id"].append(catalog.id(key))
                columns["side"].append(side)
                columns["liquidation_price"].append(b * spot * _BUCKET)
                columns["open_interest"].append(units)
                columns["maintenance_margin"].append(margin)
                columns["insurance_fund_usd"].append(fund)
                columns["source"].append(SYNTHETIC)
                columns["block_number"].append(None)
                columns["timestamp"].append(SNAPSHOT_TIME)
    return pa.table(columns, schema=TABLES["perp_markets"].schema)
