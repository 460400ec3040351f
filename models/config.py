"""Training configuration: one frozen `TrainConfig`, named modes and `auto_config`.

Derived quantities (updates, batch size, validation cadence) are properties so a
config never changes after construction; `dataclasses.replace` makes variants.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from backtest.errors import ConfigError

#: Hidden layer sizes per preset (DESIGN 3.6).
PRESETS: dict[str, tuple[int, ...]] = {
    "tiny": (256, 128, 64),
    "small": (512, 256, 128),
    "medium": (1024, 512, 256),
    "large": (2048, 1024, 512, 256),
}


def resolve_hidden(hidden: str | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """A preset name or explicit sizes -> validated tuple of hidden sizes."""
    if isinstance(hidden, str):
        if hidden not in PRESETS:
            raise ConfigError(f"hidden={hidden!r} is not a preset; use one of {sorted(PRESETS)} or a list of sizes")
        return PRESETS[hidden]
    sizes = tuple(int(h) for h in hidden)
    if not sizes or any(h <= 0 for h in sizes):
        raise ConfigError(f"hidden={hidden!r} must be a non-empty list of positive layer sizes, e.g. [256, 128, 64]")
    return sizes


@dataclass(frozen=True)
class TrainConfig:
    """Everything the PPO trainer needs besides the env, the device and the callbacks."""

    mode: str = "custom"  # name of the mode this config came from (informational)
    total_steps: int = 49_152  # env steps to collect in total (rounded up to whole updates)
    n_envs: int = 64  # parallel environments (must match the env)
    n_steps: int = 64  # steps per env per rollout
    n_epochs: int = 4  # PPO epochs over each rollout (actor and critic)
    critic_epochs: int = 1  # extra critic-only epochs after the PPO epochs
    minibatch_size: int = 1024  # samples per minibatch (last one may be smaller)
    hidden: tuple[int, ...] = PRESETS["tiny"]  # hidden sizes of each tower
    actor_lr: float = 3e-4  # peak learning rate of the actor optimiser
    critic_lr: float = 9e-4  # peak learning rate of the critic optimiser
    warmup_frac: float = 0.05  # share of updates warming up linearly from lr/10 to lr
    final_lr_frac: float = 0.01  # cosine decays to this share of lr at the last update
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE lambda
    clip_coef: float = 0.2  # PPO ratio clip
    vf_coef: float = 0.5  # value-loss weight (critic has its own optimiser; scales its gradient)
    ent_coef: float = 0.01  # entropy bonus weight
    max_grad_norm: float = 0.5  # gradient-norm clip per tower
    target_kl: float | None = None  # stop the PPO epochs of an update early above this KL (None: never)
    weight_decay: float = 0.0  # decoupled weight decay (AdamW) of both towers; 0: plain Adam
    ent_coef_final: float | None = None  # entropy weight at the last update, linear from ent_coef (None: constant)
    early_stop: int = 0  # stop after this many validations without a new best (0: never)
    augment_paths: int = 0  # resampled copies of the training segment the envs train on besides it (0: off)
    augment_block: float = 10.0  # mean block length in bars of the resampling (models.augment)
    norm_adv: bool = True  # normalise advantages per minibatch
    validation_interval: int | None = None  # updates between validations; None: about ten per run
    checkpoint_interval: int = 0  # updates between checkpoints in the run dir; 0 = off
    min_val_trades: int = 5  # validations with fewer trades are penalised (see models.ppo.validation_score)
    seed: int = 0  # seed of network init, action sampling and minibatch order
    amp: bool = False  # bf16 autocast on CUDA, and on CPUs with native bf16 matmul (ignored on others)
    compile: bool = False  # torch.compile the towers (CUDA only; ignored on CPU)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", resolve_hidden(self.hidden))
        positive = ("total_steps", "n_envs", "n_steps", "n_epochs", "minibatch_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name}={value!r} must be a positive integer")
        for name in ("critic_epochs", "checkpoint_interval", "min_val_trades", "seed", "early_stop", "augment_paths"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name}={value!r} must be a non-negative integer (0 turns it off)")
        for name in ("actor_lr", "critic_lr", "clip_coef", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be > 0")
        for name in ("gamma", "gae_lambda", "warmup_frac", "final_lr_frac"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must lie in [0, 1]")
        for name in ("vf_coef", "ent_coef", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 0")
        if self.validation_interval is not None and self.validation_interval <= 0:
            raise ConfigError(f"validation_interval={self.validation_interval!r} must be positive or None (auto)")
        if self.ent_coef_final is not None and not self.ent_coef_final >= 0:
            raise ConfigError(f"ent_coef_final={self.ent_coef_final!r} must be >= 0 or None (constant ent_coef)")
        if not self.augment_block >= 1:
            raise ConfigError(f"augment_block={self.augment_block!r} must be >= 1 (mean block length in bars)")
        if self.augment_paths and self.n_envs % (self.augment_paths + 1):
            raise ConfigError(f"augment_paths={self.augment_paths} needs n_envs={self.n_envs} divisible by "
                              f"augment_paths + 1 = {self.augment_paths + 1} (the real path and each copy get "
                              "the same number of envs); change either")
        if self.target_kl is not None and self.target_kl <= 0:
            raise ConfigError(f"target_kl={self.target_kl!r} must be positive or None")

    # ---- derived values -------------------------------------------------
    @property
    def batch_size(self) -> int:
        """Samples per update: n_envs x n_steps."""
        return self.n_envs * self.n_steps

    @property
    def n_updates(self) -> int:
        """Updates needed to collect at least `total_steps` (ceiling division)."""
        return -(-self.total_steps // self.batch_size)

    @property
    def steps_effective(self) -> int:
        """Env steps actually collected: whole updates only."""
        return self.n_updates * self.batch_size

    @property
    def n_minibatches(self) -> int:
        """Minibatches per epoch (ceiling division; the last may be smaller)."""
        return -(-self.batch_size // self.minibatch_size)

    def ent_coef_at(self, update: int) -> float:
        """Entropy weight at ``update`` (0-based): ``ent_coef``, or linear from it to
        ``ent_coef_final`` at the last update."""
        if self.ent_coef_final is None or self.n_updates <= 1:
            return self.ent_coef
        frac = min(1.0, max(0.0, update / (self.n_updates - 1)))
        return self.ent_coef + (self.ent_coef_final - self.ent_coef) * frac

    @property
    def validation_every(self) -> int:
        """Updates between validations: the explicit value or about ten per run."""
        if self.validation_interval is not None:
            return self.validation_interval
        return max(1, round(self.n_updates / 10))

    # ---- plain-dict round trip (checkpoints, manifests) -----------------
    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown TrainConfig fields {unknown}; known fields: {sorted(names)}")
        return cls(**data)


_MODES: dict[str, dict] = {
    # CPU-sized, seconds: the bundled sample data end to end on a laptop.
    "smoke": dict(total_steps=40_960, n_envs=64, n_steps=64, n_epochs=4, minibatch_size=1024, hidden="tiny"),
    # CPU-sized and able to learn: at most 10 minutes a fold on 2 cores (BENCHMARKS.md, issue 24);
    # the run gives it a 1-bar window of the compact features (walkforward.config.MODE_WINDOW).
    # gamma 0.5 on daily bars: a decision's reward is the next bar's P&L, and a long discount adds
    # the noise of the bars after it to every advantage (one lag-1 fold, 6 seeds: mean test Sharpe
    # 1.22 -> 1.87); intraday bars get 0.9 (`_INTRADAY`).
    "cpu": dict(total_steps=163_840, n_envs=64, n_steps=64, n_epochs=4, minibatch_size=1024, hidden="tiny",
                gamma=0.5),
    "quick_test": dict(total_steps=10_000_000, n_envs=1024, n_steps=128, minibatch_size=16_384, hidden="small"),
    "standard": dict(total_steps=50_000_000, n_envs=2048, n_steps=128, minibatch_size=32_768, hidden="medium"),
    "production": dict(total_steps=200_000_000, n_envs=4096, n_steps=128, minibatch_size=65_536, hidden="medium"),
    "extended": dict(total_steps=500_000_000, n_envs=4096, n_steps=128, minibatch_size=65_536, hidden="large"),
}
MODES = tuple(_MODES)
#: A mode's settings on intraday bars (timeframe under a day), replacing its own there.
#: ``cpu``: gamma 0.9. A 15-minute edge is paid over several bars of a session, and 0.5 left a
#: policy blind to it (one time-of-day fold, 6 seeds: mean test Sharpe 0.11 at 0.5, 0.86 at 0.9),
#: while on daily bars 0.9 was worse than 0.5 (lag-1 fold, 4 seeds: 1.39 vs 1.63; BENCHMARKS.md).
_INTRADAY: dict[str, dict] = {"cpu": dict(gamma=0.9)}


def intraday_settings(mode: str) -> dict:
    """What ``mode`` changes on intraday bars (`_INTRADAY`); empty for most modes."""
    return dict(_INTRADAY.get(mode, {}))


def mode_config(mode: str, **overrides) -> TrainConfig:
    """The named mode's config, with keyword overrides (validated like any config)."""
    if mode not in _MODES:
        raise ConfigError(f"mode={mode!r} is unknown; use one of {list(_MODES)}")
    return TrainConfig(mode=mode, **{**_MODES[mode], **overrides})


#: (free GiB at least, n_envs, hidden preset) from the largest tier down.
_GPU_TIERS = ((60, 4096, "large"), (30, 4096, "medium"), (14, 2048, "medium"), (6, 1024, "small"), (0, 512, "small"))


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX or AVX512-BF16 on x86).

    There bf16 autocast makes the first layer's matmuls several times faster; elsewhere
    bf16 is emulated and slower than float32, so the trainer ignores ``amp`` on such CPUs.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def auto_config(device, mode: str | None = None, **overrides) -> TrainConfig:
    """A config sized for `device`: CUDA tiers by free memory, a CPU the ``cpu`` mode by default.

    The mode fixes the step budget; the tier fixes n_envs, the network size and AMP.
    Explicit overrides win over both.
    """
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        cpu = dict(n_envs=64, hidden="tiny", amp=cpu_has_native_bf16())
        return mode_config(mode or "cpu", **{**cpu, **overrides})
    free, _total = torch.cuda.mem_get_info(device)
    free_gib = free / 2**30
    for min_gib, n_envs, hidden in _GPU_TIERS:
        if free_gib >= min_gib:
            break
    tier = dict(n_envs=n_envs, hidden=hidden, amp=torch.cuda.is_bf16_supported(), compile=False)
    cfg = mode_config(mode or "quick_test", **{**tier, **overrides})
    if cfg.minibatch_size > cfg.batch_size:
        cfg = dataclasses.replace(cfg, minibatch_size=cfg.batch_size)
    return cfg


__all__ = ["PRESETS", "MODES", "TrainConfig", "mode_config", "auto_config", "cpu_has_native_bf16", "intraday_settings",
           "resolve_hidden"]
