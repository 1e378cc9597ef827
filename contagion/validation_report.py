"""docs/VALIDATION.md: published test vectors, backtests, sensitivity and limitations.

:func:`published_vectors` recomputes every published reference value the package is checked
against, from the package's own code; :func:`build_validation` runs every backtest and the
sensitivity of the default ETH crash and assembles the document; :func:`write_validation`
writes it atomically. The document carries a hash of the model's inputs (the package's model
code and shipped data, :func:`inputs_hash`): a test compares it with the current one, and
regenerates the fast, deterministic sections (the test vectors and the Uniswap v2 replay) to
compare them verbatim, because regenerating the whole document takes minutes.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from contagion._atomic import atomic_write_text
from contagion.backtests.common import markdown_table

if TYPE_CHECKING:
    import os

    from contagion.backtests.common import Backtest
    from contagion.dataset import Dataset
    from contagion.sensitivity import Sensitivity

__all__ = [
    "PublishedVector",
    "build_validation",
    "inputs_hash",
    "published_vectors",
    "vectors_markdown",
    "write_validation",
]

_MS_PER_YEAR = 365 * 24 * 3600 * 1000
_EXCLUDED = ("cli", "report")
"""Package folders that present results but do not change them."""


@dataclass(frozen=True)
class PublishedVector:
    """One published reference value against the package's answer."""

    __test__ = False  # not a pytest class

    name: str
    reference: str
    expected: str
    computed: str
    tolerance: str
    passed: bool


def _vec(
    name: str, reference: str, expected: float, computed: float, tol: float
) -> PublishedVector:
    return PublishedVector(
        name,
        reference,
        f"{expected:.6g}",
        f"{computed:.6g}",
        f"{tol:g}",
        bool(abs(computed - expected) <= tol),
    )


def published_vectors() -> list[PublishedVector]:
    """Every published vector, computed from the package's code (no test framework)."""
    from contagion.amm.constant_product import get_amount_out
    from contagion.balance_sheet import eisenberg_noe
    from contagion.debtrank import impact_diffusion, impact_fluidity, impact_susceptibility
    from contagion.lending.aave import aave_health_factor
    from contagion.options import black_scholes

    out: list[PublishedVector] = []
    hull = "Hull, Options, Futures, and Other Derivatives"
    g = black_scholes(42.0, 40.0, 0.5, 0.20, [True, False], r=0.10)
    out.append(
        _vec(
            "BS call, S=42 K=40 r=10% sigma=20% T=0.5",
            f"{hull}, Ex. 15.6",
            4.7594,
            float(g.price[0]),
            5e-5,
        )
    )
    out.append(_vec("BS put, same inputs", f"{hull}, Ex. 15.6", 0.8086, float(g.price[1]), 5e-5))
    g = black_scholes(49.0, 50.0, 20 / 52, 0.20, True, r=0.05)
    out.append(
        _vec(
            "BS call delta, S=49 K=50 r=5% sigma=20% T=20w",
            f"{hull}, Ex. 19.1",
            0.5216,
            float(g.delta),
            5e-5,
        )
    )
    out.append(_vec("BS gamma, same inputs", f"{hull}, Ex. 19.4", 0.06554, float(g.gamma), 5e-6))
    out.append(_vec("BS vega, same inputs", f"{hull}, Ex. 19.6", 12.105, float(g.vega), 5e-4))
    out += _deribit()
    amount = get_amount_out(10**18, 5 * 10**18, 10 * 10**18)
    out.append(
        PublishedVector(
            "Uniswap v2 getAmountOut(1e18, 5e18, 10e18)",
            "Uniswap v2 UniswapV2Library.getAmountOut (0.3% fee)",
            "1662497915624478906",
            str(amount),
            "exact",
            amount == 1662497915624478906,
        )
    )
    weth = _aave_weth()
    hf = float(aave_health_factor(10 * weth["price"] * weth["lt"], 15_500.0))
    out.append(
        _vec(
            f"Aave v3 HF, 10 WETH (LT {weth['lt']:g}, price {weth['price']:.2f}) vs 15,500 USDC",
            "Aave v3 Ethereum config 2023-10-31; HF = sum(c*p*LT)/debt",
            0.972897,
            hf,
            1e-6,
        )
    )
    out += _clipper()
    liab = [[0.0, 4.0, 0.0], [0.0, 0.0, 3.0], [2.0, 0.0, 0.0]]
    assets, senior = np.array([20.0, 20.0, 10.0]), [17.0, 18.0, 8.0]
    en = "Eisenberg & Noe (2001), clearing vector"
    for label, shock, expected in (
        ("no shock", 1.0, (4.0, 3.0, 2.0)),
        ("10% shock", 0.9, (3.0, 3.0, 2.0)),
    ):
        paid = eisenberg_noe(liab, assets * shock, senior).payments
        err = float(np.max(np.abs(paid - np.array(expected))))
        out.append(
            PublishedVector(
                f"Eisenberg-Noe payments, 3-node cycle, {label}",
                en,
                str(expected),
                "(" + ", ".join(f"{p:g}" for p in paid) + ")",
                "1e-12",
                err <= 1e-12,
            )
        )
    w = np.array([[0.0, 1.0, 0.0], [10.0, 0.0, 3.0], [3.0, 2.0, 0.0]])
    buffers = np.array([2.0, 5.0, 2.0])
    nrm = "NetworkRiskMeasures (R package) impact-measures example"
    sus = impact_susceptibility(w, buffers)
    out.append(_vecs("impact susceptibility", nrm, [0.0, 1.0, 1.25], sus))
    out.append(_vec("impact fluidity", nrm, 0.75, float(impact_fluidity(w, buffers)), 1e-12))
    out.append(
        _vecs("impact diffusion (total)", nrm, [1.25, 1.5, 0.0], impact_diffusion(w, buffers).total)
    )
    return out


def _clipper() -> list[PublishedVector]:
    """Maker's ETH-B auction curve of June 2021 (buf 1.20, cut 0.99, step 60 s, tail 90 min):
    the published price at reset (as a share of the OSM price, given to the percent) and
    loss at that price of a vault at its 130 % liquidation ratio."""
    from contagion.lending.cdp import ClipRules, clip_price

    rules = ClipRules(buf=1.20, cut=0.99, step_s=60.0, tail_s=5_400.0)
    lowest = float(clip_price(rules.buf, rules.tail_s, rules))
    source = "Maker Risk Core Unit (2021), Adjusting Auction Parameters for ETH vault types"
    return [
        _vec("Clipper price at reset / OSM, ETH-B curve", source, 0.48, lowest, 0.01),
        _vec("Maker loss at that price, 130% ratio vault", source, -0.37, 1.3 * lowest - 1, 0.005),
    ]


def _vecs(
    name: str, reference: str, expected: list[float], computed: np.ndarray
) -> PublishedVector:
    err = float(np.max(np.abs(np.asarray(computed) - np.array(expected))))
    return PublishedVector(
        name,
        reference,
        str(tuple(expected)),
        "(" + ", ".join(f"{x:g}" for x in computed) + ")",
        "1e-12",
        err <= 1e-12,
    )


def _deribit() -> list[PublishedVector]:
    from contagion.options import black76

    path = resources.files("contagion.data").joinpath("deribit-btc-options-2020-05-14.csv")
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    fwd = np.array([float(r["underlying_price"]) for r in rows])
    strike = np.array([float(r["strike"]) for r in rows])
    t = np.array(
        [(int(r["expiration_timestamp"]) - int(r["timestamp"])) / _MS_PER_YEAR for r in rows]
    )
    iv = np.array([float(r["mark_iv"]) / 100 for r in rows])
    call = np.array([r["option_type"] == "call" for r in rows])
    greeks = [ast.literal_eval(r["greeks"]) for r in rows]
    g = black76(fwd, strike, t, iv, call, r=0.0)
    ref = f"Deribit greeks, all {len(rows)} rows of the 2020-05-14 BTC chain (Black-76, r=0)"
    out = []
    for name, ours, key, tol in (
        ("delta", g.delta, "delta", 5e-4),
        ("gamma", g.gamma, "gamma", 5.1e-6),
        ("vega per vol point", g.vega / 100, "vega", 2e-3),
    ):
        theirs = np.array([x[key] for x in greeks])
        err = float(np.max(np.abs(ours - theirs)))
        out.append(
            PublishedVector(
                f"Black-76 {name}, largest error over {len(rows)} rows",
                ref,
                "Deribit's published value",
                f"max |error| {err:.3g}",
                f"{tol:g}",
                err <= tol,
            )
        )
    return out


def _aave_weth() -> dict[str, float]:
    path = resources.files("contagion.data").joinpath("aave-v3-ethereum-2023-10-31.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    weth = next(r for r in data["reserves"].values() if r["symbol"] == "WETH")
    return {
        "lt": weth["liquidationThreshold"] / 1e4,
        "price": weth["oracleLatestAnswer"] / 10 ** weth["oracleDecimals"],
    }


def vectors_markdown() -> str:
    """The test-vector section (fast and deterministic)."""
    vectors = published_vectors()
    passed = sum(v.passed for v in vectors)
    lines = [
        "## Published test vectors",
        "",
        f"{passed} of {len(vectors)} pass. Each value is computed by the package's own code "
        "(the test suite checks the same vectors).",
        "",
    ]
    lines += markdown_table(
        ["vector", "reference", "expected", "computed", "tolerance", "result"],
        [
            [
                v.name,
                v.reference,
                v.expected,
                v.computed,
                v.tolerance,
                "pass" if v.passed else "FAIL",
            ]
            for v in vectors
        ],
    )
    return "\n".join(lines) + "\n"


def inputs_hash() -> str:
    """SHA-256 over the model's code and shipped data: the package without its presentation
    code (CLI, reports) and the embedded world's builder."""
    import contagion
    import indexers.sample_world

    digest = hashlib.sha256()
    for package in (contagion, indexers.sample_world):
        root = Path(str(package.__file__)).parent
        files = sorted(
            p
            for p in root.rglob("*")
            if p.is_file()
            and p.suffix in {".py", ".json", ".csv", ".toml", ".sql"}
            and "__pycache__" not in p.parts
            and not (package is contagion and p.relative_to(root).parts[0] in _EXCLUDED)
        )
        for p in files:
            digest.update(f"{package.__name__}/{p.relative_to(root).as_posix()}\n".encode())
            digest.update(p.read_bytes())
    return digest.hexdigest()


_HEADER = """# Validation

How close the model comes to published reference values and to real stress events. Generated
by `contagion validate` from the package's code and shipped data; do not edit by hand.

Inputs hash: `{hash}` (SHA-256 of the model's code and shipped data; the test suite checks
this document against it).

Contents: published test vectors; backtests of five historical events (observed vs modelled,
with the error and where the model misses); sensitivity of the default ETH crash to the
model's uncertain parameters; known limitations.
"""

_LIMITATIONS = """## Known limitations

- **Worlds.** Only the 2021 Uniswap replay runs on observed state. The other backtests run on
  the embedded 2023-10-31 world or worlds derived from it (stated in each section): positions
  are synthetic, shaped to public totals, so liquidation volumes are indicative.
- **Mechanisms the model lacks or simplifies**, each the cause of a miss above: Maker's 2020
  auctions run one lot per vault (the Cat cut vaults into lots of at most 50 ETH) and vault
  owners do not top up while the OSM lags (Black Thursday's bad debt overshoots); an
  algorithmic coin is worth no more than its backing per coin, with no residual value once
  that is gone (UST's depth after the spiral); no flight from one stablecoin to another (DAI
  minted in March 2023); no liquidity providers entering and leaving pools (2021 reserves).
- **No per-event tuning.** Every model parameter is at its default; event inputs (supplies,
  backing, keeper capacities, triggers) are cited or named as assumptions in each section.
  Mechanisms have been added after a backtest failed (the UST/LUNA section says which); no
  parameter was changed to pass one.
- **Sensitivity** is one-at-a-time: interactions between parameters are not measured.
"""


def build_validation(
    world: Dataset | None = None,
    *,
    backtests: list[Backtest] | None = None,
    sensitivity_result: Sensitivity | None = None,
) -> str:
    """The whole document (runs every backtest and the sensitivity when not given)."""
    from contagion import sample_world
    from contagion.backtests import names, run_backtest
    from contagion.data.scenarios import load_example
    from contagion.sensitivity import sensitivity

    base = world if world is not None else sample_world()
    runs = backtests if backtests is not None else [run_backtest(n, world=base) for n in names()]
    sens = (
        sensitivity_result
        if sensitivity_result is not None
        else sensitivity(base, load_example("eth-crash"))
    )
    parts = [_HEADER.format(hash=inputs_hash()), vectors_markdown(), "## Backtests", ""]
    summary = [
        [
            b.title,
            "; ".join(("pass" if a.passed else "FAIL") + f": {a.criterion}" for a in b.acceptance)
            or "none stated",
        ]
        for b in runs
    ]
    parts.append("\n".join(markdown_table(["event", "acceptance"], summary)) + "\n")
    parts += [b.to_markdown(level=3) for b in runs]
    parts += [
        "## Sensitivity",
        "",
        f"One-at-a-time low/high runs of the shipped `{sens.scenario}` scenario on the embedded "
        "world (`contagion.sensitivity`); rows sorted by swing, largest first.",
        "",
        sens.to_markdown(),
        _LIMITATIONS,
    ]
    return "\n".join(parts)


def write_validation(path: str | os.PathLike[str], text: str) -> Path:
    """Write the document atomically."""
    atomic_write_text(path, text)
    return Path(path)
