"""Synthetic long-tail tokens for the solver's benchmark (``build_sample_world(long_tail=N)``).

Each of the ``N`` tokens copies one real *template*: an Aave v3 Ethereum reserve of the same
kind (isolation-mode collateral, not a stablecoin, priced by a Chainlink USD aggregator:
1INCH, BAL, CRV, ENS, KNC, MKR, SNX, STG or UNI), drawn with equal probability. From its
template a token takes

* its size: market capitalisation = the template's x exp(0.5 Z), Z standard normal;
* its Aave listing: LTV, liquidation threshold, bonus, protocol fee and borrowability as
  they are; supply and borrow caps as the same share of the circulating supply as the
  template's caps; the debt ceiling scaled by the market-capitalisation ratio;
* its feed's heartbeat and deviation threshold (the template's Chainlink feed);
* its external depth rule (0.1 % of the market capitalisation, :mod:`.supply`).

Its price is 10**U(-1, 1.5) USD (0.1 to 32 USD), rounded to 8 decimals like an oracle answer;
the supply is the market capitalisation / price in whole tokens. Every second token (even
index) is also Compound III USDC collateral with COMP's factors, the most conservative of
that market (borrowCF 0.65, liquidateCF 0.70, liquidationFactor 0.93), and no cap (as the
deployment file). Addresses are ``synthetic_address("sample-world:long-tail:<i>")``.

Positions: isolation-mode borrowers on Aave sized like the real isolated reserves (the
smaller of the debt ceiling and 45 % of the supply cap), and Compound III borrowers with a
fifth of that; both borrow stablecoins with the ordinary health-factor shape. Pools are in
:mod:`.longtail_pools`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from indexers.sample_world.catalog import AAVE, CHAINLINK, COMET_USDC, Asset, Catalog
from indexers.sample_world.common import CHAIN_ID, SYNTHETIC, synthetic_address
from indexers.sample_world.markets import Market
from indexers.sample_world.oracles import Feed, OracleBook, feed_id
from indexers.sample_world.profiles import Profile
from indexers.sample_world.reference import Reference
from indexers.sample_world.supply import DEPTH_SHARE_OF_MARKET_CAP, SUPPLY

__all__ = [
    "LongTail",
    "add_long_tail_feeds",
    "draw_long_tail",
    "long_tail_markets",
    "long_tail_profiles",
]

_TEMPLATES = ("1INCH", "BAL", "CRV", "ENS", "KNC", "MKR", "SNX", "STG", "UNI")
_SIZE_LOG_SD = 0.5
_LOG10_PRICE = (-1.0, 1.5)
_PRICE_DECIMALS = 8
_DECIMALS = 18
_COMET_TEMPLATE = "COMP"
# Isolated collateral is sized like the real isolated reserves of the world (profiles.py).
_ISOLATED_CAP_SHARE = 0.45
_COMET_SHARE_OF_AAVE = 0.2
_ROW_SHARE_PER_TOKEN = 0.005
_MAX_ROW_SHARE = 0.10


@dataclass(frozen=True)
class LongTail:
    """The long-tail tokens: assets, templates and their feeds' update settings."""

    assets: tuple[Asset, ...]
    template: tuple[str, ...]
    """Aave reserve each token copies."""
    heartbeat_s: tuple[int, ...]
    deviation_bps: tuple[float, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.assets)

    def __len__(self) -> int:
        return len(self.assets)


def _market_cap(key: str, ref: Reference) -> Fraction:
    r = ref.aave.reserve(key)
    return SUPPLY[key] * Fraction(r.oracle_answer_raw, 10**r.oracle_decimals)


def draw_long_tail(n: int, ref: Reference, rng: np.random.Generator) -> LongTail:
    """``n`` synthetic long-tail tokens (empty for 0)."""
    pick = rng.integers(0, len(_TEMPLATES), size=n)
    size = np.exp(_SIZE_LOG_SD * rng.standard_normal(n))
    price = np.power(10.0, rng.uniform(*_LOG10_PRICE, size=n))
    assets, templates, heartbeat, deviation = [], [], [], []
    for i in range(n):
        template = _TEMPLATES[int(pick[i])]
        unit = 10**_PRICE_DECIMALS
        p = Fraction(max(round(float(price[i]) * unit), 1), unit)
        cap = _market_cap(template, ref) * Fraction(float(size[i]))
        supply = Fraction(round(cap / p))
        symbol = f"LT{i + 1:03d}"
        assets.append(
            Asset(
                symbol,
                CHAIN_ID,
                synthetic_address(f"sample-world:long-tail:{i}"),
                symbol,
                f"Long-tail token {i + 1} (synthetic)",
                "erc20",
                _DECIMALS,
                None,
                p,
                SYNTHETIC,
                supply=supply,
                depth_usd=float(DEPTH_SHARE_OF_MARKET_CAP * supply * p),
            )
        )
        feed = ref.feed(ref.aave.reserve(template).oracle)
        templates.append(template)
        heartbeat.append(feed.heartbeat_s)
        deviation.append(feed.deviation_bps)
    return LongTail(tuple(assets), tuple(templates), tuple(heartbeat), tuple(deviation))


def _feed_id(i: int) -> str:
    return feed_id(synthetic_address(f"sample-world:long-tail-feed:{i}"))


def add_long_tail_feeds(book: OracleBook, lt: LongTail) -> None:
    """A Chainlink-style USD aggregator per token, read by Aave and (even tokens) Compound."""
    for i, a in enumerate(lt.assets):
        fid = book.add(
            Feed(
                _feed_id(i),
                synthetic_address(f"sample-world:long-tail-feed:{i}"),
                f"{a.symbol} / USD",
                "chainlink",
                a.key,
                "USD",
                _PRICE_DECIMALS,
                a.price,
                SYNTHETIC,
                CHAINLINK,
                heartbeat_s=lt.heartbeat_s[i],
                deviation_bps=lt.deviation_bps[i],
            )
        )
        book.use(AAVE, a.key, fid)
        if i % 2 == 0:
            book.use(COMET_USDC, a.key, fid)


def long_tail_markets(
    lt: LongTail, markets: Mapping[tuple[str, str], Market], ref: Reference
) -> dict[tuple[str, str], Market]:
    """Aave reserves copied from each token's template, and Compound III USDC collateral
    (even tokens) copied from COMP's."""
    comet = markets[(COMET_USDC, _COMET_TEMPLATE)]
    out: dict[tuple[str, str], Market] = {}
    for i, a in enumerate(lt.assets):
        template = markets[(AAVE, lt.template[i])]
        supply = a.supply or Fraction(0)  # always set by draw_long_tail
        share = supply / SUPPLY[lt.template[i]]  # caps as the same share of the supply
        ratio = supply * a.price / _market_cap(lt.template[i], ref)
        out[(AAVE, a.key)] = replace(
            template,
            key=a.key,
            source=SYNTHETIC,
            supply_cap=float(round(Fraction(template.supply_cap or 0) * share)),
            borrow_cap=float(round(Fraction(template.borrow_cap or 0) * share)),
            debt_ceiling=float(round(Fraction(template.debt_ceiling or 0) * ratio)),
        )
        if i % 2 == 0:
            out[(COMET_USDC, a.key)] = replace(comet, key=a.key, source=SYNTHETIC)
    return out


def long_tail_profiles(
    lt: LongTail,
    markets: Mapping[tuple[str, str], Market],
    catalog: Catalog,
    profiles: tuple[Profile, ...],
) -> tuple[Profile, ...]:
    """``profiles`` with their row shares scaled down, plus the long-tail borrowers."""
    if not len(lt):
        return profiles
    share = min(_MAX_ROW_SHARE, _ROW_SHARE_PER_TOKEN * len(lt))
    aave = {}
    for k in lt.keys:
        m = markets[(AAVE, k)]
        cap_usd = (m.supply_cap or 0.0) * catalog[k].price_usd
        aave[k] = min(_ISOLATED_CAP_SHARE * cap_usd, m.debt_ceiling or 0.0)
    comet = {k: _COMET_SHARE_OF_AAVE * aave[k] for k in lt.keys if (COMET_USDC, k) in markets}
    stables = {"USDC": 0.6, "USDT": 0.3, "DAI": 0.1}
    return (
        *(replace(p, row_share=p.row_share * (1.0 - share)) for p in profiles),
        Profile(
            "aave-long-tail",
            AAVE,
            share * 0.75,
            aave,
            target_by_collateral=aave,
            debt=stables,
            debt_extras=stables,
            p_debt_extra=0.15,
        ),
        Profile(
            "comet-usdc-long-tail",
            COMET_USDC,
            share * 0.25,
            comet,
            target_by_collateral=comet,
            debt={"USDC": 1.0},
        ),
    )
