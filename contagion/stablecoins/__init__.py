"""Algorithmic stablecoins: redemption arbitrage into the governance token, and a holder run.

**Redemption (Terra's market module).** A coin such as UST is redeemable at the protocol for
one peg-dollar of newly minted governance token (LUNA) valued at its oracle price, less a
spread. Below ``peg · (1 − spread)`` an arbitrageur buys the coin in the market, swaps it at the
protocol (the coin is burned, the governance token minted) and sells the governance tokens.
Each round this module emits that buy flow of the coin and sell flow of the governance token.
Expansion (minting coins above the peg) is not modelled. Minting dilutes: the governance
supply grows. The swap's capacity follows one of two rules:

* **Virtual pool** (coins with a ``base_pool_usd``; Terra's rule, ``x/market`` of Terra Core,
  ``ComputeSwap``, ``ApplySwapToPool`` and ``ReplenishPools``). The module prices a swap of
  ``x`` USD of coins through a constant-product pool of virtual depth ``B`` (``BasePool``)
  whose coin side has grown by ``δ`` (``TerraPoolDelta``)::

      received = x · min(1 − MinStabilitySpread, B² / ((B + δ)(B + δ + x)))

  i.e. the spread is ``max(MinStabilitySpread, 1 − B² / ((B + δ)(B + δ + x)))``; the swap adds
  ``x`` to ``δ``, and every block ends with ``δ ← δ − δ / PoolRecoveryPeriod``. Constant
  product is path-independent, so the arbitrageurs' many small swaps in a block add up to one
  swap. They swap while the marginal spread ``1 − B² / (B + δ)²`` is below the coin's discount
  ``d = 1 − price / peg``, which stops the pool at ``δ* = B · (1/√(1 − d) − 1)``: the first
  block of a round fills ``δ`` up to ``δ*``, and each later block swaps what the last block's
  recovery freed, ``δ* / PoolRecoveryPeriod``. The deeper the discount, the more the module
  lets through, at a higher spread; there is no hard daily limit.
* **Daily limit** (coins without a pool, e.g. a dataset's ``redemption_limit_usd``): up to the
  limit a day (``× round_seconds / 86400`` a round) at the flat ``redemption_fee``, used in full
  whenever the coin trades below ``peg · (1 − fee)``. ``inf`` means unlimited.

Governance changes the module's parameters (:func:`change_redemption`; a scenario schedules
them as ``redemption_changes``).

**Arbitrage after the sale.** The arbitrageur is paid in governance tokens at the oracle price
and must sell them. Into a market ``D`` USD deep (USD of sells that move it 2 %, scaling with
the token's price: books hold tokens, so a token that lost 90 % has a tenth of its USD depth),
the last of ``V`` USD sold in a round fetches ``exp(−0.02 · sqrt(V / D))`` of the oracle
price (the square-root law, :mod:`contagion.clearing.external`). The last coin swapped must
still pay: ``price / peg ≤ (1 − spread) · exp(−0.02 · sqrt(V / D))``
(:func:`profitable_pool_swaps`; with a daily limit the same condition caps the amount in
closed form). While the governance token's market is deep this changes little; once its value
collapses the minted tokens cannot be sold, arbitrage stops supporting the coin, and the coin
is left to its holders' run: in May 2022 the market module kept minting LUNA while UST fell,
into a LUNA market that could take ever less of it.

**Governance token reference.** Outside markets price the governance token through its
market value over its supply. The value is the token's claim on the coin's franchise (the
seigniorage and fees of the coins in use, Kereiakes et al. 2019; UST as perpetual convertible
debt backed by LUNA, Liu, Makarov & Schoar 2023): it scales with the market value of the coins
holders still hold (``unsold``, each at its market price, never above the peg), and is shared
by a supply that grows with every mint. :func:`governance_reference` gives the reference price
relative to the snapshot,
``(unsold · min(price, peg) / (supply · peg) at the snapshot) · (governance supply at the
snapshot / governance supply)``; the minted tokens are also sold into the market's finite
depth by the clearing step. Valuing the coins at their market price is the two-token design's
reflexive link: a lower coin price lowers the token that backs it, hence the coverage, hence
the coin (the deleveraging spiral of Klages-Mundt & Minca 2021); valued at the peg, the
token's market value would stay a fixed multiple of the coins left and a run could never
outgrow its backing.

**Holder run.** Each round holders who have not sold yet sell the share

    1 − exp(−λ · round_seconds / 86400),
    λ = max_run_rate_per_day · min(1, depeg / depeg_saturation)
        · (covered_run_weight + (1 − covered_run_weight) · clip(1 − coverage, 0, 1)),

with ``depeg = max(0, 1 − price / peg − spread)`` (the discount beyond the redemption spread:
inside it the coin trades within its own no-arbitrage band, which is noise, not a lost peg)
and ``coverage`` = governance market value / coin supply at the peg (coins sharing a
governance token share its value). ``λ`` is an intensity per day, so the share compounds
consistently across round lengths. The shape is a modelling
choice: the urge to leave grows with the loss holders see and saturates once the coin is
plainly broken; while coverage ≥ 1 redemption could make every holder whole, so only a
residual run (``covered_run_weight``) remains, but below 1 it cannot, the first to leave are
paid, and the run grows to its full intensity as coverage goes to 0. UST's daily closes
(stablecoins-daily-2020-12-29_2023-07-30.csv, column ``terrausd``) show the pattern: 0.995 on
2022-05-07, 0.754 on 2022-05-09, a partial recovery to 0.86 on 05-10, then 0.129 on 05-13,
while LUNA went from a market value of roughly 1.5 times UST's 18.7 B supply to a small
fraction of it: a depeg with credible backing was survivable, the same depeg without it was
not, and once it was gone the market had to absorb most of the supply within four days. The
defaults are set to that order of magnitude, not fitted to the event: at a 25 % depeg and
coverage 0.5, ``λ = 0.55`` a day, so 89 % of holders have sold after four days; at a 0.5 %
depeg and coverage 1.5 they sell 0.2 % a day.

Backing of PSM coins and liquid-staking tokens is handled by market clearing, not here.

References
----------
Terra Money (2019–2022). Terra Core, ``x/market`` module specification: Swap Fees, Market
Making Algorithm (constant product on virtual pools), Virtual Liquidity Pools, EndBlock
(ReplenishPools); keeper ``ComputeSwap`` (spread = max(MinStabilitySpread, CP spread)) and
``ApplySwapToPool`` (terra-money/core, ``x/market/keeper/swap.go``, ``x/market/abci.go``).
Terra governance proposal 1164 (May 2022): BasePool 50 M to 100 M SDR, PoolRecoveryPeriod 36
to 18 blocks ("minting capacity from 293 M to about 1.2 B USD a day").
Liu, J., Makarov, I. & Schoar, A. (2023). Anatomy of a Run: The Terra Luna Crash. NBER Working
Paper 31160.
Kereiakes, E., Kwon, D., Di Maggio, M. & Platias, N. (2019). Terra Money: Stability and
Adoption (whitepaper): contraction by burning Terra for Luna.
Klages-Mundt, A. & Minca, A. (2021). (In)Stability for the Blockchain: Deleveraging Spirals
and Stablecoin Attacks. Cryptoeconomic Systems 1(2).
Diamond, D. W. & Dybvig, P. H. (1983). Bank Runs, Deposit Insurance, and Liquidity (first
movers are paid in full when the backing cannot cover all claims).
"""

from contagion.stablecoins.book import (
    ASSUMED_COVERAGE,
    AlgorithmicBook,
    AlgorithmicRound,
    AlgorithmicState,
    change_redemption,
    initial_algorithmic_state,
)
from contagion.stablecoins.market_module import profitable_pool_swaps, virtual_pool_swaps
from contagion.stablecoins.run import (
    AlgorithmicParams,
    algorithmic_round,
    governance_reference,
    run_share,
)

__all__ = [
    "ASSUMED_COVERAGE",
    "AlgorithmicBook",
    "AlgorithmicParams",
    "AlgorithmicRound",
    "AlgorithmicState",
    "algorithmic_round",
    "change_redemption",
    "governance_reference",
    "initial_algorithmic_state",
    "profitable_pool_swaps",
    "run_share",
    "virtual_pool_swaps",
]
