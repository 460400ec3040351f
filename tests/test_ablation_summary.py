"""`benchmarks.ablation_summary`: parsing the sweep's lines and the per-configuration figures."""

import json
import math

from benchmarks.ablation_summary import parse_line, summarise


def _line(tag, seed, sharpe, oracle, world="lag1_daily_030"):
    rec = {"args": {"world": world, "seed": seed}, "secs": 10.0 + seed,
           "train": {"pf": 4.0}, "val": {"pf": 1.5}, "test": {"pf": 1.2, "sharpe": sharpe},
           "oracle_test": {"sharpe": oracle}}
    return f"{tag} {json.dumps(rec)}"


def test_summary_medians_captures_and_duplicates():
    lines = [_line("base", 0, 1.0, 2.0), _line("base", 1, float("nan"), 1.0), _line("base", 2, -1.0, -0.5),
             _line("base", 0, 1.0, 2.0), _line("aug3", 0, 3.0, 2.0), "", "garbage {", "FAILED base x 1"]
    records = [r for r in map(parse_line, lines) if r is not None]
    assert len(records) == 5
    rows = {r["tag"]: r for r in summarise(records)}
    base = rows["base"]
    assert base["runs"] == 3 and base["seeds"] == [0, 1, 2]  # the repeated seed 0 counts once
    assert base["sharpe_median"] == 0.0  # 1.0, 0 (never traded: NaN -> 0), -1.0
    assert math.isclose(base["sharpe_mean"], 0.0)
    assert base["capture_runs"] == 2 and base["capture_median"] == 0.25  # 0.5 and 0.0; oracle <= 0 left out
    assert base["half_oracle"] == 1 and rows["aug3"]["capture_median"] == 1.5
