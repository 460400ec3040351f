"""RunConfig: validation, TOML loading (unknown keys, wrong types), precedence, fingerprint."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from backtest.costs import FrictionConfig
from backtest.errors import ConfigError
from walkforward.config import NON_RESULT_FIELDS, RunConfig, VerdictThresholds, load_toml


@pytest.fixture
def toml_file(tmp_path):
    """Write TOML text to a file and return its path."""

    def write(text: str):
        path = tmp_path / "run.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_defaults_match_design():
    cfg = RunConfig()
    assert cfg.mode == "smoke" and cfg.scheme == "rolling" and cfg.engine == "local"
    assert cfg.n_random_seeds == 100 and cfg.null_draws == 1000
    v = cfg.verdict
    assert (v.deploy_consistency, v.deploy_pf, v.deploy_max_drawdown) == (0.8, 1.4, 0.10)  # the seeds' gates
    assert (v.deploy_null_alpha, v.deploy_excess_alpha, v.deploy_dsr) == (0.05, 0.05, 0.95)
    assert (v.paper_consistency, v.paper_pf, v.paper_max_drawdown) == (0.6, 1.1, 0.20)
    assert (v.min_trades, v.min_folds) == (30, 3)


def test_retired_verdict_key_is_refused_with_its_replacement(toml_file):
    with pytest.raises(ConfigError, match="deploy_random_percentile no longer exists.*timing null"):
        RunConfig.from_sources(toml_file("[verdict]\ndeploy_random_percentile = 95\n"))


def test_frozen_and_picklable():
    cfg = RunConfig(symbols=("A",), trainer={"total_steps": 1000})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.folds = 3  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_toml_loads_tables_and_coerces(toml_file):
    path = toml_file(
        'data = "bars.csv"\nmode = "quick_test"\nfolds = 6\nsymbols = ["AAPL", "MSFT"]\ntrain_size = "365D"\n'
        "[verdict]\ndeploy_pf = 2\n[friction.slippage]\nmax_slippage = 0.001\n[friction.commission]\nper_share = 0.005\n"
        "[trainer]\ntotal_steps = 2_000_000\n[account]\nmax_position = 0.1\ninitial_equity = 5000\n"
        "[reward]\npreset = \"seeds\"\ndirection = 0.30\nmagnitude = 0.15\n"
    )
    cfg = RunConfig.from_sources(path, {})
    assert cfg.data == (str(path.parent / "bars.csv"),) and cfg.symbols == ("AAPL", "MSFT") and cfg.folds == 6
    assert cfg.train_size == "365D"
    assert cfg.verdict.deploy_pf == 2.0 and isinstance(cfg.verdict.deploy_pf, float)
    assert cfg.friction == {"slippage": {"max_slippage": 0.001}, "commission": {"per_share": 0.005}}
    assert cfg.trainer == {"total_steps": 2_000_000}
    # typed: the tables are the configs the kernel and the trainer get
    assert cfg.account.max_position == 0.1 and cfg.account.initial_equity == 5000.0
    assert cfg.reward.direction == 0.30 and cfg.reward.magnitude == 0.15
    fx = cfg.sim_config("fx")
    assert fx.friction.slippage.max_slippage == 0.001 and fx.friction.commission.per_share == 0.005
    assert fx.friction.spread.spread == FrictionConfig.for_asset_class("fx").spread.spread  # class default kept
    assert fx.account == cfg.account and cfg.schema().window == 100 and cfg.features == "all"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("fold = 5\n", "'fold'"),
        ("[verdict]\ndeploy_profit = 1.5\n", "'verdict.deploy_profit'"),
        ("[trainer]\ntotal_step = 10\n", "'trainer.total_step'"),
        ("[trainer]\nseed = 10\n", "'trainer.seed'"),  # the run's seed decides it
        ("[account]\nmax_positon = 0.1\n", "'account.max_positon'"),
        ("[reward]\ndirecton = 0.35\n", "'reward.directon'"),
        ("[friction]\nslippage_max = 0.001\n", "'friction.slippage_max'"),  # fold time used to reject it
        ("[friction.spread]\nsprd = 0.001\n", "'friction.spread.sprd'"),
        ("[friction.impact]\nmode = \"auto\"\nY = 0.5\n", "'friction.impact.Y'"),
    ],
)
def test_unknown_keys_are_named(toml_file, text, key):
    with pytest.raises(ConfigError, match=f"unknown key {key}"):
        RunConfig.from_sources(toml_file(text), {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[account]\nmax_position = 1.5\n", r"account: AccountConfig.max_position must be in \(0.0, 1.0\]"),
        ("[reward]\ndirection = 0.5\n", "reward: RewardConfig weights must sum to 1"),
        ("[friction.spread]\nspread = 0.5\n", "friction.spread: SpreadModel.spread must be at most 0.1"),
        ("[friction.impact]\nmode = \"sqrt\"\n", "ImpactModel.mode must be one of"),
        ("[trainer]\ntotal_steps = 0\n", "trainer: total_steps=0 must be a positive integer"),
        ("[trainer]\nhidden = \"huge\"\n", "hidden='huge' is not a preset"),
        ("window = 0\n", "window=0 must be >= 1"),
        ("null_draws = 5\n", "null_draws=5 must be >= 20"),
    ],
)
def test_bad_values_in_every_table_are_refused_up_front(toml_file, text, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_sources(toml_file(text), {})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('folds = "5"\n', "folds='5'"),
        ("seed = true\n", "seed=True"),
        ("quiet = 1\n", "quiet=1"),
        ("symbols = [1, 2]\n", "symbols=[1, 2]"),
        ('[verdict]\ndeploy_pf = "high"\n', "verdict.deploy_pf='high'"),
        ("[friction.slippage]\nmax_slippage = 2024-01-01\n", "friction.slippage.max_slippage="),
        ('[account]\nallow_short = "yes"\n', "account.allow_short='yes'"),
        ("train_size = 1.5\n", "train_size=1.5"),
    ],
)
def test_wrong_types_are_named(toml_file, text, key):
    with pytest.raises(ConfigError, match="wrong type") as info:
        RunConfig.from_sources(toml_file(text), {})
    assert key in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(mode="turbo"), "mode='turbo' is unknown"),
        (dict(folds=0), "folds=0 must be >= 1"),
        (dict(engine="dask"), "engine='dask' is unknown"),
        (dict(device="tpu"), "device='tpu' is unknown"),
        (dict(quiet=True, verbose=True), "pick one of -q / -v"),
        (dict(n_random_seeds=0), "n_random_seeds=0 must be >= 1"),
        (dict(test_size=-5), "test_size=-5 must be a positive number of bars"),
        (dict(symbols=()), "symbols is empty"),
        (dict(verdict={"deploy_pf": 1.0}), "DEPLOY must be at least as strict as PAPER"),
        (dict(verdict={"paper_max_drawdown": 1.5}), r"paper_max_drawdown must be a fraction in \[0, 1\], got 1.5"),
    ],
)
def test_invalid_values_raise(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**kwargs)


def test_verdict_accepts_instance():
    v = VerdictThresholds(deploy_pf=2.0)
    assert RunConfig(verdict=v).verdict is v


def test_a_table_where_a_value_belongs_and_back(toml_file):
    with pytest.raises(ConfigError, match="verdict must be a table of settings, got str 'strict'"):
        RunConfig.from_sources(toml_file('verdict = "strict"\n'), {})


def test_bad_toml_and_missing_file(tmp_path, toml_file):
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(toml_file("folds = \n"))


def test_toml_never_evaluates_code(toml_file):
    path = toml_file('ray_address = "__import__(\'os\').system(\'false\')"\n')
    assert RunConfig.from_sources(path, {}).ray_address == "__import__('os').system('false')"


def test_toml_paths_are_relative_to_the_file(toml_file, tmp_path):
    path = toml_file('data = ["a.csv", "/abs/b.csv"]\nout = "runs/x"\n')
    cfg = RunConfig.from_sources(path, {"out": None})
    assert cfg.data == (str(tmp_path / "a.csv"), "/abs/b.csv") and cfg.out == str(tmp_path / "runs/x")
    assert RunConfig.from_sources(path, {"out": "cli_out"}).out == "cli_out"  # CLI paths stay as given


def test_size_flags_given_as_digit_strings_mean_bars():
    cfg = RunConfig(train_size="500", test_size="90D", embargo=" 120 ")
    assert (cfg.train_size, cfg.test_size, cfg.embargo) == (500, "90D", 120)
    with pytest.raises(ConfigError, match="val_size=0 must be a positive number of bars"):
        RunConfig(val_size="0")


def test_unknown_cli_key_is_refused():
    with pytest.raises(ConfigError, match="unknown key 'func'"):
        RunConfig.from_sources(None, {"func": print})


def test_precedence_cli_over_toml_over_defaults(toml_file):
    path = toml_file('mode = "quick_test"\nfolds = 6\nseed = 7\n[trainer]\ntotal_steps = 100\nn_envs = 4\n')
    cli = {"folds": 3, "mode": None, "symbols": "AAPL,MSFT", "trainer": {"n_envs": 8}}
    cfg = RunConfig.from_sources(path, cli)
    assert cfg.folds == 3  # CLI beats TOML
    assert cfg.mode == "quick_test" and cfg.seed == 7  # TOML beats defaults; None = flag not given
    assert cfg.scheme == "rolling"  # default
    assert cfg.symbols == ("AAPL", "MSFT")
    assert cfg.trainer == {"total_steps": 100, "n_envs": 8}  # tables merge key by key
    assert RunConfig.from_sources(None, {"folds": 2}).folds == 2


def test_mode_cpu_gets_a_short_window_of_compact_features_unless_told():
    cpu = RunConfig(mode="cpu")
    assert cpu.window == 1 and cpu.features == "compact"
    from models.config import intraday_settings, mode_config
    assert mode_config("cpu").gamma == 0.5 and mode_config("smoke").gamma == 0.99  # the cpu mode's short discount
    assert intraday_settings("cpu") == {"gamma": 0.9} and intraday_settings("smoke") == {}  # 15-minute bars: 0.9
    assert cpu.schema().n_market == 14 and cpu.schema().window == 1
    assert RunConfig(mode="cpu", window=20, features="all").schema().n_market == 58
    assert RunConfig().window == 100 and RunConfig().schema().n_market == 58
    with pytest.raises(ConfigError, match=r"features='small' is not a feature set; use one of \['all', 'compact'\]"):
        RunConfig(features="small")


def test_round_trip_through_dict_and_json():
    cfg = RunConfig(data=("a.csv",), symbols=("X",), friction={"spread": {"spread": 0.0003}}, verdict={"paper_pf": 1.2},
                    account={"max_position": 0.1}, reward={"direction": 0.3, "pnl": 0.65}, window=50)
    d = json.loads(json.dumps(cfg.to_dict()))
    again = RunConfig.from_dict(d)
    assert again == cfg and again.fingerprint() == cfg.fingerprint()


def test_fingerprint_stable_and_sensitive():
    base = RunConfig(symbols=("A", "B"), trainer={"total_steps": 10, "n_envs": 4})
    same = RunConfig(trainer={"n_envs": 4, "total_steps": 10}, symbols=["A", "B"])
    assert base.fingerprint() == same.fingerprint()
    assert len(base.fingerprint()) == 64
    # execution and presentation settings, and verdict thresholds (applied when the summary is
    # built), do not change fold results
    for change in (dict(quiet=True), dict(verbose=True), dict(engine="processes", n_workers=4), dict(out="elsewhere"),
                   dict(data=("x.csv",)), dict(ray_address="ray://h:10001"), dict(verdict={"deploy_pf": 1.5})):
        assert dataclasses.replace(base, **change).fingerprint() == base.fingerprint(), change
    for change in (dict(seed=1), dict(folds=4), dict(scheme="anchored"), dict(mode="standard"),
                   dict(trainer={"total_steps": 11, "n_envs": 4}), dict(null_draws=500),
                   dict(friction={"spread": {"spread": 0.001}}), dict(account={"max_position": 0.1}),
                   dict(reward={"direction": 0.3, "pnl": 0.65}), dict(window=50)):
        assert dataclasses.replace(base, **change).fingerprint() != base.fingerprint(), change
    assert set(NON_RESULT_FIELDS) <= {f.name for f in dataclasses.fields(RunConfig)}
