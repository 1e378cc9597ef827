"""Liquidation rules on real parameters, and the conservation laws every liquidation obeys."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contagion.lending import (
    aave_close_factor,
    aave_health_factor,
    aave_liquidation,
    cdp_is_unsafe,
    cdp_liquidation,
    comet_absorb,
    comet_is_liquidatable,
    comet_store_front_price,
)

# Aave v3 Ethereum, 2023-10-31: WETH LT 0.83, bonus 1.05, protocol fee 10%; USDC price 1.
WETH_PRICE = 1816.85499606
WETH_LT, WETH_BONUS, WETH_FEE = 0.83, 1.05, 0.10
EMODE_LT, EMODE_BONUS = 0.93, 1.01


def test_aave_health_factor_on_real_weth_parameters() -> None:
    hf = aave_health_factor(10 * WETH_PRICE * WETH_LT, 15_500.0)
    assert float(hf) == pytest.approx(10 * 1816.85499606 * 0.83 / 15_500.0)
    assert float(hf) == pytest.approx(0.972897, abs=1e-6)
    assert float(aave_health_factor(1.0, 0.0)) == np.inf


def test_aave_liquidation_amounts_half_close_factor() -> None:
    hf = aave_health_factor(10 * WETH_PRICE * WETH_LT, 15_500.0)
    liq = aave_liquidation(np.inf, 15_500.0, 10.0, 1.0, WETH_PRICE, WETH_BONUS, WETH_FEE, hf)
    assert float(liq.debt_repaid) == pytest.approx(7_750.0)
    seized = 7_750.0 / WETH_PRICE * 1.05
    assert float(liq.collateral_seized) == pytest.approx(seized)
    bonus_part = seized - seized / 1.05
    assert float(liq.protocol_fee) == pytest.approx(0.1 * bonus_part)
    assert float(liq.liquidator_collateral) == pytest.approx(seized - 0.1 * bonus_part)


def test_aave_full_close_factor_below_095_and_collateral_cap() -> None:
    # HF 0.80: the whole debt may be repaid, but only 10 WETH exist to seize.
    debt = 10 * WETH_PRICE * WETH_LT / 0.80
    hf = aave_health_factor(10 * WETH_PRICE * WETH_LT, debt)
    assert float(aave_close_factor(hf)) == 1.0
    liq = aave_liquidation(np.inf, debt, 10.0, 1.0, WETH_PRICE, WETH_BONUS, WETH_FEE, hf)
    assert float(liq.collateral_seized) == pytest.approx(10.0)
    assert float(liq.debt_repaid) == pytest.approx(10.0 * WETH_PRICE / 1.05)
    assert float(liq.debt_repaid) < debt


def test_close_factor_threshold_is_strict() -> None:
    np.testing.assert_array_equal(aave_close_factor([0.96, 0.95, 0.9499]), [0.5, 1.0, 1.0])


def test_emode_bonus_is_smaller() -> None:
    hf = aave_health_factor(10 * WETH_PRICE * EMODE_LT, 10 * WETH_PRICE * EMODE_LT / 0.99)
    liq = aave_liquidation(np.inf, 5.0, 10.0, WETH_PRICE, WETH_PRICE, EMODE_BONUS, 0.1, hf)
    assert float(liq.collateral_seized) == pytest.approx(2.5 * 1.01)


def test_healthy_positions_are_untouched() -> None:
    liq = aave_liquidation(np.inf, 100.0, 1.0, 1.0, 2000.0, 1.05, 0.1, 1.0)
    assert float(liq.debt_repaid) == 0.0 and float(liq.collateral_seized) == 0.0


def test_aave_v33_close_factor_is_half_the_whole_debt_and_small_balances_go_whole() -> None:
    # Aave v3.3 LiquidationLogic on the real WETH parameters: 10 WETH backing USDC debt.
    v33 = {"version": "3.3"}
    args = (10.0, 1.0, WETH_PRICE, WETH_BONUS, WETH_FEE)
    # A 1,500 USDC balance (under MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD, 2,000 USD) at HF
    # 0.97: all of it, where v3.0 allows half.
    assert float(aave_liquidation(np.inf, 1_500.0, *args, 0.97).debt_repaid) == 750.0
    assert float(aave_liquidation(np.inf, 1_500.0, *args, 0.97, **v33).debt_repaid) == 1_500.0
    # A 4,000 USDC balance of a 10,000 USD total debt: half the total (5,000) covers it all;
    # v3.0 stops at half the balance.
    whole = aave_liquidation(np.inf, 4_000.0, *args, 0.97, total_debt_value=10_000.0, **v33)
    assert float(whole.debt_repaid) == pytest.approx(4_000.0)
    # 6,000 of 10,000: half the total, leaving exactly MIN_LEFTOVER_BASE (1,000 USD).
    capped = aave_liquidation(np.inf, 6_000.0, *args, 0.97, total_debt_value=10_000.0, **v33)
    assert float(capped.debt_repaid) == pytest.approx(5_000.0)
    # 5,500 of 10,000: 5,000 would leave 500 USD and revert (MUST_NOT_LEAVE_DUST); the largest
    # call that does not leaves 1,000.
    dusty = aave_liquidation(np.inf, 5_500.0, *args, 0.97, total_debt_value=10_000.0, **v33)
    assert float(dusty.debt_repaid) == pytest.approx(4_500.0)
    # The collateral side: 1.2 WETH (2,180 USD) backing 2,500 of a 4,000 USD total debt. Half
    # the total (2,000) would seize 2,100 USD and leave 80; the call leaves 1,000 instead.
    thin = aave_liquidation(
        np.inf, 2_500.0, 1.2, 1.0, WETH_PRICE, WETH_BONUS, WETH_FEE, 0.97,
        total_debt_value=4_000.0, **v33,
    )  # fmt: skip
    left_usd = (1.2 - float(thin.collateral_seized)) * WETH_PRICE
    assert left_usd == pytest.approx(1_000.0)
    assert float(thin.debt_repaid) == pytest.approx((1.2 * WETH_PRICE - 1_000.0) / 1.05)
    # Below HF 0.95 both releases allow the whole balance.
    for version in ("3.0", "3.3"):
        full = aave_liquidation(np.inf, 6_000.0, *args, 0.9, version=version)
        assert float(full.debt_repaid) == 6_000.0
    with pytest.raises(ValueError, match=r"unknown Aave version '3\.1'"):
        aave_liquidation(np.inf, 1.0, *args, 0.9, version="3.1")


prices = st.floats(1e-3, 1e6)


@given(
    debt=st.floats(1e-6, 1e9),
    coll=st.floats(1e-6, 1e9),
    p_debt=prices,
    p_coll=prices,
    bonus=st.floats(1.0, 1.2),
    fee=st.floats(0.0, 0.5),
    hf=st.floats(0.0, 1.2),
    cover=st.one_of(st.just(np.inf), st.floats(0.0, 1e9)),
)
def test_aave_liquidation_conserves_value(
    debt: float,
    coll: float,
    p_debt: float,
    p_coll: float,
    bonus: float,
    fee: float,
    hf: float,
    cover: float,
) -> None:
    liq = aave_liquidation(cover, debt, coll, p_debt, p_coll, bonus, fee, hf)
    repaid, seized = float(liq.debt_repaid), float(liq.collateral_seized)
    assert 0.0 <= repaid <= debt * (1 + 1e-12)
    assert 0.0 <= seized <= coll * (1 + 1e-12)
    # Seized value = repaid value x bonus, and the fee split adds up.
    assert seized * p_coll == pytest.approx(repaid * p_debt * bonus, rel=1e-9, abs=1e-9)
    assert float(liq.protocol_fee) + float(liq.liquidator_collateral) == pytest.approx(seized)
    assert float(liq.protocol_fee) >= 0.0
    if hf >= 1.0:
        assert repaid == 0.0
    if hf > 0.95:
        assert repaid <= 0.5 * debt * (1 + 1e-12)


@given(
    debt=st.floats(1e-3, 1e7),
    share=st.floats(0.05, 1.0),
    coll=st.floats(1e-3, 1e7),
    p_debt=st.floats(0.5, 2.0),
    p_coll=st.floats(1.0, 5e4),
    bonus=st.floats(1.0, 1.15),
    hf=st.floats(0.5, 1.2),
)
def test_aave_v33_liquidation_obeys_its_limits(
    debt: float, share: float, coll: float, p_debt: float, p_coll: float, bonus: float, hf: float
) -> None:
    # The balance is ``share`` of the user's whole debt.
    total = debt * p_debt / share
    liq = aave_liquidation(
        np.inf, debt, coll, p_debt, p_coll, bonus, 0.1, hf, version="3.3", total_debt_value=total
    )
    repaid, seized = float(liq.debt_repaid), float(liq.collateral_seized)
    assert 0.0 <= repaid <= debt * (1 + 1e-12) and 0.0 <= seized <= coll * (1 + 1e-12)
    assert seized * p_coll == pytest.approx(repaid * p_debt * bonus, rel=1e-9, abs=1e-9)
    if hf >= 1.0:
        assert repaid == 0.0
        return
    small = min(debt * p_debt, coll * p_coll) < 2_000.0
    if hf > 0.95 and not small:
        assert repaid * p_debt <= 0.5 * total * (1 + 1e-9)
    # Whole debt, whole collateral, or at least 1,000 USD of each left.
    whole = repaid >= debt * (1 - 1e-12) or seized >= coll * (1 - 1e-12)
    if not whole:
        assert (debt - repaid) * p_debt >= 1_000.0 * (1 - 1e-9)
        assert (coll - seized) * p_coll >= 1_000.0 * (1 - 1e-9)
    # Nothing a liquidatable position could give is withheld: the call is never empty.
    assert repaid > 0.0


def test_comet_liquidatable_and_absorb_on_real_usdc_market_parameters() -> None:
    # Comet USDC market: WETH liquidateCF 0.895, liquidationFactor 0.95, storeFront 0.5.
    value = 10 * WETH_PRICE
    assert bool(comet_is_liquidatable(value * 0.895, 16_300.0))
    assert not bool(comet_is_liquidatable(value * 0.895, 16_200.0))
    absorbed = comet_absorb(value, value * 0.95, 16_300.0)
    assert float(absorbed.account_surplus) == pytest.approx(value * 0.95 - 16_300.0)
    assert float(absorbed.reserve_loss) == 0.0
    underwater = comet_absorb(value, value * 0.95, 18_000.0)
    assert float(underwater.reserve_loss) == pytest.approx(18_000.0 - value * 0.95)
    assert float(comet_store_front_price(WETH_PRICE, 0.95, 0.5)) == pytest.approx(
        WETH_PRICE * 0.975
    )


@given(value=st.floats(0.0, 1e9), factor=st.floats(0.5, 1.0), borrow=st.floats(0.0, 1e9))
def test_comet_absorb_balances(value: float, factor: float, borrow: float) -> None:
    a = comet_absorb(value, value * factor, borrow)
    # credit = debt + surplus - loss: every dollar of debt is credited or paid by reserves.
    assert float(a.credit) + float(a.reserve_loss) == pytest.approx(
        borrow + float(a.account_surplus), rel=1e-12, abs=1e-6
    )
    assert float(a.account_surplus) >= 0.0 and float(a.reserve_loss) >= 0.0


def test_cdp_auction_over_rounds_ends_in_bad_debt_when_collateral_runs_out() -> None:
    assert bool(cdp_is_unsafe(8 * 1_800.0, 10_000.0, 1.45))
    assert not bool(cdp_is_unsafe(8 * 1_900.0, 10_000.0, 1.45))
    # Debt 10,000 DAI plus the 13 % penalty: tab 11,300.
    first = cdp_liquidation(11_300.0, 8.0, 1_200.0, 6_000.0, debt=10_000.0)
    assert float(first.collateral_sold) == pytest.approx(5.0)
    assert float(first.bad_debt) == 0.0
    owed = 10_000.0 - float(first.tab_covered)
    second = cdp_liquidation(first.tab_left, first.collateral_left, 1_000.0, 6_000.0, owed)
    assert float(second.collateral_sold) == pytest.approx(3.0)
    # 9,000 raised of the 10,000 owed: 1,000 of bad debt; the 1,300 of penalty never raised
    # is income foregone, not a loss (the Vow booked the debt, not the tab, as sin).
    assert float(second.bad_debt) == pytest.approx(10_000.0 - 6_000.0 - 3_000.0)
    assert float(second.tab_left) == 0.0
    # Without the debt the whole tab left counts.
    whole = cdp_liquidation(first.tab_left, first.collateral_left, 1_000.0, 6_000.0)
    assert float(whole.bad_debt) == pytest.approx(11_300.0 - 6_000.0 - 3_000.0)


@given(
    tab=st.floats(0.0, 1e8),
    coll=st.floats(0.0, 1e6),
    price=st.floats(1e-3, 1e5),
    cap=st.floats(0.0, 1e8),
)
def test_cdp_round_never_creates_value(tab: float, coll: float, price: float, cap: float) -> None:
    r = cdp_liquidation(tab, coll, price, cap)
    assert float(r.collateral_sold) <= coll * (1 + 1e-12)
    assert float(r.tab_covered) == pytest.approx(
        float(r.collateral_sold) * price, rel=1e-9, abs=1e-9
    )
    assert float(r.tab_covered) <= cap + 1e-9
    assert float(r.bad_debt) >= 0.0
