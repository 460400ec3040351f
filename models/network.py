"""Actor-critic MLP whose first layer is split so the market part is computed once per bar.

Observation = flatten(W x n_market window) ++ n_account account features. Almost all
first-layer FLOPs are in the market part (W*n_market = 5,800 inputs by default), and
that part depends on the bar only, not on the account. So each tower's first layer is
`market(window) + account(features)`:

* `market_projection(windows)` computes the market part of both towers in one matmul
  for any number of bars (the fast backtest computes it once for a whole test segment);
* in training a minibatch holds many samples of the same bars (n_envs accounts walk
  the same series), so `market_for_bars` runs the matmul over the unique bars only
  and gathers the rows back; autograd routes the gradient through the gather.

Design choice: separate actor and critic towers (no shared trunk), so the two Adam
optimisers (3e-4 / 9e-4) own disjoint parameters and the critic-only epochs never
move the policy. The two market weight matrices are concatenated at call time so
the shared input is read once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from backtest.errors import ConfigError
from models.config import resolve_hidden

#: Checkpoint-size model: torch's zip writer spends about this many bytes per stored
#: tensor (record header, alignment padding to 64 bytes, central-directory entry; measured
#: 250-320) ...
CKPT_BYTES_PER_TENSOR = 300
#: ... plus about this much for the pickled metadata (config, schema, versions); a long
#: validation history or a large feature schema adds a few KiB more.
CKPT_FIXED_BYTES = 4 * 1024
#: Documented accuracy of `estimate_checkpoint_bytes` (tested): |file - estimate| <= this.
CKPT_TOLERANCE_BYTES = 16 * 1024


@dataclass(frozen=True)
class SimpleSchema:
    """The part of a feature schema the network needs (used when no FeatureSchema exists).

    Anything with `window`, `n_market`, `n_account`, `obs_dim` and `version` works as a
    schema here (duck typing); checkpoints of such schemas rebuild to this class.
    """

    window: int  # bars per observation window (W)
    n_market: int  # market features per bar
    n_account: int  # account features per observation
    version: str = "simple"  # identifies the layout in checkpoints and mismatch messages

    def __post_init__(self) -> None:
        for name in ("window", "n_market"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be positive")
        if self.n_account < 0:
            raise ConfigError(f"n_account={self.n_account!r} must be >= 0")

    @property
    def obs_dim(self) -> int:
        return self.window * self.n_market + self.n_account

    def to_dict(self) -> dict:
        return {"kind": "simple", "window": self.window, "n_market": self.n_market,
                "n_account": self.n_account, "version": self.version}

    @classmethod
    def from_dict(cls, d: dict) -> "SimpleSchema":
        return cls(int(d["window"]), int(d["n_market"]), int(d["n_account"]), str(d.get("version", "simple")))

    def check_compatible(self, other) -> None:
        from backtest.errors import SchemaMismatchError

        diffs = [f"{k}: {getattr(self, k)!r} != {getattr(other, k, None)!r}"
                 for k in ("window", "n_market", "n_account", "version") if getattr(self, k) != getattr(other, k, None)]
        if diffs:
            raise SchemaMismatchError("feature schemas differ: " + "; ".join(diffs))


def _dims(schema) -> tuple[int, int]:
    try:
        market_dim = int(schema.window) * int(schema.n_market)
        n_account = int(schema.n_account)
    except AttributeError as exc:
        raise ConfigError(f"schema {schema!r} lacks window/n_market/n_account; pass a FeatureSchema") from exc
    if int(schema.obs_dim) != market_dim + n_account:
        raise ConfigError(f"schema obs_dim={schema.obs_dim} != window*n_market + n_account = {market_dim + n_account}")
    return market_dim, n_account


def _init(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


#: The towers' hidden activation, by the name `ActorCritic.tower_layers` reports (the fast
#: runner's compiled loop implements activations by name and refuses those it lacks).
ACTIVATIONS = {"relu": nn.ReLU}
ACTIVATION = "relu"


def _body(hidden: tuple[int, ...], out: int, head_gain: float) -> nn.Sequential:
    """The activation after the split first layer, then the remaining hidden layers (each
    followed by the activation) and the head."""
    act = ACTIVATIONS[ACTIVATION]
    layers: list[nn.Module] = [act()]
    for a, b in zip(hidden[:-1], hidden[1:]):
        layers += [_init(nn.Linear(a, b), math.sqrt(2)), act()]
    layers.append(_init(nn.Linear(hidden[-1], out), head_gain))
    return nn.Sequential(*layers)


#: Unique-bar rows are padded to a multiple of this (padding rows get no gradient).
ROW_BUCKET = 128
#: `market_for_bars` deduplicates bars only when at most this share of the samples' bars
#: are distinct (many envs at the same bars); above it, each sample's row is projected.
DEDUPE_MAX_DISTINCT = 0.9


class ActorCritic(nn.Module):
    """Separate actor and critic towers over (market window, account features)."""

    def __init__(self, schema, n_actions: int, hidden=(256, 128, 64)) -> None:
        super().__init__()
        self.market_dim, self.n_account = _dims(schema)
        self.hidden = resolve_hidden(hidden)
        if int(n_actions) < 2:
            raise ConfigError(f"n_actions={n_actions!r} must be at least 2")
        self.n_actions = int(n_actions)
        h1 = self.hidden[0]
        self.h1 = h1
        self.actor_market = _init(nn.Linear(self.market_dim, h1), math.sqrt(2))
        self.critic_market = _init(nn.Linear(self.market_dim, h1), math.sqrt(2))
        if self.n_account:
            self.actor_account = _init(nn.Linear(self.n_account, h1, bias=False), math.sqrt(2))
            self.critic_account = _init(nn.Linear(self.n_account, h1, bias=False), math.sqrt(2))
        self.actor_body = _body(self.hidden, self.n_actions, 0.01)
        self.critic_body = _body(self.hidden, 1, 1.0)
        self._compiled: dict = {}
        self._gather_buffer: torch.Tensor | None = None  # market_for_bars' window rows (see _rows)

    # ---- parameter groups (one optimiser each) ---------------------------
    def actor_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.startswith("actor_")]

    def critic_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.startswith("critic_")]

    def enable_compile(self) -> None:
        """torch.compile the towers above the split layer (state_dict keys unchanged)."""
        self._compiled = {"actor": torch.compile(self.actor_body), "critic": torch.compile(self.critic_body)}

    # ---- market part ----------------------------------------------------
    def market_projection(self, windows: torch.Tensor, part: str = "both") -> torch.Tensor:
        """First-layer market part for windows [B, W*n_market] -> [B, 2*h1] (actor | critic).

        `part="actor"` or `"critic"` gives that tower's [B, h1] only.
        """
        if part == "actor":
            return F.linear(windows, self.actor_market.weight, self.actor_market.bias)
        if part == "critic":
            return F.linear(windows, self.critic_market.weight, self.critic_market.bias)
        # two matmuls and a cat of the small outputs: cheaper than concatenating the large weights
        return torch.cat(self._market_pair(windows), dim=-1)

    def _market_pair(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kind = windows.device.type
        if torch.is_autocast_enabled(kind):
            windows = windows.to(torch.get_autocast_dtype(kind))  # cast once for both towers
        return (F.linear(windows, self.actor_market.weight, self.actor_market.bias),
                F.linear(windows, self.critic_market.weight, self.critic_market.bias))

    def as_input(self, windows: torch.Tensor) -> torch.Tensor:
        """Windows in the weights' dtype, or as they are when autocast takes them (bf16 under AMP)."""
        kind = windows.device.type
        if torch.is_autocast_enabled(kind) and windows.dtype == torch.get_autocast_dtype(kind):
            return windows
        return windows.to(self.actor_market.weight.dtype)

    def _rows(self, like: torch.Tensor, n: int) -> torch.Tensor:
        """The first ``n`` rows of the gather buffer (grown to the largest ``n`` seen)."""
        buf = self._gather_buffer
        if buf is None or buf.shape[0] < n or buf.shape[1] != like.shape[1] or buf.dtype != like.dtype \
                or buf.device != like.device:
            buf = self._gather_buffer = like.new_empty((n, like.shape[1]))
        return buf[:n]

    def market_for_bars(self, bar_idx: torch.Tensor, market_windows: torch.Tensor, part: str = "both"):
        """Market part for samples at bars `bar_idx`, computed once per unique bar.

        ``part="both"`` gives the pair (actor [B, h1], critic [B, h1]) that
        `heads_from_projection` takes: kept apart, the backward needs no zero-filled
        [B, 2*h1] buffer to stitch the two towers' gradients together. When nearly every bar
        is distinct (share above `DEDUPE_MAX_DISTINCT`), the rows are gathered per sample:
        deduplicating would save no matmul rows and cost a scatter in the backward.
        """
        uniq, inverse = torch.unique(bar_idx, return_inverse=True)
        if uniq.numel() > DEDUPE_MAX_DISTINCT * bar_idx.numel():
            uniq, inverse = bar_idx, None
        else:
            pad = -uniq.numel() % ROW_BUCKET
            if pad:  # a few shapes only: oneDNN/cuBLAS pick (and cache) a kernel per shape
                uniq = torch.cat([uniq, uniq[:1].expand(pad)])
        # index_select: on the overlapping strided view it is ~6x faster than advanced indexing;
        # into the rows of one kept buffer: a fresh multi-MB tensor per minibatch costs page
        # faults. Safe because each minibatch's backward runs before the next gather; a second
        # gather before a backward trips autograd's version check instead of corrupting grads.
        windows = self.as_input(torch.index_select(market_windows, 0, uniq, out=self._rows(market_windows, len(uniq))))
        parts = self._market_pair(windows) if part == "both" else (self.market_projection(windows, part),)
        if inverse is not None:  # index_select: its backward is an index_add (fast), unlike advanced indexing's
            parts = tuple(p.index_select(0, inverse) for p in parts)
        return parts if part == "both" else parts[0]

    # ---- towers from a projection -----------------------------------------
    def _tower(self, name: str, proj: torch.Tensor, account: torch.Tensor) -> torch.Tensor:
        if self.n_account:
            proj = proj + getattr(self, f"{name}_account")(account.to(proj.dtype))
        body = self._compiled.get(name) or getattr(self, f"{name}_body")
        return body(proj)

    def logits_from_projection(self, proj_actor: torch.Tensor, account: torch.Tensor) -> torch.Tensor:
        return self._tower("actor", proj_actor, account)

    def value_from_projection(self, proj_critic: torch.Tensor, account: torch.Tensor) -> torch.Tensor:
        return self._tower("critic", proj_critic, account).squeeze(-1)

    def heads_from_projection(self, proj, account: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, n_actions], value [B]) from a both-tower projection: [B, 2*h1] or the
        pair (actor [B, h1], critic [B, h1])."""
        actor, critic = proj if isinstance(proj, tuple) else (proj[:, :self.h1], proj[:, self.h1:])
        return self.logits_from_projection(actor, account), self.value_from_projection(critic, account)

    def tower_layers(self, name: str = "actor") -> list[tuple]:
        """The tower above its market projection, in order, for inference outside torch (the
        fast runner's compiled loop): ``("account", weight [h1, n_account])`` when there are
        account features (added to the projection, no bias), then per module of the body
        ``("linear", weight [out, in], bias [out])`` or ``(activation name,)`` (a key of
        `ACTIVATIONS`). Tensors as they are (detach and convert them)."""
        names = {cls: key for key, cls in ACTIVATIONS.items()}
        out: list[tuple] = [("account", getattr(self, f"{name}_account").weight)] if self.n_account else []
        for m in getattr(self, f"{name}_body"):
            if isinstance(m, nn.Linear):
                out.append(("linear", m.weight, m.bias))
            elif type(m) in names:
                out.append((names[type(m)],))
            else:
                raise ConfigError(f"{name} tower holds a {type(m).__name__}, which tower_layers cannot describe "
                                  f"(activations: {sorted(ACTIVATIONS)})")
        return out

    # ---- whole observations ----------------------------------------------
    def split_obs(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return obs[..., : self.market_dim], obs[..., self.market_dim:]

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        market, account = self.split_obs(obs)
        return self.heads_from_projection(self.market_projection(market), account)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        market, account = self.split_obs(obs)
        return self.value_from_projection(self.market_projection(market, "critic"), account)


def count_parameters(market_dim: int, n_account: int, n_actions: int, hidden) -> int:
    """Exact parameter count of `ActorCritic` with these dimensions."""
    hidden = resolve_hidden(hidden)
    body = sum(a * b + b for a, b in zip(hidden[:-1], hidden[1:]))
    per_tower_first = market_dim * hidden[0] + hidden[0] + n_account * hidden[0]
    actor = per_tower_first + body + hidden[-1] * n_actions + n_actions
    critic = per_tower_first + body + hidden[-1] + 1
    return actor + critic


def count_tensors(n_account: int, hidden) -> int:
    """Parameter tensors of `ActorCritic` (each is one record in a checkpoint file)."""
    hidden = resolve_hidden(hidden)
    per_tower = 2 + (1 if n_account else 0) + 2 * len(hidden)
    return 2 * per_tower


def estimate_checkpoint_bytes(market_dim: int, n_account: int, n_actions: int, hidden,
                              with_optimizer: bool = True, extra_tensors: int = 8) -> int:
    """Estimated checkpoint size in bytes (within CKPT_TOLERANCE_BYTES of the real file).

    float32 parameters (4 bytes each), times 3 with the two Adam states (exp_avg and
    exp_avg_sq) when `with_optimizer`, plus `CKPT_BYTES_PER_TENSOR` per stored tensor
    (Adam also keeps one scalar `step` tensor per parameter) and `CKPT_FIXED_BYTES` for
    the metadata. `extra_tensors` covers normaliser arrays and RNG states.
    """
    n = count_parameters(market_dim, n_account, n_actions, hidden)
    t = count_tensors(n_account, hidden)
    n_tensors = t * (4 if with_optimizer else 1) + extra_tensors
    return 4 * n * (3 if with_optimizer else 1) + CKPT_BYTES_PER_TENSOR * n_tensors + CKPT_FIXED_BYTES


def flops_per_sample(market_dim: int, n_account: int, n_actions: int, hidden) -> dict[str, int]:
    """Forward FLOPs (2 x multiply-adds) per sample: market part vs everything else."""
    hidden = resolve_hidden(hidden)
    market = 2 * 2 * market_dim * hidden[0]
    body = sum(2 * a * b for a, b in zip(hidden[:-1], hidden[1:]))
    rest = 2 * 2 * n_account * hidden[0] + 2 * body + 2 * hidden[-1] * (n_actions + 1)
    return {"market": market, "rest": rest}
