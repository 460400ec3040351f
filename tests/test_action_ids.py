"""Known answers for action ids in actions files (issue 26): every id in range maps to itself,
the first id past the table, negatives and fractions are refused (-1 in the result)."""

import numpy as np

from backtest.actions_file import _action_ids

MEANINGS = ("HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75")


def test_ids_in_range_map_to_themselves_and_the_bounds_are_refused():
    cells = np.array(["0", "6", "6.0", "7", "-1", "2.5", "3", "hold", " sell_75 ", "BUY_100"], dtype=object)
    assert _action_ids(cells, MEANINGS).tolist() == [0, 6, 6, -1, -1, -1, 3, 0, 6, -1]


def test_the_bound_follows_the_action_table():
    with_close = MEANINGS + ("CLOSE",)
    cells = np.array(["7", "8", "close"], dtype=object)
    assert _action_ids(cells, with_close).tolist() == [7, -1, 7]
    assert _action_ids(cells, MEANINGS).tolist() == [-1, -1, -1]
