"""The research ledger (DESIGN 3.11): every configuration tried on the same test data is a trial.

A researcher iterates over reward weights, network sizes, seeds and thresholds, each time on
the same test segments; the best of twenty looks good by luck alone. The deflated Sharpe
corrects for that only when it knows how many configurations were tried, and people forget.
So every `walkforward run` and `walkforward evaluate` records, per symbol, in one SQLite file
outside the run directories:

- the data hash and the test segments (bar ranges): together the **data key**, which lines
  runs up for `walkforward compare`;
- the configuration's fingerprint (the manifest's ``config_fingerprint``; for `evaluate` the
  actions file is mixed in), the run directory, the kind and the command;
- the verdict, key metrics and the stitched out-of-sample per-bar returns with their
  timestamps (so `walkforward compare` can line runs up on common bars).

**Counting** (`count_trials`, called before the reports are built): ``n_trials`` of a symbol
is the number of distinct trial fingerprints the ledger holds on the same data, this run's own
included, plus the trials the user declares (``--trials N``: tried elsewhere). "The same
data" is the symbol's bars by content (their hash) and a test period overlapping this run's
by time span (the manifest's ``test_span``), so a one-bar change of segment sizes or another
fold count is another trial on the same data, not a fresh start. The trial fingerprint
(`trial_identity`) leaves out what cannot change the returns: null draws, random-policy
seeds, verdict thresholds. With two or more recorded trials, their per-bar Sharpe ratios'
variance is written beside the count (``symbols[i].trial_sharpe_var``) and the deflated
Sharpe uses it as the dispersion of unskilled trials (`reports.metrics.deflated_sharpe`). It is written
per symbol into the manifest (``symbols[i].n_trials`` and ``n_trials_basis``, read by
`reports.summary.build_summary`); the manifest's top-level ``n_trials`` is the largest, with
a basis text listing the symbols. A rerun or a resumed run (same fingerprint) is the same
trial; `walkforward ledger --forget RUN_DIR` removes a run's trials, and later counts on that
data say how many configurations were forgotten.

**Safety.** Only the orchestrating process writes, in WAL mode, each run's rows in one
``BEGIN IMMEDIATE`` transaction with a busy timeout, upserting on (run directory, symbol,
data key, fingerprint): two runs at once neither corrupt nor lose rows, an interrupted run
leaves either all or none of its rows. A corrupted, foreign or locked ledger never costs a
run its results: the hooks warn in one line and the run completes with the trials it can
count (its own plus the declared ones); `walkforward ledger` and `compare`, which need the
ledger, stop with a one-line error instead.

Where: ``--ledger PATH``, else ``$WALKFORWARD_LEDGER``, else
``$XDG_DATA_HOME/rl-walkforward/ledger.sqlite`` (``~/.local/share/...``); ``--no-ledger``
(Python: ``ledger=False``) turns it off.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from backtest.errors import UserError
from walkforward.store import canonical_hash

ENV = "WALKFORWARD_LEDGER"
APP_DIR = "rl-walkforward"
FILE_NAME = "ledger.sqlite"
SCHEMA_VERSION = 1
#: ``PRAGMA application_id`` of a ledger ("WFLD"): a SQLite file without it is not ours.
APPLICATION_ID = 0x57464C44
#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 30.0
#: Metrics kept per trial (the rest stays in the run directory).
KEY_METRICS = ("sharpe", "net_return", "pf", "max_drawdown", "trades", "consistency", "skew", "sortino",
               "calmar", "win_rate", "exposure_avg", "dsr", "psr", "n_trials", "excess_vs_bh_matched",
               "excess_p", "timing_null_p", "breakeven_cost_multiple", "folds", "bars")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS trials (
        id INTEGER PRIMARY KEY, data_key TEXT NOT NULL, symbol TEXT NOT NULL, data_hash TEXT NOT NULL,
        tests TEXT NOT NULL, fingerprint TEXT NOT NULL, run_dir TEXT NOT NULL, kind TEXT, command TEXT,
        verdict TEXT, metrics TEXT NOT NULL, n_trials INTEGER, bars_per_year REAL, initial_equity REAL,
        bars INTEGER NOT NULL, times BLOB NOT NULL, returns BLOB NOT NULL, first_recorded TEXT NOT NULL,
        recorded TEXT NOT NULL, UNIQUE (run_dir, symbol, data_key, fingerprint))""",
    "CREATE INDEX IF NOT EXISTS trials_data ON trials (data_key)",
    """CREATE TABLE IF NOT EXISTS forgotten (
        id INTEGER PRIMARY KEY, data_key TEXT NOT NULL, symbol TEXT NOT NULL, fingerprint TEXT NOT NULL,
        data_hash TEXT,
        run_dir TEXT NOT NULL, forgotten TEXT NOT NULL)""",
)


class LedgerError(UserError):
    """The ledger cannot be read or written (one line: where, why, what to do)."""


class LedgerWarning(UserWarning):
    """A run went on without the ledger (its results are complete)."""


# ---- where ----------------------------------------------------------------------------
def default_path() -> Path:
    """``$XDG_DATA_HOME/rl-walkforward/ledger.sqlite``, ``~/.local/share/...`` without it."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_DIR / FILE_NAME


def resolve(ledger: str | os.PathLike | bool | None = None) -> Path | None:
    """The ledger file: ``ledger`` (a path; False = off), else ``$WALKFORWARD_LEDGER``, else
    `default_path`."""
    if ledger is False:
        return None
    if ledger is None or ledger is True:
        ledger = os.environ.get(ENV) or default_path()
    return Path(ledger).expanduser()


def check_trials(trials) -> int:
    """``--trials N`` (trials done elsewhere on the same data): a whole number >= 0."""
    from backtest.errors import ConfigError

    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 0:
        raise ConfigError(f"--trials {trials!r}: give the number of configurations tried elsewhere on this data "
                          f"as a whole number >= 0 (default 0)")
    return int(trials)


def ledger_option(args) -> str | bool | None:
    """``--ledger PATH`` / ``--no-ledger`` of a parsed command line, as `resolve` takes it."""
    return False if getattr(args, "no_ledger", False) else getattr(args, "ledger", None)


# ---- what a trial is --------------------------------------------------------------------
def data_key(data_hash: str, tests: Sequence[Sequence[int]]) -> str:
    """Identity of "the same test data": the bars' hash and the test segments' bar ranges."""
    return canonical_hash({"data": data_hash, "tests": [[int(a), int(b)] for a, b in tests]})


@dataclass(frozen=True)
class TrialRecord:
    """One configuration on one symbol's test data, as the ledger keeps it."""

    symbol: str
    data_hash: str
    tests: tuple  # ((start, stop), ...) test segments in bars
    fingerprint: str
    run_dir: str
    kind: str = "run"
    command: str | None = None
    verdict: str | None = None
    metrics: dict = field(default_factory=dict)
    n_trials: int | None = None
    bars_per_year: float = 1.0
    initial_equity: float = 1000.0
    times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # int64 ns, UTC
    returns: np.ndarray = field(default_factory=lambda: np.zeros(0))  # stitched out-of-sample bar returns
    recorded: str | None = None

    @property
    def data_key(self) -> str:
        return data_key(self.data_hash, self.tests)

    @property
    def label(self) -> str:
        """Short display name: the run directory's name."""
        return Path(self.run_dir).name or self.run_dir


def _pack(a: np.ndarray, dtype) -> bytes:
    return zlib.compress(np.ascontiguousarray(a, dtype=dtype).tobytes(), 6)


def _unpack(blob: bytes, dtype) -> np.ndarray:
    return np.frombuffer(zlib.decompress(blob), dtype=dtype).copy()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---- the SQLite file ---------------------------------------------------------------------
def _reason(exc: BaseException, timeout: float) -> str:
    text = str(exc).strip() or type(exc).__name__
    low = text.lower()
    if "locked" in low or "busy" in low:
        return f"locked by another process for more than {timeout:g} s; retry when that run has finished"
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return (f"not a readable SQLite database ({text}): it is corrupted; move it aside (a new ledger is "
                f"started) or point --ledger / ${ENV} elsewhere")
    if "unable to open" in low or "readonly" in low or "read-only" in low or isinstance(exc, OSError):
        return f"cannot be opened for writing ({text}); check the directory is writable or use --ledger PATH"
    return text


class Ledger:
    """One ledger file. Every method opens, uses and closes its own connection (a run holds no
    lock while its folds train); every error becomes a one-line `LedgerError`."""

    def __init__(self, path: str | os.PathLike, *, timeout: float | None = None) -> None:
        self.path = Path(path).expanduser()
        self.timeout = BUSY_TIMEOUT_S if timeout is None else float(timeout)

    @property
    def exists(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    @contextlib.contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection | None]:
        """A connection with the schema in place (None for a read of a ledger not yet started)."""
        if not write and not self.exists:
            yield None
            return
        con = None
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None)
            con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            ready = self._check_or_init(con, write)
            yield con if ready else None
        except sqlite3.Error as exc:
            raise LedgerError(f"research ledger {self.path}: {_reason(exc, self.timeout)}") from None
        except OSError as exc:
            raise LedgerError(f"research ledger {self.path}: {_reason(exc, self.timeout)}") from None
        finally:
            if con is not None:
                con.close()

    def _check_or_init(self, con: sqlite3.Connection, write: bool) -> bool:
        """Refuse a foreign or newer file; for a write, create the schema (WAL mode) when
        missing. True when the tables are there to read."""
        con.execute("BEGIN")  # one snapshot: another process may be creating the ledger right now
        try:
            app = con.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            con.execute("COMMIT")
        if app != APPLICATION_ID and (app != 0 or tables):
            raise LedgerError(f"research ledger {self.path}: this SQLite file is not a walkforward ledger; "
                              f"point --ledger / ${ENV} at another file")
        if app == APPLICATION_ID and "meta" in tables:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise LedgerError(f"research ledger {self.path}: written by a newer version (schema {row[0]}, "
                                  f"this one reads {SCHEMA_VERSION}); upgrade or use another --ledger")
        have = app == APPLICATION_ID and {"meta", "trials", "forgotten"} <= tables
        if not write:
            return have
        self._ensure_wal(con)
        if have:
            cols = {r[1] for r in con.execute("PRAGMA table_info(forgotten)")}
            if "data_hash" not in cols:  # a ledger from before trials were counted by data content
                with self._transaction(con):
                    con.execute("ALTER TABLE forgotten ADD COLUMN data_hash TEXT")
            return True
        with self._transaction(con):
            for statement in _SCHEMA:
                con.execute(statement)
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        return True

    def _ensure_wal(self, con: sqlite3.Connection) -> None:
        """WAL mode, retried until the busy timeout: switching the journal mode needs the file
        to itself and SQLite answers "locked" at once, without its busy handler, when another
        process is creating or writing the ledger at that moment."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    con.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if not any(w in str(exc).lower() for w in ("locked", "busy")) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @staticmethod
    @contextlib.contextmanager
    def _transaction(con: sqlite3.Connection) -> Iterator[None]:
        """``BEGIN IMMEDIATE``: take the write lock up front (waiting up to the busy timeout),
        so two writers queue instead of failing half-way; all or nothing."""
        con.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    # ---- writes -----------------------------------------------------------------------
    def record(self, records: Sequence[TrialRecord]) -> None:
        """Insert or update (same run directory, symbol, data and fingerprint) in one transaction."""
        now = _now()
        rows = [(r.data_key, r.symbol, r.data_hash, json.dumps([list(t) for t in r.tests]), r.fingerprint,
                 r.run_dir, r.kind, r.command, r.verdict, json.dumps(_jsonable(r.metrics), allow_nan=False),
                 r.n_trials, float(r.bars_per_year), float(r.initial_equity), int(len(r.returns)),
                 _pack(r.times, np.int64), _pack(r.returns, np.float64), now, now) for r in records]
        with self._connect(write=True) as con, self._transaction(con):
            con.executemany(
                """INSERT INTO trials (data_key, symbol, data_hash, tests, fingerprint, run_dir, kind, command,
                       verdict, metrics, n_trials, bars_per_year, initial_equity, bars, times, returns,
                       first_recorded, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (run_dir, symbol, data_key, fingerprint) DO UPDATE SET kind = excluded.kind,
                       command = excluded.command, verdict = excluded.verdict, metrics = excluded.metrics,
                       n_trials = excluded.n_trials, bars_per_year = excluded.bars_per_year,
                       initial_equity = excluded.initial_equity, bars = excluded.bars, times = excluded.times,
                       returns = excluded.returns, recorded = excluded.recorded""", rows)

    def forget(self, run_dir: str | os.PathLike) -> list[dict]:
        """Remove every trial of ``run_dir`` (remembered in ``forgotten``); returns what went."""
        target = str(Path(run_dir).expanduser().resolve())
        with self._connect(write=True) as con, self._transaction(con):
            gone = [{"symbol": s, "data_key": k, "fingerprint": f, "data_hash": h} for s, k, f, h in con.execute(
                "SELECT symbol, data_key, fingerprint, data_hash FROM trials WHERE run_dir = ? ORDER BY id",
                (target,))]
            con.execute("DELETE FROM trials WHERE run_dir = ?", (target,))
            now = _now()
            con.executemany("INSERT INTO forgotten (data_key, symbol, fingerprint, run_dir, forgotten, data_hash) "
                            "VALUES (?, ?, ?, ?, ?, ?)", [(g["data_key"], g["symbol"], g["fingerprint"], target, now,
                                                           g["data_hash"]) for g in gone])
        return gone

    # ---- reads ------------------------------------------------------------------------
    def count(self, keys: Sequence[str]) -> dict[str, tuple[set[str], int]]:
        """Per data key: the distinct fingerprints recorded and how many configurations were
        forgotten (removed and not recorded again)."""
        out: dict[str, tuple[set[str], int]] = {k: (set(), 0) for k in keys}
        with self._connect(write=False) as con:
            if con is None:
                return out
            for k in keys:
                fps = {r[0] for r in con.execute("SELECT DISTINCT fingerprint FROM trials WHERE data_key = ?", (k,))}
                gone = {r[0] for r in con.execute("SELECT DISTINCT fingerprint FROM forgotten WHERE data_key = ?",
                                                  (k,))}
                out[k] = (fps, len(gone - fps))
        return out

    def count_overlapping(self, data_hash: str, start_ns: int, end_ns: int) -> tuple[dict[str, float | None], int]:
        """Trials on the same data by content (``data_hash``) whose test period overlaps the
        time span ``[start_ns, end_ns]`` (int64 ns, UTC): ``({fingerprint: per-bar Sharpe of its
        latest record, None when undefined}, configurations forgotten on this data and not
        recorded again)``. Another segment size or fold count on the same bars is another
        trial on the same data, not a fresh start."""
        found: dict[str, float | None] = {}
        with self._connect(write=False) as con:
            if con is None:
                return found, 0
            for fp, times, returns in con.execute(
                    "SELECT fingerprint, times, returns FROM trials WHERE data_hash = ? ORDER BY recorded, id",
                    (data_hash,)):
                t = _unpack(times, np.int64)
                if t.size == 0 or t[0] > end_ns or t[-1] < start_ns:
                    continue
                r = _unpack(returns, np.float64)
                sd = float(r.std(ddof=1)) if r.size > 1 else 0.0
                found[fp] = float(r.mean() / sd) if sd > 0 else None
            cols = {r[1] for r in con.execute("PRAGMA table_info(forgotten)")}
            gone = {r[0] for r in con.execute("SELECT DISTINCT fingerprint FROM forgotten WHERE data_hash = ?",
                                              (data_hash,))} if "data_hash" in cols else set()
        return found, len(gone - set(found))

    def data_sets(self) -> list[dict]:
        """Every data key with its trials (metrics, no returns), oldest first."""
        with self._connect(write=False) as con:
            if con is None:
                return []
            rows = con.execute("SELECT data_key, symbol, data_hash, tests, fingerprint, run_dir, kind, command, "
                               "verdict, metrics, n_trials, bars, first_recorded, recorded FROM trials "
                               "ORDER BY symbol, data_key, first_recorded, id").fetchall()
            gone = {}
            for k, n in con.execute("SELECT data_key, COUNT(DISTINCT fingerprint) FROM forgotten f WHERE NOT EXISTS "
                                    "(SELECT 1 FROM trials t WHERE t.data_key = f.data_key AND "
                                    "t.fingerprint = f.fingerprint) GROUP BY data_key"):
                gone[k] = n
        sets: dict[str, dict] = {}
        for (key, symbol, dh, tests, fp, run_dir, kind, command, verdict, metrics, n_trials, bars, first,
             recorded) in rows:
            s = sets.setdefault(key, {"data_key": key, "symbol": symbol, "data_hash": dh, "tests": json.loads(tests),
                                      "trials": [], "forgotten": gone.get(key, 0)})
            s["trials"].append({"fingerprint": fp, "run_dir": run_dir, "kind": kind, "command": command,
                                "verdict": verdict, "metrics": _from_jsonable(json.loads(metrics)),
                                "n_trials": n_trials, "bars": bars, "first_recorded": first, "recorded": recorded})
        for s in sets.values():
            s["configurations"] = len({t["fingerprint"] for t in s["trials"]})
            s["runs"] = len(s["trials"])
        return list(sets.values())

    def trials(self, key: str) -> list[TrialRecord]:
        """Every trial on one data key, with its returns, oldest first."""
        with self._connect(write=False) as con:
            if con is None:
                return []
            rows = con.execute("SELECT symbol, data_hash, tests, fingerprint, run_dir, kind, command, verdict, "
                               "metrics, n_trials, bars_per_year, initial_equity, times, returns, recorded "
                               "FROM trials WHERE data_key = ? ORDER BY first_recorded, id", (key,)).fetchall()
        return [TrialRecord(symbol=r[0], data_hash=r[1], tests=tuple(tuple(t) for t in json.loads(r[2])),
                            fingerprint=r[3], run_dir=r[4], kind=r[5], command=r[6], verdict=r[7],
                            metrics=_from_jsonable(json.loads(r[8])), n_trials=r[9], bars_per_year=r[10],
                            initial_equity=r[11], times=_unpack(r[12], np.int64), returns=_unpack(r[13], np.float64),
                            recorded=r[14]) for r in rows]

    def find(self, prefix: str) -> str:
        """The data key whose key or data hash starts with ``prefix`` (one, or `LedgerError`)."""
        prefix = prefix.strip().lower()
        sets = self.data_sets()
        hits = [s for s in sets if s["data_key"].startswith(prefix)] or \
               [s for s in sets if s["data_hash"].startswith(prefix)]
        if not prefix or not hits:
            raise LedgerError(f"--ledger-data {prefix!r}: no data set in {self.path} has that key or data hash; "
                              f"`walkforward ledger` lists them")
        if len(hits) > 1:
            raise LedgerError(f"--ledger-data {prefix!r} matches {len(hits)} data sets ("
                              + ", ".join(f"{s['symbol']} {s['data_key'][:12]}" for s in hits[:4])
                              + "); give more characters of the data key")
        return hits[0]["data_key"]


def _jsonable(obj: Any) -> Any:
    from backtest.result_files import to_jsonable

    return to_jsonable(obj)


def _from_jsonable(obj: Any) -> Any:
    from backtest.result_files import from_jsonable

    return from_jsonable(obj)


# ---- a run's trials ------------------------------------------------------------------------
def run_trials(run_dir: str | os.PathLike, summary: Mapping[str, Any] | None = None) -> list[TrialRecord]:
    """One `TrialRecord` per symbol with completed folds of a run directory: its stitched
    out-of-sample bar returns (the folds' CSVs) and, from ``summary`` (else the run's
    summary.json, else computed), the verdict and key metrics."""
    import pandas as pd

    from reports.metrics import bar_returns
    from backtest.result_files import read_json
    from reports.summary import build_summary, load_manifest, load_symbol_folds, stitch

    root = Path(run_dir).expanduser().resolve()
    manifest = load_manifest(root)
    if summary is None:
        path = root / "summary.json"
        summary = read_json(path) if path.is_file() else build_summary(root)[0]
    by_symbol = {s["symbol"]: s for s in (summary or {}).get("symbols", [])}
    init = float(manifest.get("initial_equity", 1000.0))
    hashes = manifest.get("data_hashes") or {}
    out = []
    for entry in manifest["symbols"]:
        symbol = str(entry["symbol"])
        s = by_symbol.get(symbol)
        dh = hashes.get(symbol) or (entry.get("data") or {}).get("sha256")
        tests = tuple(tuple(int(x) for x in f["test"]) for f in entry.get("folds") or [])
        if s is None or not dh or not tests:
            continue
        folds = load_symbol_folds(root, entry)
        if not folds:
            continue
        equity = stitch(folds, init)["equity"]
        times = pd.DatetimeIndex(pd.to_datetime(equity["timestamp"], utc=True)).as_unit("ns").asi8
        m = s.get("metrics") or {}
        metrics = {k: m.get(k) for k in KEY_METRICS if k in m}
        out.append(TrialRecord(
            symbol=symbol, data_hash=str(dh), tests=tests, fingerprint=trial_identity(manifest),
            run_dir=str(root), kind=str(manifest.get("kind") or "run"), command=manifest.get("command"),
            verdict=s.get("verdict"), metrics=metrics, n_trials=m.get("n_trials"),
            bars_per_year=float(entry["bars_per_year"]), initial_equity=init, times=np.asarray(times, np.int64),
            returns=bar_returns(equity["equity"].to_numpy(np.float64), init)))
    return out


# ---- the run hooks ----------------------------------------------------------------------------
@dataclass
class TrialCount:
    """What `count_trials` found, handed on to `record_run`."""

    path: Path | None  # None: ledger off
    declared: int = 0
    failed: bool = False  # the ledger could not be used (warned once; the run is not recorded)
    per_symbol: dict = field(default_factory=dict)  # symbol -> (n_trials, basis)


def trial_identity(manifest: Mapping[str, Any]) -> str:
    """A run's fingerprint as a trial: the manifest's ``trial_fingerprint`` (without what cannot
    change the returns: null draws, random-policy seeds, verdict thresholds), else, for a run
    written before it existed, its ``config_fingerprint``."""
    return str(manifest.get("trial_fingerprint") or manifest.get("config_fingerprint"))


def _span_ns(span) -> tuple[int, int] | None:
    """``[first, last]`` ISO times of a manifest's ``test_span`` as int64 ns (None without one)."""
    import pandas as pd

    if not span or len(span) != 2:
        return None
    a, b = (int(pd.Timestamp(x).tz_convert("UTC").value) if pd.Timestamp(x).tzinfo else int(pd.Timestamp(x).value)
            for x in span)
    return a, b


def _basis(n_ledger: int | None, forgotten: int, declared: int, why_not: str | None) -> str:
    if n_ledger is None:
        text = f"this run's configuration only ({why_not})"
    else:
        text = (f"{n_ledger} distinct configuration{'s' if n_ledger != 1 else ''} on this data and test segments "
                f"in the research ledger (this run's included)")
    if declared:
        text += f" + {declared} declared (--trials)"
    if forgotten:
        text += (f"; {forgotten} configuration{'s' if forgotten != 1 else ''} forgotten "
                 f"(`walkforward ledger --forget`, not counted)")
    return text


def _warn(text: str) -> None:
    warnings.warn(text, LedgerWarning, stacklevel=3)


def count_trials(store, *, ledger: str | os.PathLike | bool | None = None, trials: int = 0) -> TrialCount:
    """Write each symbol's trial count into the run's manifest (module doc); never raises:
    a ledger that cannot be read warns once, and the run counts its own configuration."""
    declared = max(0, int(trials or 0))
    counted = TrialCount(resolve(ledger), declared)
    try:
        manifest = store.read_manifest()
        own = trial_identity(manifest)
        keys, queries = {}, {}
        for e in manifest["symbols"]:
            dh = (manifest.get("data_hashes") or {}).get(e["symbol"]) or (e.get("data") or {}).get("sha256")
            keys[str(e["symbol"])] = data_key(str(dh), [f["test"] for f in e.get("folds") or []])
            queries[str(e["symbol"])] = (str(dh), _span_ns(e.get("test_span")))
        found, why_not = None, "ledger off (--no-ledger)"
        if counted.path is not None:
            try:
                book = Ledger(counted.path)
                by_key = book.count(sorted(set(keys.values())))
                # the same data by content and an overlapping test period; exact segments for old manifests
                found = {}
                for symbol, (dh, span) in queries.items():
                    if span is None:
                        fps, gone = by_key[keys[symbol]]
                        found[symbol] = ({fp: None for fp in fps}, gone)
                    else:
                        found[symbol] = book.count_overlapping(dh, *span)
            except LedgerError as exc:
                counted.failed, why_not = True, "ledger unavailable: see the warning"
                _warn(f"{exc}; the deflated Sharpe counts this run's configuration only"
                      f"{' plus the declared trials' if declared else ''}, and the run is not recorded "
                      f"(its results are complete)")
        for e in manifest["symbols"]:
            symbol = str(e["symbol"])
            if found is None:
                n, basis = 1 + declared, _basis(None, 0, declared, why_not)
            else:
                sharpes, forgotten = found[symbol]
                n_ledger = len(set(sharpes) | {own})
                n, basis = n_ledger + declared, _basis(n_ledger, forgotten, declared, None)
                srs = [v for v in sharpes.values() if v is not None]
                # the deflated Sharpe's dispersion of unskilled trials: the spread of the recorded ones
                e["trial_sharpe_var"] = float(np.var(srs, ddof=1)) if len(srs) >= 2 else None
                e["trial_sharpes"] = len(srs)
            e["n_trials"], e["n_trials_basis"] = n, basis
            counted.per_symbol[symbol] = (n, basis)
        if counted.per_symbol:
            manifest["n_trials"] = max(n for n, _ in counted.per_symbol.values())
            bases = {b for _, b in counted.per_symbol.values()}
            manifest["n_trials_basis"] = bases.pop() if len(bases) == 1 else "per symbol: " + "; ".join(
                f"{s} {n} ({b})" for s, (n, b) in counted.per_symbol.items())
        store.write_json("manifest.json", manifest)
    except Exception as exc:  # noqa: BLE001 - the ledger must never cost a run its results
        counted.failed = True
        _warn(f"research ledger: trials not counted ({type(exc).__name__}: {exc}); the run goes on")
    return counted


def record_run(store, summary: Mapping[str, Any] | None, counted: TrialCount | None) -> int:
    """Record the run's per-symbol trials (returns how many); never raises: a failure warns
    (once per run) and the run keeps its results. Nothing happens with the ledger off."""
    if counted is None or counted.path is None or counted.failed or not summary:
        return 0
    try:
        records = run_trials(store.root, summary)
        Ledger(counted.path).record(records)
        return len(records)
    except Exception as exc:  # noqa: BLE001 - the ledger must never cost a run its results
        text = str(exc) if isinstance(exc, LedgerError) else f"research ledger {counted.path}: {type(exc).__name__}: {exc}"
        _warn(f"{text}; this run was not recorded (its results are complete; rerun the same command to record it)")
        return 0


__all__ = ["APP_DIR", "BUSY_TIMEOUT_S", "ENV", "KEY_METRICS", "Ledger", "LedgerError", "LedgerWarning", "TrialCount",
           "TrialRecord", "check_trials", "count_trials", "data_key", "default_path", "ledger_option", "record_run", "resolve",
           "run_trials"]
