"""Real parameters read from the data files shipped in ``contagion/data``.

Nothing here is invented: every value is parsed from one of the files below, in the units the
file uses, and converted only where the unit is stated by the file's publisher.

* ``aave-v3-ethereum-2023-10-31.json`` (bgd-labs/aave-proposals-v3 config snapshot): reserve
  parameters in basis points (``ltv`` 8050 = 80.50 %, ``liquidationBonus`` 10500 = a 5 %
  bonus), caps in whole tokens, ``debtCeiling`` in USD with 2 decimals (Aave v3's
  ``DEBT_CEILING_DECIMALS``), the Chainlink ``oracle`` and its latest answer (8 decimals,
  the Aave oracle's USD base unit).
* ``compound-v3-mainnet-{usdc,weth}.json`` (compound-finance/comet deployment configuration):
  collateral factors as fractions, supply caps as ``"<mantissa>e<decimals>"`` base units.
* ``chainlink-feeds-ethereum-mainnet.json`` (smartcontractkit/documentation): per feed proxy,
  ``heartbeat`` in seconds and ``threshold`` (deviation) in percent.
* ``deribit-btc-options-2020-05-14.csv`` (schepal/deribit_data_collector): one Deribit BTC
  option chain, prices in BTC, implied volatility in percent, timestamps in milliseconds.

References
----------
Aave (2022). Aave v3 technical paper; aave-v3-core ``ReserveConfiguration.sol``.
Compound Labs (2022). Compound III documentation, "Collateral & Borrowing".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import pandas as pd

from contagion.resources import data_text
from indexers.deribit import read_book_summary, snapshot_time

__all__ = [
    "AAVE_FILE",
    "CHAINLINK_FILE",
    "COMET_FILES",
    "DERIBIT_FILE",
    "AaveConfig",
    "AaveReserve",
    "ChainlinkFeed",
    "CometAsset",
    "CometMarket",
    "EMode",
    "Reference",
    "deribit_snapshot_time",
    "load_reference",
]

AAVE_FILE = "aave-v3-ethereum-2023-10-31.json"
CHAINLINK_FILE = "chainlink-feeds-ethereum-mainnet.json"
COMET_FILES = {"usdc": "compound-v3-mainnet-usdc.json", "weth": "compound-v3-mainnet-weth.json"}
DERIBIT_FILE = "deribit-btc-options-2020-05-14.csv"

_BPS = 10_000.0
# Aave v3 stores the debt ceiling with 2 decimals (ReserveConfiguration.DEBT_CEILING_DECIMALS).
_DEBT_CEILING_DECIMALS = 2
# The Aave oracle quotes every asset in USD with 8 decimals; the report omits oracleDecimals
# for one adapter (rETH), whose answer is in that same base unit.
_AAVE_ORACLE_DECIMALS = 8


@dataclass(frozen=True)
class AaveReserve:
    """One Aave v3 reserve as configured on 2023-10-31 (fractions already divided by 1e4)."""

    symbol: str
    underlying: str
    decimals: int
    ltv: float
    liquidation_threshold: float
    liquidation_bonus: float
    """Multiplier on repaid value (1.05 = 5 % bonus); 0.0 where the reserve is no collateral."""
    liquidation_protocol_fee: float
    supply_cap: float
    borrow_cap: float
    debt_ceiling_usd: float
    emode_category: int
    usage_as_collateral: bool
    borrowing_enabled: bool
    borrowable_in_isolation: bool
    frozen: bool
    a_token: str
    a_token_symbol: str
    a_token_name: str
    oracle: str
    oracle_description: str | None
    oracle_answer_raw: int
    oracle_decimals: int

    @property
    def oracle_price(self) -> float:
        """The oracle's latest answer in USD."""
        return self.oracle_answer_raw / 10**self.oracle_decimals

    @property
    def isolated(self) -> bool:
        """Isolation-mode collateral (a non-zero debt ceiling)."""
        return self.debt_ceiling_usd > 0


@dataclass(frozen=True)
class EMode:
    """An Aave v3 efficiency-mode category."""

    category: int
    label: str
    ltv: float
    liquidation_threshold: float
    liquidation_bonus: float


@dataclass(frozen=True)
class AaveConfig:
    """The Aave v3 Ethereum pool configuration file."""

    reserves: tuple[AaveReserve, ...]
    emodes: dict[int, EMode]
    pool: str

    def reserve(self, symbol: str) -> AaveReserve:
        """The reserve whose underlying has ``symbol``."""
        for r in self.reserves:
            if r.symbol == symbol:
                return r
        raise KeyError(f"no Aave reserve {symbol!r}")


@dataclass(frozen=True)
class CometAsset:
    """One collateral asset of a Compound III market."""

    symbol: str
    address: str
    decimals: int
    price_feed: str | None
    borrow_cf: float
    liquidate_cf: float
    liquidation_factor: float
    supply_cap: float
    """Whole tokens; 0.0 where the deployment file sets 0 (raised later by governance)."""


@dataclass(frozen=True)
class CometMarket:
    """One Compound III (Comet) market's deployment configuration."""

    name: str
    symbol: str
    base_symbol: str
    base_address: str
    base_price_feed: str | None
    store_front_price_factor: float
    assets: tuple[CometAsset, ...]
    target_reserves: str | None = None
    """``targetReserves`` as the file writes it (base units, e.g. ``"5000000e6"``)."""

    def asset(self, symbol: str) -> CometAsset:
        """The collateral asset ``symbol``."""
        for a in self.assets:
            if a.symbol == symbol:
                return a
        raise KeyError(f"no collateral {symbol!r} in {self.name}")


@dataclass(frozen=True)
class ChainlinkFeed:
    """One Chainlink feed of the published Ethereum feed list."""

    address: str
    name: str
    heartbeat_s: int
    deviation_bps: float
    decimals: int


@dataclass(frozen=True)
class Reference:
    """Everything the world reads from the shipped data files."""

    aave: AaveConfig
    comet: dict[str, CometMarket]
    chainlink: dict[str, ChainlinkFeed]
    """Feeds by lower-case proxy address."""
    deribit: pd.DataFrame

    def feed(self, address: str) -> ChainlinkFeed:
        """The listed Chainlink feed at proxy ``address`` (any case)."""
        try:
            return self.chainlink[address.lower()]
        except KeyError:
            raise KeyError(f"{address} is not in the shipped Chainlink feed list") from None


def _reserve(body: dict[str, Any]) -> AaveReserve:
    return AaveReserve(
        symbol=body["symbol"],
        underlying=body["underlying"].lower(),
        decimals=int(body["decimals"]),
        ltv=body["ltv"] / _BPS,
        liquidation_threshold=body["liquidationThreshold"] / _BPS,
        liquidation_bonus=body["liquidationBonus"] / _BPS,
        liquidation_protocol_fee=body["liquidationProtocolFee"] / _BPS,
        supply_cap=float(body["supplyCap"]),
        borrow_cap=float(body["borrowCap"]),
        debt_ceiling_usd=body["debtCeiling"] / 10**_DEBT_CEILING_DECIMALS,
        emode_category=int(body["eModeCategory"]),
        usage_as_collateral=bool(body["usageAsCollateralEnabled"]),
        borrowing_enabled=bool(body["borrowingEnabled"]),
        borrowable_in_isolation=bool(body["isBorrowableInIsolation"]),
        frozen=bool(body["isFrozen"]),
        a_token=body["aToken"].lower(),
        a_token_symbol=body["aTokenSymbol"],
        a_token_name=body["aTokenName"],
        oracle=body["oracle"].lower(),
        oracle_description=body.get("oracleDescription") or body.get("oracleName"),
        oracle_answer_raw=int(body["oracleLatestAnswer"]),
        oracle_decimals=int(body.get("oracleDecimals") or _AAVE_ORACLE_DECIMALS),
    )


def _load_aave() -> AaveConfig:
    doc = json.loads(data_text(AAVE_FILE))
    reserves = tuple(
        sorted((_reserve(b) for b in doc["reserves"].values()), key=lambda r: r.symbol.lower())
    )
    emodes = {
        int(k): EMode(
            int(v["eModeCategory"]),
            v["label"],
            v["ltv"] / _BPS,
            v["liquidationThreshold"] / _BPS,
            v["liquidationBonus"] / _BPS,
        )
        for k, v in doc["eModes"].items()
    }
    return AaveConfig(reserves, emodes, doc["poolConfig"]["pool"].lower())


def scaled_amount(text: str, decimals: int) -> float:
    """``"7_100e18"`` (base units written as mantissa e exponent) -> 7100.0 whole tokens."""
    mantissa, _, exponent = text.replace("_", "").partition("e")
    return float(mantissa) * 10.0 ** (int(exponent or 0) - decimals)


def _load_comet(file: str) -> CometMarket:
    doc = json.loads(data_text(file))
    assets = []
    for symbol, body in doc["assets"].items():
        decimals = int(body["decimals"])
        assets.append(
            CometAsset(
                symbol=symbol,
                address=body["address"].lower(),
                decimals=decimals,
                price_feed=body["priceFeed"].lower() if body.get("priceFeed") else None,
                borrow_cf=float(body["borrowCF"]),
                liquidate_cf=float(body["liquidateCF"]),
                liquidation_factor=float(body["liquidationFactor"]),
                supply_cap=scaled_amount(body["supplyCap"], decimals),
            )
        )
    feed = doc.get("baseTokenPriceFeed")
    return CometMarket(
        name=doc["name"],
        symbol=doc["symbol"],
        base_symbol=doc["baseToken"],
        base_address=doc["baseTokenAddress"].lower(),
        base_price_feed=feed.lower() if feed else None,
        store_front_price_factor=float(doc["storeFrontPriceFactor"]),
        assets=tuple(assets),
        target_reserves=doc.get("targetReserves"),
    )


def _load_chainlink() -> dict[str, ChainlinkFeed]:
    feeds: dict[str, ChainlinkFeed] = {}
    for body in json.loads(data_text(CHAINLINK_FILE)):
        address = body.get("proxyAddress")
        if not address or body.get("heartbeat") is None or body.get("threshold") is None:
            continue
        feeds[address.lower()] = ChainlinkFeed(
            address=address.lower(),
            name=body["name"],
            heartbeat_s=int(body["heartbeat"]),
            # The list gives the deviation threshold in percent: 0.5 -> 50 basis points.
            deviation_bps=float(body["threshold"]) * 100.0,
            decimals=int(body["decimals"]),
        )
    return feeds


def _load_deribit() -> pd.DataFrame:
    return read_book_summary(DERIBIT_FILE, text=data_text(DERIBIT_FILE))


def deribit_snapshot_time(chain: pd.DataFrame) -> datetime:
    """When the option chain was read: the median of its rows' millisecond timestamps."""
    return snapshot_time(chain)


@lru_cache(maxsize=1)
def load_reference() -> Reference:
    """Parse every shipped data file once (the result is cached and must not be mutated)."""
    return Reference(
        aave=_load_aave(),
        comet={k: _load_comet(f) for k, f in COMET_FILES.items()},
        chainlink=_load_chainlink(),
        deribit=_load_deribit(),
    )
