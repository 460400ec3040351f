"""The default reward pays what the account earns (DESIGN 3.6), measured as
`benchmarks.reward_alignment` does: rank correlation of episode reward with episode net
return over random and scripted policies on a planted-edge world."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.learning_worlds import make_world
from benchmarks.reward_alignment import alignment, measure


@pytest.fixture(scope="module")
def result():
    return measure(make_world("lag1_daily_030", 0), episodes=3, episode_len=96, seed=0)


def _mean(result, preset, family):
    return float(result["totals"][preset][result["family"] == family].mean())


def test_default_reward_ranks_episodes_as_net_pnl_does(result):
    a = alignment(result)
    assert a["preset:net_pnl"] >= 0.95
    assert a["component:pnl"] >= 0.95
    assert a["preset:seeds"] < a["preset:net_pnl"] - 0.1  # the seeds' shaping is measurably off
    assert a["component:exploration"] < 0.3  # paying for fills is not paying for profit


def test_default_reward_ranks_policy_families_as_their_net_pnl(result):
    fams = list(dict.fromkeys(result["family"].tolist()))
    net = {f: float(result["net"][result["family"] == f].mean()) for f in fams}
    assert net["rule100"] > net["random"] > net["anti_rule"]  # the world's edge is real
    for a in fams:
        for b in fams:
            if net[a] > net[b] + 0.005:  # a family that earns clearly more is paid more
                assert _mean(result, "net_pnl", a) > _mean(result, "net_pnl", b), (a, b)
    # the seeds' reward scores staying long at the cap (rejected BUYs) far below random trading,
    # whatever the two earned
    assert _mean(result, "seeds", "stay_long") < _mean(result, "seeds", "random") - 5
    assert abs(net["stay_long"] - net["random"]) < 0.05
    assert np.all(result["totals"]["net_pnl"][result["family"] == "flat"] == 0.0)
