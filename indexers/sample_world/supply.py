"""Circulating supply and external market depth of the world's tokens (``assets`` columns).

Supplies are the circulating supplies around 2023-10-31, rounded (CoinGecko's circulating
supply, Etherscan's ``totalSupply`` for the wrappers, the issuance schedule for BTC, staking
dashboards for the liquid-staking tokens). Multi-chain stablecoins count their supply on
every chain, because the world's token stands for the whole coin: its price and its external
market are global. Aave's receipt tokens are not listed here: their supply is what the
world's positions supply to Aave (computed from the positions). ``docs/sample-world.md``
gives every figure with its source.

``depth_2pct_usd`` is the USD of sells that move a token's *external* market (centralised
exchange order books and on-chain venues the world does not model) down by 2 %: the bid side
within 2 % of the mid-price, half of the two-sided "2 % market depth" that Kaiko reports.

* BTC and ETH: Kaiko's post-FTX figures (below 10,000 BTC of two-sided 2 % depth across the
  major exchanges; 1 % depth of about 230 M USD over all venues in December 2023); ETH's order
  books are about half as deep as BTC's.
* Volatile DeFi tokens: 0.1 % of their market capitalisation, anchored on Kaiko's CRV figure
  (2 % ask depth below 1 M USD in June 2023 for a market capitalisation of about 0.5 B USD).
* Stablecoins and liquid-staking tokens: stated assumptions of the size of their external
  books and of their pools outside the world.
* Tokens that convert freely into another token (WETH, WBTC, wstETH, sDAI, aTokens) have no
  market of their own: the solver trades them in their root's market (ETH, BTC, stETH, DAI,
  WETH -> ETH), which carries the depth; their depth is null, as is the off-chain dollar's.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Final

__all__ = [
    "DEPTH_SHARE_OF_MARKET_CAP",
    "DEPTH_USD",
    "MARKET_CAP_DEPTH",
    "NO_EXTERNAL_MARKET",
    "SUPPLY",
    "depth_usd",
]

_M = 10**6
_B = 10**9

SUPPLY: Final[dict[str, Fraction]] = {
    "ETH": Fraction(120_270_000),
    "WETH": Fraction(3_250_000),
    "BTC": Fraction(19_530_000),
    "WBTC": Fraction(156_000),
    "stETH": Fraction(8_800_000),
    "wstETH": Fraction(3_200_000),
    "cbETH": Fraction(1_150_000),
    "rETH": Fraction(470_000),
    "USDC": Fraction(24_400 * _M),
    "USDT": Fraction(84_500 * _M),
    "DAI": Fraction(5_350 * _M),
    "sDAI": Fraction(1 * _B),
    "FRAX": Fraction(650 * _M),
    "LUSD": Fraction(180 * _M),
    # GHO had reached Aave's 35 M borrow cap, its only minting route in October 2023.
    "GHO": Fraction(35 * _M),
    "LINK": Fraction(556_850_000),
    "UNI": Fraction(753_770_000),
    "AAVE": Fraction(14_600_000),
    "MKR": Fraction(920_000),
    "CRV": Fraction(940 * _M),
    "SNX": Fraction(300 * _M),
    "BAL": Fraction(52 * _M),
    "LDO": Fraction(890 * _M),
    "ENS": Fraction(30_400_000),
    "1INCH": Fraction(1_100 * _M),
    "RPL": Fraction(20_300_000),
    "STG": Fraction(204 * _M),
    "KNC": Fraction(170 * _M),
    "COMP": Fraction(8_000_000),
    # Modelled Terra at 1/10 of Terra's size in early May 2022: 18.7 B UST, about 350 M LUNA
    # (a 28 B USD market capitalisation at 80 USD, 1.5 times the UST supply).
    "mUST": Fraction(1_870 * _M),
    "mLUNA": Fraction(35 * _M),
}

DEPTH_USD: Final[dict[str, float]] = {
    "BTC": 140e6,
    "ETH": 70e6,
    # A 2 % discount on a fiat-backed coin is bought by arbitrageurs who redeem at par; Kaiko
    # saw USDC-USD books reach 600 M USD (two-sided) in March 2023.
    "USDT": 500e6,
    "USDC": 300e6,
    # DAI, FRAX, LUSD and GHO trade mostly on chain, in pools outside the world (Uniswap v3
    # DAI/USDC, Curve FRAX/USDC, LUSD and GHO pools); thin order books.
    "DAI": 50e6,
    "FRAX": 5e6,
    "LUSD": 2e6,
    "GHO": 2e6,
    # Liquid-staking tokens outside the Curve stETH pool: Uniswap v3 and Balancer pools
    # against WETH and a few order books (Coinbase for cbETH).
    "stETH": 40e6,
    "cbETH": 8e6,
    "rETH": 8e6,
    # UST's order books (Binance UST/USDT and UST/BUSD) before the May 2022 run, assumed
    # 100 M USD, scaled by 1/10 like the supply; its Curve pool is in the world.
    "mUST": 10e6,
}

DEPTH_SHARE_OF_MARKET_CAP: Final = 0.001
"""Depth of a volatile DeFi token as a share of its market capitalisation."""

MARKET_CAP_DEPTH: Final = frozenset(
    {
        "LINK",
        "UNI",
        "AAVE",
        "MKR",
        "CRV",
        "SNX",
        "BAL",
        "LDO",
        "ENS",
        "1INCH",
        "RPL",
        "STG",
        "KNC",
        "COMP",
        "mLUNA",
    }
)

NO_EXTERNAL_MARKET: Final = frozenset(
    {"WETH", "WBTC", "wstETH", "sDAI", "aEthWETH", "aEthUSDC", "USD"}
)


def depth_usd(key: str, price: Fraction) -> float | None:
    """External 2 % depth of token ``key`` at ``price`` (None where it has no market).

    >>> depth_usd("CRV", Fraction(1, 2))
    470000.0
    >>> depth_usd("WETH", Fraction(1800)) is None
    True
    """
    if key in NO_EXTERNAL_MARKET:
        return None
    if key in MARKET_CAP_DEPTH:
        return float(DEPTH_SHARE_OF_MARKET_CAP * SUPPLY[key] * price)
    return DEPTH_USD[key]
