"""The data contract: one pyarrow schema per dataset table, declared in one place.

A dataset is a folder with one sub-folder per table; each sub-folder holds Parquet files named
``{chain}__{table}__{start}_to_{end}.parquet`` so that one glob reads them all. Every table has
``chain_id`` and provenance (``source`` plus ``block_number`` and/or ``timestamp``). Token
amounts are stored twice: losslessly as the uint256 integer in base units, written as a decimal
string (``*_raw``), and as a float in whole tokens for compute.

Conventions shared by every table (the same name always means the same thing):

* ``asset_id`` is ``"{chain_id}:{address}"`` with a lower-case address; ``symbol`` is display
  text read from the chain and therefore untrusted.
* ``protocol_id`` is a stable slug such as ``aave-v3-ethereum``.
* Fractions are floats in [0, 1] (``0.825`` not ``8250``); Aave's liquidation bonus is stored
  as the multiplier on repaid value (``1.05`` for a 5% bonus).
* Prices are USD floats.

Validation of a table against its spec lives in :mod:`contagion.validation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

__all__ = [
    "ASSET_KINDS",
    "FEED_KINDS",
    "POOL_KINDS",
    "PROTOCOL_KINDS",
    "STABLECOIN_MECHANISMS",
    "TABLES",
    "WRAPPER_KINDS",
    "Column",
    "TableSpec",
    "table_spec",
]

PROTOCOL_KINDS = ("lending", "dex", "derivative", "stablecoin", "oracle", "vault")
ASSET_KINDS = ("native", "erc20", "stable", "lst", "lp", "receipt")
FEED_KINDS = ("chainlink", "twap", "composite", "fixed", "market", "delayed", "exchange-rate")
POOL_KINDS = ("constant-product", "concentrated-liquidity", "stableswap")
STABLECOIN_MECHANISMS = ("fiat", "psm", "cdp", "algorithmic")
WRAPPER_KINDS = ("lst", "lp", "receipt", "vault")
LENDING_FAMILIES = ("aave-v3", "compound-v3", "cdp")
MARKET_ROLES = ("reserve", "base", "collateral")
OPTION_TYPES = ("call", "put")
PERP_SIDES = ("long", "short")

UTC_SECONDS = pa.timestamp("s", tz="UTC")


@dataclass(frozen=True)
class Column:
    """One column of a table: its Arrow type and the rules a value must satisfy."""

    name: str
    type: pa.DataType
    doc: str
    nullable: bool = False
    non_negative: bool = False
    positive: bool = False
    choices: tuple[str, ...] = ()
    references: tuple[str, str] | None = None
    """``(table, column)`` whose values this column must be drawn from."""
    raw_uint: bool = False
    """A lossless base-unit integer written as a decimal string (uint256 range)."""
    raw_int: bool = False
    """A lossless signed integer written as a decimal string (e.g. int128 liquidityNet)."""
    null_if_absent: bool = False
    """Added to the contract after files were written without it: such files read as null
    in this column (only for nullable columns)."""

    def __post_init__(self) -> None:
        if self.null_if_absent and not self.nullable:
            raise ValueError(f"column {self.name}: only a nullable column may be absent")

    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable)


def _provenance() -> list[Column]:
    return [
        Column("source", pa.string(), "Indexer or file that produced the row."),
        Column(
            "block_number",
            pa.int64(),
            "Block the row was read at (null for off-chain rows).",
            nullable=True,
            non_negative=True,
        ),
        Column(
            "timestamp",
            UTC_SECONDS,
            "Time the row was observed (null when only the block is known).",
            nullable=True,
        ),
    ]


def _chain() -> Column:
    return Column(
        "chain_id",
        pa.int64(),
        "EIP-155 chain id (0 for off-chain venues).",
        non_negative=True,
        references=("chains", "chain_id"),
    )


def _asset_ref(name: str, doc: str, *, nullable: bool = False) -> Column:
    return Column(name, pa.string(), doc, nullable=nullable, references=("assets", "asset_id"))


def _protocol_ref(
    name: str = "protocol_id", doc: str = "Protocol (protocols.protocol_id)."
) -> Column:
    return Column(name, pa.string(), doc, references=("protocols", "protocol_id"))


def _amount(name: str, doc: str, *, nullable: bool = False) -> list[Column]:
    return [
        Column(
            f"{name}_raw",
            pa.string(),
            f"{doc} Base units, lossless decimal string.",
            nullable=nullable,
            raw_uint=True,
        ),
        Column(
            name, pa.float64(), f"{doc} Whole tokens, float.", nullable=nullable, non_negative=True
        ),
    ]


@dataclass(frozen=True)
class TableSpec:
    """A dataset table: its columns, key and description."""

    name: str
    doc: str
    key: tuple[str, ...]
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([c.field() for c in self.columns])

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _table(name: str, doc: str, key: tuple[str, ...], columns: list[Column]) -> TableSpec:
    return TableSpec(name, doc, key, tuple([_chain(), *columns, *_provenance()]))


_SPECS: list[TableSpec] = [
    TableSpec(
        "chains",
        "Chains the dataset covers (0 = off-chain venues such as Deribit).",
        ("chain_id",),
        (
            Column(
                "chain_id",
                pa.int64(),
                "EIP-155 chain id (0 for off-chain venues).",
                non_negative=True,
            ),
            Column("name", pa.string(), "Chain name, e.g. ethereum."),
            Column("native_symbol", pa.string(), "Symbol of the native gas token."),
            *_provenance(),
        ),
    ),
    _table(
        "protocols",
        "Protocols and venues: lending markets, DEXes, derivative venues, stablecoin issuers, "
        "oracle networks, vaults.",
        ("protocol_id",),
        [
            Column("protocol_id", pa.string(), "Stable slug, e.g. aave-v3-ethereum."),
            Column("name", pa.string(), "Display name."),
            Column("kind", pa.string(), "What the protocol is.", choices=PROTOCOL_KINDS),
            Column(
                "family",
                pa.string(),
                "Rule family: aave-v3, compound-v3, cdp, uniswap-v2, uniswap-v3, curve, "
                "chainlink, deribit, perp, psm, algorithmic, lido, savings.",
            ),
            Column(
                "address", pa.string(), "Main contract address (null off-chain).", nullable=True
            ),
        ],
    ),
    _table(
        "assets",
        "Tokens: native coins, ERC-20s, stablecoins, liquid-staking tokens, LP and receipt tokens.",
        ("asset_id",),
        [
            Column("asset_id", pa.string(), "chain_id:address (lower case)."),
            Column("address", pa.string(), "Token address (lower case)."),
            Column("symbol", pa.string(), "Token symbol as read on chain (untrusted text)."),
            Column("name", pa.string(), "Token name as read on chain (untrusted text)."),
            Column("kind", pa.string(), "Token kind.", choices=ASSET_KINDS),
            Column("decimals", pa.int32(), "ERC-20 decimals.", non_negative=True),
            _asset_ref(
                "underlying_asset_id",
                "Asset this token wraps or is a receipt for (null if none).",
                nullable=True,
            ),
            Column(
                "price_usd", pa.float64(), "Market price in USD at the snapshot.", positive=True
            ),
            *_amount("total_supply", "Circulating supply (null if unknown).", nullable=True),
            Column(
                "depth_2pct_usd",
                pa.float64(),
                "USD of sells that move the asset's external market (other venues, centralised "
                "exchanges) by 2% (null: no external market).",
                nullable=True,
                non_negative=True,
            ),
        ],
    ),
    _table(
        "oracle_feeds",
        "Price feeds: Chainlink aggregators with heartbeat and deviation threshold, TWAPs, "
        "composite feeds built from other feeds, fixed pegs and market prices.",
        ("feed_id",),
        [
            Column("feed_id", pa.string(), "chain_id:address for on-chain feeds, else a slug."),
            Column(
                "address",
                pa.string(),
                "Feed proxy address (null for derived feeds).",
                nullable=True,
            ),
            Column("description", pa.string(), "Feed description, e.g. 'ETH / USD'."),
            Column(
                "kind",
                pa.string(),
                "Update rule: chainlink (deviation + heartbeat), twap, composite (product "
                "of source feeds), fixed (hard-coded value), market (follows the market), "
                "delayed (publishes the price of delay_s ago, e.g. Maker's OSM), "
                "exchange-rate (a wrapper's on-chain redemption rate).",
                choices=FEED_KINDS,
            ),
            Column(
                "protocol_id",
                pa.string(),
                "Oracle network or protocol that publishes the feed (null if none).",
                nullable=True,
                references=("protocols", "protocol_id"),
            ),
            _asset_ref("base_asset_id", "Asset the feed prices."),
            Column("quote", pa.string(), "Quote unit: 'USD' or the asset_id of the quote asset."),
            Column("decimals", pa.int32(), "Answer decimals.", non_negative=True),
            Column(
                "heartbeat_s",
                pa.int64(),
                "Longest time between updates, seconds (null if none).",
                nullable=True,
                positive=True,
            ),
            Column(
                "deviation_bps",
                pa.float64(),
                "Relative move that forces an update, basis points (null if none).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "twap_window_s",
                pa.int64(),
                "TWAP window, seconds (twap feeds only).",
                nullable=True,
                positive=True,
            ),
            Column(
                "delay_s",
                pa.int64(),
                "Publication delay, seconds (delayed feeds only).",
                nullable=True,
                positive=True,
            ),
            Column(
                "source_feed_ids",
                pa.list_(pa.string()),
                "Feeds a composite is the product of (empty for the others).",
                references=("oracle_feeds", "feed_id"),
            ),
            Column("answer_raw", pa.string(), "Latest answer as the raw integer.", raw_int=True),
            Column("answer", pa.float64(), "Latest answer scaled by decimals.", positive=True),
        ],
    ),
    _table(
        "oracle_usage",
        "Which feed each protocol reads for each asset.",
        ("protocol_id", "asset_id"),
        [
            _protocol_ref(),
            _asset_ref("asset_id", "Asset being priced."),
            Column(
                "feed_id",
                pa.string(),
                "Feed the protocol reads.",
                references=("oracle_feeds", "feed_id"),
            ),
        ],
    ),
    _table(
        "lending_markets",
        "Risk parameters per (protocol, asset), for Aave v3 reserves, Compound v3 (Comet) base "
        "and collateral assets, and CDP collateral types. Columns that do not apply to a "
        "family are null.",
        ("protocol_id", "asset_id"),
        [
            Column("market_id", pa.string(), "protocol_id/symbol."),
            _protocol_ref(),
            Column("family", pa.string(), "Rule family.", choices=LENDING_FAMILIES),
            _asset_ref("asset_id", "Reserve / collateral asset."),
            Column(
                "role",
                pa.string(),
                "reserve (Aave), base or collateral (Comet), collateral (CDP).",
                choices=MARKET_ROLES,
            ),
            _asset_ref(
                "debt_asset_id",
                "Asset borrowed against this collateral when fixed (Comet base, CDP "
                "stablecoin); null for Aave, where any reserve can be borrowed.",
                nullable=True,
            ),
            Column("usage_as_collateral", pa.bool_(), "Accepted as collateral."),
            Column("borrowing_enabled", pa.bool_(), "Can be borrowed."),
            Column(
                "ltv",
                pa.float64(),
                "Aave loan-to-value (fraction).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "liquidation_threshold",
                pa.float64(),
                "Aave liquidation threshold.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "liquidation_bonus",
                pa.float64(),
                "Aave liquidationBonus as multiplier on repaid value (1.05 = 5%).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "liquidation_protocol_fee",
                pa.float64(),
                "Aave share of the bonus taken by the protocol.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "close_factor",
                pa.float64(),
                "Share of debt repayable in one liquidation.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "close_factor_full_hf",
                pa.float64(),
                "Health factor below which the whole debt may be repaid (Aave: 0.95).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "emode_category",
                pa.int32(),
                "Aave e-mode category (0 = none).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "emode_ltv",
                pa.float64(),
                "LTV inside the e-mode category.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "emode_liquidation_threshold",
                pa.float64(),
                "Liquidation threshold inside the e-mode category.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "emode_liquidation_bonus",
                pa.float64(),
                "Liquidation bonus multiplier inside the e-mode category.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "supply_cap",
                pa.float64(),
                "Supply cap, whole tokens (0 = none).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "borrow_cap",
                pa.float64(),
                "Borrow cap, whole tokens (0 = none).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "debt_ceiling",
                pa.float64(),
                "Isolation-mode debt ceiling, USD (0 = none).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "borrow_cf",
                pa.float64(),
                "Comet borrowCollateralFactor.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "liquidate_cf",
                pa.float64(),
                "Comet liquidateCollateralFactor.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "liquidation_factor",
                pa.float64(),
                "Comet liquidationFactor: share of collateral value credited on absorb.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "store_front_price_factor",
                pa.float64(),
                "Comet storeFrontPriceFactor: share of the liquidation discount passed to "
                "buyers of absorbed collateral.",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "target_reserves",
                pa.float64(),
                "Comet targetReserves, whole base tokens: while the protocol's reserves are at "
                "or above it, absorbed collateral is not for sale (buyCollateral reverts "
                "NotForSale). Base row only.",
                nullable=True,
                non_negative=True,
                null_if_absent=True,
            ),
            Column(
                "reserves",
                pa.float64(),
                "Comet getReserves() at the snapshot, whole base tokens (negative when it owes "
                "more base than it holds). Base row only; null when not read (absorbed "
                "collateral is then taken to be for sale).",
                nullable=True,
                null_if_absent=True,
            ),
            Column(
                "liquidation_ratio",
                pa.float64(),
                "CDP liquidation ratio (collateral value / debt, e.g. 1.45).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "liquidation_penalty",
                pa.float64(),
                "CDP liquidation penalty (fraction).",
                nullable=True,
                non_negative=True,
            ),
        ],
    ),
    _table(
        "lending_positions",
        "One row per account x protocol x asset: supplied collateral and borrowed debt.",
        ("protocol_id", "account", "asset_id"),
        [
            Column("account", pa.string(), "Account address (lower case)."),
            _protocol_ref(),
            _asset_ref("asset_id", "Asset supplied or borrowed."),
            *_amount("collateral_amount", "Supplied amount."),
            *_amount("debt_amount", "Borrowed amount."),
            Column("used_as_collateral", pa.bool_(), "The supply counts as collateral."),
            Column(
                "emode_category",
                pa.int32(),
                "Account's e-mode category (0 = none).",
                non_negative=True,
            ),
        ],
    ),
    _table(
        "pools",
        "AMM pools: constant-product (Uniswap v2), concentrated-liquidity (Uniswap v3) and "
        "StableSwap (Curve).",
        ("pool_id",),
        [
            Column("pool_id", pa.string(), "chain_id:address."),
            _protocol_ref(),
            Column("address", pa.string(), "Pool address (lower case)."),
            Column("kind", pa.string(), "Pool invariant.", choices=POOL_KINDS),
            Column(
                "token_asset_ids",
                pa.list_(pa.string()),
                "Pool tokens in pool order.",
                references=("assets", "asset_id"),
            ),
            Column(
                "reserves_raw",
                pa.list_(pa.string()),
                "Token balances, base units, lossless.",
                raw_uint=True,
            ),
            Column(
                "reserves",
                pa.list_(pa.float64()),
                "Token balances, whole tokens.",
                non_negative=True,
            ),
            Column("fee", pa.float64(), "Swap fee (fraction).", non_negative=True),
            Column(
                "amplification",
                pa.float64(),
                "StableSwap A (null otherwise).",
                nullable=True,
                positive=True,
            ),
            Column(
                "sqrt_price_x96_raw",
                pa.string(),
                "Uniswap v3 slot0.sqrtPriceX96 (null otherwise).",
                nullable=True,
                raw_uint=True,
            ),
            Column(
                "sqrt_price",
                pa.float64(),
                "sqrt(token1 per token0) in whole tokens (concentrated pools).",
                nullable=True,
                positive=True,
            ),
            Column("tick", pa.int32(), "Current tick (concentrated pools).", nullable=True),
            Column(
                "tick_spacing",
                pa.int32(),
                "Tick spacing (concentrated pools).",
                nullable=True,
                positive=True,
            ),
            Column(
                "liquidity_raw",
                pa.string(),
                "Active liquidity L (concentrated pools).",
                nullable=True,
                raw_uint=True,
            ),
            Column(
                "liquidity",
                pa.float64(),
                "Active liquidity L in whole-token units (concentrated pools).",
                nullable=True,
                non_negative=True,
            ),
        ],
    ),
    _table(
        "pool_ticks",
        "Initialized ticks of concentrated-liquidity pools.",
        ("pool_id", "tick"),
        [
            Column("pool_id", pa.string(), "Pool.", references=("pools", "pool_id")),
            Column("tick", pa.int32(), "Tick index."),
            Column(
                "liquidity_net_raw", pa.string(), "liquidityNet (int128), lossless.", raw_int=True
            ),
            Column(
                "liquidity_net",
                pa.float64(),
                "liquidityNet in whole-token units (may be negative).",
            ),
            Column("liquidity_gross_raw", pa.string(), "liquidityGross, lossless.", raw_uint=True),
            Column(
                "liquidity_gross",
                pa.float64(),
                "liquidityGross in whole-token units.",
                non_negative=True,
            ),
        ],
    ),
    _table(
        "option_series",
        "Listed option series with open interest and the dealers' side of the book.",
        ("protocol_id", "series_id"),
        [
            Column("series_id", pa.string(), "Instrument name, e.g. BTC-26JUN20-9000-C."),
            _protocol_ref(doc="Venue (protocols.protocol_id)."),
            _asset_ref("underlying_asset_id", "Underlying asset."),
            Column("expiry", UTC_SECONDS, "Expiry time."),
            Column("strike", pa.float64(), "Strike, USD.", positive=True),
            Column("option_type", pa.string(), "call or put.", choices=OPTION_TYPES),
            Column(
                "open_interest",
                pa.float64(),
                "Open interest, units of underlying.",
                non_negative=True,
            ),
            Column(
                "mark_iv",
                pa.float64(),
                "Mark implied volatility (fraction, 0.75 = 75%).",
                positive=True,
            ),
            Column(
                "mark_price",
                pa.float64(),
                "Mark price, USD per unit of underlying.",
                non_negative=True,
            ),
            Column(
                "underlying_price", pa.float64(), "Underlying (forward) price, USD.", positive=True
            ),
            Column(
                "dealer_sign",
                pa.int8(),
                "+1 when dealers are long the open interest, -1 when short.",
            ),
        ],
    ),
    _table(
        "perp_markets",
        "Perpetual futures open interest bucketed by liquidation price, with the venue's "
        "insurance fund.",
        ("protocol_id", "market", "side", "liquidation_price"),
        [
            _protocol_ref(doc="Venue (protocols.protocol_id)."),
            Column("market", pa.string(), "Market name, e.g. ETH-PERP."),
            _asset_ref("underlying_asset_id", "Underlying asset."),
            Column("side", pa.string(), "Position side.", choices=PERP_SIDES),
            Column(
                "liquidation_price", pa.float64(), "Bucket liquidation price, USD.", positive=True
            ),
            Column(
                "open_interest",
                pa.float64(),
                "Open interest in the bucket, underlying units.",
                non_negative=True,
            ),
            Column(
                "maintenance_margin",
                pa.float64(),
                "Maintenance margin rate (fraction).",
                non_negative=True,
            ),
            Column(
                "insurance_fund_usd",
                pa.float64(),
                "Venue insurance fund for the market, USD (repeated per bucket).",
                non_negative=True,
            ),
        ],
    ),
    _table(
        "stablecoins",
        "Stablecoins and their backing: one row per (stablecoin, backing asset).",
        ("asset_id", "backing_asset_id"),
        [
            _asset_ref("asset_id", "The stablecoin."),
            _protocol_ref(doc="Issuer (protocols.protocol_id)."),
            Column(
                "mechanism",
                pa.string(),
                "How this part of the backing works.",
                choices=STABLECOIN_MECHANISMS,
            ),
            Column("peg_usd", pa.float64(), "Target price, USD.", positive=True),
            Column("supply", pa.float64(), "Total supply, whole tokens.", non_negative=True),
            _asset_ref(
                "backing_asset_id", "Backing asset (for algorithmic coins: the governance token)."
            ),
            Column(
                "backing_share",
                pa.float64(),
                "Share of supply this backing covers.",
                non_negative=True,
            ),
            Column(
                "redemption_limit_usd",
                pa.float64(),
                "Most that can be redeemed or swapped per day, USD (null = unlimited).",
                nullable=True,
                non_negative=True,
            ),
            Column(
                "redemption_fee",
                pa.float64(),
                "Fee on redemption / swap (fraction).",
                non_negative=True,
            ),
        ],
    ),
    _table(
        "wrappers",
        "Wrapped, liquid-staking, LP and receipt tokens and what they redeem for.",
        ("asset_id",),
        [
            _asset_ref("asset_id", "The wrapper token."),
            _asset_ref("underlying_asset_id", "What it redeems for."),
            Column("kind", pa.string(), "Wrapper kind.", choices=WRAPPER_KINDS),
            _protocol_ref(doc="Issuing protocol (protocols.protocol_id)."),
            Column("exchange_rate", pa.float64(), "Underlying per wrapper token.", positive=True),
        ],
    ),
]

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in _SPECS}


def table_spec(name: str) -> TableSpec:
    """Return the spec of table ``name``; raise :class:`KeyError` naming the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None
