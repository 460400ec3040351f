"""A strategy's decisions from a file: the input of `walkforward evaluate` (DESIGN 3.10).

The file is a CSV (or parquet) of ``timestamp, action[, symbol]``, one row per decision:

- ``timestamp``: the bar the decision is for; the action is filled at that bar's open
  (the timing rule of DESIGN 3.2: a rule computed from closed bars up to t-1 decides at t).
  Any header the bar loader accepts for time (``timestamp``, ``datetime``, ``date``...),
  in any format it accepts; naive times are read like the bars' own (exchange-local for
  equities, UTC otherwise). Each must be the time stamp of a bar in DATA.
- ``action``: a name of the account's action space (``HOLD``, ``BUY_25`` ... ``SELL_75``,
  ``CLOSE`` when ``[account] include_close_action`` is on; any case) or its integer id.
  BUY_s buys s x the full buy (equity x (1 - safety_buffer) x base_allocation: 10.5% of
  equity with the default account), capped at ``max_position`` (20% of equity); SELL_s sells
  fraction s of the open position. A numeric column holding only 0 and 1 is refused: it is
  almost always a long/flat signal, which as ids would read 1 = BUY_25 and 0 = HOLD (a
  strategy that never sells); such a file needs a ``position`` column.
- ``position`` (instead of ``action``): the target position as a fraction of the position
  cap (``max_position`` x equity): 0/1 long/flat signals, or -1..1 with
  ``[account] allow_short`` (negative targets are refused when shorting is off). Targets
  become the account's own actions (`positions_to_actions`): the strategy is held to the
  account rules a trained model trades under.
- ``symbol``: which symbol the row is for; needed when DATA holds more than one.

Python: `read_actions` also takes a DataFrame (columns as in the file, or a DatetimeIndex)
or a Series named ``action`` or ``position`` indexed by time.

Rows may cover more than the test segments (those rows are checked, then unused). Every
bar of every test segment needs a row: a missing bar is an error, not a silent HOLD, so a
misaligned file is never judged. Errors name the file and the first offending row (1-based
data row, header excluded) or bar, and how to fix it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.errors import DataError
from backtest.io_formats import (
    TIME_NAMES,
    UNNAMED_NAMES,
    mixed_zone_rows,
    normalise_name,
    parse_timestamps,
    read_table,
    row_label,
    row_numbers,
)

#: Marks a bar without a decision in `actions_for`'s result.
NO_ACTION = -1


#: Sizes of the decoder's BUY_s / SELL_s actions that positions are reached with.
_STEPS = np.array([0.25, 0.50, 0.75])


@dataclass(frozen=True)
class ActionsTable:
    """A parsed actions file: raw rows plus where they came from."""

    path: str
    sha256: str  # of the file's bytes (or the DataFrame's content): part of an evaluation's identity
    rows: np.ndarray  # 1-based data row numbers
    ns: np.ndarray  # int64 timestamps (UTC when ``aware``, wall time otherwise)
    aware: bool
    action: np.ndarray  # object: the raw action cells; float64 target positions when ``kind == "position"``
    symbol: np.ndarray | None  # object: the symbol cells, None without a symbol column
    kind: str = "action"  # "action" (ids or names) or "position" (target fraction of the cap)

    def symbols(self) -> list[str]:
        return [] if self.symbol is None else sorted({str(s) for s in self.symbol})


def _frame_of(source) -> tuple[pd.DataFrame, str, str]:
    """(table, display name, sha256) of a path, DataFrame or Series."""
    if isinstance(source, pd.Series):
        if source.name not in ("action", "position"):
            raise DataError(f"actions Series named {source.name!r}: name it 'action' (action names or ids) or "
                            "'position' (target fraction of the position cap), e.g. signal.rename('position')")
        source = source.to_frame()
    if isinstance(source, pd.DataFrame):
        frame = source if isinstance(source.index, pd.RangeIndex) else source.reset_index()
        digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
                                + "|".join(map(str, frame.columns)).encode()).hexdigest()
        return frame, "<actions DataFrame>", digest
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such actions file; give a CSV of timestamp, action[, symbol] "
                        "or timestamp, position[, symbol]")
    return read_table(path), str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def read_actions(source, date_format: str = "auto") -> ActionsTable:
    """Parse an actions file, DataFrame or Series (columns and timestamps); `DataError` naming
    what to fix. ``date_format``: as `backtest.data.load_bars` takes it."""
    raw, name, digest = _frame_of(source)
    keys = {normalise_name(c): c for c in raw.columns}
    time_col = next((keys[k] for k in TIME_NAMES + UNNAMED_NAMES if k in keys), None)
    if "action" in keys and "position" in keys:
        raise DataError(f"{name}: has both an action and a position column; keep one (action: names or ids; "
                        "position: target fraction of the position cap)")
    kind = "position" if "position" in keys else "action"
    missing = [n for n, c in (("timestamp", time_col), ("action or position", keys.get(kind))) if c is None]
    if missing:
        raise DataError(f"{name}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, raw.columns))}); "
                        "an actions file has columns timestamp, action (or position) and optionally symbol")
    if len(raw) == 0:
        raise DataError(f"{name}: no rows; give one row per decision (timestamp, action)")
    rows = row_numbers(raw)
    mixed = mixed_zone_rows(raw[time_col])
    if mixed is not None:
        i, j = mixed
        raise DataError(f"{name}: {row_label(rows, i)} has no time zone but {row_label(rows, j)} has one; give every "
                        "timestamp an offset (e.g. +00:00) or none")
    try:
        ns, aware, bad = parse_timestamps(raw[time_col], date_format)
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from exc
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name}: {row_label(rows, i)}: timestamp {raw[time_col].iloc[i]!r} cannot be parsed; use ISO 8601 "
                        "(2023-11-24 14:30:00) or the format of the bar file")
    cells = raw[keys[kind]]
    values = _positions(cells, name, rows) if kind == "position" else cells.to_numpy(dtype=object)
    if kind == "action":
        _refuse_signals(cells, name)
    symbol = None
    if "symbol" in keys:
        symbol = raw[keys["symbol"]].astype("string").str.strip().to_numpy(dtype=object)
        empty = np.flatnonzero(pd.isna(symbol) | (symbol == ""))
        if empty.size:
            raise DataError(f"{name}: {row_label(rows, empty[0])}: symbol is empty; fill the symbol column on every row")
    return ActionsTable(name, digest, rows, np.asarray(ns, dtype=np.int64), bool(aware), values, symbol, kind)


def _refuse_signals(cells: pd.Series, name: str) -> None:
    """A numeric action column holding only 0 and 1 (a 1 among them) is a long/flat signal, not
    ids (1 = BUY_25, 0 = HOLD would never sell): refused, never guessed (DESIGN 3.10)."""
    numeric = pd.to_numeric(cells.astype("string").str.strip(), errors="coerce")
    if numeric.isna().any():
        return
    seen = set(np.unique(numeric.to_numpy(dtype=np.float64)).tolist())
    if seen <= {0.0, 1.0} and 1.0 in seen:
        raise DataError(f"{name}: the action column holds only 0 and 1. Read as action ids that is 1 = BUY_25 and "
                        "0 = HOLD, a strategy that never sells; if these are long/flat signals, name the column "
                        "'position' (target fraction of the position cap: 1 = long at the cap, 0 = flat); if they "
                        "really are ids, write the names (HOLD, BUY_25)")


def _positions(cells: pd.Series, name: str, rows: np.ndarray) -> np.ndarray:
    """Target positions as float64, refusing text, NaN and values outside [-1, 1]."""
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    for mask, what in ((~np.isfinite(values), "is not a number"), (np.abs(values) > 1.0, "is outside -1..1")):
        bad = np.flatnonzero(mask)
        if bad.size:
            raise DataError(f"{name}: {row_label(rows, bad[0])}: position {str(cells.iloc[bad[0]])!r} {what} ({bad.size} such "
                            "row(s)); a position is the target fraction of the position cap: 0 flat, 1 long at the "
                            "cap, -1 short at the cap (with [account] allow_short)")
    return values


def positions_to_actions(targets: np.ndarray, account) -> np.ndarray:
    """Action ids of ``account.action_space`` (which must include CLOSE) that move the position
    to each bar's target fraction of the cap; ``NaN`` targets give `NO_ACTION`.

    Positions are tracked in units of the full buy (``account.buy_fraction`` of equity): the
    cap is ``max_position / buy_fraction`` units (1.905 with the default account). Per bar:
    within half the smallest step (0.125 units) of the target: HOLD; target 0, or the other
    side of 0: CLOSE (a flip opens the new side from the next bar on); further from 0: BUY_s
    (long) or SELL_s (short) with the step nearest the gap (at most 0.75, so reaching the cap
    from flat takes 3 bars with the default account, as it would a trained model); nearer to
    0: SELL_s (long) or BUY_s (short) with s nearest the share of the position to shed.
    """
    space = account.action_space
    if not space.include_close:
        raise DataError("positions need the CLOSE action; set [account] include_close_action = true")
    if not account.allow_short and np.nanmin(np.r_[targets, 0.0]) < 0:
        raise DataError("a negative position (a short) needs [account] allow_short = true; without it use 0..1")
    ids = {name: space.id_of(name) for name in space.meanings}
    cap = account.max_position / account.buy_fraction
    out = np.full(len(targets), NO_ACTION, dtype=np.int64)
    held = 0.0
    for t, target in enumerate(targets):
        if not np.isfinite(target):
            continue
        goal = float(target) * cap
        if abs(goal - held) < _STEPS[0] / 2:
            out[t] = ids["HOLD"]
        elif held != 0.0 and (goal == 0.0 or (goal > 0) != (held > 0)):
            out[t], held = ids["CLOSE"], 0.0
        elif abs(goal) > abs(held):
            step = float(_STEPS[np.argmin(np.abs(_STEPS - (abs(goal) - abs(held))))])
            out[t] = ids[f"{'BUY' if goal > 0 else 'SELL'}_{int(step * 100)}"]
            held = float(np.sign(goal)) * min(abs(held) + step, cap)
        else:
            step = float(_STEPS[np.argmin(np.abs(_STEPS - (1.0 - goal / held)))])
            out[t] = ids[f"{'SELL' if held > 0 else 'BUY'}_{int(step * 100)}"]
            held *= 1.0 - step
    return out


def _utc_ns(table: ActionsTable, bars, sel: np.ndarray) -> np.ndarray:
    """The selected rows' timestamps in UTC ns, naive ones read in the bars' time zone."""
    ns = table.ns[sel]
    if table.aware:
        return ns
    tz = "UTC"
    if bars.asset_class == "equity" and getattr(bars, "calendar", None):
        from backtest.sessions import calendar_sessions

        tz = calendar_sessions(bars.calendar, bars.index[0].tz_localize(None), bars.index[-1].tz_localize(None))[4]
    if tz == "UTC":
        return ns
    local = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    out = local.tz_convert("UTC").as_unit("ns").asi8.copy()
    out[np.asarray(local.isna())] = np.iinfo(np.int64).min  # matches no bar
    return out


def rows_of(table: ActionsTable, symbol: str) -> np.ndarray:
    """Indices of the rows for ``symbol`` (all rows without a symbol column); names are
    matched exactly, or regardless of case when no row matches exactly."""
    if table.symbol is None:
        return np.arange(table.rows.size)
    names = table.symbol.astype(str)
    exact = names == symbol
    return np.flatnonzero(exact if exact.any() else np.char.upper(names) == symbol.upper())


def _action_ids(cells: np.ndarray, meanings: tuple[str, ...]) -> np.ndarray:
    """Action ids of the cells, -1 where a cell is neither a known name nor an id in range."""
    lookup = {m.upper(): i for i, m in enumerate(meanings)}
    out = np.full(cells.size, -1, dtype=np.int64)
    for k, cell in enumerate(cells):
        text = str(cell).strip()
        if text.upper() in lookup:
            out[k] = lookup[text.upper()]
            continue
        try:
            value = float(text)
        except ValueError:
            continue
        if value == int(value) and 0 <= int(value) < len(meanings):
            out[k] = int(value)
    return out


def _unknown(cell, meanings: tuple[str, ...]) -> str:
    """Why an action cell is not an action, and the fix."""
    text = str(cell).strip().upper()
    if text == "CLOSE":
        return "CLOSE is off; enable it with [account] include_close_action = true in the --config TOML"
    hint = ("; a -1/0/1 signal is a position: name the column 'position'" if text in ("-1", "-1.0") else "")
    return f"use one of {', '.join(meanings)} or an id 0..{len(meanings) - 1}{hint}"


def _bar_positions(table: ActionsTable, bars, sel: np.ndarray, ok: np.ndarray, why=None) -> np.ndarray:
    """Bar index of each selected row; refuses rows that are not usable (``~ok``: ``why(k)`` says
    why), rows naming no bar and two rows for one bar, naming the first."""
    ns = _utc_ns(table, bars, sel)
    bar_ns = bars.index.as_unit("ns").asi8
    pos = np.searchsorted(bar_ns, ns)
    inside = pos < bar_ns.size
    matched = np.zeros(sel.size, dtype=bool)
    matched[inside] = bar_ns[pos[inside]] == ns[inside]
    bad = ~ok | ~matched
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        if not ok[k]:
            raise DataError(f"{table.path}: {row_label(table.rows, sel[k])}: {why(k)}")
        stamp = pd.Timestamp(int(table.ns[sel[k]]), unit="ns", tz="UTC" if table.aware else None)
        dropped = bars.frame.attrs.get("dropped_outside_sessions")  # (count, first ns, last ns) of the file
        within = dropped is not None and dropped[1] <= int(ns[k]) <= dropped[2]
        hint = (f"; if DATA has a bar there, it is one of the {dropped[0]} dropped as outside regular "
                f"{bars.asset_class} sessions (see the warning): pass --keep-extended (keep_extended=True) to keep "
                f"them, or leave their rows out" if within else "")
        raise DataError(f"{table.path}: {row_label(table.rows, sel[k])}: timestamp {stamp} matches no {bars.symbol} bar; "
                        f"each row must name the time stamp of a bar in DATA ({bars.index[0]} .. {bars.index[-1]}, "
                        f"{bars.timeframe_label} bars){hint}")
    order = np.argsort(pos, kind="stable")
    dup = np.flatnonzero(np.diff(pos[order]) == 0)
    if dup.size:
        a, b = sel[order[dup[0]]], sel[order[dup[0] + 1]]
        raise DataError(f"{table.path}: {row_label(table.rows, a, b)} both decide {bars.symbol} at "
                        f"{bars.index[pos[order[dup[0]]]]}; keep one action per bar")
    return pos


def actions_for(table: ActionsTable, bars, meanings) -> np.ndarray:
    """int64 ``[len(bars)]``: the action id for each bar of ``bars``, `NO_ACTION` where the file
    has none. Rows of this symbol whose timestamp is not a bar, duplicates and unknown actions
    raise `DataError` naming the first such row. (A position file: `targets_for`.)"""
    meanings = tuple(meanings)
    sel = rows_of(table, bars.symbol)
    ids = _action_ids(table.action[sel], meanings)
    cells = table.action[sel]
    pos = _bar_positions(table, bars, sel, ids >= 0,
                         lambda k: f"unknown action {cells[k]!r}; {_unknown(cells[k], meanings)}")
    out = np.full(len(bars), NO_ACTION, dtype=np.int64)
    out[pos] = ids
    return out


def targets_for(table: ActionsTable, bars) -> np.ndarray:
    """float64 ``[len(bars)]``: a position file's target for each bar, NaN where it has none."""
    sel = rows_of(table, bars.symbol)
    values = np.asarray(table.action[sel], dtype=np.float64)
    pos = _bar_positions(table, bars, sel, np.ones(sel.size, dtype=bool))
    out = np.full(len(bars), np.nan)
    out[pos] = values
    return out


def segment_actions(table: ActionsTable, bars, account, segments, carry: bool = False) -> np.ndarray:
    """Action ids per bar of ``bars`` for ``table``: ids as given, or, for a position file, the
    targets translated (`positions_to_actions`) over the test segments: separately per segment
    (each starts flat), or, with ``carry``, over the segments one after the other (each starts
    from the position the one before left: the account carries across test folds);
    `NO_ACTION` elsewhere."""
    if table.kind == "action":
        return actions_for(table, bars, account.action_space.meanings)
    targets = targets_for(table, bars)
    out = np.full(len(bars), NO_ACTION, dtype=np.int64)
    if carry and len(segments):
        bars_ = np.concatenate([np.arange(seg.start, seg.stop) for seg in segments])
        out[bars_] = positions_to_actions(targets[bars_], account)
        return out
    for seg in segments:
        out[seg.start:seg.stop] = positions_to_actions(targets[seg.start:seg.stop], account)
    return out


def check_covered(table: ActionsTable, bars, actions: np.ndarray, segment: range, what: str) -> None:
    """Refuse a bar of ``segment`` without an action, naming the first one."""
    missing = np.flatnonzero(actions[segment.start:segment.stop] == NO_ACTION)
    if missing.size:
        t = segment.start + int(missing[0])
        raise DataError(f"{table.path}: no action for {bars.symbol} bar {bars.index[t]} ({what}, "
                        f"{missing.size} bar(s) missing); every bar of every test segment needs a row "
                        "(HOLD for no change)")


__all__ = ["ActionsTable", "NO_ACTION", "actions_for", "check_covered", "positions_to_actions", "read_actions",
           "rows_of", "segment_actions", "targets_for"]
