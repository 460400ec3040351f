"""The README's notebook example (section "Data input: vendor exports, dates and notebooks")
runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Data input: vendor exports, dates and notebooks", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_notebook_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = _example()
    assert "walkforward.evaluate(" in code and "load_bars(frame" in code
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.split()
    assert printed[0] in ("DEPLOY", "PAPER", "DROP", "INCONCLUSIVE")
    assert (tmp_path / "runs" / "notebook" / "summary.json").is_file()
