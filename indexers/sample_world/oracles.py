"""Price feeds of the world and which feed each protocol reads for each asset.

Every feed names its publisher (``protocol_id``): ``chainlink`` for Chainlink aggregators,
otherwise the protocol that deploys the adapter, rate or oracle. Feeds come in the
contract's kinds:

* ``chainlink``: real aggregators from the shipped Chainlink list, joined to Aave's and
  Compound's configured oracles by proxy address (case-insensitive), with the list's
  heartbeat and deviation threshold (``threshold`` is in percent, so 0.5 -> 50 bps). Answers
  are Aave's 2023-10-31 readings where Aave reads the feed; the others are derived from them
  (BTC/USD = Aave's WBTC answer with WBTC/BTC = 1, cbETH/ETH and LDO/ETH = Aave's adapter
  answer / ETH), or assumed (STETH/ETH = 0.9995, COMP/USD = 45). CBETH/ETH is a market
  feed (the list's ``dex_state_price``), which is what Aave's cbETH adapter and Compound III
  WETH read, so cbETH has no exchange-rate feed.
* ``exchange-rate``: a wrapper's on-chain redemption rate (wstETH.stEthPerToken,
  rETH.getExchangeRate, the DSR ``chi`` of sDAI), published by its issuer; and, for the
  synthetic SparkLend listings, the rate of Aave's aEthWETH / aEthUSDC (1 at the snapshot, so
  that a write-down of Aave's aTokens reaches Spark's oracle).
* ``composite``: products of other feeds: Aave's price adapters (wstETH = stETH-per-wstETH x
  ETH/USD; cbETH = CBETH/ETH x ETH/USD; rETH = rETH rate x ETH/USD; LDO = LDO/ETH x ETH/USD;
  WBTC = WBTC/BTC x BTC/USD; sDAI = DSR rate x DAI/USD) at their real addresses with Aave's
  answers, heartbeat and deviation null; Compound III WETH's WstETHPriceFeed (STETH/ETH x
  stETH per wstETH); Spark's sDAI and aToken prices. A composite's answer equals the
  product of its sources' answers to its last decimal (checked when it is added).
* ``fixed``: values that are hard-coded: GHO's oracle (1 USD), Comet WETH's constant base
  price (1 ETH), Spark's fixed DAI price and Maker's par.
* ``delayed``: Maker's oracle security modules (OSM), which publish the median price read
  one hour (``delay_s`` 3600, the OSM's ``hop``) earlier.

The shared link that matters most for contagion is real: Aave, Spark and Compound III USDC
all read Chainlink ETH/USD (0x5f4e...8419) for WETH.

Aave's wstETH adapter reads no stETH/ETH market feed: BGD Labs' proposal of 2023-06-13
("Price feeds operational update Pt2 - stETH") made it the Lido exchange rate x ETH/USD.
Compound III WETH does read the market: its wstETH feed is Chainlink STETH/ETH x the Lido
rate (comet ``WstETHPriceFeed``, deployments/mainnet/weth/deploy.ts).

References
----------
Aave v3 technical paper (price sources); BGD Labs, cl-synchronicity-price-adapter (the
adapters) and the 2023-06-13 price-feed proposal; Compound III price feeds (``WstETHPriceFeed``,
``ScalingPriceFeed``, ``ConstantPriceFeed``); Maker OSM documentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

import pyarrow as pa

from indexers.sample_world.catalog import (
    AAVE,
    CHAINLINK,
    COMET_USDC,
    COMET_WETH,
    DSR,
    LIDO,
    MAKER,
    ROCKET_POOL,
    SPARK,
    STETH_ETH_MARKET,
    Catalog,
)
from indexers.sample_world.common import (
    PUBLISHED,
    SYNTHETIC,
    data_source,
    exact_raw,
    onchain_row,
    rows_table,
)
from indexers.sample_world.reference import AAVE_FILE, CHAINLINK_FILE, COMET_FILES, Reference

__all__ = [
    "ETH_USD",
    "Feed",
    "OracleBook",
    "build_oracles",
    "feed_id",
    "feeds_table",
    "usage_table",
]

ETH_USD = "0x5f4ec3df9cbd43714fe2740f5e3616155c5b8419"
_STETH_ETH = "0x86392dc19c0b719886221c78ab11eb8cf5c52812"
_WBTC_BTC = "0xfdfd9c85ad200c506cf9e21f1fd8dd01932fbb23"
_BTC_USD = "0xf4030086522a5beea4988f8ca5b36dbc97bee88c"
_CBETH_ETH = "0xf017fcb346a1885194689ba23eff2fe6fa5c483b"
_LDO_ETH = "0x4e844125952d32acdf339be976c98e22f6f318db"
_COMP_USD = "0xdbd020caef83efd542f4de03e3cf0c28a4428bd5"
_USDC_USD = "0x8fffffd4afb6115b954bd326cbe7b4ba576818f6"
_DAI_USD = "0xaed0c38402a5d19df6e4c03f4e2dced6e29c1ee9"
# Maker's oracle security modules (chainlog PIP_ETH, PIP_WSTETH); hop = 3600 s.
_PIP_ETH = "0x81fe72b5a8d1a857d176c3e7d5bd2679a9b85763"
_PIP_WSTETH = "0xfe7a2ac0b945f12089aeeb6ecebf4f384d9f043f"
_OSM_DELAY_S = 3600

# Aave adapters (by reserve) and the feeds whose product they are.
_AAVE_COMPOSITES = {
    "wstETH": ("wsteth-rate", ETH_USD),
    "cbETH": (_CBETH_ETH, ETH_USD),
    "rETH": ("reth-rate", ETH_USD),
    "LDO": (_LDO_ETH, ETH_USD),
    "WBTC": (_WBTC_BTC, _BTC_USD),
    "sDAI": ("sdai-rate", _DAI_USD),
}


def feed_id(ref_or_slug: str) -> str:
    """Feed id on chain 1: ``1:0x...`` for a contract, ``1:<slug>`` for a derived feed.

    >>> feed_id("0xABC")
    '1:0xabc'
    """
    return f"1:{ref_or_slug.lower()}"


@dataclass(frozen=True)
class Feed:
    """One price feed (a row of ``oracle_feeds``)."""

    feed_id: str
    address: str | None
    description: str
    kind: str
    base: str
    quote: str
    """``"USD"`` or the key of the quote asset."""
    decimals: int
    answer: Fraction
    source: str
    protocol_id: str
    """Publisher: ``chainlink`` or the protocol that deploys the adapter, rate or oracle."""
    heartbeat_s: int | None = None
    deviation_bps: float | None = None
    twap_window_s: int | None = None
    delay_s: int | None = None
    sources: tuple[str, ...] = ()


@dataclass
class OracleBook:
    """Feeds by id and the feed every protocol reads for every asset it prices."""

    feeds: dict[str, Feed] = field(default_factory=dict)
    usage: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, feed: Feed) -> str:
        """Register ``feed``, its answer rounded to the feed's decimals as on chain."""
        if feed.feed_id in self.feeds:
            raise ValueError(f"feed {feed.feed_id} defined twice")
        unit = 10**feed.decimals
        self.feeds[feed.feed_id] = replace(feed, answer=Fraction(round(feed.answer * unit), unit))
        return feed.feed_id

    def check_composites(self) -> None:
        """Raise ValueError unless every composite's answer is the product of its sources'
        answers to within one unit of its last decimal."""
        for feed in self.feeds.values():
            if feed.kind != "composite":
                continue
            product = math.prod(self.feeds[s].answer for s in feed.sources)
            if abs(product - feed.answer) * 10**feed.decimals > 1:
                raise ValueError(
                    f"composite {feed.feed_id} answers {float(feed.answer)}, its sources "
                    f"multiply to {float(product)}"
                )

    def use(self, protocol_id: str, key: str, feed_id: str) -> None:
        if feed_id not in self.feeds:
            raise KeyError(f"{protocol_id} reads unknown feed {feed_id} for {key}")
        self.usage[(protocol_id, key)] = feed_id

    def price(self, protocol_id: str, key: str) -> float:
        """The answer ``protocol_id`` reads for asset ``key``, in that protocol's numeraire
        (USD everywhere except Compound III WETH, which counts in ETH)."""
        return float(self.feeds[self.usage[(protocol_id, key)]].answer)


def build_oracles(ref: Reference, catalog: Catalog) -> OracleBook:
    """Every feed and every (protocol, asset) -> feed reading of the world."""
    book = OracleBook()
    cl_src = data_source(CHAINLINK_FILE)
    aave_src = data_source(AAVE_FILE)
    eth = catalog["ETH"].price

    def chainlink(address: str, base: str, quote: str, answer: Fraction) -> str:
        listed = ref.feed(address)
        return book.add(
            Feed(
                feed_id(address),
                address.lower(),
                listed.name,
                "chainlink",
                base,
                quote,
                listed.decimals,
                answer,
                cl_src,
                CHAINLINK,
                heartbeat_s=listed.heartbeat_s,
                deviation_bps=listed.deviation_bps,
            )
        )

    def rate(slug: str, description: str, base: str, quote: str, publisher: str) -> str:
        return book.add(
            Feed(
                feed_id(slug),
                None,
                description,
                "exchange-rate",
                base,
                quote,
                18,
                catalog.rate(base),
                aave_src,
                publisher,
            )
        )

    # The wrappers' redemption rates that Aave's adapters multiply by a market feed.
    rates = {
        "wsteth-rate": rate(
            "wsteth-rate",
            "wstETH / stETH exchange rate (wstETH.stEthPerToken)",
            "wstETH",
            "stETH",
            LIDO,
        ),
        "reth-rate": rate(
            "reth-rate",
            "rETH / ETH exchange rate (rETH.getExchangeRate)",
            "rETH",
            "ETH",
            ROCKET_POOL,
        ),
        "sdai-rate": rate("sdai-rate", "sDAI / DAI exchange rate (DSR chi)", "sDAI", "DAI", DSR),
    }
    chainlink(_STETH_ETH, "stETH", "ETH", STETH_ETH_MARKET)
    chainlink(_WBTC_BTC, "WBTC", "BTC", Fraction(1))
    chainlink(_BTC_USD, "BTC", "USD", catalog["BTC"].price)
    chainlink(_CBETH_ETH, "cbETH", "ETH", catalog.rate("cbETH"))
    chainlink(_LDO_ETH, "LDO", "ETH", catalog["LDO"].price / eth)
    chainlink(_COMP_USD, "COMP", "USD", catalog["COMP"].price)
    for r in ref.aave.reserves:
        answer = Fraction(r.oracle_answer_raw, 10**r.oracle_decimals)
        if r.symbol in _AAVE_COMPOSITES:
            parts = tuple(
                rates[p].lower() if p in rates else feed_id(p) for p in _AAVE_COMPOSITES[r.symbol]
            )
            book.add(
                Feed(
                    feed_id(r.oracle),
                    r.oracle,
                    r.oracle_description or f"{r.symbol} / USD (Aave price adapter)",
                    "composite",
                    r.symbol,
                    "USD",
                    r.oracle_decimals,
                    answer,
                    aave_src,
                    AAVE,
                    sources=parts,
                )
            )
        elif r.symbol == "GHO":
            book.add(
                Feed(
                    feed_id(r.oracle),
                    r.oracle,
                    "GHO / USD (GhoOracle, fixed 1 USD)",
                    "fixed",
                    "GHO",
                    "USD",
                    r.oracle_decimals,
                    answer,
                    aave_src,
                    AAVE,
                )
            )
        else:
            base = "ETH" if r.symbol == "WETH" else r.symbol
            chainlink(r.oracle, base, "USD", answer)
        book.use(AAVE, r.symbol, feed_id(r.oracle))

    _spark(book, catalog)
    _compound(book, ref, catalog)
    _maker(book, catalog)
    book.check_composites()
    return book


def _spark(book: OracleBook, catalog: Catalog) -> None:
    """SparkLend, modelled: Aave's feeds for the assets both list, DAI at a fixed 1 USD as
    Spark prices it, and, for the (synthetic) aToken listings, Aave's aToken rate x the
    underlying's USD feed."""

    def spark(
        slug: str,
        description: str,
        kind: str,
        base: str,
        answer: Fraction,
        source: str,
        sources: tuple[str, ...] = (),
    ) -> str:
        return book.add(
            Feed(
                feed_id(slug),
                None,
                description,
                kind,
                base,
                "USD",
                8,
                answer,
                source,
                SPARK,
                sources=sources,
            )
        )

    dai = spark(
        "spark-dai-fixed", "DAI / USD (Spark, fixed 1 USD)", "fixed", "DAI", Fraction(1), PUBLISHED
    )
    sdai = spark(
        "spark-sdai-usd",
        "sDAI / USD (DSR rate x fixed DAI)",
        "composite",
        "sDAI",
        catalog.rate("sDAI"),
        PUBLISHED,
        (feed_id("sdai-rate"), dai),
    )
    receipts = {}
    for a_token, underlying, usd_feed in (
        ("aEthWETH", "WETH", ETH_USD),
        ("aEthUSDC", "USDC", _USDC_USD),
    ):
        a_rate = book.add(
            Feed(
                feed_id(f"{a_token}-rate"),
                None,
                f"{a_token} / {underlying} (Aave aToken redemption rate)",
                "exchange-rate",
                a_token,
                underlying,
                18,
                catalog.rate(a_token),
                SYNTHETIC,
                AAVE,
            )
        )
        receipts[a_token] = spark(
            f"spark-{a_token}-usd",
            f"{a_token} / USD (aToken rate x {underlying} / USD, synthetic listing)",
            "composite",
            a_token,
            catalog.rate(a_token) * book.feeds[feed_id(usd_feed)].answer,
            SYNTHETIC,
            (a_rate, feed_id(usd_feed)),
        )
    aave_feed = {k: book.usage[(AAVE, k)] for k in ("WETH", "wstETH", "WBTC")}
    for key, fid in {**aave_feed, "DAI": dai, "sDAI": sdai, **receipts}.items():
        book.use(SPARK, key, fid)


def _compound(book: OracleBook, ref: Reference, catalog: Catalog) -> None:
    """Compound III: the configured price feeds. Comet USDC prices WBTC with BTC/USD (not
    WBTC/BTC); Comet WETH counts in ETH, with a constant 1 for its base, wstETH through
    its WstETHPriceFeed (STETH/ETH x the Lido rate) and cbETH at Chainlink CBETH/ETH."""
    usdc = ref.comet["usdc"]
    if usdc.base_price_feed is None:
        raise ValueError("the Compound USDC configuration names no base price feed")
    book.use(COMET_USDC, usdc.base_symbol, feed_id(usdc.base_price_feed))
    for a in usdc.assets:
        if a.price_feed is None:
            raise ValueError(f"Compound USDC collateral {a.symbol} has no price feed")
        book.use(COMET_USDC, a.symbol, feed_id(a.price_feed))
    base = book.add(
        Feed(
            feed_id("comet-weth-base-constant"),
            None,
            "WETH / ETH (Compound III WETH ConstantPriceFeed)",
            "fixed",
            "WETH",
            "ETH",
            8,
            Fraction(1),
            PUBLISHED,
            COMET_WETH,
        )
    )
    wsteth = book.add(
        Feed(
            feed_id("comet-weth-wsteth-eth"),
            None,
            "wstETH / ETH (Compound III WETH WstETHPriceFeed: STETH/ETH x stETH per wstETH)",
            "composite",
            "wstETH",
            "ETH",
            8,
            STETH_ETH_MARKET * catalog.rate("wstETH"),
            PUBLISHED,
            COMET_WETH,
            sources=(feed_id(_STETH_ETH), feed_id("wsteth-rate")),
        )
    )
    book.use(COMET_WETH, "WETH", base)
    book.use(COMET_WETH, "wstETH", wsteth)
    book.use(COMET_WETH, "cbETH", feed_id(_CBETH_ETH))


def _maker(book: OracleBook, catalog: Catalog) -> None:
    """Maker: its own OSMs (medians published one hour late), not Chainlink; DAI at par."""

    def osm(address: str, name: str, key: str) -> str:
        return book.add(
            Feed(
                feed_id(address),
                address,
                f"{key} / USD (Maker OSM, {name})",
                "delayed",
                key,
                "USD",
                18,
                catalog[key].price,
                PUBLISHED,
                MAKER,
                delay_s=_OSM_DELAY_S,
            )
        )

    par = book.add(
        Feed(
            feed_id("maker-dai-par"),
            None,
            "DAI / USD (Maker par, 1 USD)",
            "fixed",
            "DAI",
            "USD",
            18,
            Fraction(1),
            PUBLISHED,
            MAKER,
        )
    )
    book.use(MAKER, "WETH", osm(_PIP_ETH, "PIP_ETH", "ETH"))
    book.use(MAKER, "wstETH", osm(_PIP_WSTETH, "PIP_WSTETH", "wstETH"))
    book.use(MAKER, "DAI", par)


def feeds_table(book: OracleBook, catalog: Catalog) -> pa.Table:
    """The ``oracle_feeds`` table."""
    rows = []
    for f in book.feeds.values():
        rows.append(
            onchain_row(
                f.source,
                feed_id=f.feed_id,
                address=f.address,
                description=f.description,
                kind=f.kind,
                protocol_id=f.protocol_id,
                base_asset_id=catalog.id(f.base),
                quote="USD" if f.quote == "USD" else catalog.id(f.quote),
                decimals=f.decimals,
                heartbeat_s=f.heartbeat_s,
                deviation_bps=f.deviation_bps,
                twap_window_s=f.twap_window_s,
                delay_s=f.delay_s,
                source_feed_ids=list(f.sources),
                answer_raw=exact_raw(f.answer, f.decimals),
                answer=float(f.answer),
            )
        )
    return rows_table("oracle_feeds", rows)


def usage_table(book: OracleBook, catalog: Catalog) -> pa.Table:
    """The ``oracle_usage`` table (rows of synthetic listings are marked synthetic)."""
    sources = {
        AAVE: data_source(AAVE_FILE),
        COMET_USDC: data_source(COMET_FILES["usdc"]),
        COMET_WETH: PUBLISHED,
        MAKER: PUBLISHED,
        SPARK: SYNTHETIC,
    }
    long_tail = set(catalog.long_tail)
    return rows_table(
        "oracle_usage",
        [
            onchain_row(
                SYNTHETIC if key in long_tail else sources[protocol_id],
                protocol_id=protocol_id,
                asset_id=catalog.id(key),
                feed_id=fid,
            )
            for (protocol_id, key), fid in book.usage.items()
        ],
    )
