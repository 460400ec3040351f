"""Reading CSV bar files as vendors write them: the layout is sniffed, not assumed.

`read_csv` looks at the first 64 KiB of the (decompressed) file and decides, before pandas
reads it:

- the encoding: a UTF-16 or UTF-8 byte-order mark, UTF-16 without a mark (every other
  byte NUL), else UTF-8, else cp1252 (Windows exports; with a warning). Binary content (a
  spreadsheet, NUL bytes) is refused as such;
- the delimiter: `csv.Sniffer` over ``, ; tab |`` (MetaTrader 5 writes tabs, European
  spreadsheets semicolons);
- the decimal mark: a comma when the delimiter is not a comma and numbers read ``1,2345``;
- the header: a first row with at least two fields holding letters is a header; yfinance's
  three-row header (``Price,Close,...`` / ``Ticker,AAPL,...`` / ``Date,,,``) is read as one
  (its first column named ``Date``, the ticker row dropped); MetaTrader 5's ``<DATE>`` names
  lose their brackets in `backtest.io_formats.normalise_name`;
- no header: the layout by column count and content (`HEADERLESS`): Binance klines (12
  numeric columns, the first an epoch in ms or us), MetaTrader 4 (date, time, open, high,
  low, close, volume), or ``timestamp, open, high, low, close[, volume]``. Any other
  headerless file is refused with the header it needs. A DataFrame read without its header
  (columns numbered 0, 1, ...) is named the same way (`name_numbered_columns`).

What was decided is kept in ``frame.attrs["read_as"]`` so that an error about the columns
can say how the file was read (`describe`).
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import re
import warnings
import zipfile
from pathlib import Path

import pandas as pd

from backtest.errors import DataError

HEAD_BYTES = 65536
#: Column names given to headerless layouts.
BINANCE_KLINES = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "trades",
                  "taker_buy_volume", "taker_buy_quote_volume", "ignore")
METATRADER4 = ("date", "time", "open", "high", "low", "close", "volume")
PLAIN = ("timestamp", "open", "high", "low", "close", "volume")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_TIME = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")


def _head(path: Path) -> bytes:
    """The first `HEAD_BYTES` of the file, decompressed."""
    name = path.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            if not members:
                raise DataError(f"{path}: the zip archive is empty; put one CSV bar file in it")
            with zf.open(members[0]) as fh:
                return fh.read(HEAD_BYTES)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(Path(name).suffix, open)
    with opener(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def encoding_of(head: bytes) -> str:
    """The encoding of a file that starts with ``head`` (module docstring)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    sample = head[:2000]
    if len(sample) >= 4 and sample[1::2].count(0) > 0.4 * len(sample[1::2]):
        return "utf-16-le"
    if len(sample) >= 4 and sample[0::2].count(0) > 0.4 * len(sample[0::2]):
        return "utf-16-be"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the end of the head
            return "cp1252"
    return "utf-8"


def _binary(text: str) -> str | None:
    """Why decoded text is not a text file (NUL or other control characters), else None."""
    if not text:
        return None
    nul = text.count("\x00")
    if nul > 0.5 * len(text):
        return "it holds only NUL bytes (what an interrupted write leaves); export the file again"
    first = text.split("\n", 1)[0]
    control = sum(1 for ch in text[:4000] if ord(ch) < 32 and ch not in "\t\n\r")
    if control > 0.3 * min(len(text), 4000) or any(ord(ch) < 32 and ch not in "\t\r" for ch in first):
        return ("it holds binary bytes, not text (a spreadsheet such as .xlsx, or a compressed file under a .csv "
                "name?); export it as CSV")
    return None


def _lines(head: bytes, encoding: str, path: Path) -> list[str]:
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    why = _binary(text)
    if why:
        raise DataError(f"{path}: cannot be read as CSV: {why}")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[:-1] if len(lines) > 2 and not text.endswith(("\n", "\r")) else lines  # last may be cut


def delimiter_of(lines: list[str]) -> str:
    sample = "\n".join(lines[:30])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        for d in ("\t", ";", "|"):
            if d in lines[0] and "," not in lines[0]:
                return d
        return ","


def _fields(line: str, delimiter: str) -> list[str]:
    return [f.strip().strip('"') for f in next(csv.reader([line], delimiter=delimiter))]


def _is_header(fields: list[str]) -> bool:
    """At least two fields with letters that are not numbers (an ISO date has one)."""
    words = sum(1 for f in fields if re.search(r"[A-Za-z<]", f) and not _NUMBER.match(f))
    return words >= 2 or (len(fields) == 1 and words == 1)  # one field of words: an unknown delimiter


def _headerless_names(fields: list[str], path: Path) -> tuple[str, ...]:
    """Column names of a headerless file from its first row (module docstring)."""
    n = len(fields)
    numeric = [bool(_NUMBER.match(f)) for f in fields]
    if 6 <= n <= 12 and all(numeric) and "." not in fields[0] and len(fields[0]) >= 12:
        return BINANCE_KLINES[:n]
    if n == 7 and _DATE.match(fields[0]) and _TIME.match(fields[1]) and all(numeric[2:]):
        return METATRADER4
    if n in (5, 6) and (_DATE.match(fields[0]) or numeric[0]) and all(numeric[1:]):
        return PLAIN[:n]
    raise DataError(f"{path}: the first row ({ascii(','.join(fields)[:80])}) is data, not a header, and its {n} columns "
                    f"match no known headerless layout (Binance klines: 12 numbers; MetaTrader 4: date, time, open, "
                    f"high, low, close, volume); add a header row: timestamp,open,high,low,close,volume")


def read_csv(path: Path) -> pd.DataFrame:
    """The CSV file as a DataFrame, its layout sniffed (module docstring)."""
    head = _head(path)
    encoding = encoding_of(head)
    lines = _lines(head, encoding, path)
    if encoding == "cp1252":
        warnings.warn(f"{path}: not UTF-8; read as Windows-1252 (cp1252). If names look wrong, save the file as "
                      f"UTF-8", UserWarning, stacklevel=4)
    if not lines:
        raise DataError(f"{path}: holds no text lines; expected a header row and bar rows")
    delimiter = delimiter_of(lines)
    first = _fields(lines[0], delimiter)
    kwargs: dict = dict(sep=delimiter, encoding=encoding, skipinitialspace=True)
    read_as = {"encoding": encoding, "delimiter": delimiter}
    if _is_header(first):
        if first[0].lower() == "price" and len(lines) > 2 and lines[1].lower().startswith("ticker"):
            kwargs["skiprows"] = [1, 2] if _fields(lines[2], delimiter)[0].lower() in ("date", "datetime") else [1]
            read_as["layout"] = "yfinance (three-row header)"
            tickers = {t for t in _fields(lines[1], delimiter)[1:] if t}
            if len(tickers) > 1:
                raise DataError(f"{path}: a yfinance download of several tickers ({', '.join(sorted(tickers))}) in "
                                f"one table; save one ticker per file (yf.download(ticker, multi_level_index=False))")
        data = lines[1:]
    else:
        kwargs["header"] = None
        kwargs["names"] = list(_headerless_names(first, path))
        read_as["layout"] = {BINANCE_KLINES[0]: "Binance klines, no header", "date": "MetaTrader 4, no header"}.get(
            kwargs["names"][0], "no header")
        data = lines
    if delimiter != "," and any(re.search(r"\d,\d", ln) for ln in data[:20]):
        kwargs["decimal"] = ","
        read_as["decimal"] = ","
    frame = pd.read_csv(path, **kwargs)
    if read_as.get("layout", "").startswith("yfinance"):
        frame = frame.rename(columns={frame.columns[0]: "Date"})
    frame.attrs["read_as"] = read_as
    frame.attrs["header_lines"] = 0 if kwargs.get("header", 0) is None else 1 + len(kwargs.get("skiprows", ()))
    return frame


def name_numbered_columns(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A DataFrame read without its header (``pd.read_csv(path, header=None)``: columns
    numbered 0, 1, ...) gets the headerless layout's names from its first row, as `read_csv`
    gives a file's; other frames are returned as they are. One of numbered columns that
    matches no layout is refused with the names it needs."""
    cols = list(frame.columns)
    if not cols or not all(isinstance(c, int) and not isinstance(c, bool) for c in cols) or len(frame) == 0:
        return frame
    fields = [str(frame[c].iloc[0]).strip() for c in cols]  # per column: ints stay ints
    try:
        names = _headerless_names(fields, Path(name))
    except DataError:
        raise DataError(f"{name}: its columns are numbered 0..{len(cols) - 1} (read with header=None?) and its first "
                        f"row ({ascii(','.join(fields)[:80])}) matches no known headerless layout (Binance klines: 12 "
                        f"numbers; MetaTrader 4: date, time, open, high, low, close, volume); name the columns "
                        f"timestamp, open, high, low, close, volume") from None
    return frame.set_axis(list(names), axis=1)


def describe(frame: pd.DataFrame) -> str:
    """How a table was read, for error messages: ``read as delimiter ';', decimal ','...``."""
    read_as = frame.attrs.get("read_as")
    if not read_as:
        return ""
    names = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
    parts = [f"delimiter {names.get(read_as['delimiter'], repr(read_as['delimiter']))}", f"encoding {read_as['encoding']}"]
    if "decimal" in read_as:
        parts.append("decimal comma")
    if "layout" in read_as:
        parts.append(read_as["layout"])
    return "read as " + ", ".join(parts)


def likely_cause(columns: list[str]) -> str:
    """A guess at why a table lacks the bar columns, with its fix ('' when none)."""
    if len(columns) == 1:
        return ("; the file split into one column: its delimiter is not one of , ; tab |; save it as CSV with "
                "one of those")
    return ""


__all__ = ["BINANCE_KLINES", "METATRADER4", "PLAIN", "delimiter_of", "describe", "encoding_of", "likely_cause",
           "name_numbered_columns", "read_csv"]
