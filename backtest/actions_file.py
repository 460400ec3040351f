"""A strategy's decisions from a file: the input of `walkforward evaluate` (DESIGN 3.10).

The file is a CSV (or parquet) of ``timestamp, action[, symbol]``, one row per decision:

- ``timestamp``: the bar the decision is for; the action is filled at that bar's open
  (the timing rule of DESIGN 3.2: a rule computed from closed bars up to t-1 decides at t).
  Any header the bar loader accepts for time (``timestamp``, ``datetime``, ``date``...),
  in any format it accepts; naive times are read like the bars' own (exchange-local for
  equities, UTC otherwise). Each must be the time stamp of a bar in DATA.
- ``action``: a name of the account's action space (``HOLD``, ``BUY_25`` ... ``SELL_75``,
  ``CLOSE`` when enabled; any case) or its integer id.
- ``symbol``: which symbol the row is for; needed when DATA holds more than one.

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
from backtest.io_formats import TIME_NAMES, mixed_zone_rows, normalise_name, parse_timestamps, read_table

#: Marks a bar without a decision in `actions_for`'s result.
NO_ACTION = -1


@dataclass(frozen=True)
class ActionsTable:
    """A parsed actions file: raw rows plus where they came from."""

    path: str
    sha256: str  # of the file's bytes: part of an evaluation's identity
    rows: np.ndarray  # 1-based data row numbers
    ns: np.ndarray  # int64 timestamps (UTC when ``aware``, wall time otherwise)
    aware: bool
    action: np.ndarray  # object: the raw action cells
    symbol: np.ndarray | None  # object: the symbol cells, None without a symbol column

    def symbols(self) -> list[str]:
        return [] if self.symbol is None else sorted({str(s) for s in self.symbol})


def read_actions(path: str | Path) -> ActionsTable:
    """Parse an actions file (columns and timestamps); `DataError` naming what to fix."""
    path = Path(path).expanduser()
    name = str(path)
    if not path.is_file():
        raise DataError(f"{name}: no such actions file; give a CSV of timestamp, action[, symbol]")
    raw = read_table(path)
    keys = {normalise_name(c): c for c in raw.columns}
    time_col = next((keys[k] for k in TIME_NAMES if k in keys), None)
    missing = [n for n, c in (("timestamp", time_col), ("action", keys.get("action"))) if c is None]
    if missing:
        raise DataError(f"{name}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, raw.columns))}); "
                        "an actions file has columns timestamp, action and optionally symbol")
    if len(raw) == 0:
        raise DataError(f"{name}: no rows; give one row per decision (timestamp, action)")
    rows = np.arange(1, len(raw) + 1)
    mixed = mixed_zone_rows(raw[time_col])
    if mixed is not None:
        i, j = mixed
        raise DataError(f"{name}: row {rows[i]} has no time zone but row {rows[j]} has one; give every "
                        "timestamp an offset (e.g. +00:00) or none")
    ns, aware, bad = parse_timestamps(raw[time_col])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name}: row {rows[i]}: timestamp {raw[time_col].iloc[i]!r} cannot be parsed; use ISO 8601 "
                        "(2023-11-24 14:30:00) or the format of the bar file")
    action = raw[keys["action"]].to_numpy(dtype=object)
    symbol = None
    if "symbol" in keys:
        symbol = raw[keys["symbol"]].astype("string").str.strip().to_numpy(dtype=object)
        empty = np.flatnonzero(pd.isna(symbol) | (symbol == ""))
        if empty.size:
            raise DataError(f"{name}: row {rows[empty[0]]}: symbol is empty; fill the symbol column on every row")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return ActionsTable(name, digest, rows, np.asarray(ns, dtype=np.int64), bool(aware), action, symbol)


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


def actions_for(table: ActionsTable, bars, meanings) -> np.ndarray:
    """int64 ``[len(bars)]``: the action id for each bar of ``bars``, `NO_ACTION` where the file
    has none. Rows of this symbol whose timestamp is not a bar, duplicates and unknown actions
    raise `DataError` naming the first such row."""
    meanings = tuple(meanings)
    sel = rows_of(table, bars.symbol)
    ids = _action_ids(table.action[sel], meanings)
    ns = _utc_ns(table, bars, sel)
    bar_ns = bars.index.as_unit("ns").asi8
    pos = np.searchsorted(bar_ns, ns)
    inside = pos < bar_ns.size
    matched = np.zeros(sel.size, dtype=bool)
    matched[inside] = bar_ns[pos[inside]] == ns[inside]
    bad = (ids < 0) | ~matched
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        row, cell = table.rows[sel[k]], table.action[sel[k]]
        if ids[k] < 0:
            raise DataError(f"{table.path}: row {row}: unknown action {cell!r}; use one of {', '.join(meanings)} "
                            f"or an id 0..{len(meanings) - 1}")
        stamp = pd.Timestamp(int(table.ns[sel[k]]), unit="ns", tz="UTC" if table.aware else None)
        raise DataError(f"{table.path}: row {row}: timestamp {stamp} matches no {bars.symbol} bar; each row must name "
                        f"the time stamp of a bar in DATA ({bars.index[0]} .. {bars.index[-1]}, "
                        f"{bars.timeframe_label} bars)")
    out = np.full(len(bars), NO_ACTION, dtype=np.int64)
    order = np.argsort(pos, kind="stable")
    dup = np.flatnonzero(np.diff(pos[order]) == 0)
    if dup.size:
        a, b = sel[order[dup[0]]], sel[order[dup[0] + 1]]
        raise DataError(f"{table.path}: rows {table.rows[a]} and {table.rows[b]} both decide {bars.symbol} at "
                        f"{bars.index[pos[order[dup[0]]]]}; keep one action per bar")
    out[pos] = ids
    return out


def check_covered(table: ActionsTable, bars, actions: np.ndarray, segment: range, what: str) -> None:
    """Refuse a bar of ``segment`` without an action, naming the first one."""
    missing = np.flatnonzero(actions[segment.start:segment.stop] == NO_ACTION)
    if missing.size:
        t = segment.start + int(missing[0])
        raise DataError(f"{table.path}: no action for {bars.symbol} bar {bars.index[t]} ({what}, "
                        f"{missing.size} bar(s) missing); every bar of every test segment needs a row "
                        "(HOLD for no change)")


__all__ = ["ActionsTable", "NO_ACTION", "actions_for", "check_covered", "read_actions", "rows_of"]
