"""Untrusted files (issue 9, item 3): checkpoints are data, symbol names cannot steer file
paths or markup, configs are parsed and never evaluated.

Each refusal test first proves that its hostile payload is live (it does run when loaded
the unsafe way), so "the marker file was not created" really means "the code did not run".
"""

from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from backtest.errors import CheckpointError, ConfigError
from tests.corpus import ROWS
from walkforward.cli import main

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("backtest", "models", "walkforward", "reports")


class _Payload:
    """Unpickling this object calls ``open(marker, "w")``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _crafted(folder: Path, marker: Path) -> dict[str, Path]:
    """The same payload in a torch zip checkpoint and as a bare pickle, both looking like ours."""
    obj = {"format": "rl-walkforward-checkpoint", "format_version": 1, "config": _Payload(marker)}
    torch.save(obj, folder / "evil_zip.pt")
    (folder / "evil_raw.pt").write_bytes(pickle.dumps(obj, protocol=2))
    return {"zip": folder / "evil_zip.pt", "raw": folder / "evil_raw.pt"}


def test_payload_is_live_when_loaded_unsafely(tmp_path):
    """Control: the crafted file really runs code under a plain unpickler."""
    marker = tmp_path / "ran"
    paths = _crafted(tmp_path, marker)
    pickle.loads(paths["raw"].read_bytes())
    assert marker.exists()
    marker.unlink()
    with zipfile.ZipFile(paths["zip"]) as zf:
        data_pkl = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        pickle.loads(zf.read(data_pkl))
    assert marker.exists()


@pytest.mark.parametrize("kind", ["zip", "raw"])
def test_crafted_pickle_is_refused_in_process_and_does_not_run(tmp_path, kind):
    from models.checkpoint import load_checkpoint
    from models.policy import load_policy

    marker = tmp_path / "ran"
    path = _crafted(tmp_path, marker)[kind]
    with pytest.raises(CheckpointError, match=r"weights_only=True.*Unsupported global"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a readable data-only checkpoint"):
        load_policy(path)
    assert not marker.exists()


def test_crafted_pickle_through_the_cli_in_a_real_process(tmp_path):
    """`inspect` and `backtest` refuse it with one line, exit 2, and the payload never runs."""
    marker = tmp_path / "ran"
    path = _crafted(tmp_path, marker)["zip"]
    data = tmp_path / "GOOD.csv"
    data.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(ROWS) + "\n")
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-m", "walkforward", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for argv in (["inspect", str(path)], ["backtest", str(path), str(data), "--out", str(out)])]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        lines = [line for line in err.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert "evil_zip.pt" in lines[0]
    assert not marker.exists() and not out.exists()


def _calls(source: str, name: str) -> list[str]:
    """Source text of every call ``name(...)`` (balanced parentheses)."""
    found = []
    for m in re.finditer(re.escape(name) + r"\(", source):
        depth, i = 1, m.end()
        while depth and i < len(source):
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            i += 1
        found.append(source[m.start():i])
    return found


def test_package_code_loads_checkpoints_only_with_weights_only():
    """Static guard: every torch.load in the packages passes weights_only=True, and nothing
    unpickles, evaluates or executes text from files."""
    offenders, loads = [], 0
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for call in _calls(text, "torch.load"):
                loads += 1
                if not re.search(r"weights_only\s*=\s*True", call):
                    offenders.append(f"{path.relative_to(ROOT)}: {call}")
            for pattern in (r"\bpickle\.loads?\(", r"(?<![.\w])eval\(", r"(?<![.\w])exec\(", r"yaml\.load\(",
                            r"\bmarshal\.loads?\(", r"\bshelve\.open\("):
                for m in re.finditer(pattern, text):
                    offenders.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert loads >= 1  # the guard looks at the real loader
    assert not offenders, "\n".join(offenders)


# ---- symbol names as file paths and as markup ---------------------------------------------

HOSTILE_SYMBOLS = ("../../x", "..", "a/b\\c", "<img src=x onerror=alert(1)>", "日本株", "CON", ".hidden",
                   "x\x1b[31my")


def test_hostile_symbols_stay_inside_the_backtest_out_dir(tmp_path, capsys):
    from walkforward.store import safe_name

    work = tmp_path / "work"
    work.mkdir()
    lines = ["symbol,timestamp,open,high,low,close,volume"]
    lines += [f'"{s}",{row}' for s in HOSTILE_SYMBOLS for row in ROWS]
    data = work / "LONG.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    out = work / "out"
    assert main(["backtest", "--baseline", "buy_hold", str(data), "--out", str(out), "--pdt", "off"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written beside the work dir
    assert sorted(p.name for p in work.iterdir()) == ["LONG.csv", "out"]
    dirs = sorted(p.name for p in out.iterdir())
    assert dirs == sorted(safe_name(s) for s in HOSTILE_SYMBOLS)
    assert len(set(dirs)) == len(HOSTILE_SYMBOLS)
    for d in dirs:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", d) and d not in (".", "..")
        assert sorted(p.name for p in (out / d).iterdir()) == ["equity.csv", "trades.csv"]
    for p in out.rglob("*"):
        assert out.resolve() in p.resolve().parents


class _Text(HTMLParser):
    """Tags seen and the text of the element with id="symbol"."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.symbol: str | None = None
        self._in_symbol = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self._in_symbol = dict(attrs).get("id") == "symbol"

    def handle_data(self, data):
        if self._in_symbol:
            self.symbol = (self.symbol or "") + data

    def handle_endtag(self, tag):
        self._in_symbol = False


def test_markup_and_unicode_symbols_are_text_in_html(tmp_path):
    from reports.html import build_reports
    from backtest.result_files import safe_name
    from tests.report_fixtures import make_run

    symbols = ("AAPL", '"><svg onload=alert(1)>', "日本株 & <b>Co</b>", "../../x'")
    run = make_run(tmp_path / "run", symbols=symbols, n_folds=1, bars=40, random_seeds=8)
    build_reports(run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    for symbol in symbols:
        page = run / safe_name(symbol) / "report.html"
        assert run.resolve() in page.resolve().parents
        text = page.read_text(encoding="utf-8")
        parser = _Text()
        parser.feed(text)
        assert parser.symbol == symbol  # shown exactly, as text
        assert not parser.tags & {"svg", "b", "img"}
    index = (run / "index.html").read_text(encoding="utf-8")
    parser = _Text()
    parser.feed(index)
    assert not parser.tags & {"svg", "b", "img"}
    assert "日本株 &amp; &lt;b&gt;Co&lt;/b&gt;" in index and "&quot;&gt;&lt;svg onload=alert(1)&gt;" in index


# ---- configs are data ------------------------------------------------------------------------


def test_toml_values_are_never_evaluated_or_expanded(tmp_path):
    from walkforward.config import RunConfig

    marker = tmp_path / "ran"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    path = tmp_path / "run.toml"
    path.write_text(
        f'ray_address = "{code}"\n'
        'out = "$HOME/${USER}/`id`"\n'
        'symbols = ["!!python/object/apply:os.system", "{{7*7}}"]\n', encoding="utf-8")
    config = RunConfig.from_sources(path, {})
    assert config.ray_address == code
    assert config.out == str(tmp_path / "$HOME/${USER}/`id`")  # literal text, relative to the file
    assert config.symbols == ("!!python/object/apply:os.system", "{{7*7}}")
    path.write_text(f'[friction.impact]\nmode = "{code}"\n', encoding="utf-8")  # text where a mode belongs
    with pytest.raises(ConfigError, match="ImpactModel.mode must be one of"):
        RunConfig.from_sources(path, {})
    assert not marker.exists()


@pytest.mark.parametrize("value", [print, object(), io.BytesIO(b"x"), {"nested": [lambda: 1]}],
                         ids=["function", "object", "file", "nested_callable"])
def test_override_tables_hold_plain_values_only(value):
    from walkforward.config import RunConfig

    with pytest.raises(ConfigError, match=r"friction\.spread\.spread.* has the wrong type"):
        RunConfig.from_sources(None, {"friction": {"spread": {"spread": value}}})


def test_run_store_paths_never_leave_the_run(tmp_path):
    from walkforward.store import RunStore

    store = RunStore(tmp_path / "run")
    for name in HOSTILE_SYMBOLS:
        d = store.fold_dir(name, 0)
        assert store.root in d.parents
    os.makedirs(store.root, exist_ok=True)
    with pytest.raises(ConfigError, match="escapes the run directory"):
        store.write_text("../../evil.txt", "x")
    assert not (tmp_path / "evil.txt").exists()
