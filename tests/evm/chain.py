"""A fixture chain: Vyper contracts with the real protocols' ABIs and a scripted history.

Compiled once per test session with the ``vyper`` package and deployed through web3 to any
provider (py-evm in process through eth-tester, or a node over HTTP). The history: users
supply and borrow on Aave v3 (one in e-mode) and Compound III, prices move, a swap moves a
Uniswap v2 pair, a Uniswap v3 pool gets liquidity and moves across ticks, a Curve exchange,
an Aave liquidation and a Comet absorb. Reserve parameters are Aave's real Ethereum ones
from the shipped configuration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import vyper
from vyper.compiler.settings import Settings
from web3 import Web3

from contagion.resources import data_text

CONTRACTS = Path(__file__).parent / "contracts"
E8 = 10**8
EVM_VERSION = "shanghai"


@cache
def compiled(name: str) -> tuple[list[dict[str, Any]], str]:
    source = (CONTRACTS / f"{name}.vy").read_text()
    # Shanghai: the newest fork both py-evm and ganache 7 run (Vyper 0.4 targets Cancun).
    out = vyper.compile_code(
        source, output_formats=["abi", "bytecode"], settings=Settings(evm_version=EVM_VERSION)
    )
    return out["abi"], out["bytecode"]


@dataclass
class FixtureChain:
    """Addresses of the deployed fixture contracts and the web3 handle."""

    w3: Web3
    multicall: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    feeds: dict[str, str] = field(default_factory=dict)
    pool: str = ""
    data_provider: str = ""
    oracle: str = ""
    a_tokens: dict[str, str] = field(default_factory=dict)
    comet: str = ""
    v2_pair: str = ""
    v3_pool: str = ""
    curve_pool: str = ""
    users: list[str] = field(default_factory=list)
    comet_users: list[str] = field(default_factory=list)
    liquidated: str = ""
    absorbed: str = ""

    def contract(self, name: str, address: str) -> Any:
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=compiled(name)[0]
        )


def _user(i: int) -> str:
    return Web3.to_checksum_address("0x" + f"{0xA11CE000 + i:040x}")


class _Deployer:
    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.sender = w3.eth.accounts[0]

    def deploy(self, name: str, *args: Any) -> Any:
        abi, bytecode = compiled(name)
        tx = (
            self.w3.eth.contract(abi=abi, bytecode=bytecode)
            .constructor(*args)
            .transact({"from": self.sender, "gas": 8_000_000})
        )
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=abi)

    def send(self, fn: Any, gas: int = 15_000_000) -> None:
        tx = fn.transact({"from": self.sender, "gas": gas})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt["status"] == 1


_RESERVES = ("WETH", "USDC", "WBTC", "wstETH")
_PRICES = {
    "WETH": 2000 * E8,
    "USDC": E8,
    "WBTC": 30_000 * E8,
    "wstETH": 2300 * E8,
    "USDT": E8,
    "DAI": E8,
}
_DECIMALS = {"WETH": 18, "USDC": 6, "WBTC": 8, "wstETH": 18, "USDT": 6, "DAI": 18}


def build_chain(w3: Web3, *, users: int = 24, comet_users: int = 12) -> FixtureChain:
    """Deploy every fixture contract and play the scripted history."""
    d = _Deployer(w3)
    me = d.sender
    fc = FixtureChain(w3)
    fc.multicall = d.deploy("Multicall3").address
    tokens = {s: d.deploy("ERC20", f"Fixture {s}", s, _DECIMALS[s], me) for s in _PRICES}
    fc.tokens = {s: t.address for s, t in tokens.items()}
    feeds = {s: d.deploy("ChainlinkAggregator", 8, f"{s} / USD", _PRICES[s]) for s in _PRICES}
    fc.feeds = {s: f.address for s, f in feeds.items()}

    # Aave v3 with the real Ethereum parameters of four reserves.
    oracle = d.deploy("AaveOracle")
    pool = d.deploy("AavePool", oracle.address)
    dp = d.deploy("AaveDataProvider", pool.address)
    fc.oracle, fc.pool, fc.data_provider = oracle.address, pool.address, dp.address
    config = json.loads(data_text("aave-v3-ethereum-2023-10-31.json"))
    by_symbol = {r["symbol"]: r for r in config["reserves"].values()}
    em = config["eModes"]["1"]
    d.send(
        pool.functions.setEModeCategory(
            1,
            (
                em["ltv"],
                em["liquidationThreshold"],
                em["liquidationBonus"],
                "0x" + "00" * 20,
                em["label"][:32],
            ),
        )
    )
    for s in _RESERVES:
        r = by_symbol[s]
        a_token = d.deploy("ERC20", r["aTokenName"], r["aTokenSymbol"], _DECIMALS[s], pool.address)
        debt = d.deploy(
            "ERC20",
            r["variableDebtTokenName"],
            r["variableDebtTokenSymbol"],
            _DECIMALS[s],
            pool.address,
        )
        fc.a_tokens[s] = a_token.address
        d.send(oracle.functions.setAssetSource(fc.tokens[s], fc.feeds[s]))
        d.send(
            pool.functions.initReserve(
                fc.tokens[s],
                (
                    _DECIMALS[s],
                    r["ltv"],
                    r["liquidationThreshold"],
                    r["liquidationBonus"],
                    r["reserveFactor"],
                    r["usageAsCollateralEnabled"],
                    r["borrowingEnabled"],
                    True,
                    False,
                    a_token.address,
                    "0x" + "00" * 20,
                    debt.address,
                    r["borrowCap"],
                    r["supplyCap"],
                    r["debtCeiling"],
                    r["liquidationProtocolFee"],
                    r["eModeCategory"],
                ),
            )
        )
    unit = {s: 10 ** _DECIMALS[s] for s in _PRICES}
    fc.users = [_user(i) for i in range(users)]
    # Users 0..n supply WETH (or WBTC every third) and borrow USDC at health factors 1.1..2.
    weth_users = [u for i, u in enumerate(fc.users) if i % 3]
    btc_users = [u for i, u in enumerate(fc.users) if not i % 3]
    d.send(
        pool.functions.supplyMany(
            fc.tokens["WETH"], weth_users, [(2 + i) * unit["WETH"] for i in range(len(weth_users))]
        )
    )
    d.send(
        pool.functions.supplyMany(
            fc.tokens["WBTC"], btc_users, [unit["WBTC"] // (1 + i) for i in range(len(btc_users))]
        )
    )
    borrowers = fc.users[: users - 4]
    amounts = []
    for i, u in enumerate(borrowers):
        value = (
            (2 + weth_users.index(u)) * 2000 * 0.83
            if u in weth_users
            else 30_000 / (1 + btc_users.index(u)) * 0.78
        )
        amounts.append(int(value / (1.1 + 0.05 * i) * unit["USDC"]))
    d.send(pool.functions.borrowMany(fc.tokens["USDC"], borrowers, amounts))
    # An e-mode looper: wstETH collateral, WETH debt.
    looper = fc.users[-1]
    d.send(pool.functions.setUserEModeFor(looper, 1))
    d.send(pool.functions.supply(fc.tokens["wstETH"], 10 * unit["wstETH"], looper, 0))
    d.send(pool.functions.borrow(fc.tokens["WETH"], int(9.5 * unit["WETH"]), 2, 0, looper))
    # The deployer supplies USDC (a lender) then withdraws part, repays for a user.
    d.send(pool.functions.supply(fc.tokens["USDC"], 5_000_000 * unit["USDC"], me, 0))
    d.send(pool.functions.withdraw(fc.tokens["USDC"], 1_000_000 * unit["USDC"], me))
    d.send(pool.functions.repay(fc.tokens["USDC"], 100 * unit["USDC"], 2, fc.users[1]))

    # Compound III USDC market with WETH and WBTC collateral (real mainnet factors).
    comet_conf = json.loads(data_text("compound-v3-mainnet-usdc.json"))["assets"]
    comet = d.deploy("Comet", fc.tokens["USDC"], fc.feeds["USDC"], unit["USDC"], int(0.5e18))
    fc.comet = comet.address
    for i, s in enumerate(("WETH", "WBTC")):
        c = comet_conf[s]
        d.send(
            comet.functions.addAsset(
                (
                    i,
                    fc.tokens[s],
                    fc.feeds[s],
                    unit[s],
                    int(c["borrowCF"] * 1e18),
                    int(c["liquidateCF"] * 1e18),
                    int(c["liquidationFactor"] * 1e18),
                    10**30,
                )
            )
        )
    fc.comet_users = [_user(1000 + i) for i in range(comet_users)]
    d.send(comet.functions.supplyTo(me, fc.tokens["USDC"], 10_000_000 * unit["USDC"]))
    for i, u in enumerate(fc.comet_users):
        s = "WETH" if i % 2 else "WBTC"
        qty = (1 + i) * unit[s] if s == "WETH" else unit[s] // 2
        d.send(comet.functions.supplyTo(u, fc.tokens[s], qty))
        value = (1 + i) * 2000 if s == "WETH" else 15_000
        cf = comet_conf[s]["borrowCF"]
        d.send(
            comet.functions.withdrawFrom(
                u, u, fc.tokens["USDC"], int(value * cf / (1.02 + 0.04 * i) * unit["USDC"])
            )
        )
    # The market's targetReserves (the deployment file's), and base held for 8 M USDC of
    # reserves: what suppliers are owed less what borrowers took out, plus the reserves.
    comet_file = json.loads(data_text("compound-v3-mainnet-usdc.json"))
    mantissa, _, exponent = comet_file["targetReserves"].partition("e")
    d.send(comet.functions.setTargetReserves(int(mantissa) * 10 ** int(exponent or 0)))
    owed = comet.functions.totalSupply().call() - comet.functions.totalBorrow().call()
    d.send(tokens["USDC"].functions.mint(comet.address, owed + 8_000_000 * unit["USDC"]))

    # Pools.
    pair = d.deploy(
        "UniswapV2Pair",
        fc.tokens["USDC"],
        fc.tokens["WETH"],
        20_000_000 * unit["USDC"],
        10_000 * unit["WETH"],
    )
    fc.v2_pair = pair.address
    d.send(pair.functions.swapExactIn(50 * unit["WETH"], False))
    # sqrt(P) for P = USDC per WETH in base units = 2000e6 / 1e18 at tick -200311 (spacing 10).
    v3 = d.deploy(
        "UniswapV3Pool",
        fc.tokens["USDC"],
        fc.tokens["WETH"],
        500,
        10,
        int((2000e6 / 1e18) ** 0.5 * 2**96),
        201_240,
    )
    fc.v3_pool = v3.address
    for lo, hi, liq in (
        (200_000, 202_000, 10**18),
        (199_000, 203_500, 3 * 10**17),
        (-887_270, 887_270, 10**15),
        (201_250, 201_400, 5 * 10**17),
    ):
        d.send(v3.functions.mint(me, lo, hi, liq, b""))
    d.send(v3.functions.setPrice(int((2050e6 / 1e18) ** 0.5 * 2**96), 201_300))
    curve = d.deploy(
        "CurvePool",
        [fc.tokens["DAI"], fc.tokens["USDC"], fc.tokens["USDT"]],
        [50_000_000 * unit["DAI"], 40_000_000 * unit["USDC"], 30_000_000 * unit["USDT"]],
        2000,
        1_000_000,
        [1, 10**12, 10**12],
    )
    fc.curve_pool = curve.address
    d.send(curve.functions.exchange(1, 0, 1_000_000 * unit["USDC"], 0))

    # ETH falls 25%: the most leveraged WETH borrower is liquidated on Aave, one Comet
    # borrower is absorbed.
    d.send(feeds["WETH"].functions.setAnswer(1500 * E8))
    d.send(feeds["wstETH"].functions.setAnswer(1725 * E8))
    victim = max(
        (u for u in weth_users if u in borrowers),
        key=lambda u: -pool.functions.getUserAccountData(u).call()[5],
    )
    fc.liquidated = victim
    debt_now = dp.functions.getUserReserveData(fc.tokens["USDC"], victim).call()[2]
    d.send(
        pool.functions.liquidationCall(
            fc.tokens["WETH"], fc.tokens["USDC"], victim, debt_now // 2, True
        )
    )
    for u in fc.comet_users:
        if comet.functions.isLiquidatable(u).call():
            d.send(comet.functions.absorb(me, [u]))
            fc.absorbed = u
            break
    return fc


@cache
def shared_chain() -> FixtureChain:
    """One fixture chain on py-evm (eth-tester) per test process, shared by every test file."""
    from web3 import EthereumTesterProvider

    return build_chain(Web3(EthereumTesterProvider()))


def add_borrowers(fc: FixtureChain, n: int, *, per_tx: int = 100) -> list[str]:
    """Add ``n`` Aave accounts in bulk (``supplyMany`` / ``borrowMany``, ``per_tx`` accounts
    per transaction): each supplies 10 WETH and borrows 9,000 USDC (two positions each,
    health factor 10 * 1500 * 0.83 / 9000 = 1.38 at the post-crash WETH price)."""
    d = _Deployer(fc.w3)
    pool = fc.contract("AavePool", fc.pool)
    users = [_user(100_000 + len(fc.users) + i) for i in range(n)]
    for start in range(0, n, per_tx):
        chunk = users[start : start + per_tx]
        weth, usdc = [10 * 10**18] * len(chunk), [9_000 * 10**6] * len(chunk)
        d.send(pool.functions.supplyMany(fc.tokens["WETH"], chunk, weth), gas=55_000_000)
        d.send(pool.functions.borrowMany(fc.tokens["USDC"], chunk, usdc), gas=55_000_000)
    fc.users.extend(users)
    return users
