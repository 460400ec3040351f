"""`walkforward data`: summaries, JSON, --sample, and one-line exit-2 errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from walkforward.cli import main

SP500 = Path("/work/shared/data/sp500_daily.csv")


@pytest.mark.skipif(not SP500.exists(), reason="shared sp500 file not present")
def test_json_summary_of_sp500(capsys):
    assert main(["data", str(SP500), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["symbols"]
    assert row["symbol"] == "sp500" and row["bars"] == 5031  # "_daily" is a timeframe token
    assert row["first"].startswith("1999-01-04") and row["last"].startswith("2018-12-31")
    assert row["timeframe"] == "1D" and row["asset_class"] == "equity"
    assert row["sessions"] == 5031 and row["gaps"] == 0


def test_sample_table_and_symbol_filter(capsys):
    assert main(["data", "--sample", "--symbols", "SMPB"]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert len(lines) == 2 and lines[1].split()[0] == "SMPB" and "15min" in lines[1]


def test_gaps_counted(tmp_path, capsys):
    text = "date,open,high,low,close,volume\n" + "\n".join(
        f"{d},10,11,9,10,1" for d in ["2023-11-20", "2023-11-21", "2023-11-24", "2023-11-27"])
    (tmp_path / "G.csv").write_text(text + "\n")
    assert main(["data", str(tmp_path / "G.csv"), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["symbols"]
    assert row["sessions"] == 4 and row["gaps"] == 1  # 2023-11-22 missing (11-23 is a holiday)


def test_bad_file_in_process_exit_2_one_line(tmp_path, capsys):
    bad = tmp_path / "BAD.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2023-11-27 14:30:00+00:00,10,9,11,10,1\n"
                   "2023-11-27 14:45:00+00:00,10,11,9,10,1\n")
    assert main(["data", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "BAD.csv" in err and "high below low" in err


def test_unknown_symbol_is_bad_input(capsys):
    assert main(["data", "--sample", "--symbols", "NOPE"]) == 2
    assert "NOPE" in capsys.readouterr().err


def test_subprocess_bad_file_exit_2_single_stderr_line(tmp_path):
    bad = tmp_path / "GARBAGE.parquet"
    bad.write_bytes(b"\x00\x01garbage" * 50)
    proc = subprocess.run([sys.executable, "-m", "walkforward", "data", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("error:") and "GARBAGE.parquet" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
