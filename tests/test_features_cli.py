"""`walkforward features`: schema and per-feature summaries, text and JSON."""

import json

import numpy as np
import pandas as pd

from backtest.features import default_schema
from walkforward.cli import main


def _csv(tmp_path, n=300):
    rng = np.random.default_rng(0)
    close = 30 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    frame = pd.DataFrame({"timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": close, "high": close * 1.01,
                          "low": close * 0.99, "close": close, "volume": rng.uniform(0, 10, n)})
    path = tmp_path / "BTCX.csv"
    frame.to_csv(path, index=False)
    return path


def test_json_summary_of_a_file(tmp_path, capsys):
    path = _csv(tmp_path)
    assert main(["features", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    schema = default_schema()
    assert out["schema"]["version"] == schema.version and out["schema"]["window"] == 100
    assert out["schema"]["groups"]["hourly"] == 7 and out["schema"]["obs_dim"] == 5805
    (symbol, summary), = out["symbols"].items()
    assert summary["bars"] == 300 and len(summary["features"]) == 58
    rsi = summary["features"]["rsi_14"]
    assert 0.0 <= rsi["min"] <= rsi["mean"] <= rsi["max"] <= 1.0 and rsi["nan"] == 0


def test_text_output_lists_every_feature(tmp_path, capsys):
    assert main(["features", str(_csv(tmp_path)), "--window", "20"]) == 0
    text = capsys.readouterr().out
    assert "W=20" in text and default_schema(window=20).version[:12] in text
    for name in default_schema().names:
        assert name in text


def test_bad_window_is_one_line_exit_2(capsys):
    assert main(["features", "--sample", "--window", "0"]) == 2
    assert "--window" in capsys.readouterr().err
