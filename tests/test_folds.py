"""WalkForwardSplit: known folds, layout invariants (hypothesis), errors for impossible configs."""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtest.errors import ConfigError
from walkforward.folds import Fold, WalkForwardSplit


def _ranges(cv, X):
    """Folds as ((train_start, train_stop), (val...), (test...)) tuples from `split`."""
    out = []
    for train, val, test in cv.split(X):
        out.append(tuple((int(a[0]), int(a[-1]) + 1) for a in (train, val, test)))
    return out


@pytest.mark.parametrize(
    ("kwargs", "n", "expected"),
    [
        # rolling, bars: embargo = window + horizon = 3; 23 bars needed, 3 spare at the start
        (
            dict(n_folds=3, train_size=6, val_size=2, test_size=3, window=2),
            26,
            [((3, 9), (12, 14), (17, 20)), ((6, 12), (15, 17), (20, 23)), ((9, 15), (18, 20), (23, 26))],
        ),
        # anchored, bars: train keeps fold 0's start and grows by one test segment per fold
        (
            dict(n_folds=3, scheme="anchored", train_size=6, val_size=2, test_size=3, window=2),
            26,
            [((3, 9), (12, 14), (17, 20)), ((3, 12), (15, 17), (20, 23)), ((3, 15), (18, 20), (23, 26))],
        ),
        # explicit embargo above the minimum and a warm-up start
        (
            dict(n_folds=2, train_size=5, val_size=2, test_size=4, window=1, embargo=3, min_start=4),
            27,
            [((6, 11), (14, 16), (19, 23)), ((10, 15), (18, 20), (23, 27))],
        ),
        # defaults: available = 100 - 2*3 = 94, u = 94 // (2 + 4) = 15, train = 94 - 15 - 30 = 49
        (
            dict(n_folds=2, window=2),
            100,
            [((0, 49), (52, 67), (70, 85)), ((15, 64), (67, 82), (85, 100))],
        ),
        # defaults with a given train size: test = val = (94 - 40) // 3 = 18
        (
            dict(n_folds=2, window=2, train_size=40, scheme="anchored"),
            100,
            [((0, 40), (43, 61), (64, 82)), ((0, 58), (61, 79), (82, 100))],
        ),
    ],
)
def test_known_folds_in_bars(kwargs, n, expected):
    cv = WalkForwardSplit(**kwargs)
    assert _ranges(cv, n) == expected
    assert _ranges(cv, np.zeros(n)) == expected  # an array gives the same folds as its length
    assert cv.get_n_splits(n) == len(expected)


@pytest.mark.parametrize(
    ("sizes", "expected_bars"),
    [
        (dict(train_size="10D", val_size="1D", test_size="2D"), dict(train=240, val=24, test=48)),
        (dict(train_size="240h", val_size="24h", test_size="2D"), dict(train=240, val=24, test=48)),
        (dict(train_size=240, val_size="1D", test_size=48), dict(train=240, val=24, test=48)),
    ],
)
def test_durations_resolve_to_bars(sizes, expected_bars):
    idx = pd.date_range("2024-01-01", periods=1000, freq="h", tz="UTC")
    cv = WalkForwardSplit(n_folds=4, window=10, **sizes)
    got = cv.sizes(idx)
    assert {k: got[k] for k in expected_bars} == expected_bars
    assert got["embargo"] == 11
    # a DataFrame indexed by the timestamps gives the same folds as the index itself
    frame = pd.DataFrame({"close": np.arange(1000.0)}, index=idx)
    assert _ranges(cv, frame) == _ranges(cv, idx) == _ranges(cv, idx.to_numpy())
    assert _ranges(cv, idx)[-1][2] == (952, 1000)


def test_duration_uses_average_density_across_gaps():
    # two trading days of 8 hourly bars each, with a 16h overnight gap: 16 bars over 32h
    day1 = pd.date_range("2024-01-02 09:00", periods=8, freq="h", tz="UTC")
    idx = day1.append(day1 + pd.Timedelta("1D"))
    cv = WalkForwardSplit(n_folds=1, window=1, reward_horizon=0, test_size="8h", val_size=1, train_size=1)
    assert cv.sizes(idx)["test"] == 4  # 8h of a 32h span holding 16 bars (+ one step)


def test_duration_without_timestamps_is_refused():
    with pytest.raises(ConfigError, match="test_size='5D' is a duration but the data has no timestamps"):
        list(WalkForwardSplit(n_folds=2, test_size="5D").split(5000))


def test_fold_records_match_split_and_carry_warmup():
    cv = WalkForwardSplit(n_folds=3, window=5, min_start=20)
    folds = cv.folds(400)
    assert all(isinstance(f, Fold) for f in folds)
    for f, (train, val, test) in zip(folds, cv.split(400), strict=True):
        assert np.array_equal(train, np.arange(f.train.start, f.train.stop))
        assert np.array_equal(val, np.arange(f.val.start, f.val.stop))
        assert np.array_equal(test, np.arange(f.test.start, f.test.stop))
        assert f.warmup == range(f.test.start - 5, f.test.start)
        assert min(train) >= 20
    assert folds[0].to_dict()["test"] == [folds[0].test.start, folds[0].test.stop]


def test_min_start_is_respected_by_every_segment():
    cv = WalkForwardSplit(n_folds=4, window=10, min_start=150, scheme="anchored")
    for train, val, test in cv.split(2000):
        assert train.min() >= 150 and val.min() >= 150 and test.min() >= 150


def test_params_stored_unmodified():
    cv = WalkForwardSplit(n_folds=3, train_size="90D", embargo=None)
    assert cv.get_params()["train_size"] == "90D"
    assert cv.n_folds == 3 and cv.embargo is None
    assert WalkForwardSplit(**cv.get_params()).get_params() == cv.get_params()
    assert "train_size='90D'" in repr(cv)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n_folds=0), "n_folds=0 must be an integer >= 1"),
        (dict(n_folds=-2), "n_folds=-2 must be an integer >= 1"),
        (dict(n_folds=2.5), "n_folds=2.5 must be an integer"),
        (dict(test_size=-3), "test_size=-3 must be an integer >= 1"),
        (dict(train_size=0), "train_size=0 must be an integer >= 1"),
        (dict(val_size="-5D"), "val_size='-5D' must be a positive duration"),
        (dict(test_size="500"), "test_size='500' has no unit"),
        (dict(train_size="soon"), "train_size='soon' is neither a number of bars nor a duration"),
        (dict(scheme="expanding"), "scheme='expanding' is unknown"),
        (dict(window=0), "window=0 must be an integer >= 1"),
        (dict(min_start=-1), "min_start=-1 must be an integer >= 0"),
    ],
)
def test_bad_parameters_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        WalkForwardSplit(**kwargs)


def test_too_many_folds_says_how_many_bars_are_needed():
    cv = WalkForwardSplit(n_folds=10_000)
    # min_start 0 + 2 x 101 + train 1 + val 1 + 10000 x test 1
    with pytest.raises(ConfigError, match=r"needs at least 10204 bars .* but the data has 5000"):
        list(cv.split(5000))
    with pytest.raises(ConfigError, match="10204 bars"):
        cv.get_n_splits(5000)


def test_explicit_sizes_too_large_name_both_counts():
    cv = WalkForwardSplit(n_folds=5, train_size=1000, val_size=200, test_size=300, window=10, min_start=50)
    # 50 + 2 x 11 + 1000 + 200 + 5 x 300 = 2772
    with pytest.raises(ConfigError, match=r"needs at least 2772 bars .* has 2771"):
        list(cv.split(2771))
    assert len(list(cv.split(2772))) == 5


def test_one_size_given_counts_for_the_other_in_the_room_check():
    """Only test_size given: val defaults to it, so the room needed counts it twice. (Found
    by the layout property: it said "needs at least 6 bars ... has 6" for 6 bars.)"""
    cv = WalkForwardSplit(n_folds=1, test_size=2, window=1, reward_horizon=0)
    # 0 + 2 x 1 + train 1 + val 2 + 1 x test 2 = 7
    with pytest.raises(ConfigError, match=r"needs at least 7 bars .* has 6"):
        list(cv.split(6))
    assert len(list(cv.split(7))) == 1


def test_duration_under_one_bar_is_refused():
    index = pd.date_range("2024-01-01", periods=2000, freq="D")
    with pytest.raises(ConfigError, match="test_size='1h' is shorter than one bar"):
        list(WalkForwardSplit(n_folds=2, test_size="1h", window=5).split(pd.DataFrame(index=index)))


def test_embargo_below_minimum_is_refused():
    with pytest.raises(ConfigError, match=r"embargo=5 .* window \+ reward_horizon = 101"):
        list(WalkForwardSplit(n_folds=2, embargo=5).split(5000))


def test_empty_data_is_refused():
    with pytest.raises(ConfigError, match="needs at least"):
        list(WalkForwardSplit(n_folds=1, window=1).split(0))


#: Branches the fold-layout property took (filled while it runs; counted by the test below).
LAYOUTS: collections.Counter = collections.Counter()


@given(
    n=st.integers(0, 3000),
    n_folds=st.integers(1, 12),
    scheme=st.sampled_from(["rolling", "anchored"]),
    window=st.integers(1, 60),
    horizon=st.integers(0, 5),
    extra_embargo=st.integers(0, 10),
    min_start=st.integers(0, 200),
    train=st.one_of(st.none(), st.integers(1, 800)),
    val=st.one_of(st.none(), st.integers(1, 200)),
    test=st.one_of(st.none(), st.integers(1, 300)),
    refit=st.booleans(),
    slack=st.integers(0, 500),
)
def _fold_layout_property(n, n_folds, scheme, window, horizon, extra_embargo, min_start, train, val, test,
                          refit, slack):
    """A split either refuses with the number of bars it needs (more than it has), or lays out
    the folds as documented. ``refit``: a refused example is split again with the number of bars
    the refusal asked for (plus ``slack``), which must then succeed: most random sizes are too
    many for the bars drawn, and without this only a few examples would reach the layout."""
    embargo = window + horizon + extra_embargo
    cv = WalkForwardSplit(
        n_folds=n_folds, scheme=scheme, train_size=train, val_size=val, test_size=test,
        embargo=embargo, window=window, reward_horizon=horizon, min_start=min_start,
    )
    try:
        folds = list(cv.split(n))
    except ConfigError as exc:
        assert "needs at least" in str(exc) and f"has {n}" in str(exc)
        needed = int(str(exc).split("needs at least ")[1].split()[0])
        assert needed > n
        LAYOUTS["refused"] += 1
        if not refit:
            return
        n = needed + slack
        folds = list(cv.split(n))  # the bars the refusal asked for are enough
    assert cv.get_n_splits(n) == len(folds) == n_folds
    prev_test_stop = None
    for k, (tr, va, te) in enumerate(folds):
        for seg in (tr, va, te):
            assert seg.dtype == np.int64 and len(seg) >= 1
            assert seg.min() >= min_start and seg.max() < n
            assert np.all(np.diff(seg) == 1)  # contiguous, increasing
        assert va[0] - tr[-1] - 1 >= embargo  # gap train -> val
        assert te[0] - va[-1] - 1 >= embargo  # gap val -> test
        if test is not None:
            assert len(te) == test
        if scheme == "rolling":
            assert len(tr) == len(folds[0][0])
        else:
            assert tr[0] == folds[0][0][0] and len(tr) == len(folds[0][0]) + k * len(te)
        if prev_test_stop is not None:
            assert te[0] == prev_test_stop  # consecutive, non-overlapping tests
        prev_test_stop = te[-1] + 1
    assert prev_test_stop == n  # the last test segment ends at the last bar
    LAYOUTS[scheme] += 1
    LAYOUTS["multi-fold" if n_folds > 1 else "one fold"] += 1
    LAYOUTS["test size given" if test is not None else "test size derived"] += 1


def test_fold_layout_invariants():
    """Run the property above and count its branches: refusals, and laid-out splits of both
    schemes, with one and several folds, with and without a test size, each several times."""
    LAYOUTS.clear()
    _fold_layout_property()
    laid_out = LAYOUTS["rolling"] + LAYOUTS["anchored"]
    assert LAYOUTS["refused"] >= 3 and laid_out >= 8, LAYOUTS
    for branch in ("rolling", "anchored", "multi-fold", "test size given", "test size derived"):
        assert LAYOUTS[branch] >= 2, (branch, LAYOUTS)
