"""The bad-input corpus (tests/corpus) driven through the `walkforward` CLI (issue 9).

Every malformed or hostile input must end with exit code 2, exactly one non-empty
``error: ...`` line on stderr naming the problem, no traceback, and, when ``--out`` was
given, no output directory left behind. Most cases run in-process through
`walkforward.cli.main` (fast); a handful run as real ``python -m walkforward``
subprocesses to prove that nothing else reaches stderr in a real process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus import BAR_FILE_CASES, GOOD_CSV, RUN_DIR_CASES, TOML_CASES, write_checkpoint_cases
from walkforward.cli import main

ROOT = Path(__file__).resolve().parents[1]
BY_CASE = {c.case: c for c in BAR_FILE_CASES}


def assert_bad_input(rc: int, err: str, *patterns: str) -> str:
    """Exit 2 and one ``error:`` line on stderr matching every pattern; returns the line."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (rc, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    for pattern in patterns:
        assert re.search(pattern, lines[0]), (pattern, lines[0])
    return lines[0]


def cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def good_csv(tmp_path) -> Path:
    path = tmp_path / "GOOD.csv"
    path.write_text(GOOD_CSV)
    return path


def test_corpus_is_large_and_distinct():
    names = [c.case for c in BAR_FILE_CASES] + [c[0] for c in TOML_CASES]
    assert len(names) == len(set(names))
    assert len(BAR_FILE_CASES) >= 25 and len(TOML_CASES) >= 10
    assert len({c.content for c in BAR_FILE_CASES}) == len(BAR_FILE_CASES)


def test_good_file_passes_the_same_checks(tmp_path, capsys, good_csv):
    """The control: the unedited file loads, so each case fails for its own edit only."""
    rc, out, err = cli(capsys, ["data", good_csv])
    assert rc == 0 and "GOOD" in out and err == ""


@pytest.mark.parametrize("bad", BAR_FILE_CASES, ids=lambda c: c.case)
def test_bad_bar_file_is_one_line_exit_2_and_leaves_no_output(tmp_path, capsys, bad):
    path = bad.write(tmp_path)
    rc, out, err = cli(capsys, ["data", path])
    assert_bad_input(rc, err, re.escape(str(path)), bad.expect)
    assert out == ""
    out_dir = tmp_path / "backtest_out"
    rc, out, err = cli(capsys, ["backtest", "--baseline", "flat", path, "--out", out_dir])
    assert_bad_input(rc, err, re.escape(str(path)), bad.expect)
    assert not out_dir.exists()


def test_one_bad_file_in_a_directory_is_named(tmp_path, capsys):
    folder = tmp_path / "bars"
    folder.mkdir()
    for name in ("AAA.csv", "BBB.csv"):
        (folder / name).write_text(GOOD_CSV)
    BY_CASE["high_below_low"].write(folder)
    rc, _, err = cli(capsys, ["data", folder])
    assert_bad_input(rc, err, r"HILO\.csv", "high below low")


def _value_cases(tmp: Path, good: Path) -> dict[str, tuple[list, str]]:
    """Bad command-line values: argv and a regex of the error line."""
    (tmp / "empty_dir").mkdir()
    (tmp / "a_file").write_text("x")
    run_dir = tmp / "not_a_run"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_bytes(b"\xff\xfe{garbage")
    flat = ["backtest", "--baseline", "flat"]
    return {
        "window_zero": (["features", "--window", "0", good], r"--window must be >= 1, got 0"),
        "window_negative": (["features", "--window", "-5", good], r"--window must be >= 1, got -5"),
        "window_not_a_number": (["features", "--window", "ten", good], r"invalid int value: 'ten'"),
        "seed_negative": ([*flat, good, "--seed", "-1", "--out", tmp / "o"], r"seed must be an integer.*-1"),
        "unknown_baseline": (["backtest", "--baseline", "oracle", good, "--out", tmp / "o"], r"invalid choice: 'oracle'"),
        "pdt_bogus": ([*flat, good, "--pdt", "sometimes", "--out", tmp / "o"], r"invalid choice: 'sometimes'"),
        "out_is_a_file": ([*flat, good, "--out", tmp / "a_file"], r"--out .*a_file.* is a file"),
        "csv_as_checkpoint": (["backtest", good, good, "--out", tmp / "o"], r"GOOD\.csv"),
        "checkpoint_and_baseline": ([*flat, tmp / "m.pt", good, "--out", tmp / "o"], r"not both"),
        "no_data": (["data"], r"give DATA"),
        "asset_class_bogus": (["data", "--asset-class", "bonds", good], r"invalid choice: 'bonds'"),
        "symbols_empty": (["data", "--symbols", ",", good], r"names no symbol"),
        "symbols_unknown": (["data", "--symbols", "NOPE", good], r"NOPE not in the data"),
        "missing_path": (["data", tmp / "missing.csv"], r"missing\.csv: no such file"),
        "empty_directory": (["data", tmp / "empty_dir"], r"no \.csv or \.parquet"),
        "unknown_command": (["frobnicate"], r"invalid choice: 'frobnicate'"),
        "unknown_flag": (["data", "--no-such-flag", good], r"unrecognized arguments: --no-such-flag"),
        "report_not_a_run": (["report", tmp / "empty_dir"], r"not a run directory"),
        "report_garbage_manifest": (["report", run_dir], r"manifest\.json: not readable JSON"),
        "inspect_missing": (["inspect", tmp / "missing.pt"], r"missing\.pt' does not exist"),
    }


def test_bad_command_line_values(tmp_path, capsys, good_csv):
    cases = _value_cases(tmp_path, good_csv)
    assert len(cases) >= 20
    failures = []
    for name, (argv, pattern) in cases.items():
        rc, out, err = cli(capsys, argv)
        try:
            assert_bad_input(rc, err, pattern)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
        if (tmp_path / "o").exists():
            failures.append(f"{name}: left the output directory behind")
    assert not failures, "\n".join(failures)


def test_corrupted_run_directory_files_through_report(tmp_path, capsys):
    """`walkforward report` on a run whose stored fold files were damaged: one line, exit 2."""
    from tests.report_fixtures import make_run

    rc, _, _ = cli(capsys, ["report", make_run(tmp_path / "control", symbols=("AAA",), n_folds=1, bars=30,
                                                random_seeds=4), "-q"])
    assert rc == 0  # the undamaged run builds
    failures = []
    for case, name, content, pattern in RUN_DIR_CASES:
        run = make_run(tmp_path / case, symbols=("AAA",), n_folds=1, bars=30, random_seeds=4)
        (run / "AAA" / "fold_0" / name).write_bytes(content)
        rc, _, err = cli(capsys, ["report", run])
        try:
            assert_bad_input(rc, err, pattern)
        except AssertionError as exc:
            failures.append(f"{case}: {exc}")
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return write_checkpoint_cases(tmp_path_factory.mktemp("checkpoints"))


def test_refused_checkpoints_through_inspect_and_backtest(tmp_path, capsys, checkpoints, good_csv):
    """Files `load_checkpoint` refuses: exit 2 from `inspect` and `backtest`, no --out left."""
    describable = {"other_feature_schema", "tampered_schema", "unknown_schema_class"}  # valid files
    failures = []
    for case, path, pattern in checkpoints:
        out_dir = tmp_path / f"out_{case}"
        rc, _, err = cli(capsys, ["backtest", path, good_csv, "--out", out_dir])
        try:
            assert_bad_input(rc, err)
            assert not out_dir.exists(), "output directory left behind"
            if case not in describable:
                rc, _, err = cli(capsys, ["inspect", path])
                assert_bad_input(rc, err, re.escape(path.name), pattern)
        except AssertionError as exc:
            failures.append(f"{case}: {exc}")
    assert not failures, "\n".join(failures)


def test_checkpoint_from_another_schema_is_refused_by_name(checkpoints):
    """Loading for a given feature schema names what differs; tampering is caught by the hash."""
    from backtest.errors import UserError
    from backtest.features import default_schema
    from models.policy import load_policy

    for case, path, pattern in checkpoints:
        with pytest.raises(UserError, match=pattern):
            load_policy(path, expected_schema=default_schema())


# ---- run configuration (TOML and flags of `walkforward run`) -----------------------------


@pytest.mark.parametrize("case, text, pattern", TOML_CASES, ids=[c[0] for c in TOML_CASES])
def test_toml_corpus_raises_config_error(tmp_path, case, text, pattern):
    from backtest.errors import ConfigError
    from walkforward.config import RunConfig

    path = tmp_path / "run.toml"
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(ConfigError, match=pattern) as info:
        RunConfig.from_sources(path, {})
    assert "\n" not in str(info.value).strip() or "TOML" in str(info.value)


@pytest.mark.parametrize("command", ["run", "evaluate"])
@pytest.mark.parametrize("case, text, pattern", [c for c in TOML_CASES if c[0] != "binary_toml"],
                         ids=[c[0] for c in TOML_CASES if c[0] != "binary_toml"])
def test_toml_corpus_through_the_cli_exits_2_and_writes_nothing(tmp_path, capsys, good_csv, command, case, text,
                                                              pattern):
    """The whole configuration is validated before the run directory exists: every bad table,
    at any level, is one line and exit 2, and no --out is left behind."""
    path = tmp_path / "run.toml"
    path.write_bytes(text.encode("utf-8"))
    out = tmp_path / "never"
    head = ["run"] if command == "run" else ["evaluate", tmp_path / "actions.csv"]
    rc, _, err = cli(capsys, [*head, good_csv, "--config", path, "--out", out])
    assert_bad_input(rc, err, pattern)
    assert not out.exists()


@pytest.mark.parametrize("overrides, pattern", [
    ({"folds": 0}, r"folds=0 must be >= 1; e\.g\. --folds 5"),
    ({"folds": -3}, r"folds=-3 must be >= 1"),
    ({"folds": True}, r"folds=True has the wrong type"),
    ({"folds": "7"}, r"folds='7' has the wrong type"),
    ({"n_workers": 0}, r"n_workers=0 must be >= 1"),
    ({"n_random_seeds": -1}, r"n_random_seeds=-1 must be >= 1"),
    ({"test_size": -5}, r"test_size=-5 must be a positive number of bars"),
    ({"mode": "warp"}, r"mode='warp' is unknown"),
    ({"out": ""}, r"out='' is empty"),
    ({"fold": 3}, r"unknown key 'fold'"),
])
def test_absurd_flag_values_raise_config_error(overrides, pattern):
    from backtest.errors import ConfigError
    from walkforward.config import RunConfig

    with pytest.raises(ConfigError, match=pattern):
        RunConfig.from_sources(None, overrides)


def test_ten_thousand_folds_are_refused():
    """``--folds 10000`` is refused by the run config (each fold retrains a policy), and the
    splitter alone names the bars such a layout would need."""
    from backtest.errors import ConfigError
    from walkforward.config import MAX_FOLDS, RunConfig
    from walkforward.folds import WalkForwardSplit

    with pytest.raises(ConfigError, match=r"folds=10000 is more than 1000 walk-forward folds"):
        RunConfig.from_sources(None, {"folds": 10_000})
    with pytest.raises(ConfigError, match=r"folds=1001 is more than"):
        RunConfig.from_sources(None, {"folds": MAX_FOLDS + 1})
    assert RunConfig.from_sources(None, {"folds": MAX_FOLDS}).folds == MAX_FOLDS
    with pytest.raises(ConfigError, match=r"n_folds=10000 needs at least \d+ bars .* but the data has 5000"):
        WalkForwardSplit(n_folds=10_000, window=100, min_start=300).folds(5_000)


def test_run_command_bad_values_exit_2_without_run_dir(tmp_path, capsys, good_csv):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('folds = "five"\nturbo = true\n')
    typed_toml = tmp_path / "typed.toml"
    typed_toml.write_text('folds = "five"\n')
    cases = {
        "folds_zero": (["run", good_csv, "--folds", "0"], r"folds=0 must be >= 1"),
        "folds_negative": (["run", good_csv, "--folds", "-2"], r"folds=-2 must be >= 1"),
        "folds_text": (["run", good_csv, "--folds", "many"], r"many"),
        "folds_absurd": (["run", "--folds", "10000"], r"folds=10000 is more than 1000"),
        "seed_negative": (["run", good_csv, "--seed", "-1"], r"seed=-1"),
        "steps_zero": (["run", good_csv, "--steps", "0"], r"total_steps=0 must be a positive integer"),
        "steps_negative": (["run", good_csv, "--steps", "-5"], r"total_steps=-5 must be a positive integer"),
        "workers_zero": (["run", good_csv, "--workers", "0"], r"n_workers=0 must be >= 1"),
        "random_seeds_zero": (["run", good_csv, "--random-seeds", "0"], r"n_random_seeds=0 must be >= 1"),
        "test_size_zero": (["run", good_csv, "--test-size", "0"], r"test_size=0 must be a positive number"),
        "train_size_text": (["run", good_csv, "--train-size", "abc"], r"train_size='abc'"),
        "symbols_empty": (["run", good_csv, "--symbols", ","], r"symbols is empty"),
        "toml_unknown_key": (["run", good_csv, "--config", bad_toml], r"unknown key 'turbo'"),
        "toml_wrong_type": (["run", good_csv, "--config", typed_toml], r"folds='five' has the wrong type"),
        "toml_missing": (["run", good_csv, "--config", tmp_path / "nope.toml"], r"does not exist"),
        "bad_data": (["run", BY_CASE["mixed_time_zones"].write(tmp_path), "--folds", "2"], r"no time zone"),
    }
    failures = []
    for name, (argv, pattern) in cases.items():
        out_dir = tmp_path / f"run_{name}"
        rc, _, err = cli(capsys, [*argv, "--out", out_dir])
        try:
            assert_bad_input(rc, err, pattern)
            assert not out_dir.exists(), "run directory left behind"
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


# ---- real processes: nothing but the one line reaches stderr ------------------------------


def _spawn(argv: list) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}  # a user's plain environment
    return subprocess.Popen([sys.executable, "-m", "walkforward", *map(str, argv)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_subprocesses_print_one_line_and_exit_2(tmp_path, checkpoints):
    huge = BY_CASE["parquet_footer_claims_2gb"].write(tmp_path)
    mixed = BY_CASE["mixed_time_zones"].write(tmp_path)
    noise = BY_CASE["binary_garbage_csv"].write(tmp_path)
    typed = dict((c, p) for c, p, _ in checkpoints)["wrong_value_types"]
    out_dir = tmp_path / "bt_out"
    runs = {
        "huge_parquet": (["data", huge], r"HUGE\.parquet: cannot be read as parquet"),
        "mixed_zones_backtest": (["backtest", "--baseline", "flat", mixed, "--out", out_dir], r"no time zone"),
        "noise": (["features", noise], r"NOISE\.csv"),
        "checkpoint_types": (["inspect", typed], r"malformed network"),
        "run_folds_zero": (["run", mixed, "--folds", "0", "--out", tmp_path / "run_out"], r"folds=0"),
    }
    procs = {name: _spawn(argv) for name, (argv, _) in runs.items()}
    failures = []
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        try:
            assert_bad_input(proc.returncode, err, runs[name][1])
            assert out == "", out
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)
    assert not out_dir.exists() and not (tmp_path / "run_out").exists()
