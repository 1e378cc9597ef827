"""AMM pools of the world, each priced exactly at the world's prices.

* Uniswap v3 USDC/WETH 0.05 % (0x88e6...5640, tick spacing 10): token0 is USDC, token1 WETH
  (0xa0b8... < 0xc02a...). ``sqrtPriceX96`` is the exact integer
  ``isqrt(P * 2**192)`` of the price P in WETH base units per USDC base unit, P =
  (USDC price / ETH price) * 10**12; the current tick is the greatest tick whose sqrt ratio
  does not exceed it. Liquidity comes from synthetic LP positions (ranges around the price,
  a few full-range ones): each adds L at its lower tick and removes it at its upper tick, so
  every tick's ``liquidityNet`` is exact and they sum to zero, and the active liquidity is
  the sum of ``liquidityNet`` up to the current tick. Reserves are what those positions hold
  at the current price (whitepaper eq. 6.29-6.30).
* Uniswap v2 DAI/WETH (0xa478...eb11): reserves in the ratio of the two prices.
* Curve stETH/ETH (0xdc24...7022, A = 30, fee 4 bps): balances solved so that the pool's
  marginal price of stETH is the world's stETH/ETH price, 0.9995 (slightly more stETH than
  ETH in the pool).
* Curve 3pool DAI/USDC/USDT (0xbebc...1c7, A = 2000, fee 1 bp): balances solved so the
  pool's relative prices are the Chainlink answers.
* Modelled UST (synthetic): a StableSwap of mUST with the 3pool coins (a flat stand-in for
  Curve's UST metapool; the contract has no per-coin rates for metapools), and a
  constant-product mLUNA/USDC pool.

Sizes are assumptions stated in ``docs/sample-world.md``.

References
----------
Adams, H. et al. (2021). Uniswap v3 Core (whitepaper), sections 6.1-6.3.
Adams, H., Zinsmeister, N. & Robinson, D. (2020). Uniswap v2 Core.
Egorov, M. (2019). StableSwap - efficient mechanism for Stablecoin liquidity.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pyarrow as pa

from indexers.sample_world.catalog import CURVE, UNISWAP_V2, UNISWAP_V3, Catalog
from indexers.sample_world.common import (
    CHAIN_ID,
    SYNTHETIC,
    exact_raw,
    onchain_row,
    rows_table,
    synthetic_address,
)
from indexers.sample_world.stableswap import balances_for_prices

__all__ = [
    "Pool",
    "PoolSet",
    "build_pools",
    "pool_fields",
    "pools_table",
    "tick_fields",
    "ticks_table",
]

_V3_POOL = "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"
_V3_FEE = 0.0005
_V3_TICK_SPACING = 10
_V3_TVL_USD = 200e6
_V3_POSITIONS = 400
_V3_FULL_RANGE_SHARE = 0.03
_V3_CENTER_SD = math.log(1.04) / math.log(1.0001)  # ranges centred within ~4 % of the price
_V3_HALF_WIDTH = math.log(1.025) / math.log(1.0001)  # median range +-2.5 %
_MAX_USABLE_TICK = 887_270  # TickMath.MAX_TICK rounded down to the spacing of 10

_V2_DAI_WETH = "0xa478c2975ab1ea89e8196811f51a7b7ade33eb11"
_V2_DAI_RESERVE = Fraction(5_000_000)

_CURVE_STETH = "0xdc24316b9ae028f1497c275eb9192a3ea0f67022"
_CURVE_STETH_A = 30.0
_CURVE_STETH_FEE = 0.0004
_CURVE_STETH_D = 110_000.0
_CURVE_3POOL = "0xbebc44782c7db0a1a60cb6fe97d0b483032ff1c7"
_CURVE_3POOL_A = 2000.0
_CURVE_3POOL_FEE = 0.0001
_CURVE_3POOL_D = 180e6
_UST_POOL_A = 500.0
_UST_POOL_FEE = 0.0004
_UST_POOL_D = 150e6
_LUNA_POOL_USDC = Fraction(40_000_000)
_V2_FEE = 0.003


@dataclass(frozen=True)
class Pool:
    """One pool row (amounts as exact base-unit integers)."""

    address: str
    protocol_id: str
    kind: str
    tokens: tuple[str, ...]
    reserves_raw: tuple[int, ...]
    fee: float
    amplification: float | None = None
    sqrt_price_x96: int | None = None
    tick: int | None = None
    tick_spacing: int | None = None
    liquidity: int | None = None


@dataclass
class PoolSet:
    """The world's pools and the initialized ticks of its concentrated pool."""

    pools: list[Pool] = field(default_factory=list)
    ticks: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Uniswap v3 ticks: tick -> (liquidityNet, liquidityGross)."""


def _tick_at(sqrt_price_x96: int) -> int:
    """Greatest tick t with sqrt(1.0001**t) * 2**96 <= sqrtPriceX96 (50-digit decimals)."""
    with localcontext() as ctx:
        ctx.prec = 60
        ratio = (Decimal(sqrt_price_x96) / Decimal(2**96)) ** 2
        tick = math.floor(math.log(float(ratio)) / math.log(1.0001))
        base = Decimal("1.0001")
        while base ** (tick + 1) <= ratio:
            tick += 1
        while base**tick > ratio:
            tick -= 1
    return tick


def _uniswap_v3(catalog: Catalog, rng: np.random.Generator, out: PoolSet) -> None:
    usdc, weth = catalog["USDC"], catalog["WETH"]
    # Price in base units: WETH wei per USDC unit.
    price = usdc.price / weth.price * Fraction(10) ** (weth.decimals - usdc.decimals)
    sqrt_x96 = math.isqrt(price.numerator * 2**192 // price.denominator)
    tick = _tick_at(sqrt_x96)
    sqrt_p = sqrt_x96 / 2**96

    n = _V3_POSITIONS
    center = tick + _V3_CENTER_SD * rng.standard_normal(n)
    half = _V3_HALF_WIDTH * np.exp(1.2 * rng.standard_normal(n))
    lower = np.floor((center - half) / _V3_TICK_SPACING) * _V3_TICK_SPACING
    upper = np.ceil((center + half) / _V3_TICK_SPACING) * _V3_TICK_SPACING
    upper = np.maximum(upper, lower + _V3_TICK_SPACING)
    full = rng.random(n) < _V3_FULL_RANGE_SHARE
    lower = np.clip(np.where(full, -_MAX_USABLE_TICK, lower), -_MAX_USABLE_TICK, _MAX_USABLE_TICK)
    upper = np.clip(np.where(full, _MAX_USABLE_TICK, upper), -_MAX_USABLE_TICK, _MAX_USABLE_TICK)
    weight = np.exp(1.5 * rng.standard_normal(n))

    def holdings(liq: np.ndarray) -> tuple[float, float]:
        sa, sb = np.power(1.0001, lower / 2), np.power(1.0001, upper / 2)
        s = np.clip(sqrt_p, sa, sb)
        return float((liq * (1 / s - 1 / sb)).sum()), float((liq * (s - sa)).sum())

    unit0, unit1 = holdings(weight)
    unit_usd = unit0 / 10**usdc.decimals * usdc.price_usd + unit1 / 10**weth.decimals * (
        weth.price_usd
    )
    liquidity = [int(w) for w in weight * (_V3_TVL_USD / unit_usd)]
    amount0, amount1 = holdings(np.array(liquidity, dtype=float))

    net: dict[int, int] = defaultdict(int)
    gross: dict[int, int] = defaultdict(int)
    for lo, hi, liq in zip(
        lower.astype(int).tolist(), upper.astype(int).tolist(), liquidity, strict=True
    ):
        net[lo] += liq
        net[hi] -= liq
        gross[lo] += liq
        gross[hi] += liq
    out.ticks = {t: (net[t], gross[t]) for t in sorted(net)}
    active = sum(v for t, v in net.items() if t <= tick)
    out.pools.append(
        Pool(
            _V3_POOL,
            UNISWAP_V3,
            "concentrated-liquidity",
            ("USDC", "WETH"),
            (round(amount0), round(amount1)),
            _V3_FEE,
            sqrt_price_x96=sqrt_x96,
            tick=tick,
            tick_spacing=_V3_TICK_SPACING,
            liquidity=active,
        )
    )


def _raw(catalog: Catalog, key: str, amount: Fraction | float) -> int:
    return int(exact_raw(Fraction(amount), catalog[key].decimals))


def _constant_product(
    catalog: Catalog, address: str, tokens: tuple[str, str], value_key: str, value: Fraction
) -> Pool:
    """A constant-product pool holding ``value`` of ``value_key`` and the same USD value of
    the other token, so its price is the ratio of the world's prices."""
    other = tokens[1] if tokens[0] == value_key else tokens[0]
    amounts = {value_key: value, other: value * catalog[value_key].price / catalog[other].price}
    ordered = tuple(sorted(tokens, key=lambda k: catalog[k].address))
    return Pool(
        address,
        UNISWAP_V2,
        "constant-product",
        ordered,
        tuple(_raw(catalog, k, amounts[k]) for k in ordered),
        _V2_FEE,
    )


def _stableswap(
    catalog: Catalog,
    address: str,
    tokens: Sequence[str],
    amp: float,
    fee: float,
    d: float,
    balances: Sequence[float] | None = None,
) -> Pool:
    if balances is None:
        p0 = catalog[tokens[0]].price
        prices = [float(catalog[k].price / p0) for k in tokens]
        balances = list(balances_for_prices(prices, amp, d))
    return Pool(
        address,
        CURVE,
        "stableswap",
        tuple(tokens),
        tuple(_raw(catalog, k, b) for k, b in zip(tokens, balances, strict=True)),
        fee,
        amplification=amp,
    )


def build_pools(catalog: Catalog, rng: np.random.Generator) -> PoolSet:
    """Every pool of the world (``rng`` draws the Uniswap v3 LP positions)."""
    out = PoolSet()
    _uniswap_v3(catalog, rng, out)
    out.pools.append(
        _constant_product(catalog, _V2_DAI_WETH, ("DAI", "WETH"), "DAI", _V2_DAI_RESERVE)
    )
    # stETH is quoted against ETH, so the wanted price of coin 1 is the stETH/ETH ratio.
    steth_eth = float(catalog["stETH"].price / catalog["ETH"].price)
    eth, steth = balances_for_prices([1.0, steth_eth], _CURVE_STETH_A, _CURVE_STETH_D)
    out.pools.append(
        _stableswap(
            catalog,
            _CURVE_STETH,
            ("ETH", "stETH"),
            _CURVE_STETH_A,
            _CURVE_STETH_FEE,
            _CURVE_STETH_D,
            [eth, steth],
        )
    )
    out.pools.append(
        _stableswap(
            catalog,
            _CURVE_3POOL,
            ("DAI", "USDC", "USDT"),
            _CURVE_3POOL_A,
            _CURVE_3POOL_FEE,
            _CURVE_3POOL_D,
        )
    )
    out.pools.append(
        _stableswap(
            catalog,
            synthetic_address("sample-world:mUST-stableswap"),
            ("mUST", "DAI", "USDC", "USDT"),
            _UST_POOL_A,
            _UST_POOL_FEE,
            _UST_POOL_D,
        )
    )
    out.pools.append(
        _constant_product(
            catalog,
            synthetic_address("sample-world:mLUNA-USDC-pair"),
            ("mLUNA", "USDC"),
            "USDC",
            _LUNA_POOL_USDC,
        )
    )
    return out


def pool_fields(
    p: Pool, token_ids: Sequence[str], decimals: Sequence[int], chain_id: int = CHAIN_ID
) -> dict[str, object]:
    """The ``pools`` columns of ``p`` (without provenance), shared with the on-chain indexers.

    Concentrated pools: ``sqrt_price`` is sqrt(token1 per token0) in whole tokens, i.e.
    ``sqrtPriceX96 / 2**96 * 10**((d0 - d1) / 2)``, and ``liquidity`` is L in whole-token
    units, ``L / 10**((d0 + d1) / 2)``.
    """
    fields: dict[str, object] = {
        "pool_id": f"{chain_id}:{p.address}",
        "protocol_id": p.protocol_id,
        "address": p.address,
        "kind": p.kind,
        "token_asset_ids": list(token_ids),
        "reserves_raw": [str(r) for r in p.reserves_raw],
        "reserves": [r / 10**d for r, d in zip(p.reserves_raw, decimals, strict=True)],
        "fee": p.fee,
        "amplification": p.amplification,
        "sqrt_price_x96_raw": None,
        "sqrt_price": None,
        "tick": None,
        "tick_spacing": None,
        "liquidity_raw": None,
        "liquidity": None,
    }
    if p.sqrt_price_x96 is not None and p.liquidity is not None:
        shift = (decimals[0] - decimals[1]) / 2  # whole-token sqrt = raw sqrt * 10**shift
        fields.update(
            sqrt_price_x96_raw=str(p.sqrt_price_x96),
            sqrt_price=p.sqrt_price_x96 / 2**96 * 10**shift,
            tick=p.tick,
            tick_spacing=p.tick_spacing,
            liquidity_raw=str(p.liquidity),
            liquidity=p.liquidity / 10 ** (sum(decimals) / 2),
        )
    return fields


def tick_fields(pool_id: str, tick: int, net: int, gross: int, unit: float) -> dict[str, object]:
    """The ``pool_ticks`` columns of one tick; ``unit`` is ``10**((d0 + d1) / 2)``."""
    return {
        "pool_id": pool_id,
        "tick": tick,
        "liquidity_net_raw": str(net),
        "liquidity_net": net / unit,
        "liquidity_gross_raw": str(gross),
        "liquidity_gross": gross / unit,
    }


def pools_table(pools: PoolSet, catalog: Catalog) -> pa.Table:
    """The ``pools`` table."""
    rows = []
    for p in pools.pools:
        decimals = [catalog[k].decimals for k in p.tokens]
        ids = [catalog.id(k) for k in p.tokens]
        rows.append(onchain_row(SYNTHETIC, **pool_fields(p, ids, decimals)))
    return rows_table("pools", rows)


def ticks_table(pools: PoolSet, catalog: Catalog) -> pa.Table:
    """The ``pool_ticks`` table of the concentrated pool (liquidity in whole-token units)."""
    concentrated = next(p for p in pools.pools if p.kind == "concentrated-liquidity")
    unit = 10 ** (sum(catalog[k].decimals for k in concentrated.tokens) / 2)
    return rows_table(
        "pool_ticks",
        [
            onchain_row(
                SYNTHETIC,
                **tick_fields(f"1:{concentrated.address}", t, net, gross, unit),
            )
            for t, (net, gross) in pools.ticks.items()
        ],
    )
