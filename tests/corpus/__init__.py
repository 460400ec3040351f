"""Bad-input corpus: malformed and hostile inputs, generated at test time (issue 9).

Nothing binary is committed: every case is built here from a few bytes of text, so a
reader sees exactly what each input is. Each case names the input, the file it writes
and a regular expression the one-line error must match (what is wrong and how to fix it).

- `BAR_FILE_CASES`: bar files that `backtest.data.load_bars` must refuse with `DataError`
  (one per DESIGN 3.1 case, plus hostile files: binary garbage, a parquet footer that
  claims 2 GB, mixed time zones, fake compression, non-UTF-8 bytes, newlines and terminal
  escapes inside cells).
- `RUN_DIR_CASES`: corrupted files in a run directory that `walkforward report` reads.
- `TOML_CASES`: run configs with wrong types and unknown keys (`RunConfig.from_sources`).
- `write_checkpoint_cases(folder)`: checkpoints that must be refused (another feature
  schema, another format version, a foreign file, a crafted pickle, wrong value types).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

HEADER = "timestamp,open,high,low,close,volume"
ROWS = (
    "2023-11-27 14:30:00+00:00,10,11,9,10.5,100",
    "2023-11-27 14:45:00+00:00,10.5,11.5,10,11,200",
    "2023-11-27 15:00:00+00:00,11,12,10.5,11.5,300",
    "2023-11-27 15:15:00+00:00,11.5,12,11,11.8,400",
)
GOOD_CSV = "\n".join((HEADER, *ROWS)) + "\n"


def edited(row: int, column: str, value: str, text: str = GOOD_CSV) -> str:
    """``text`` with the cell of 1-based data ``row`` in ``column`` replaced by ``value``."""
    lines = text.rstrip("\n").split("\n")
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _drop_column(column: str) -> str:
    lines = [line.split(",") for line in GOOD_CSV.rstrip("\n").split("\n")]
    k = lines[0].index(column)
    return "\n".join(",".join(c for j, c in enumerate(cells) if j != k) for cells in lines) + "\n"


def _long(symbols: list[str], text: str = GOOD_CSV) -> str:
    """A long file: ``symbol`` column first, one symbol per data row."""
    lines = text.rstrip("\n").split("\n")
    return "\n".join(["symbol," + lines[0]] + [f"{s},{line}" for s, line in zip(symbols, lines[1:])]) + "\n"


def _parquet_claiming(size: int) -> bytes:
    """A parquet-looking file whose footer says its metadata is ``size`` bytes long.

    Layout of a real file: ``PAR1 <data> <metadata> <uint32 metadata length> PAR1``; a
    reader that trusted the length would try to allocate or read ``size`` bytes."""
    return b"PAR1" + b"\x15\x00\x15\x04" * 8 + struct.pack("<I", size) + b"PAR1"


def _garbage(n: int = 2048, seed: int = 7) -> bytes:
    """Deterministic binary noise (a linear congruential stream; no RNG state shared)."""
    out, x = bytearray(), seed
    for _ in range(n):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        out.append(x >> 16 & 0xFF)
    return bytes(out)


@dataclass(frozen=True)
class BadFile:
    """One malformed bar file of the corpus."""

    case: str  # test id
    filename: str  # file name written (its suffix picks the reader)
    content: bytes  # exact bytes of the file
    expect: str  # regex the error line must match (beside the file name)

    def write(self, folder: Path) -> Path:
        path = Path(folder) / self.filename
        path.write_bytes(self.content)
        return path


def _case(case: str, filename: str, content: str | bytes, expect: str) -> BadFile:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return BadFile(case, filename, data, expect)


BAR_FILE_CASES: tuple[BadFile, ...] = (
    # --- every DataError case of DESIGN 3.1
    _case("missing_column", "NOVOL.csv", _drop_column("volume"), r"missing column.*volume"),
    _case("missing_timestamp_column", "NOTIME.csv", _drop_column("timestamp"), r"missing column.*timestamp"),
    _case("unparsable_timestamp", "BADTS.csv", edited(3, "timestamp", "yesterday"), r"row 3.*cannot be parsed"),
    _case("empty_timestamp", "EMPTYTS.csv", edited(2, "timestamp", ""), r"row 2.*timestamp"),
    _case("duplicate_timestamps", "DUP.csv", edited(3, "timestamp", ROWS[1].split(",")[0]),
          r"rows 2 and 3.*same timestamp"),
    _case("nan_value", "NAN.csv", edited(2, "close", "nan"), r"row 2.*close is missing"),
    _case("empty_value", "HOLE.csv", edited(4, "open", ""), r"row 4.*open is missing"),
    _case("infinite_value", "INF.csv", edited(3, "high", "inf"), r"row 3.*high is infinite"),
    _case("text_value", "TEXT.csv", edited(1, "volume", "lots"), r"row 1.*volume is not a number"),
    _case("zero_price", "ZERO.csv", edited(2, "low", "0"), r"row 2.*non-positive price"),
    _case("negative_price", "NEG.csv", edited(1, "open", "-10").replace(",11,9,", ",11,-10,", 1),
          r"row 1.*non-positive price"),
    _case("high_below_low", "HILO.csv", edited(1, "high", "8"), r"row 1.*high below low"),
    _case("close_outside_range", "CLOSE.csv", edited(2, "close", "99"), r"row 2.*close outside"),
    _case("open_outside_range", "OPEN.csv", edited(3, "open", "1"), r"row 3.*open outside"),
    _case("negative_volume", "NEGVOL.csv", edited(4, "volume", "-5"), r"row 4.*negative volume"),
    _case("single_bar", "ONE.csv", "\n".join((HEADER, ROWS[0])) + "\n", r"too few to infer the timeframe"),
    _case("timestamp_out_of_range", "Y2990.csv", edited(2, "timestamp", "2990-01-01 10:00:00+00:00"),
          r"row 2.*out of range"),
    _case("nonexistent_local_time", "DST.csv",
          HEADER + "\n2023-03-10 10:00:00,10,11,9,10,1\n2023-03-12 02:30:00,10,11,9,10,1\n",
          r"row 2.*does not exist or is ambiguous"),
    _case("ambiguous_columns", "TWICE.csv", GOOD_CSV.replace(HEADER, "timestamp,open,high,low,Close,close"),
          r"both mean 'close'"),
    _case("empty_symbol", "LONGE.csv", _long(["AAA", " ", "AAA", "AAA"]), r"row 2.*symbol is empty"),
    # --- unreadable or hostile files
    _case("empty_file", "EMPTY.csv", b"", r"file is empty"),
    _case("header_only", "HEAD.csv", HEADER + "\n", r"no data rows"),
    _case("only_separators", "COMMAS.csv", ",,,,\n,,,,\n", r"missing column|add a header row"),
    _case("binary_garbage_csv", "NOISE.csv", _garbage(), r"cannot be read as CSV|missing column"),
    _case("binary_garbage_parquet", "NOISE.parquet", _garbage(seed=11), r"cannot be read as parquet"),
    _case("parquet_footer_claims_2gb", "HUGE.parquet", _parquet_claiming(2**31 - 1), r"cannot be read as parquet"),
    _case("parquet_footer_claims_4gb", "HUGER.parquet", _parquet_claiming(2**32 - 16), r"cannot be read as parquet"),
    _case("not_gzip", "FAKE.csv.gz", b"plain text, not gzip\n", r"cannot be read as CSV"),
    _case("not_zip", "FAKE.csv.zip", b"PK\x03\x04 not really a zip", r"cannot be read as CSV"),
    _case("nul_filled_file", "ZEROS.csv", b"\x00" * 1024, r"no data rows|only NUL bytes"),  # what a crashed write leaves
    _case("nul_row", "NULROW.csv", HEADER + "\n" + "\x00" * 5 + "\n", r"row 1.*cannot be parsed"),
    _case("mixed_time_zones", "MIXTZ.csv", edited(3, "timestamp", "2023-11-27 15:00:00"),
          r"row 3 .* no time zone but .*row 1 .* has one"),
    _case("mixed_time_zones_first_naive", "MIXTZ2.csv", edited(1, "timestamp", "2023-11-27 14:30:00"),
          r"row 1 .* no time zone but .*row 2 .* has one"),
    _case("newline_in_cell", "NEWLINE.csv", edited(2, "timestamp", '"2023-11-27\n14:45"'),
          r"row 2 \('2023-11-27\\n14:45'\)"),  # the newline is escaped: the error stays one line
    _case("terminal_escape_in_cell", "ESC.csv", edited(2, "high", "\x1b[2J\x1b[31m12"),
          r"row 2.*high is not a number"),
)

#: (case, TOML text, regex of the ConfigError) for `RunConfig.from_sources`.
TOML_CASES: tuple[tuple[str, str, str], ...] = (
    ("folds_as_text", 'folds = "five"\n', r"folds='five' has the wrong type.*expected int"),
    ("folds_as_float", "folds = 2.5\n", r"folds=2.5 has the wrong type"),
    ("folds_zero", "folds = 0\n", r"folds=0 must be >= 1"),
    ("folds_negative", "folds = -4\n", r"folds=-4 must be >= 1"),
    ("folds_absurd", "folds = 10000\n", r"folds=10000 is more than 1000"),
    ("mode_as_number", "mode = 3\n", r"mode=3 has the wrong type"),
    ("unknown_mode", 'mode = "turbo"\n', r"mode='turbo' is unknown"),
    ("symbols_of_numbers", "symbols = [1, 2]\n", r"symbols=\[1, 2\] has the wrong type"),
    ("seed_negative", "seed = -1\n", r"seed=-1 must be >= 0"),
    ("bool_as_text", 'quiet = "yes"\n', r"quiet='yes' has the wrong type.*bool"),
    ("unknown_key", "fold = 5\n", r"unknown key 'fold'"),
    ("unknown_table", "[optimiser]\nlr = 1\n", r"unknown key 'optimiser'"),
    ("unknown_verdict_key", "[verdict]\ndeploy_pff = 1.5\n", r"unknown key 'verdict.deploy_pff'"),
    ("verdict_wrong_type", '[verdict]\ndeploy_pf = "high"\n', r"verdict.deploy_pf='high' has the wrong type"),
    ("unknown_trainer_key", "[trainer]\nlearning_rat = 0.1\n", r"unknown key 'trainer.learning_rat'"),
    ("trainer_steps_zero", "[trainer]\ntotal_steps = 0\n", r"trainer: total_steps=0 must be a positive"),
    ("trainer_wrong_type", '[trainer]\nn_envs = "many"\n', r"trainer.n_envs='many' has the wrong type"),
    ("friction_table_typo", "[friction.spread]\nsprd = 0.001\n", r"unknown key 'friction.spread.sprd'"),
    ("friction_flat_key", "[friction]\nslippage_max = 0.001\n", r"unknown key 'friction.slippage_max'"),
    ("account_bad_value", "[account]\nmax_position = 2\n", r"account: AccountConfig.max_position must be in"),
    ("account_unknown", "[account]\nleverage = 2\n", r"unknown key 'account.leverage'"),
    ("reward_weights", "[reward]\npnl = 0.5\n", r"reward: RewardConfig weights must sum to 1"),
    ("reward_unknown", "[reward]\nsharpe = 0.1\n", r"unknown key 'reward.sharpe'"),
    ("invalid_toml", "folds = \n", r"not valid TOML"),
    ("binary_toml", "\x00\x01\x02garbage", r"not valid TOML"),
)


#: (case, file inside fold_0 of a run directory, content, regex) for `walkforward report`.
RUN_DIR_CASES: tuple[tuple[str, str, bytes, str], ...] = (
    ("trades_binary", "trades.csv", _garbage(), r"trades\.csv: not a readable CSV"),
    ("trades_empty", "trades.csv", b"", r"trades\.csv: not a readable CSV"),
    ("equity_bad_time", "equity.csv", b"timestamp,equity,cash,position,close,action\nnope,1,1,0,1,0\n",
     r"equity\.csv: column 'timestamp' .* not an ISO 8601 time"),
    ("equity_text", "equity.csv",
     b"timestamp,equity,cash,position,close,action\n2024-01-02T15:00:00+00:00,abc,1,0,1,0\n",
     r"equity\.csv: column 'equity' holds non-numeric values"),
    ("result_binary", "result.json", _garbage(), r"result\.json: not readable JSON"),
    ("result_not_object", "result.json", b"[1, 2]", r"result\.json: not a fold result"),
    ("result_fold_text", "result.json", b'{"symbol": "AAA", "fold": "x"}', r"result\.json: not a fold result"),
)


def write_checkpoint_cases(folder: Path) -> list[tuple[str, Path, str]]:
    """Write refused checkpoints into ``folder``: ``[(case, path, regex of the error)]``.

    Imports torch and the models package (so only test modules that need them call it).
    """
    import torch

    from backtest.features import default_schema
    from models.checkpoint import FORMAT, FORMAT_VERSION, build_payload, save_checkpoint
    from models.network import ActorCritic

    folder = Path(folder)
    meanings = ["HOLD", "BUY_25", "BUY_50", "BUY_75", "SELL_25", "SELL_50", "SELL_75"]
    schema = default_schema(window=8)  # another feature schema than the default (window 100)
    net = ActorCritic(schema, len(meanings), (16, 8))
    other_schema = save_checkpoint(folder / "other_schema.pt", network=net, config={"mode": "smoke"},
                                   schema=schema, action_meanings=meanings)
    payload = build_payload(network=net, config={"mode": "smoke"}, schema=schema, action_meanings=meanings)
    out = [("other_feature_schema", other_schema, r"does not match|window")]

    def save(name: str, obj) -> Path:
        torch.save(obj, folder / name)
        return folder / name

    out.append(("future_format_version", save("future.pt", {**payload, "format_version": FORMAT_VERSION + 1}),
                rf"format_version={FORMAT_VERSION + 1}"))
    out.append(("foreign_state_dict", save("bare.pt", {"state_dict": payload["network"]["state_dict"]}),
                r"not an rl-walkforward-checkpoint"))
    out.append(("wrong_value_types", save("types.pt", {**payload, "network": "weights", "global_step": "many"}),
                r"malformed network, global_step"))
    out.append(("missing_keys", save("partial.pt", {"format": FORMAT, "format_version": FORMAT_VERSION}),
                r"incomplete: missing"))
    tampered = {**payload, "schema": {**payload["schema"], "window": 9}}
    out.append(("tampered_schema", save("tampered.pt", tampered), r"does not match its content"))
    out.append(("unknown_schema_class", save("cls.pt", {**payload, "schema_class": "os.system"}),
                r"schema class 'os.system'"))
    (folder / "sb3_model.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    out.append(("empty_zip", folder / "sb3_model.zip", r"not a readable data-only checkpoint"))
    (folder / "garbage.pt").write_bytes(_garbage(512))
    out.append(("binary_garbage", folder / "garbage.pt", r"not a readable data-only checkpoint"))
    return out


__all__ = ["BAR_FILE_CASES", "BadFile", "GOOD_CSV", "HEADER", "ROWS", "RUN_DIR_CASES", "TOML_CASES", "edited",
           "write_checkpoint_cases"]
