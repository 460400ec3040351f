"""LR schedule values, buffer sizing by ceiling division, modes and config validation."""

import math

import pytest

from backtest.errors import ConfigError
from models.config import MODES, TrainConfig, auto_config, mode_config
from models.schedule import lr_at


def test_lr_warmup_start_end_and_final():
    n, base = 100, 3e-4
    warm = math.ceil(0.05 * n)
    assert lr_at(0, n, base) == pytest.approx(base / 10)
    assert lr_at(warm, n, base) == pytest.approx(base)
    assert lr_at(n - 1, n, base) == pytest.approx(0.01 * base)
    # linear during warmup, then non-increasing cosine
    assert lr_at(warm // 2, n, base) == pytest.approx(base / 10 + (base - base / 10) * (warm // 2) / warm)
    after = [lr_at(u, n, base) for u in range(warm, n)]
    assert all(a >= b for a, b in zip(after, after[1:]))
    # the midpoint of the cosine is halfway between peak and floor
    mid = warm + (n - 1 - warm) / 2
    assert lr_at(int(mid), n, base) == pytest.approx((base + 0.01 * base) / 2, rel=0.05)


def test_buffer_sizes_use_ceiling_division():
    cfg = TrainConfig(total_steps=262_144, n_envs=96, n_steps=128, minibatch_size=5_000)
    assert cfg.batch_size == 12_288
    assert cfg.n_updates == 22  # 262,144 / 12,288 = 21.33 -> 22 whole updates
    assert cfg.steps_effective == 22 * 12_288 >= 262_144
    assert cfg.n_minibatches == 3  # 12,288 / 5,000 -> 3 (last one smaller)
    exact = TrainConfig(total_steps=24_576, n_envs=96, n_steps=128)
    assert exact.n_updates == 2


@pytest.mark.parametrize("mode", MODES)
def test_modes_give_about_ten_validations(mode):
    cfg = mode_config(mode)
    n_val = cfg.n_updates // cfg.validation_every
    assert 8 <= n_val <= 12, (mode, cfg.n_updates, cfg.validation_every)
    assert cfg.checkpoint_interval == 0  # off unless asked


def test_mode_step_budgets():
    assert mode_config("quick_test").total_steps == 10_000_000
    assert mode_config("standard").total_steps == 50_000_000
    assert mode_config("production").total_steps == 200_000_000
    assert mode_config("extended").total_steps == 500_000_000
    assert mode_config("smoke").total_steps <= 60_000


@pytest.mark.parametrize("native_bf16", [False, True])
def test_auto_config_on_cpu_is_the_cpu_mode_with_amp_where_bf16_is_native(native_bf16, monkeypatch):
    import models.config

    monkeypatch.setattr(models.config, "cpu_has_native_bf16", lambda: native_bf16)
    cfg = auto_config("cpu")
    assert cfg.mode == "cpu" and cfg.n_envs == 64 and cfg.hidden == (256, 128, 64) and cfg.amp is native_bf16
    assert cfg.total_steps == mode_config("cpu").total_steps > mode_config("smoke").total_steps
    assert auto_config("cpu", "smoke").mode == "smoke"


def test_native_bf16_detection_reads_the_cpu_flags(monkeypatch, tmp_path):
    import builtins

    import models.config

    real_open = builtins.open
    for flags, expected in (("fpu avx512f avx512_bf16 sse", True), ("fpu amx_bf16 amx_tile", True),
                            ("fpu avx2 avx512f", False)):
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(builtins, "open", lambda path, *a, **k: real_open(
            cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
        assert models.config.cpu_has_native_bf16() is expected, flags
    monkeypatch.setattr(builtins, "open", lambda *a, **k: (_ for _ in ()).throw(OSError("no /proc")))
    assert models.config.cpu_has_native_bf16() is False


@pytest.mark.parametrize("bad", [dict(n_envs=0), dict(gamma=1.5), dict(hidden="huge"), dict(checkpoint_interval=-1),
                                 dict(actor_lr=0.0), dict(validation_interval=0)])
def test_config_rejects_bad_values_naming_them(bad):
    name = next(iter(bad))
    with pytest.raises(ConfigError, match=name):
        TrainConfig(**bad)


def test_config_dict_round_trip():
    cfg = mode_config("standard", seed=7)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({**cfg.to_dict(), "nonsense": 1})
