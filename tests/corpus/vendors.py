"""Vendor-format corpus (issue 25): bar files as platforms and vendors export them,
generated at test time from known bars, so each case knows the exact bars it must load to.

Each `VendorCase` writes one file (a few KB) into a folder and says what loading it must
give: the reference bars (``ref``: one of `REFERENCES`), the symbol, asset class and
timeframe, and a warning it must raise (``warns``); or, with ``refused``, a regular
expression the `DataError` must match (the cause and the fix named). No file is committed:
the writers below show exactly what each export looks like.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pandas as pd

from backtest.sample_data import coarsen, generate_crypto_bars, generate_equity_bars, generate_fx_bars

OHLCV = ["open", "high", "low", "close", "volume"]


@lru_cache(maxsize=None)
def reference(name: str):
    """The known bars a case is written from."""
    if name == "fx":  # 1-16 June 2017: days above 12 exist, so D/M/Y is decidable
        return generate_fx_bars("EURUSD", "2017-06-01", "2017-06-17", timeframe="4h", seed=1)
    if name == "fx_june_1_12":  # every day <= 12: the day-first trap
        return generate_fx_bars("EURUSD", "2017-06-01", "2017-06-13", timeframe="4h", seed=1)
    if name == "crypto":
        return generate_crypto_bars("BTCUSDT", "2024-01-01 00:00", "2024-01-01 02:00", timeframe="1min", seed=2)
    if name == "crypto_weekdays":  # Monday to Wednesday, round the clock: no Saturday seen yet
        return generate_crypto_bars("ETHUSDT", "2024-01-01", "2024-01-04", timeframe="1h", seed=5)
    if name == "equity":
        return generate_equity_bars("AAPL", "2020-01-01", "2020-03-01", timeframe="1D", seed=3)
    if name == "crypto_monthly":
        return coarsen(generate_crypto_bars("BTCUSDT", "2019-01-01", "2021-01-01", timeframe="1D", seed=4), "1mo")
    raise KeyError(name)


REFERENCES = ("fx", "fx_june_1_12", "crypto", "crypto_weekdays", "equity", "crypto_monthly")


@dataclass(frozen=True)
class VendorCase:
    id: str
    filename: str
    write: Callable[[Path], None]  # writes the file at the given path
    ref: str | None = None
    symbol: str | None = None
    asset_class: str | None = None
    timeframe: str | None = None
    warns: str | None = None
    refused: str | None = None
    kwargs: dict = field(default_factory=dict)


def _frame(ref: str) -> pd.DataFrame:
    bars = reference(ref)
    frame = bars.frame[OHLCV].reset_index()
    if bars.asset_class == "equity":  # a daily equity file carries plain exchange dates
        frame["timestamp"] = frame["timestamp"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    return frame


def _text(ref: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> pd.DataFrame:
    frame = _frame(ref)
    if not isinstance(frame["timestamp"].iloc[0], str):
        frame["timestamp"] = frame["timestamp"].dt.strftime(fmt)
    return frame


def _csv(ref: str, fmt: str = "%Y-%m-%d %H:%M:%S", **kw):
    return lambda path: _text(ref, fmt).to_csv(path, index=False, **kw)


def _metatrader(ref: str, header: list[str] | None, sep: str, seconds: bool):
    def write(path: Path) -> None:
        frame = _frame(ref)
        ts = frame.pop("timestamp")
        frame.insert(0, "date", ts.dt.strftime("%Y.%m.%d"))
        frame.insert(1, "time", ts.dt.strftime("%H:%M:%S" if seconds else "%H:%M"))
        if header is None:
            frame.to_csv(path, index=False, header=False, sep=sep)
            return
        frame["spread"] = 2
        frame.columns = header
        frame.to_csv(path, index=False, sep=sep)
    return write


def _stooq(path: Path) -> None:
    frame = _frame("fx")
    ts = frame.pop("timestamp")
    frame.insert(0, "<TICKER>", "EURUSD")
    frame.insert(1, "<PER>", 240)
    frame.insert(2, "<DATE>", ts.dt.strftime("%Y%m%d").astype(int))
    frame.insert(3, "<TIME>", ts.dt.strftime("%H%M%S").astype(int))  # 0 for midnight, as Stooq writes
    frame.columns = ["<TICKER>", "<PER>", "<DATE>", "<TIME>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>", "<VOL>"]
    frame["<OPENINT>"] = 0
    frame.to_csv(path, index=False)


def _yfinance(tickers: tuple[str, ...]):
    def write(path: Path) -> None:
        frame = _frame("equity").set_index("timestamp")[["close", "high", "low", "open", "volume"]]
        lines = ["Price," + ",".join(["Close", "High", "Low", "Open", "Volume"] * len(tickers)),
                 "Ticker," + ",".join(t for t in tickers for _ in range(5)),
                 "Date" + "," * (5 * len(tickers))]
        body = pd.concat([frame] * len(tickers), axis=1).to_csv(header=False)
        path.write_text("\n".join(lines) + "\n" + body)
    return write


def _binance(ref: str, header: bool, unit: int):
    def write(path: Path) -> None:
        frame = _frame(ref)
        start = frame["timestamp"].astype("int64") // unit
        klines = pd.DataFrame({
            "open_time": start, "open": frame["open"], "high": frame["high"], "low": frame["low"],
            "close": frame["close"], "volume": frame["volume"], "close_time": start + 60_000_000_000 // unit - 1,
            "quote_volume": frame["volume"] * frame["close"], "count": 100, "taker_buy_volume": frame["volume"] / 2,
            "taker_buy_quote_volume": frame["volume"] * frame["close"] / 2, "ignore": 0})
        klines.to_csv(path, index=False, header=header)
    return write


def _duplicated(conflicting: bool):
    def write(path: Path) -> None:
        frame = _text("fx")
        extra = frame.iloc[[10]].copy()
        if conflicting:
            extra["close"] = extra["low"]
        pd.concat([frame.iloc[:11], extra, frame.iloc[11:]]).to_csv(path, index=False)
    return write


def _gzip(path: Path) -> None:
    with gzip.open(path, "wt") as fh:
        _text("fx").to_csv(fh, index=False)


def _cp1252(path: Path) -> None:
    frame = _text("fx")
    frame.insert(0, "Symbol", "EURUSD")
    frame.columns = ["Symbol", "Zeitstempel", "Eröffnung", "high", "low", "close", "volume"]
    frame = frame.rename(columns={"Zeitstempel": "timestamp", "Eröffnung": "open"})
    frame.to_csv(path, index=False, encoding="cp1252")
    text = path.read_bytes().replace(b"Symbol", b"Symb\xf6l")  # a Windows-1252 byte in the header
    path.write_bytes(text)


def _two_columns_xlsx(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4)  # what a saved .xlsx starts as


def _colon_separated(path: Path) -> None:
    _text("fx", "%Y%m%d%H%M").to_csv(path, index=False, sep=":")


def _headerless_unknown(path: Path) -> None:
    frame = _text("fx")
    frame["extra"] = 1
    frame["more"] = 2
    frame.to_csv(path, index=False, header=False)


def _fx(**kw) -> dict:
    return dict(ref="fx", symbol="EURUSD", asset_class="fx", timeframe="4h", **kw)


CASES: tuple[VendorCase, ...] = (
    VendorCase("iso_csv", "EURUSD_4h.csv", _csv("fx"), **_fx()),
    VendorCase("semicolon_decimal_comma", "EURUSD_4h.csv", _csv("fx", sep=";", decimal=","), **_fx()),
    VendorCase("tab_separated", "EURUSD_4h.txt", _csv("fx", sep="\t"), **_fx()),
    VendorCase("utf16_bom", "EURUSD_4h.csv", _csv("fx", encoding="utf-16"), **_fx()),
    VendorCase("utf8_bom", "EURUSD_4h.csv", _csv("fx", encoding="utf-8-sig"), **_fx()),
    VendorCase("cp1252_windows", "EURUSD_4h.csv", _cp1252, **_fx(warns="read as Windows-1252")),
    VendorCase("gzip", "EURUSD_4h.csv.gz", _gzip, **_fx()),
    VendorCase("metatrader4_headerless", "EURUSD240.csv", _metatrader("fx", None, ",", False), **_fx()),
    VendorCase("metatrader5_tab", "EURUSD_H4.csv",
               _metatrader("fx", ["<DATE>", "<TIME>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>", "<TICKVOL>", "<SPREAD>"],
                           "\t", True), **_fx()),
    VendorCase("metatrader5_comma", "EURUSD_H4.csv",
               _metatrader("fx", ["<DATE>", "<TIME>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>", "<VOL>", "<SPREAD>"],
                           ",", True), **_fx()),
    VendorCase("stooq", "eurusd_4h.csv", _stooq, **_fx()),
    VendorCase("day_first_decidable", "EURUSD_4h.csv", _csv("fx", "%d/%m/%Y %H:%M"), **_fx()),
    VendorCase("day_first_dotted", "EURUSD_4h.csv", _csv("fx", "%d.%m.%Y %H:%M"), **_fx()),
    VendorCase("day_first_declared", "EURUSD_4h.csv", _csv("fx_june_1_12", "%d/%m/%Y %H:%M"),
               ref="fx_june_1_12", symbol="EURUSD", asset_class="fx", timeframe="4h", kwargs={"dayfirst": True}),
    VendorCase("exact_duplicate_row", "EURUSD_4h.csv", _duplicated(False), **_fx(warns="dropped 1 exact duplicate")),
    VendorCase("yfinance_three_row_header", "AAPL.csv", _yfinance(("AAPL",)), ref="equity", symbol="AAPL",
               asset_class="equity", timeframe="1D"),
    VendorCase("binance_klines_header_ms", "BTCUSDT-1m-2024-01.csv", _binance("crypto", True, 10**6), ref="crypto",
               symbol="BTCUSDT", asset_class="crypto", timeframe="1min", warns="guessed from its name"),
    VendorCase("binance_klines_headerless_us", "BTCUSDT-1m-2024-01-01.csv", _binance("crypto", False, 10**3),
               ref="crypto", symbol="BTCUSDT", asset_class="crypto", timeframe="1min", warns="guessed from its name"),
    VendorCase("binance_klines_weekdays_1h", "ETHUSDT-1h-2024-01.csv", _binance("crypto_weekdays", True, 10**6),
               ref="crypto_weekdays", symbol="ETHUSDT", asset_class="crypto", timeframe="1h",
               warns="guessed from its name"),
    VendorCase("binance_monthly_1M", "BTCUSDT-1M-2019-01.csv", _binance("crypto_monthly", True, 10**6),
               ref="crypto_monthly", symbol="BTCUSDT", asset_class="crypto", timeframe="1mo",
               warns="guessed from its name"),
    # refused, the cause named
    VendorCase("day_first_ambiguous", "EURUSD_4h.csv", _csv("fx_june_1_12", "%d/%m/%Y %H:%M"),
               refused=r"can be read day-first or month-first .*--date-format dayfirst"),
    VendorCase("conflicting_duplicate", "EURUSD_4h.csv", _duplicated(True),
               refused=r"lines 12 and 13, data rows 11 and 12 have the same timestamp"),
    VendorCase("yfinance_several_tickers", "PRICES.csv", _yfinance(("AAPL", "MSFT")),
               refused=r"yfinance download of several tickers \(AAPL, MSFT\).*one ticker per file"),
    VendorCase("unknown_headerless_layout", "EURUSD_4h.csv", _headerless_unknown,
               refused=r"is data, not a header, and its 8 columns match no known headerless layout.*add a header row"),
    VendorCase("unknown_delimiter", "EURUSD_4h.csv", _colon_separated,
               refused=r"split into one column: its delimiter is not one of"),
    VendorCase("spreadsheet_named_csv", "EURUSD_4h.csv", _two_columns_xlsx,
               refused=r"cannot be read as CSV: it holds binary bytes.*export it as CSV"),
)


def write_case(case: VendorCase, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.filename
    case.write(path)
    return path
