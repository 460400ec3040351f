"""Commission minimum and maximum per order (issue 25; `backtest.costs` module doc): the fee
``per_order + per_share * qty + per_notional * notional`` is raised to ``min_per_order``, then
lowered to the order's maximum (``max_per_order`` cash, ``max_per_notional`` of the executed
notional, the smaller), in the simulator kernel, its torch mirror and the cost object alike,
and a buy's cash check accounts for them exactly."""

from __future__ import annotations

import dataclasses
import json
import math

import numba
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from backtest.account import REASON_CASH, AccountConfig
from backtest.config_codec import build, to_plain
from backtest.costs import (CommissionModel, FrictionConfig, ImpactModel, SlippageModel, SpreadModel, affordable_buy,
                            commission_cash, commission_max)
from backtest.errors import ConfigError
from backtest.kernel import CASH_MARGIN
from backtest.kernel import params as kernel_params
from backtest.simulator import SimConfig, Simulator
from backtest.trades import STATUS_FILLED
from tests.sim_bars import session_bars
from tests.test_bad_inputs import assert_bad_input
from walkforward.cli import main

DATES = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"]


def _sim(commission: CommissionModel, equity: float, price: float = 100.0, fractional: bool = True) -> Simulator:
    """A frictionless-but-commission simulator on flat bars (exec price = open exactly), an
    all-in account (the whole equity is the position cap; BUY_75 spends 75% of it)."""
    fr = FrictionConfig(slippage=SlippageModel(0.0), spread=SpreadModel(0.0), impact=ImpactModel(mode="none"),
                        commission=commission)
    acct = AccountConfig(initial_equity=equity, safety_buffer=0.0, base_allocation=1.0, max_position=1.0,
                         fractional=fractional, include_close_action=True)
    return Simulator(session_bars(DATES, price=price), SimConfig(account=acct, friction=fr, pdt="off"))


def _buy(sim: Simulator, name: str):
    sim.reset(0)
    fill = sim.step(sim.config.account.action_space.meanings.index(name))
    assert int(fill["status"]) == STATUS_FILLED
    return fill


LIMITS = CommissionModel(per_notional=0.003, min_per_order=1.0, max_per_order=2.0)


def test_known_answers_minimum_between_and_maximum():
    """1,000 of equity at 100 a share: BUY_25 is 250 (fee 0.75, raised to the 1.00 minimum),
    BUY_50 is 500 (fee 1.50, between), BUY_75 is 750 (fee 2.25, lowered to the 2.00 maximum)."""
    sim = _sim(LIMITS, 1000.0)
    low, mid, high = (_buy(sim, n) for n in ("BUY_25", "BUY_50", "BUY_75"))
    assert float(low["qty"]) * 100.0 == 250.0 and float(low["commission"]) == 1.0
    assert float(mid["commission"]) == 0.003 * 500.0 and 1.0 < float(mid["commission"]) < 2.0
    assert float(high["commission"]) == 2.0
    assert float(high["cash_after"]) == 1000.0 - 750.0 - 2.0
    # the round trip: both fills' commissions in the trade record (the sell of 250 pays the minimum)
    sim.reset(0)
    meanings = sim.config.account.action_space.meanings
    (trade,) = sim.run(np.array([meanings.index("BUY_25"), meanings.index("CLOSE")])).trades
    assert float(trade["commission"]) == 2.0 and float(trade["net_pnl"]) == -2.0


def test_a_maximum_below_the_minimum_wins():
    """IBKR Pro Fixed style: 0.005 a share, 1.00 minimum, at most 1% of trade value. An order of
    25 (BUY_25 of 100) in a 0.10 stock is 250 shares: fee 1.25, the 1% cap (0.25) wins; at 5.00
    a share it is 5 shares: fee 0.025, raised to 1.00, lowered to the cap 0.25. BUY_75 of
    1,000 at 5.00 is 150 shares: fee 0.75, raised to the 1.00 minimum (cap 7.50); BUY_25 of
    50,000 is 2,500 shares: fee 12.50, between (cap 125)."""
    ibkr = CommissionModel(per_share=0.005, min_per_order=1.0, max_per_notional=0.01)
    penny = _buy(_sim(ibkr, 100.0, price=0.10, fractional=False), "BUY_25")
    assert float(penny["qty"]) == 250.0 and float(penny["commission"]) == 0.01 * (250.0 * 0.10)
    five = _buy(_sim(ibkr, 100.0, price=5.0, fractional=False), "BUY_25")
    assert float(five["qty"]) == 5.0 and float(five["commission"]) == 0.01 * 25.0
    big = _buy(_sim(ibkr, 50_000.0, price=5.0, fractional=False), "BUY_25")
    assert float(big["qty"]) == 2500.0 and float(big["commission"]) == 0.005 * 2500.0
    mid = _buy(_sim(ibkr, 1000.0, price=5.0, fractional=False), "BUY_75")  # 150 shares, 750: fee 0.75 -> 1.00
    assert float(mid["qty"]) == 150.0 and float(mid["commission"]) == 1.0


@pytest.mark.parametrize("commission, largest, fee", [
    # a minimum: what is left after the first buy, less the 2.00 minimum, at 100 a unit
    (CommissionModel(per_notional=0.001, min_per_order=2.0), lambda cash: (cash - 2.0) / 100.0, lambda q: 2.0),
    # a cash maximum: the 1% fee capped at 0.10, so (cash - 0.10) / 100 units fit, not cash / 101
    (CommissionModel(per_notional=0.01, max_per_order=0.1), lambda cash: (cash - 0.1) / 100.0, lambda q: 0.1),
    # a maximum share of notional: the 1% fee capped at 0.2%: cash / 100.2 units
    (CommissionModel(per_notional=0.01, max_per_notional=0.002), lambda cash: cash / (100.0 + 0.002 * 100.0),
     lambda q: 0.002 * (q * 100.0)),
])
def test_a_cash_capped_buy_counts_the_minimum_and_maximum_exactly(commission, largest, fee):
    """All-in account of 100 at 100 a unit: BUY_75, then BUY_75 again, which the position cap
    trims to what the cash bought back and the cash cap trims further: its quantity is the
    largest whose cost with the clipped commission fits the cash, times CASH_MARGIN (not the
    quantity the unclipped fee would allow), and the cash left is a hair above 0."""
    sim = _sim(commission, 100.0)
    sim.reset(0)
    sim.step(3)
    cash = float(sim.account_state()["cash"])
    fill = sim.step(3)
    assert int(fill["status"]) == STATUS_FILLED and int(fill["reason"]) == REASON_CASH
    q = float(fill["qty"])
    assert q == pytest.approx(largest(cash) * CASH_MARGIN, rel=1e-12)
    assert float(fill["commission"]) == pytest.approx(fee(q), rel=1e-12)
    assert 0.0 <= float(fill["cash_after"]) < 1e-9


def test_a_minimum_larger_than_the_cash_left_refuses_the_buy():
    """A 30.00 minimum on an account of 100: BUY_75 (75 + 30 > 100) is cut to 0.70 units for
    cash; the next buy finds no cash for the minimum and is refused, cash never below 0."""
    sim = _sim(CommissionModel(min_per_order=30.0), 100.0)
    sim.reset(0)
    first = sim.step(3)
    assert int(first["reason"]) == REASON_CASH and float(first["qty"]) == pytest.approx(0.7 * CASH_MARGIN, rel=1e-12)
    assert float(first["commission"]) == 30.0 and float(first["cash_after"]) >= 0.0
    second = sim.step(3)
    assert int(second["status"]) != STATUS_FILLED and int(second["reason"]) == REASON_CASH
    assert float(sim.account_state()["cash"]) >= 0.0


# ---- the formula on every backend -----------------------------------------------------------
@numba.njit(cache=False)
def _numba_commission(q, n, ps, po, pn, lo, cap_cash, cap_frac):
    return commission_cash(q, n, ps, po, pn, lo, commission_max(n, cap_cash, cap_frac))


money = st.floats(0.0, 1e9, allow_nan=False, allow_infinity=False)
models = st.builds(CommissionModel, per_share=st.sampled_from([0.0, 0.005, 0.01]),
                   per_order=st.sampled_from([0.0, 0.35, 1.0]), per_notional=st.floats(0.0, 0.01),
                   min_per_order=st.sampled_from([0.0, 0.35, 1.0, 2.0, 25.0]),
                   max_per_order=st.sampled_from([0.0, 30.0, 1000.0]),
                   max_per_notional=st.sampled_from([0.0, 0.0005, 0.01, 0.05]))


@given(com=models, notional=money, price=st.floats(0.01, 1e5))
def test_the_clip_holds_for_any_notional_on_every_backend(com, notional, price):
    qty = notional / price
    got = com.cash(qty, notional)
    fee = com.per_order + com.per_share * qty + com.per_notional * notional
    caps = [c for c in (com.max_per_order if com.max_per_order else math.inf,
                        com.max_per_notional * notional if com.max_per_notional else math.inf)]
    cap = min(caps)
    assert got == min(max(fee, com.min_per_order), cap)
    assert got <= cap and got >= min(com.min_per_order, cap) and got >= 0.0
    if fee >= com.min_per_order and fee <= cap:
        assert got == fee  # untouched between the limits
    plain = dataclasses.replace(com, min_per_order=0.0, max_per_order=0.0, max_per_notional=0.0)
    assert plain.cash(qty, notional) == fee  # no limits: the fee to the bit
    args = (com.per_share, com.per_order, com.per_notional, com.min_per_order, com.max_cash, com.max_per_notional)
    assert _numba_commission(qty, notional, *args) == got
    arr = com.cash(np.array([qty, 0.0]), np.array([notional, 0.0]))
    ten = com.cash(torch.tensor([qty, 0.0], dtype=torch.float64), torch.tensor([notional, 0.0], dtype=torch.float64))
    assert arr[0] == got and float(ten[0]) == got and float(ten[1]) == float(arr[1])


@given(com=models, cash=st.floats(1.0, 1e7), u0=st.floats(0.01, 1e5), q=st.floats(1e-6, 1e6))
def test_affordable_buy_is_the_largest_quantity_that_fits(com, cash, u0, q):
    """The quantity `affordable_buy` returns pays its clipped commission within cash (after the
    kernel's CASH_MARGIN), and a quantity one part in 10^9 larger would not; ``too_dear`` is
    exactly "q costs more than cash"."""
    unit = u0 * (1.0 + com.per_notional) + com.per_share
    too_dear, largest = affordable_buy(q, u0, unit, cash, com.per_order, com.min_per_order, com.max_cash,
                                       com.max_per_notional)

    def cost(x):
        return x * u0 + com.cash(x, x * u0)

    if cost(q) <= cash * (1 - 1e-12):
        assert not too_dear
    elif cost(q) > cash * (1 + 1e-12):
        assert too_dear
    if largest > 0:
        assert cost(largest * CASH_MARGIN) <= cash * (1 + 1e-12)
        assert cost(largest * (1 + 1e-9)) > cash * (1 - 1e-12) or largest * u0 < 1e-6


# ---- validation, scaling, the kernel's record -------------------------------------------------
@pytest.mark.parametrize("field, value, pattern", [
    ("min_per_order", -1.0, r"CommissionModel.min_per_order must be a finite number >= 0, got -1.0"),
    ("max_per_order", float("nan"), r"max_per_order must be a finite number >= 0, got nan"),
    ("max_per_notional", 1.5, r"max_per_notional must be at most 1.0 .*got 1.5"),
    ("min_per_order", True, r"min_per_order must be a finite number >= 0, got True"),
])
def test_bad_values_name_the_parameter_and_the_value(field, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        CommissionModel(**{field: value})


def test_a_minimum_above_the_cash_maximum_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"min_per_order \(3.0\) must not exceed max_per_order \(2.0\); lower "
                                          r"min_per_order, raise max_per_order, or set max_per_order = 0"):
        CommissionModel(min_per_order=3.0, max_per_order=2.0)
    CommissionModel(min_per_order=3.0, max_per_order=0.0)  # 0: no cash maximum
    CommissionModel(min_per_order=3.0, max_per_notional=0.001)  # a share of notional may be below it: it wins


def test_scaled_scales_the_limits_and_the_kernel_carries_them():
    com = CommissionModel(per_notional=0.003, min_per_order=1.0, max_per_order=2.0, max_per_notional=0.01)
    two = FrictionConfig(commission=com).scaled(2.0).commission
    assert (two.min_per_order, two.max_per_order, two.max_per_notional) == (2.0, 4.0, 0.02)
    for n in (100.0, 500.0, 2000.0):  # a clipped commission scales with the rest
        assert two.cash(0.0, n) == pytest.approx(2 * com.cash(0.0, n), rel=1e-12)
    p = kernel_params(AccountConfig(), FrictionConfig(commission=com), 0)[0]
    assert (p["min_commission"], p["max_commission"], p["max_commission_frac"]) == (1.0, 2.0, 0.01)
    p0 = kernel_params(AccountConfig(), FrictionConfig(), 0)[0]
    assert (p0["min_commission"], p0["max_commission"], p0["max_commission_frac"]) == (0.0, math.inf, 0.0)
    assert CommissionModel().minimum_binds_below() == 0.0
    assert LIMITS.minimum_binds_below() == pytest.approx(1.0 / 0.003)
    assert CommissionModel(min_per_order=1.0).minimum_binds_below() == math.inf
    assert CommissionModel(per_order=0.5, per_notional=0.001, min_per_order=1.0).minimum_binds_below() == 500.0
    assert CommissionModel(per_order=1.0, per_notional=0.001, min_per_order=1.0).minimum_binds_below() == 0.0


def test_a_stored_world_without_the_limits_reads_as_no_limits():
    """A checkpoint's world written before the fields existed has none of them: it builds with
    no minimum and no maximum; one written now round-trips them."""
    old = {"slippage": {"max_slippage": 0.0004, "mode": "uniform"}, "spread": {"spread": 0.0003},
           "commission": {"per_share": 0.0, "per_order": 0.0, "per_notional": 0.0025}}
    fr = build(FrictionConfig, old, "checkpoint friction")
    assert fr.commission == CommissionModel(per_notional=0.0025)
    new = FrictionConfig(commission=LIMITS)
    assert build(FrictionConfig, json.loads(json.dumps(to_plain(new))), "checkpoint friction") == new


# ---- the CLI --------------------------------------------------------------------------------
def test_costs_cli_shows_where_the_minimum_binds(tmp_path, capsys):
    """IBKR's FX terms (0.2 bp, USD 2 minimum) at the default account's largest order (78.75):
    2 / 78.75 = 254 bp a side, about 508 bp of commission a round trip; at 1,000,000 the
    minimum does not bind (0.2 bp a side)."""
    toml = tmp_path / "ibkr.toml"
    toml.write_text("[friction.commission]\nper_notional = 0.00002\nmin_per_order = 2.0\n")
    assert main(["costs", "--asset-class", "fx", "--timeframe", "1h", "--round-trips", "10", "--config",
                 str(toml)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("the run's round-trip cost of a 78.75 order")
    assert "fx: commission minimum 2 per order binds on orders below 100,000: 254.0 bp a side at 78.75" in out[2]
    row = out[-1].split()
    assert row[:2] == ["fx", "1h"] and row[-2] == "100%/0%"
    assert float(row[6]) == pytest.approx(2 * 2.0 / 78.75 * 1e4, rel=1e-3)
    assert main(["costs", "--asset-class", "fx", "--timeframe", "1h", "--round-trips", "10", "--config", str(toml),
                 "--notional", "1000000", "--json"]) == 0
    (big,) = json.loads(capsys.readouterr().out)["rows"]
    assert big["commission_min_share"] == 0.0 and big["commission_bp"] == pytest.approx(0.4, rel=1e-3)
    cap = tmp_path / "cap.toml"  # a cash maximum that binds on the 78.75 order: 0.25 instead of 0.79
    cap.write_text("[friction.commission]\nper_notional = 0.01\nmax_per_order = 0.25\n")
    assert main(["costs", "--asset-class", "equity", "--timeframe", "1D", "--round-trips", "5", "--config", str(cap),
                 "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    # each fill's bp is over its own notional; the exit's differs from 78.75 by the day's price move
    assert row["commission_max_share"] == 1.0 and row["commission_bp"] == pytest.approx(2 * 0.25 / 78.75 * 1e4,
                                                                                          rel=2e-2)
    assert row["commission_bp"] < 2 * 0.01 * 1e4 / 2  # far below the unclipped 1% (200 bp a round trip)


def test_costs_cli_defaults_have_no_minimum(capsys):
    assert main(["costs", "--asset-class", "fx", "--timeframe", "1h", "--round-trips", "10", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["commission_bp"] == 0.0 and row["commission_min_share"] == row["commission_max_share"] == 0.0
    assert row["notional"] == 78.75 and row["total_bp"] < 3.0


@pytest.mark.parametrize("text, pattern", [
    ("[friction.commission]\nmin_per_order = 3.0\nmax_per_order = 2.0\n",
     r"friction.commission: CommissionModel.min_per_order \(3.0\) must not exceed max_per_order \(2.0\)"),
    ("[friction.commission]\nmin_per_order = -2\n", r"min_per_order must be a finite number >= 0, got -2"),
    ("[friction.commission]\nmin_per_ordr = 2\n", r"unknown key 'friction.commission.min_per_ordr'"),
])
def test_bad_limits_in_toml_are_one_line_exit_2_with_nothing_written(tmp_path, capsys, text, pattern):
    toml = tmp_path / "bad.toml"
    toml.write_text(text)
    assert_bad_input(main(["costs", "--config", str(toml)]), capsys.readouterr().err, pattern)
    out = tmp_path / "run"
    assert_bad_input(main(["run", "--config", str(toml), "--out", str(out)]), capsys.readouterr().err, pattern)
    assert not out.exists()


def test_a_minimum_that_binds_on_the_account_is_said_before_any_run(tmp_path, capsys):
    """`walkforward evaluate` with IBKR's FX minimum on the default account: one warning line
    with the bp a side of the largest order (2 / 78.75 = 254 bp), before the run; none once
    initial_equity is large enough that the minimum does not bind (2 / 0.00002 = 100,000)."""
    import warnings

    from backtest.sample_data import generate_equity_bars
    from walkforward.config import RunConfig, warn_commission_minimum

    cfg = RunConfig.from_dict({"friction": {"commission": {"per_notional": 0.00002, "min_per_order": 2.0}}})
    with pytest.warns(UserWarning, match=r"min_per_order 2 binds on fx orders of this account: 254.0 bp a side of "
                                         r"its largest \(78.75, BUY_75 of initial_equity 1,000\)") as seen:
        warn_commission_minimum(cfg, ["fx", "fx"])
    assert len(seen) == 1  # once per asset class
    big = RunConfig.from_dict({"friction": {"commission": {"per_notional": 0.00002, "min_per_order": 2.0}},
                               "account": {"initial_equity": 2_000_000}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_commission_minimum(big, ["fx"])  # largest order 157,500: above 100,000, the minimum does not bind
        warn_commission_minimum(RunConfig(), ["equity", "crypto", "fx"])  # the defaults have no minimum
    # through the CLI: evaluate a daily file under a 1.00 minimum (binds below 100 of notional)
    bars = generate_equity_bars("ACME", "2019-01-01", "2021-01-01", seed=3, timeframe="1D")
    path = tmp_path / "ACME.csv"
    frame = bars.frame[["open", "high", "low", "close", "volume"]].copy()
    frame.to_csv(path)
    actions = tmp_path / "a.csv"
    import pandas as pd

    pd.DataFrame({"timestamp": bars.frame.index, "action": "HOLD"}).to_csv(actions, index=False)
    toml = tmp_path / "min.toml"
    toml.write_text("[friction.commission]\nmin_per_order = 1.0\n")
    rc = main(["evaluate", str(actions), str(path), "--out", str(tmp_path / "ev"), "--config", str(toml), "--folds",
               "3", "--null-draws", "20", "--random-seeds", "4", "-q"])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("min_per_order 1 binds on equity orders of this account: 127.0 bp a side") == 1
