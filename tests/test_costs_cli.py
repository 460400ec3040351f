"""`walkforward costs`: default round trips measured through the simulator, within the documented
bounds per asset class (issue 15): FX <= 3 bp, liquid equity <= 12 bp, crypto = taker fee +
spread (+ slippage and a sliver of impact)."""

import json

import pytest

from backtest.costs import FrictionConfig
from tests.test_bad_inputs import assert_bad_input
from walkforward.cli import main
from walkforward.commands.costs import round_trip_costs

TIMEFRAMES = ("15min", "1h", "1D", "1W", "1mo")


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_default_round_trip_of_100_dollars_per_asset_class(timeframe):
    fx = round_trip_costs("fx", timeframe, 100.0, round_trips=60)
    assert fx["total_bp"] <= 3.0 and fx["max_total_bp"] <= 3.0 and fx["impact_bp"] == 0.0
    assert fx["impact_models"] == {"none": 1.0} and fx["commission_bp"] == 0.0 and fx["spread_bp"] > 0
    eq = round_trip_costs("equity", timeframe, 100.0, round_trips=60)
    assert eq["max_total_bp"] <= 12.0 and eq["commission_bp"] == 0.0
    assert 2.0 <= eq["spread_bp"] <= 4.0 and 0.0 < eq["impact_bp"] < 1.0 and eq["impact_models"] == {"sqrt": 1.0}
    cr = round_trip_costs("crypto", timeframe, 100.0, round_trips=60)
    d = FrictionConfig.for_asset_class("crypto")
    fee_and_spread = (2 * d.commission.per_notional + d.spread.spread) * 1e4
    assert cr["commission_bp"] == pytest.approx(2 * d.commission.per_notional * 1e4, rel=2e-3)  # on the exec price
    assert fee_and_spread <= cr["total_bp"] <= fee_and_spread + 2 * d.slippage.max_slippage * 1e4 + 1.0
    assert 30.0 <= fee_and_spread <= 52.0  # a 0.15-0.25% taker fee each way, plus the spread
    for row in (fx, eq, cr):
        parts = row["slippage_bp"] + row["spread_bp"] + row["impact_bp"] + row["commission_bp"]
        assert row["total_bp"] == pytest.approx(parts) and row["round_trips"] == 60


def test_round_trips_run_the_simulator_with_the_given_friction():
    zero = round_trip_costs("crypto", "1h", 100.0, round_trips=20, friction=FrictionConfig.zero())
    assert zero["total_bp"] == 0.0 and zero["impact_models"] == {"none": 1.0}
    base = FrictionConfig.for_asset_class("equity")
    one = round_trip_costs("equity", "1D", 100.0, round_trips=20, friction=base)
    two = round_trip_costs("equity", "1D", 100.0, round_trips=20, friction=base.scaled(2.0))
    for c in ("slippage_bp", "spread_bp", "impact_bp"):
        assert two[c] == pytest.approx(2 * one[c], rel=1e-9)
    big = round_trip_costs("equity", "1D", 10_000_000.0, round_trips=20)  # impact grows with the order
    assert big["impact_bp"] > 100 * one["impact_bp"]


def test_cli_table_and_json(capsys):
    assert main(["costs", "--asset-class", "fx,equity", "--timeframe", "1h,1mo", "--round-trips", "10"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("default round-trip cost of a 78.75 order") and len(out) == 3 + 4
    assert "default account's largest order, BUY_75: equity 1,000 x" in out[1]
    assert [line.split()[:2] for line in out[3:]] == [["fx", "1h"], ["fx", "1mo"], ["equity", "1h"], ["equity", "1mo"]]
    assert main(["costs", "--asset-class", "crypto", "--timeframe", "1W", "--notional", "250", "--json",
                 "--round-trips", "10"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (row,) = doc["rows"]
    assert doc["notional"] == 250 and row["asset_class"] == "crypto" and row["timeframe"] == "1W"
    assert row["notional"] == 250 and row["round_trips"] == 10 and row["total_bp"] > 50


@pytest.mark.parametrize("argv, pattern", [
    (["--timeframe", "soon"], "--timeframe 'soon' is not a timeframe"),
    (["--asset-class", "bonds"], "--asset-class bonds"),
    (["--notional", "-5"], "--notional must be a positive"),
    (["--round-trips", "0"], "--round-trips must be at least 1"),
])
def test_cli_bad_arguments_are_one_line_exit_2(capsys, argv, pattern):
    rc = main(["costs", *argv])
    assert_bad_input(rc, capsys.readouterr().err, pattern)
