"""The world's chains, protocols, tokens, their prices and the wrappers between them.

Prices are the Aave v3 oracle answers of 2023-10-31 (8 decimals, USD), so the world and Aave
agree on every one of Aave's 25 reserves. The few tokens Aave does not list are priced from
them or by a stated assumption:

* ETH = the Chainlink ETH/USD answer Aave reads for WETH (1816.85499606);
* BTC = Aave's WBTC answer (WBTC/BTC x BTC/USD), taking WBTC/BTC = 1 at the snapshot;
* stETH = ETH x 0.9995 (:data:`STETH_ETH_MARKET`, assumed; set by the Curve pool balances);
* wstETH = stETH x Lido's stETH-per-wstETH rate; the rate is Aave's wstETH answer divided by
  its ETH answer, because Aave's wstETH adapter prices wstETH as ETH/USD x that rate and does
  not see the stETH market discount, so the world's market price of wstETH sits 0.05 % below
  Aave's oracle price;
* Aave's receipt tokens aEthWETH and aEthUSDC = their underlying (aTokens redeem 1:1);
* COMP = 45 USD (assumed; not in the shipped files), mUST = 1 and mLUNA = 80 USD (modelled).

Circulating supplies and external market depth come from :mod:`.supply`; the supply of
Aave's receipt tokens is what the world's positions supply to Aave, so it is passed in when
the table is built. Synthetic long-tail tokens (:mod:`.longtail`) join the catalog when the
benchmark asks for them.

Chain 0 ("offchain") holds two reference assets that have no token: BTC (the underlying of
WBTC, the Deribit options and the BTC perpetual) and USD (what fiat-backed stablecoins are
backed by). Their ``address`` is a lower-case slug, and their ``asset_id`` is ``0:btc`` and
``0:usd``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

import pyarrow as pa

from indexers.sample_world.common import (
    CHAIN_ID,
    OFFCHAIN_CHAIN_ID,
    PUBLISHED,
    SNAPSHOT_TIME,
    SYNTHETIC,
    asset_id,
    data_source,
    exact_raw,
    offchain_row,
    onchain_row,
    rows_table,
    synthetic_address,
)
from indexers.sample_world.reference import AAVE_FILE, COMET_FILES, Reference
from indexers.sample_world.supply import SUPPLY, depth_usd

__all__ = [
    "AAVE",
    "CHAINLINK",
    "CIRCLE",
    "COMET_USDC",
    "COMET_WETH",
    "CURVE",
    "DERIBIT",
    "DSR",
    "LIDO",
    "MAKER",
    "PANCAKESWAP_V3",
    "PERPS",
    "PSM",
    "ROCKET_POOL",
    "SPARK",
    "STETH_ETH_MARKET",
    "SUSHISWAP",
    "SUSHISWAP_V3",
    "TERRA",
    "TETHER",
    "UNISWAP_V2",
    "UNISWAP_V3",
    "Asset",
    "Catalog",
    "assets_table",
    "build_catalog",
    "chains_table",
    "protocols_table",
    "wrappers_table",
]

AAVE = "aave-v3-ethereum"
SPARK = "spark-ethereum"
COMET_USDC = "compound-v3-usdc"
COMET_WETH = "compound-v3-weth"
MAKER = "maker-cdp"
PSM = "maker-psm-usdc"
DSR = "maker-dsr"
LIDO = "lido"
ROCKET_POOL = "rocket-pool"
COINBASE_CBETH = "coinbase-cbeth"
WETH9 = "weth"
WBTC_CUSTODY = "wbtc"
UNISWAP_V3 = "uniswap-v3"
UNISWAP_V2 = "uniswap-v2"
SUSHISWAP = "sushiswap"
SUSHISWAP_V3 = "sushiswap-v3"
PANCAKESWAP_V3 = "pancakeswap-v3"
CURVE = "curve"
TERRA = "modelled-terra"
CIRCLE = "circle"
TETHER = "tether"
CHAINLINK = "chainlink"
DERIBIT = "deribit"
PERPS = "cex-perps"

# Assumed: stETH traded within about 0.1 % of ETH through October 2023 (withdrawals had opened
# in April 2023); the Curve pool's balances are solved so its price is exactly this.
STETH_ETH_MARKET = Fraction("0.9995")
_COMP_USD = Fraction(45)
_MODELLED_LUNA_USD = Fraction(80)

_ETH_SENTINEL = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"  # Curve's address for native ETH
_STETH = "0xae7ab96520de3a18e5e111b5eaab095312d7fe84"
_VAT = "0x35d1b3f3d7966a1dfe207aa4514c12a259a0492b"
_PSM_USDC_A = "0x89b78cfa322f6c5de0abceecab66aee45393cc5a"
_SPARK_POOL = "0xc13e21b648a5ee794902342038ff3adab66be987"
_COMET_USDC = "0xc3d688b66703497daa19211eedff47f25384cdc3"
_COMET_WETH = "0xa17581a9e3356d9a858b789d68b4d866e593ae94"
_UNISWAP_V3_FACTORY = "0x1f98431c8ad98523631ae4a59f267346ea31f984"
_UNISWAP_V2_FACTORY = "0x5c69bee701ef814a2b6a3edd4b1652cb9cc5aa6f"
# Venues of the synthetic long-tail pools only (their factories on Ethereum).
_LONG_TAIL_DEXES = (
    (SUSHISWAP, "SushiSwap", "uniswap-v2", "0xc0aee478e3658e2610c5f7a4a2e1777ce9e4f2ac"),
    (SUSHISWAP_V3, "SushiSwap v3", "uniswap-v3", "0xbaceb8ec6b9355dfc0269c18bac9d6e2bdc29c4f"),
    (PANCAKESWAP_V3, "PancakeSwap v3", "uniswap-v3", "0x0bfbcf9fa4f9c56b0f40a671ad40e0805a091865"),
)

# On-chain ERC-20 names of the tokens whose name the shipped files do not carry. Tokens not
# listed keep their symbol as name.
_NAMES = {
    "WETH": "Wrapped Ether",
    "WBTC": "Wrapped BTC",
    "USDC": "USD Coin",
    "USDT": "Tether USD",
    "DAI": "Dai Stablecoin",
    "wstETH": "Wrapped liquid staked Ether 2.0",
    "stETH": "Liquid staked Ether 2.0",
    "sDAI": "Savings Dai",
    "LINK": "ChainLink Token",
    "UNI": "Uniswap",
    "AAVE": "Aave Token",
    "MKR": "Maker",
    "COMP": "Compound",
    "cbETH": "Coinbase Wrapped Staked ETH",
    "rETH": "Rocket Pool ETH",
    "GHO": "Gho Token",
    "LUSD": "LUSD Stablecoin",
    "CRV": "Curve DAO Token",
}
_STABLE = {"DAI", "USDC", "USDT", "LUSD", "FRAX", "GHO"}
_LST = {"wstETH", "cbETH", "rETH"}


@dataclass(frozen=True)
class Asset:
    """A token (or chain-0 reference asset) of the world, keyed by a short stable ``key``."""

    key: str
    chain_id: int
    address: str
    symbol: str
    name: str
    kind: str
    decimals: int
    underlying: str | None
    price: Fraction
    source: str
    supply: Fraction | None = None
    """Circulating supply, whole tokens (None if unknown or set from the positions)."""
    depth_usd: float | None = None
    """External 2 % depth, USD (None: no market of its own)."""

    @property
    def asset_id(self) -> str:
        """``chain_id:address``."""
        return asset_id(self.address, self.chain_id)

    @property
    def price_usd(self) -> float:
        """Market price, USD."""
        return float(self.price)


@dataclass(frozen=True)
class Wrapper:
    """A token that redeems for another at a rate (``wrappers`` table)."""

    key: str
    underlying: str
    kind: str
    protocol_id: str
    rate: Fraction
    source: str


class Catalog:
    """Every asset of the world by key, with the exchange rates of its wrappers."""

    def __init__(
        self, assets: Iterable[Asset], wrappers: Iterable[Wrapper], long_tail: Iterable[str] = ()
    ) -> None:
        self._assets = {a.key: a for a in assets}
        self.wrappers = {w.key: w for w in wrappers}
        self.long_tail = tuple(long_tail)
        """Keys of the synthetic long-tail tokens, in order (empty by default)."""

    def __getitem__(self, key: str) -> Asset:
        try:
            return self._assets[key]
        except KeyError:
            raise KeyError(f"no asset {key!r} in the sample world") from None

    def __iter__(self) -> Iterator[Asset]:
        return iter(self._assets.values())

    def __contains__(self, key: object) -> bool:
        return key in self._assets

    def id(self, key: str) -> str:
        """``asset_id`` of ``key``."""
        return self[key].asset_id

    def rate(self, key: str) -> Fraction:
        """Underlying per wrapper token of wrapper ``key``."""
        return self.wrappers[key].rate


def _aave_answer(ref: Reference, symbol: str) -> Fraction:
    r = ref.aave.reserve(symbol)
    return Fraction(r.oracle_answer_raw, 10**r.oracle_decimals)


def build_catalog(ref: Reference, long_tail: Iterable[Asset] = ()) -> Catalog:
    """Assets with prices, supplies and depths, and wrappers with exchange rates, from the
    shipped reference data; ``long_tail`` assets are appended as they are."""
    aave_src = data_source(AAVE_FILE)
    eth = _aave_answer(ref, "WETH")
    btc = _aave_answer(ref, "WBTC")
    steth = eth * STETH_ETH_MARKET
    wsteth_rate = _aave_answer(ref, "wstETH") / eth

    assets: list[Asset] = []
    for r in ref.aave.reserves:
        kind = "stable" if r.symbol in _STABLE else "lst" if r.symbol in _LST else "erc20"
        underlying = {
            "WETH": "ETH",
            "WBTC": "BTC",
            "wstETH": "stETH",
            "cbETH": "ETH",
            "rETH": "ETH",
            "sDAI": "DAI",
        }.get(r.symbol)
        if r.symbol == "sDAI":
            kind = "receipt"  # a share of the DAI Savings Rate vault (ERC-4626)
        price = steth * wsteth_rate if r.symbol == "wstETH" else _aave_answer(ref, r.symbol)
        assets.append(
            Asset(
                r.symbol,
                CHAIN_ID,
                r.underlying,
                r.symbol,
                _NAMES.get(r.symbol, r.symbol),
                kind,
                r.decimals,
                underlying,
                price,
                aave_src,
            )
        )
    for symbol in ("WETH", "USDC"):
        r = ref.aave.reserve(symbol)
        assets.append(
            Asset(
                r.a_token_symbol,
                CHAIN_ID,
                r.a_token,
                r.a_token_symbol,
                r.a_token_name,
                "receipt",
                r.decimals,
                symbol,
                _aave_answer(ref, symbol),
                aave_src,
            )
        )
    comp = ref.comet["usdc"].asset("COMP")
    assets += [
        Asset("ETH", CHAIN_ID, _ETH_SENTINEL, "ETH", "Ether", "native", 18, None, eth, aave_src),
        Asset(
            "stETH", CHAIN_ID, _STETH, "stETH", _NAMES["stETH"], "lst", 18, "ETH", steth, PUBLISHED
        ),
        Asset(
            "COMP",
            CHAIN_ID,
            comp.address,
            "COMP",
            _NAMES["COMP"],
            "erc20",
            comp.decimals,
            None,
            _COMP_USD,
            data_source(COMET_FILES["usdc"]),
        ),
        Asset("BTC", OFFCHAIN_CHAIN_ID, "btc", "BTC", "Bitcoin", "native", 8, None, btc, aave_src),
        Asset(
            "USD",
            OFFCHAIN_CHAIN_ID,
            "usd",
            "USD",
            "US dollar (off-chain reserves)",
            "native",
            2,
            None,
            Fraction(1),
            PUBLISHED,
        ),
        Asset(
            "mUST",
            CHAIN_ID,
            synthetic_address("sample-world:mUST"),
            "mUST",
            "Modelled TerraUSD (synthetic)",
            "stable",
            6,
            None,
            Fraction(1),
            SYNTHETIC,
        ),
        Asset(
            "mLUNA",
            CHAIN_ID,
            synthetic_address("sample-world:mLUNA"),
            "mLUNA",
            "Modelled Luna (synthetic)",
            "erc20",
            6,
            None,
            _MODELLED_LUNA_USD,
            SYNTHETIC,
        ),
    ]

    def aave_rate(symbol: str, base: str) -> Fraction:
        return _aave_answer(ref, symbol) / _aave_answer(ref, base)

    wrappers = [
        Wrapper("WETH", "ETH", "vault", WETH9, Fraction(1), PUBLISHED),
        Wrapper("WBTC", "BTC", "vault", WBTC_CUSTODY, Fraction(1), PUBLISHED),
        Wrapper("stETH", "ETH", "lst", LIDO, Fraction(1), PUBLISHED),
        Wrapper("wstETH", "stETH", "lst", LIDO, wsteth_rate, aave_src),
        Wrapper("cbETH", "ETH", "lst", COINBASE_CBETH, aave_rate("cbETH", "WETH"), aave_src),
        Wrapper("rETH", "ETH", "lst", ROCKET_POOL, aave_rate("rETH", "WETH"), aave_src),
        Wrapper("sDAI", "DAI", "vault", DSR, aave_rate("sDAI", "DAI"), aave_src),
        Wrapper("aEthWETH", "WETH", "receipt", AAVE, Fraction(1), aave_src),
        Wrapper("aEthUSDC", "USDC", "receipt", AAVE, Fraction(1), aave_src),
    ]
    assets = [
        replace(a, supply=SUPPLY.get(a.key), depth_usd=depth_usd(a.key, a.price)) for a in assets
    ]
    extra = list(long_tail)
    return Catalog([*assets, *extra], wrappers, (a.key for a in extra))


def chains_table() -> pa.Table:
    """Ethereum mainnet and chain 0 for off-chain venues."""
    return rows_table(
        "chains",
        [
            onchain_row(PUBLISHED, name="ethereum", native_symbol="ETH"),
            {
                "chain_id": OFFCHAIN_CHAIN_ID,
                "name": "offchain",
                "native_symbol": "-",
                "source": PUBLISHED,
                "block_number": None,
                "timestamp": SNAPSHOT_TIME,
            },
        ],
    )


def protocols_table(ref: Reference, catalog: Catalog) -> pa.Table:
    """Every protocol and venue of the world (kind and family as the contract defines them)."""

    def on(
        pid: str, name: str, kind: str, family: str, address: str | None, source: str = PUBLISHED
    ) -> dict[str, object]:
        return onchain_row(
            source, protocol_id=pid, name=name, kind=kind, family=family, address=address
        )

    return rows_table(
        "protocols",
        [
            on(CHAINLINK, "Chainlink data feeds", "oracle", "chainlink", None),
            on(
                AAVE,
                "Aave v3 Ethereum",
                "lending",
                "aave-v3",
                ref.aave.pool,
                data_source(AAVE_FILE),
            ),
            on(
                SPARK,
                "SparkLend",
                "lending",
                "aave-v3",
                _SPARK_POOL,
                SYNTHETIC,  # modelled: Aave v3 rules with synthetic listings and positions
            ),
            on(
                COMET_USDC,
                "Compound III USDC",
                "lending",
                "compound-v3",
                _COMET_USDC,
                data_source(COMET_FILES["usdc"]),
            ),
            on(
                COMET_WETH,
                "Compound III WETH",
                "lending",
                "compound-v3",
                _COMET_WETH,
                data_source(COMET_FILES["weth"]),
            ),
            on(MAKER, "Maker vaults (ETH-A, WSTETH-A)", "lending", "cdp", _VAT),
            on(PSM, "Maker PSM-USDC-A", "stablecoin", "psm", _PSM_USDC_A),
            on(DSR, "Maker DAI Savings Rate (sDAI)", "vault", "savings", catalog["sDAI"].address),
            on(LIDO, "Lido", "vault", "lido", _STETH),
            on(ROCKET_POOL, "Rocket Pool", "vault", "lst", catalog["rETH"].address),
            on(
                COINBASE_CBETH,
                "Coinbase Wrapped Staked ETH",
                "vault",
                "lst",
                catalog["cbETH"].address,
            ),
            on(WETH9, "Wrapped Ether (WETH9)", "vault", "wrapper", catalog["WETH"].address),
            on(
                WBTC_CUSTODY, "Wrapped BTC (custodial)", "vault", "wrapper", catalog["WBTC"].address
            ),
            on(UNISWAP_V3, "Uniswap v3", "dex", "uniswap-v3", _UNISWAP_V3_FACTORY),
            on(UNISWAP_V2, "Uniswap v2", "dex", "uniswap-v2", _UNISWAP_V2_FACTORY),
            on(CURVE, "Curve StableSwap", "dex", "curve", None),
            *(
                on(pid, name, "dex", family, address)
                for pid, name, family, address in _LONG_TAIL_DEXES
                if catalog.long_tail
            ),
            on(
                TERRA,
                "Modelled Terra (synthetic algorithmic stablecoin)",
                "stablecoin",
                "algorithmic",
                synthetic_address("sample-world:modelled-terra"),
                SYNTHETIC,
            ),
            on(CIRCLE, "Circle (USDC issuer)", "stablecoin", "fiat", catalog["USDC"].address),
            on(TETHER, "Tether (USDT issuer)", "stablecoin", "fiat", catalog["USDT"].address),
            offchain_row(
                PUBLISHED,
                protocol_id=DERIBIT,
                name="Deribit",
                kind="derivative",
                family="deribit",
                address=None,
            ),
            offchain_row(
                SYNTHETIC,
                protocol_id=PERPS,
                name="Perpetual futures, aggregate of exchanges (modelled)",
                kind="derivative",
                family="perp",
                address=None,
            ),
        ],
    )


def assets_table(catalog: Catalog, supply_raw: Mapping[str, int]) -> pa.Table:
    """The ``assets`` table; ``supply_raw`` holds the base-unit supply of the tokens whose
    supply follows from the positions (Aave's receipt tokens)."""
    rows = []
    for a in catalog:
        raw = supply_raw.get(a.key)
        if raw is None and a.supply is not None:
            raw = int(exact_raw(a.supply, a.decimals))
        fields = {
            "asset_id": a.asset_id,
            "address": a.address,
            "symbol": a.symbol,
            "name": a.name,
            "kind": a.kind,
            "decimals": a.decimals,
            "underlying_asset_id": catalog.id(a.underlying) if a.underlying else None,
            "price_usd": a.price_usd,
            "total_supply_raw": None if raw is None else str(raw),
            "total_supply": None if raw is None else raw / 10**a.decimals,
            "depth_2pct_usd": a.depth_usd,
        }
        if a.chain_id == CHAIN_ID:
            rows.append(onchain_row(a.source, **fields))
        else:
            rows.append(offchain_row(a.source, **fields))
    return rows_table("assets", rows)


def wrappers_table(catalog: Catalog) -> pa.Table:
    """The ``wrappers`` table: what each wrapped, staked or receipt token redeems for."""
    return rows_table(
        "wrappers",
        [
            onchain_row(
                w.source,
                asset_id=catalog.id(w.key),
                underlying_asset_id=catalog.id(w.underlying),
                kind=w.kind,
                protocol_id=w.protocol_id,
                exchange_rate=float(w.rate),
            )
            for w in catalog.wrappers.values()
        ],
    )
