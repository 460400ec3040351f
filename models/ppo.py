"""PPO trainer: rollout -> GAE -> clipped policy/value updates -> validation -> checkpoint.

`PPOTrainer.train()` reads top to bottom; each part is a small function tested on its
own (`collect_rollout`, `models.gae.compute_gae`, `ppo_minibatch_loss`,
`models.schedule.lr_at`, `validation_score`, `models.checkpoint`).

Env interface (see docs/INTERNALS.md, `models.env.TradingEnv`): `reset() -> obs
[n_envs, obs_dim]`, `step(actions) -> (obs, reward, done, info)` with auto-reset and
`info["final_obs"]`; optional `info["terminated"]` (true terminal states, no bootstrap),
`info["final_bar_index"]` (the bar of `final_obs`, lets the rollout reuse a projection table),
`info["any_done"]` (host bool: some episode ended at this step) and
`info["reward_components"]` (dict of [n_envs] tensors, logged as means); optional
attribute `steps_left` (host int: every env's `bar_index` grows by one per step for that
many more steps, then all episodes end together; enables `Lookahead`). When the
env also has `bar_index` and `market_windows` (with `obs[:, :W*n_market] ==
market_windows[bar_index]`) the buffer keeps bar indices instead of windows and the
update computes the market part once per unique bar ("bar mode").

Validation score (documented contract for checkpoint selection):
    score = net_return - 0.05 * max(0, 1 - trades / min_val_trades)
i.e. net return (a fraction) with a penalty of up to 5 percentage points for trading
less than `min_val_trades` times (a flat policy cannot win by doing nothing); ties are
broken by profit factor (capped at 10). Missing keys count as 0.
"""

from __future__ import annotations

import json
import math
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from backtest.errors import ConfigError
from models.checkpoint import build_payload, check_architecture, load_checkpoint, save_checkpoint, to_plain
from models.config import TrainConfig, cpu_has_native_bf16
from models.gae import compute_gae
from models.network import ActorCritic
from models.policy import Policy
from models.schedule import lr_at, set_lr

LAST_NAME, BEST_NAME = "last.pt", "best.pt"


def _say(text: str) -> None:
    """A verbose line that does not tear a progress bar on the same terminal."""
    from tqdm.auto import tqdm

    tqdm.write(text)


class TrainingDiverged(RuntimeError):
    """A loss became NaN/inf: training stops at that update instead of wasting the rest."""


def validation_score(metrics: dict, min_trades: int = 5) -> tuple[float, float]:
    """(score, tie-break) for a validation result; larger is better (see module doc)."""
    net = float(metrics.get("net_return", 0.0) or 0.0)
    trades = float(metrics.get("trades", 0) or 0)
    penalty = 0.05 * max(0.0, 1.0 - trades / min_trades) if min_trades > 0 else 0.0
    pf = metrics.get("pf", 0.0)
    pf = 0.0 if pf is None or (isinstance(pf, float) and math.isnan(pf)) else min(float(pf), 10.0)
    return net - penalty, pf


# ---------------------------------------------------------------------------- rollout
@dataclass
class Rollout:
    """Preallocated rollout storage [n_steps, n_envs, ...] on the training device."""

    obs: torch.Tensor | None  # full observations (only without bar mode)
    bars: torch.Tensor | None  # bar index per sample (bar mode)
    account: torch.Tensor  # account features per sample (bar mode)
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    terminated: torch.Tensor
    final_values: torch.Tensor

    @classmethod
    def allocate(cls, n_steps: int, n_envs: int, obs_dim: int, market_dim: int, bar_mode: bool, device):
        z = lambda *s, dt=torch.float32: torch.zeros(*s, dtype=dt, device=device)  # noqa: E731
        return cls(obs=None if bar_mode else z(n_steps, n_envs, obs_dim),
                   bars=z(n_steps, n_envs, dt=torch.long) if bar_mode else None,
                   account=z(n_steps, n_envs, obs_dim - market_dim),
                   actions=z(n_steps, n_envs, dt=torch.long), logp=z(n_steps, n_envs), values=z(n_steps, n_envs),
                   rewards=z(n_steps, n_envs), dones=z(n_steps, n_envs, dt=torch.bool),
                   terminated=z(n_steps, n_envs, dt=torch.bool), final_values=z(n_steps, n_envs))


@dataclass
class RolloutStats:
    """Running sums kept as device tensors (read once per update, no per-step sync)."""

    episode_sum: torch.Tensor
    episode_count: torch.Tensor
    running_return: torch.Tensor
    component_names: tuple = ()  # reward component names, in the env's order
    component_sum: torch.Tensor | None = None  # sum over steps of each component's mean over envs
    component_steps: int = 0


def sample_actions(logits: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample from the categorical policy with an explicit generator; (actions, log-probs)."""
    logp_all = F.log_softmax(logits.float(), dim=-1)
    actions = torch.multinomial(logp_all.exp(), 1, generator=gen).squeeze(-1)
    return actions, logp_all.gather(-1, actions[:, None]).squeeze(-1)


#: Largest per-update projection table (bytes) the rollout builds; see `projection_table`.
TABLE_MAX_BYTES = 1 << 30


def low_precision_view(windows: torch.Tensor) -> torch.Tensor:
    """A bf16 copy of the env's window view, built from its (small) base tensor when it is a
    strided view over padded features, so the copy costs T x n_market, not T x W x n_market."""
    base = windows._base
    if base is None or windows.storage_offset() != 0 or base.storage_offset() != 0 or not base.is_contiguous():
        return windows.to(torch.bfloat16)
    return base.to(torch.bfloat16).as_strided(windows.shape, windows.stride())


@torch.no_grad()
def projection_table(net: ActorCritic, market_windows: torch.Tensor, max_rows: int, chunk: int = 8192):
    """Market part of both towers for every bar, or None when that is not worth it.

    The weights are fixed during a rollout, so when the series has fewer bars than the
    rollout has samples (`max_rows`), projecting every bar once and gathering rows per
    step does fewer FLOPs than projecting each env's window every step.
    """
    n = market_windows.shape[0]
    if n > max_rows or n * 2 * net.h1 * 4 > TABLE_MAX_BYTES:
        return None
    return torch.cat([net.market_projection(net.as_input(market_windows[s:s + chunk])) for s in range(0, n, chunk)])


#: Window rows one look-ahead block gathers and projects at most. 1,024 rows x 5,800 bf16
#: features = 12 MB; on the 2-core Xeon, 16-step blocks of 64 envs made the rollout 8%
#: faster than 64-step ones. Blocks are used for up to 1/8 of this many envs (blocks of 8+
#: steps, each with one row of the next block's bars computed twice: under 1/7 extra);
#: with more envs a step's own matmul is large enough.
LOOKAHEAD_MAX_ROWS = 1024


class Lookahead:
    """Market projections of the bars the envs will visit, computed a block of steps at once.

    For envs that walk their bars in order (``env.steps_left``: every env's ``bar_index``
    grows by one per step for that many more steps, then all episodes end together, as
    `models.env.TradingEnv` does), the bars of the next K steps are known before they
    are taken: ``bar_index + s`` for ``s = 0..K``. Projecting them in one matmul of
    ``(K + 1) x n_envs`` rows replaces K matmuls of n_envs rows (and K weight casts): on
    CPU a 64-row bf16 matmul runs at a third to a half of a 4,096-row one's FLOP rate. Row K
    serves V(final_obs) when the block ends with the episode, or V(next obs) when it ends
    with the rollout. The weights are fixed during a rollout, so the numbers are those of
    the per-step projection up to matmul rounding.
    """

    def __init__(self, net: ActorCritic, windows: torch.Tensor, n_envs: int) -> None:
        self.net, self.windows = net, windows
        self.max_steps = max(1, LOOKAHEAD_MAX_ROWS // n_envs - 1)
        self.block: torch.Tensor | None = None  # [K + 1, n_envs, 2*h1]
        self.pos = 0

    def rows(self, bar_index: torch.Tensor, steps_left: int, rollout_left: int) -> torch.Tensor:
        """Projection rows [n_envs, 2*h1] for the envs' current bars (a new block when due)."""
        if self.block is None or self.pos >= self.block.shape[0] - 1:
            k = max(1, min(int(steps_left), rollout_left, self.max_steps))
            bars = (bar_index[None, :] + torch.arange(k + 1, device=bar_index.device)[:, None]).flatten()
            proj = self.net.market_projection(self.net.as_input(self.windows.index_select(0, bars)))
            self.block = proj.contiguous().view(k + 1, bar_index.shape[0], -1)
            self.pos = 0
        return self.block[self.pos]

    def advance(self, episode_ended: bool) -> torch.Tensor:
        """Move to the next step; returns the row block after the step (the bars of
        ``final_obs`` when the episode ended, else of the next obs) and drops the block
        when the episodes restarted."""
        self.pos += 1
        after = self.block[self.pos]
        if episode_ended:
            self.block = None
        return after


def _rollout_heads(net: ActorCritic, obs, bar_index, table, windows):
    account = obs[:, net.market_dim:]
    if table is not None:
        return net.heads_from_projection(table[bar_index], account)
    if windows is not None and bar_index is not None:  # the (bf16 under AMP) window rows, not a cast of obs
        return net.heads_from_projection(net.market_projection(windows.index_select(0, bar_index)), account)
    return net(obs)


def _value(net: ActorCritic, obs, bar_index, table):
    if table is None or bar_index is None:
        return net.value(obs)
    return net.value_from_projection(table[bar_index, net.h1:], obs[:, net.market_dim:])


@torch.no_grad()
def collect_rollout(env, net: ActorCritic, buf: Rollout, obs: torch.Tensor, gen: torch.Generator,
                    stats: RolloutStats, autocast, table=None, windows=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill `buf` with n_steps transitions; returns (next obs, V(next obs)). No host syncs.

    The market part comes, in order of preference, from a `projection_table` (bar mode
    only; its row of `env.bar_index`, and V(final_obs) from the row of
    ``info["final_bar_index"]`` when the env supplies it), from a `Lookahead` block (bar
    mode, env with ``steps_left``), or from ``windows[env.bar_index]`` (bar mode) or
    the observation. V(final_obs) is only read where an episode ended, so it is skipped
    when the env says ``info["any_done"] is False`` (a host-side flag; envs without it
    get it computed every step).
    """
    m, n_steps = net.market_dim, buf.actions.shape[0]
    ahead = None
    if table is None and windows is not None and buf.bars is not None and hasattr(env, "steps_left") \
            and obs.shape[0] <= LOOKAHEAD_MAX_ROWS // 8:
        ahead = Lookahead(net, windows, obs.shape[0])
    after = None  # the Lookahead rows of the obs the last step returned (None after a reset)
    for t in range(n_steps):
        bar_index = env.bar_index if buf.bars is not None else None
        if bar_index is not None:
            buf.bars[t] = bar_index
        else:
            buf.obs[t] = obs
        buf.account[t] = obs[:, m:]
        with autocast():
            if ahead is not None:
                logits, value = net.heads_from_projection(ahead.rows(bar_index, env.steps_left, n_steps - t),
                                                          obs[:, m:])
            else:
                logits, value = _rollout_heads(net, obs, bar_index, table, windows)
        actions, logp = sample_actions(logits, gen)
        obs, reward, done, info = env.step(actions)
        final_obs = info.get("final_obs")
        ended = info.get("any_done", True)
        if ahead is not None:
            after = ahead.advance(bool(ended))
        if final_obs is not None and ended:
            with autocast():
                if ahead is not None:
                    buf.final_values[t] = net.value_from_projection(after[:, net.h1:], final_obs[:, m:]).float()
                    after = None
                else:
                    buf.final_values[t] = _value(net, final_obs, info.get("final_bar_index"), table).float()
        buf.actions[t], buf.logp[t], buf.values[t] = actions, logp, value.float()
        buf.rewards[t], buf.dones[t] = reward, done
        term = info.get("terminated")
        buf.terminated[t] = term if term is not None else False
        _track(stats, reward, done, info.get("reward_components"))
    with autocast():
        if after is not None:
            last_value = net.value_from_projection(after[:, net.h1:], obs[:, m:]).float()
        else:
            last_value = _value(net, obs, env.bar_index if buf.bars is not None else None, table).float()
    return obs, last_value


def _track(stats: RolloutStats, reward, done, components) -> None:
    stats.running_return += reward
    stats.episode_sum += (stats.running_return * done).sum()
    stats.episode_count += done.sum()
    stats.running_return *= ~done
    if components:  # one stacked mean per step, not three small ops per component
        if stats.component_sum is None:
            stats.component_names = tuple(components)
            stats.component_sum = torch.zeros(len(components), device=reward.device)
        stats.component_sum += torch.stack([components[n] for n in stats.component_names]).float().mean(1)
        stats.component_steps += 1


def next_values_of(buf: Rollout, last_value: torch.Tensor) -> torch.Tensor:
    """Value of the state after each step: V(final_obs) where an episode ended, else V(next obs)."""
    following = torch.cat([buf.values[1:], last_value[None]])
    return torch.where(buf.dones, buf.final_values, following)


# ---------------------------------------------------------------------------- update
def ppo_minibatch_loss(logits, values, actions, old_logp, adv, returns, clip: float,
                       norm_adv: bool = True) -> dict[str, torch.Tensor]:
    """Clipped policy loss, value loss (MSE/2), entropy and diagnostics for one minibatch."""
    logp_all = F.log_softmax(logits.float(), dim=-1)
    logp = logp_all.gather(-1, actions[:, None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
    if norm_adv and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip)).mean()
    v_loss = 0.5 * (values.float() - returns).pow(2).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clip_frac = ((ratio - 1).abs() > clip).float().mean()
    return {"pg_loss": pg_loss, "v_loss": v_loss, "entropy": entropy, "approx_kl": approx_kl, "clip_frac": clip_frac}


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    var = returns.var()
    return torch.where(var > 0, 1 - (returns - values).var() / var, torch.full_like(var, float("nan")))


@dataclass
class TrainResult:
    history: list  # one dict per update
    validation_history: list  # one dict per validation (metrics, score, update, global_step)
    best_validation: dict | None  # the best entry of validation_history
    best_state: dict | None  # network state_dict (CPU) at the best validation
    global_step: int
    updates: int
    last_path: Path | None = None
    best_path: Path | None = None


class _Interrupt:
    """First SIGINT: finish the update, save, raise KeyboardInterrupt. Second: raise at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self):
        try:
            previous = signal.signal(signal.SIGINT, self)
        except ValueError:  # not the main thread: leave signals alone
            yield self
            return
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def _adam(params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam (AdamW with decoupled ``weight_decay`` when it is > 0) with the fused kernel where
    this torch build has it (CPU and CUDA in torch >= 2.4)."""
    cls, extra = (torch.optim.AdamW, {"weight_decay": weight_decay}) if weight_decay > 0 else (torch.optim.Adam, {})
    try:
        return cls(params, lr=lr, eps=1e-5, fused=True, **extra)
    except (RuntimeError, TypeError):
        return cls(params, lr=lr, eps=1e-5, foreach=True, **extra)


@contextmanager
def _flush_denormals(device: torch.device):
    """Flush subnormal floats to zero on CPU while training: Adam's second moments drift into
    the subnormal range and make CPU kernels several times slower; the values lost are < 1e-38."""
    enabled = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if enabled:
            torch.set_flush_denormal(False)


class PPOTrainer:
    """Trains an ActorCritic on a batched env; see the module doc for the env interface."""

    def __init__(self, env, schema, config: TrainConfig, *, device=None, validate=None, run_dir=None,
                 action_meanings=None, normaliser=None, data_hash=None, fold_id=None, progress=None,
                 verbose: int = 1, log_path=None, world: dict | None = None) -> None:
        self.env, self.schema, self.cfg = env, schema, config
        self.device = torch.device(device if device is not None else getattr(env, "device", "cpu"))
        if int(env.n_envs) != config.n_envs:
            raise ConfigError(f"config n_envs={config.n_envs} but the env has n_envs={env.n_envs}; make them equal")
        if int(env.obs_dim) != int(schema.obs_dim):
            raise ConfigError(f"env obs_dim={env.obs_dim} != schema obs_dim={schema.obs_dim}; build both from one schema")
        self.action_meanings = list(action_meanings or [f"action_{i}" for i in range(env.n_actions)])
        self.validate, self.progress, self.verbose = validate, progress, verbose
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.log_path = Path(log_path) if log_path is not None else (self.run_dir / "train_log.jsonl" if self.run_dir else None)
        self.normaliser, self.data_hash, self.fold_id = normaliser, data_hash, fold_id
        self.world = world  # account, costs, PDT, reward, resolution: saved in every checkpoint
        self.amp = config.amp and (self.device.type == "cuda" or (self.device.type == "cpu" and cpu_has_native_bf16()))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.net = ActorCritic(schema, env.n_actions, config.hidden).to(self.device)
        if config.compile and self.device.type == "cuda":
            self.net.enable_compile()
        self.actor_opt = _adam(self.net.actor_parameters(), config.actor_lr, config.weight_decay)
        self.critic_opt = _adam(self.net.critic_parameters(), config.critic_lr, config.weight_decay)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(config.seed)
        self.bar_mode = hasattr(env, "market_windows") and hasattr(env, "bar_index")
        self.windows = None
        if self.bar_mode:  # under AMP, gather windows already in bf16: half the bytes, no per-use cast
            self.windows = low_precision_view(env.market_windows) if self.amp else env.market_windows
        self.global_step, self.update = 0, 0
        self.history: list[dict] = []
        self.validation_history: list[dict] = []
        self.best_validation: dict | None = None
        self.best_state: dict | None = None
        self._next_obs: torch.Tensor | None = None  # the env's observation after the last rollout

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def policy(self) -> Policy:
        """The live network as a deterministic Policy (what validation runs)."""
        return Policy(self.net, self.schema, self.action_meanings, self.normaliser, self.device, amp=self.amp)

    # ------------------------------------------------------------------ main loop
    def train(self, resume: bool = True) -> TrainResult:
        """Run the remaining updates; resumes from `run_dir/last.pt` when present and `resume`.

        A later call on the same trainer (after raising ``cfg.total_steps``) carries on with
        the episodes where the last update left them, as one longer call would. So does a
        resume from a state saved with the env's (`training_state`, written at every
        validation point): the same updates follow as if the run had never stopped; from a
        file without it, new episodes start."""
        cfg = self.cfg
        obs = self._next_obs
        if resume and self.run_dir is not None and (self.run_dir / LAST_NAME).exists():
            self.load_state(self.run_dir / LAST_NAME)
            obs = self._next_obs
        buf = Rollout.allocate(cfg.n_steps, cfg.n_envs, self.env.obs_dim, self.net.market_dim, self.bar_mode, self.device)
        if obs is None:
            obs = self.env.reset()
            if self.bar_mode:
                self._check_bar_contract(obs)
        interrupt = _Interrupt()
        with interrupt.installed(), _flush_denormals(self.device):
            while self.update < cfg.n_updates and not self.stopped_early():
                t0 = time.perf_counter()
                lrs = self._set_learning_rates()
                stats = self._new_stats()
                self.net.eval()
                self._next_obs = None  # unknown until the rollout is complete
                with self._autocast():  # one context: autocast casts the fixed weights once per rollout
                    table = projection_table(self.net, self.windows, cfg.batch_size) if self.bar_mode else None
                    obs, last_value = collect_rollout(self.env, self.net, buf, obs, self.gen, stats, self._autocast,
                                                      table, self.windows)
                del table
                self._next_obs = obs
                adv, returns = compute_gae(buf.rewards, buf.values, next_values_of(buf, last_value), buf.dones,
                                           buf.terminated, cfg.gamma, cfg.gae_lambda)
                self.net.train()
                losses = self._optimise(buf, adv, returns)
                self.update += 1
                self.global_step += cfg.batch_size
                self._log_update(losses, stats, buf, returns, lrs, time.perf_counter() - t0)
                if self.validate is not None and (self.update % cfg.validation_every == 0 or self.update == cfg.n_updates):
                    self._run_validation()
                    self._save_last()  # the resume point: a kill from here on loses at most these updates
                if interrupt.requested:
                    self._save_last()
                    raise KeyboardInterrupt("training interrupted; the last update is saved, rerun to resume")
                if cfg.checkpoint_interval and self.update % cfg.checkpoint_interval == 0:
                    self._save_last()
        last = self._save_last()
        return TrainResult(self.history, self.validation_history, self.best_validation, self.best_state,
                           self.global_step, self.update, last,
                           self.run_dir / BEST_NAME if self.run_dir and self.best_state is not None else None)

    def stopped_early(self) -> bool:
        """Early stopping (``early_stop`` = K > 0): the last K validations brought no new best.
        A function of the validation history alone, so a resumed run stops where it stopped."""
        k = self.cfg.early_stop
        hist = self.validation_history
        return bool(k) and len(hist) > k and not any(e.get("best") for e in hist[-k:])

    # ------------------------------------------------------------------ parts
    def _check_bar_contract(self, obs: torch.Tensor) -> None:
        """Bar mode trusts obs[:, :W*n] == market_windows[bar_index]; check it once (one sync)."""
        m = self.net.market_dim
        expected = self.env.market_windows[self.env.bar_index].to(obs.dtype)
        if expected.shape != obs[:, :m].shape or not torch.allclose(expected, obs[:, :m], rtol=1e-5, atol=1e-6):
            raise ValueError("env breaks the bar contract: obs[:, :W*n_market] != market_windows[bar_index] "
                             "after reset; fix the env's market_windows indexing (see docs/INTERNALS.md)")

    def _set_learning_rates(self) -> tuple[float, float]:
        cfg = self.cfg
        lrs = tuple(lr_at(self.update, cfg.n_updates, base, cfg.warmup_frac, cfg.final_lr_frac)
                    for base in (cfg.actor_lr, cfg.critic_lr))
        set_lr(self.actor_opt, lrs[0])
        set_lr(self.critic_opt, lrs[1])
        return lrs

    def _new_stats(self) -> RolloutStats:
        z = lambda: torch.zeros((), device=self.device)  # noqa: E731
        return RolloutStats(z(), z(), torch.zeros(self.cfg.n_envs, device=self.device))

    def _projection(self, flat: dict, idx: torch.Tensor, part: str) -> torch.Tensor:
        if self.bar_mode:
            return self.net.market_for_bars(flat["bars"][idx], self.windows, part)
        market = flat["obs"][idx, : self.net.market_dim]
        return self.net.market_projection(market, part)

    def _flatten(self, buf: Rollout, adv, returns) -> dict:
        flat = {"account": buf.account.flatten(0, 1), "actions": buf.actions.flatten(), "logp": buf.logp.flatten(),
                "adv": adv.flatten(), "returns": returns.flatten()}
        if self.bar_mode:
            flat["bars"] = buf.bars.flatten()
        else:
            flat["obs"] = buf.obs.flatten(0, 1)
        return flat

    def _step(self, loss: torch.Tensor, optimizers, params) -> None:
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for p in params:
            torch.nn.utils.clip_grad_norm_(p, self.cfg.max_grad_norm)
        for opt in optimizers:
            opt.step()

    def _optimise(self, buf: Rollout, adv, returns) -> dict[str, torch.Tensor]:
        """PPO epochs over shuffled minibatches, then the critic-only epochs."""
        cfg, net = self.cfg, self.net
        flat = self._flatten(buf, adv, returns)
        n, mb = cfg.batch_size, cfg.minibatch_size
        sums: dict[str, torch.Tensor] = {}
        count = 0
        actor_p, critic_p = net.actor_parameters(), net.critic_parameters()
        ent_coef = cfg.ent_coef_at(self.update)
        for _epoch in range(cfg.n_epochs):
            perm = torch.randperm(n, generator=self.gen, device=self.device)
            for start in range(0, n, mb):
                idx = perm[start:start + mb]
                with self._autocast():
                    logits, values = net.heads_from_projection(self._projection(flat, idx, "both"), flat["account"][idx])
                parts = ppo_minibatch_loss(logits, values, flat["actions"][idx], flat["logp"][idx], flat["adv"][idx],
                                           flat["returns"][idx], cfg.clip_coef, cfg.norm_adv)
                loss = parts["pg_loss"] - ent_coef * parts["entropy"] + cfg.vf_coef * parts["v_loss"]
                self._step(loss, (self.actor_opt, self.critic_opt), (actor_p, critic_p))
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0) + v.detach()
                count += 1
            if cfg.target_kl is not None and float(parts["approx_kl"]) > cfg.target_kl:
                break
        for _epoch in range(cfg.critic_epochs):
            perm = torch.randperm(n, generator=self.gen, device=self.device)
            for start in range(0, n, mb):
                idx = perm[start:start + mb]
                with self._autocast():
                    values = net.value_from_projection(self._projection(flat, idx, "critic"), flat["account"][idx])
                v_loss = 0.5 * (values.float() - flat["returns"][idx]).pow(2).mean()
                self._step(cfg.vf_coef * v_loss, (self.critic_opt,), (critic_p,))
        return {k: v / count for k, v in sums.items()}

    def _log_update(self, losses, stats: RolloutStats, buf: Rollout, returns, lrs, seconds: float) -> None:
        names = list(losses)
        tensors = [losses[k] for k in names] + [explained_variance(buf.values.flatten(), returns.flatten()),
                                                 buf.rewards.mean(), stats.episode_sum, stats.episode_count]
        comp_names = sorted(stats.component_names)
        tensors += [stats.component_sum[stats.component_names.index(c)] / max(1, stats.component_steps)
                    for c in comp_names]
        values = torch.stack([t.float() for t in tensors]).tolist()  # the one host sync per update
        rec = dict(zip(names, values[: len(names)]))
        ev, mean_reward, ep_sum, ep_n = values[len(names): len(names) + 4]
        rec.update(update=self.update, global_step=self.global_step, explained_variance=ev, reward_mean=mean_reward,
                   episode_return=ep_sum / ep_n if ep_n else float("nan"), episodes=int(ep_n),
                   actor_lr=lrs[0], critic_lr=lrs[1], seconds=seconds, steps_per_s=self.cfg.batch_size / seconds)
        rec.update({f"reward_{c}": v for c, v in zip(comp_names, values[len(names) + 4:])})
        self.history.append(rec)
        self._write_log({"event": "update", **rec})
        diverged = [k for k in names if not math.isfinite(rec[k])]
        if diverged:
            raise TrainingDiverged(f"training diverged at update {self.update}: {', '.join(diverged)} "
                                   f"became NaN/inf (check the data for extreme bars or lower the learning rates)")
        if self.verbose >= 2:
            _say(f"update {self.update}/{self.cfg.n_updates} step {self.global_step:,} reward {mean_reward:+.4f} "
                 f"ev {ev:.3f} kl {rec['approx_kl']:.4f} {rec['steps_per_s']:,.0f} steps/s")
        if self.progress is not None:
            self.progress(rec)

    def _note_resume(self) -> None:
        """Drop log lines past the resume point (updates a killed attempt ran and this one
        redoes) and record where training resumed."""
        if self.log_path is None:
            return
        if self.log_path.exists():
            kept = []
            for line in self.log_path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line torn by the kill
                if int(rec.get("update") or 0) <= self.update:
                    kept.append(line)
            self.log_path.write_text("".join(f"{line}\n" for line in kept))
        self._write_log({"event": "resumed", "resumed_from_step": self.global_step, "update": self.update,
                         "episodes_continued": self._next_obs is not None})

    def _write_log(self, rec: dict) -> None:
        if self.log_path is None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as fh:
            clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in rec.items()}
            fh.write(json.dumps(clean, default=str) + "\n")  # strict JSON: NaN/inf written as null

    def _run_validation(self) -> None:
        metrics = dict(self.validate(self.policy()))
        score, tie = validation_score(metrics, self.cfg.min_val_trades)
        entry = {"update": self.update, "global_step": self.global_step, "score": score, "tie_break": tie,
                 **{k: (float(v) if isinstance(v, (int, float)) else v) for k, v in metrics.items()}}
        self.validation_history.append(entry)
        best = self.best_validation
        improved = best is None or (score, tie) > (best["score"], best["tie_break"])
        entry["best"] = improved
        if improved:
            self.best_validation = entry
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
            if self.run_dir is not None:
                save_checkpoint(self.run_dir / BEST_NAME, payload=self._payload(with_optimizers=False))
        self._write_log({"event": "validation", **entry})
        if self.verbose >= 1:
            net = metrics.get("net_return")
            _say(f"validation at update {self.update}: score {score:+.4f} (net "
                 + (f"{net:+.2%}" if isinstance(net, (int, float)) else "n/a")
                 + f", trades {metrics.get('trades', 0)})" + (" best" if improved else ""))

    # ------------------------------------------------------------------ checkpoints
    def _payload(self, with_optimizers: bool = True) -> dict:
        opts = {"actor": self.actor_opt, "critic": self.critic_opt} if with_optimizers else None
        payload = build_payload(network=self.net, config=self.cfg, schema=self.schema,
                                action_meanings=self.action_meanings, normaliser=self.normaliser, optimizers=opts,
                                global_step=self.global_step, update=self.update,
                                validation_history=self.validation_history, best_validation=self.best_validation,
                                rng={"generator": self.gen.get_state()}, data_hash=self.data_hash, fold_id=self.fold_id,
                                world=self.world)
        if with_optimizers:  # the full training state: what an exact resume needs beyond the model
            payload["training_state"] = to_plain({
                "history": self.history,
                "env": self.env.state() if hasattr(self.env, "state") and self._next_obs is not None else None})
        return payload

    def save(self, path) -> Path:
        return save_checkpoint(path, payload=self._payload())

    def _save_last(self) -> Path | None:
        return self.save(self.run_dir / LAST_NAME) if self.run_dir is not None else None

    def load_state(self, path) -> None:
        """Resume: weights, optimisers, step and update counters, generator and validation history."""
        data = load_checkpoint(path, map_location="cpu")
        check_architecture(data, self.net, self.schema)
        self.net.load_state_dict(data["network"]["state_dict"])
        if data.get("optimizers"):
            self.actor_opt.load_state_dict(data["optimizers"]["actor"])
            self.critic_opt.load_state_dict(data["optimizers"]["critic"])
        self.global_step, self.update = int(data["global_step"]), int(data["update"])
        self.validation_history = list(data["validation_history"])
        self.best_validation = data.get("best_validation")
        rng = data.get("rng") or {}
        if "generator" in rng:
            self.gen.set_state(rng["generator"].cpu())
        state = data.get("training_state") or {}
        self.history = list(state.get("history") or [])
        env_state = state.get("env")
        self._next_obs = self.env.load_state(env_state) if env_state is not None and hasattr(self.env, "load_state") \
            else None
        self._note_resume()
        best_path = Path(path).with_name(BEST_NAME)
        if self.best_validation is not None and best_path.exists():
            self.best_state = load_checkpoint(best_path)["network"]["state_dict"]
