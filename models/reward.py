"""Training reward: weighted, named components (DESIGN 3.6), each in a known range.

The reward of one step (decision at bar t, fill at ``open[t]``, mark at ``close[t]``) is
``sum(weight_i * component_i)``; components are logged separately by the trainer so a
researcher can see which one drives learning. Definitions, with ``pos`` the position
after the fill, ``r = close[t] / open[t] - 1`` the bar's move while held, and equities
marked at closes:

- ``pnl``: ``clamp(pnl_scale * (equity_t / equity_{t-1} - 1), +-pnl_clip)``, the net
  (after every cost) return of the step; a clamp, not tanh (DESIGN 3.6), so it stays
  linear where almost all steps live.
- ``direction``: ``exposure * sign(r)`` with ``exposure = pos * close / (max_position *
  equity)`` clipped to +-1: +1 for the full allowed position the right way over the
  bar, -1 the wrong way, 0 flat or for a flat bar. Weighted by exposure rather than
  ``sign(pos)``: a SELL leaves a fraction of the position open, and a sign would score
  a 1% remainder like a full position, so exiting would never pay.
- ``magnitude``: ``clamp(magnitude_scale * exposure * r, +-1)``: adds the size of the
  move, so large moves caught count more than small ones.
- ``stop_take``: +1 when a fill reduces a position whose realised return (exec price
  against the average entry, in the position's direction) is at least ``take_profit``;
  +0.5 when it cuts one at or below ``-stop_loss``; -1 for still holding, after the
  step, a position whose unrealised return at the close is at or below ``-stop_loss``.
- ``exploration``: +1 for a filled order, -1 for a rejected one (PDT, nothing to sell,
  no cash), 0 for HOLD: keeps the policy from collapsing onto HOLD early and teaches
  it which orders the account rules refuse.
- ``drawdown``: ``-clamp(drawdown_scale * (dd - drawdown_threshold), 0, 1)`` with
  ``dd = 1 - equity / episode peak equity`` (the peak includes the starting equity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from backtest.arith import ops_for
from backtest.errors import ConfigError
from backtest.trades import STATUS_FILLED, STATUS_REJECTED

#: Component names, in the order of `RewardConfig.weights`.
COMPONENTS = ("direction", "magnitude", "pnl", "stop_take", "exploration", "drawdown")


@dataclass(frozen=True)
class RewardConfig:
    """Component weights (must sum to 1) and the parameters of each component."""

    direction: float = 0.0
    """Weight of the direction component."""
    magnitude: float = 0.0
    """Weight of the magnitude component."""
    pnl: float = 0.95
    """Weight of the net P&L component."""
    stop_take: float = 0.0
    """Weight of the stop-loss / take-profit component."""
    exploration: float = 0.0
    """Weight of the exploration component."""
    drawdown: float = 0.05
    """Weight of the drawdown penalty."""
    pnl_scale: float = 100.0
    """Multiplier of the step's net return in the P&L term (100: one percent -> 1)."""
    pnl_clip: float = 2.0
    """The P&L term is clamped to +-pnl_clip."""
    magnitude_scale: float = 100.0
    """Multiplier of exposure x bar return in the magnitude term (clamped to +-1)."""
    stop_loss: float = 0.02
    """Loss (fraction of entry) at or beyond which a position should be cut."""
    take_profit: float = 0.03
    """Gain (fraction of entry) at or beyond which a reduction counts as taking profit."""
    drawdown_threshold: float = 0.15
    """Drawdown from the episode's peak equity below which there is no penalty."""
    drawdown_scale: float = 10.0
    """Penalty slope above the threshold (10: the full -1 at threshold + 10 points)."""

    def __post_init__(self) -> None:
        for name in COMPONENTS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"RewardConfig.{name} (a weight) must be a finite number >= 0, got {v!r}")
        total = sum(self.weights)
        if abs(total - 1.0) > 1e-9:
            raise ConfigError(
                f"RewardConfig weights must sum to 1, got {total!r} ("
                + ", ".join(f"{n}={getattr(self, n)}" for n in COMPONENTS)
                + "); rescale them, e.g. divide each by their sum")
        for name in ("pnl_scale", "pnl_clip", "magnitude_scale", "stop_loss", "take_profit", "drawdown_scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"RewardConfig.{name} must be a finite number > 0, got {v!r}")
        v = self.drawdown_threshold
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
            raise ConfigError(f"RewardConfig.drawdown_threshold must be in [0, 1) (a fraction), got {v!r}")

    @property
    def weights(self) -> tuple[float, ...]:
        """Weights in `COMPONENTS` order."""
        return tuple(float(getattr(self, n)) for n in COMPONENTS)

    @classmethod
    def preset(cls, name: str, **overrides) -> "RewardConfig":
        """The named preset's weights (`REWARD_PRESETS`), with keyword overrides."""
        if name not in REWARD_PRESETS:
            raise ConfigError(f"reward preset {name!r} is unknown; use one of {list(REWARD_PRESETS)}")
        return cls(**{**REWARD_PRESETS[name], **overrides})

    @property
    def preset_name(self) -> str:
        """The preset whose weights these are, or ``"custom"``."""
        for name, weights in REWARD_PRESETS.items():
            if all(abs(getattr(self, k) - weights.get(k, 0.0)) <= 1e-12 for k in COMPONENTS):
                return name
        return "custom"

    def describe(self) -> str:
        """One line for reports: the preset name and the non-zero weights."""
        parts = ", ".join(f"{k} {getattr(self, k):g}" for k in COMPONENTS if getattr(self, k))
        return f"{self.preset_name} ({parts})"


#: Named weight sets. ``net_pnl`` (the default): the step's net return after every cost,
#: with a small penalty for drawdowns beyond 15%; the episode reward then ranks policies as
#: their net P&L does (`benchmarks.reward_alignment`). ``seeds``: the seeds' shaped
#: weights, kept to reproduce them; they pay for trading (a filled order scores, a
#: rejected one costs) and score holding a position at the cap below random trading.
REWARD_PRESETS: dict[str, dict[str, float]] = {
    "net_pnl": {"direction": 0.0, "magnitude": 0.0, "pnl": 0.95, "stop_take": 0.0, "exploration": 0.0,
                "drawdown": 0.05},
    "seeds": {"direction": 0.35, "magnitude": 0.10, "pnl": 0.25, "stop_take": 0.15, "exploration": 0.10,
              "drawdown": 0.05},
}


def reward_components(cfg: RewardConfig, *, equity_before, equity_after, position, entry_price, open_, close,
                      fill: dict, peak_equity, max_position: float) -> dict:
    """Every component for a batch of steps (float64 ``[n]``); see the module doc.

    Written once for torch tensors and numpy arrays (the CPU env computes it in numpy on
    the kernel's arrays) with `backtest.arith.ops_for`: only IEEE arithmetic,
    selects, clamps and signs, so both give the same bits. ``position``/``entry_price``: after the step; ``fill``: the step's fill
    record (``status``, ``side``, ``exec_price``, ``position_before``, ``entry_before``).
    """
    ops = ops_for(equity_after)
    where, clip, sign, f64 = ops.where, ops.clip, ops.sign, ops.f64
    safe_before = where(equity_before > 0.0, equity_before, 1.0)
    net = where(equity_before > 0.0, equity_after / safe_before - 1.0, 0.0)
    pnl = clip(cfg.pnl_scale * net, -cfg.pnl_clip, cfg.pnl_clip)
    move = close / open_ - 1.0
    alive = equity_after > 0.0
    safe_eq = where(alive, equity_after, 1.0)
    exposure = where(alive, clip(position * close / (max_position * safe_eq), -1.0, 1.0), 0.0)
    direction = exposure * sign(move)
    magnitude = clip(cfg.magnitude_scale * exposure * move, -1.0, 1.0)
    status = fill["status"]
    filled = status == STATUS_FILLED
    pos_before, entry_before = fill["position_before"], fill["entry_before"]
    reduced = filled & (pos_before != 0.0) & (sign(pos_before) != f64(fill["side"]))
    has_entry = entry_before > 0.0
    realised = where(has_entry, (fill["exec_price"] / where(has_entry, entry_before, 1.0) - 1.0)
                     * sign(pos_before), 0.0)
    took = reduced & has_entry & (realised >= cfg.take_profit)
    cut = reduced & has_entry & (realised <= -cfg.stop_loss)
    open_now = (position != 0.0) & (entry_price > 0.0)
    unreal = where(open_now, (close / where(open_now, entry_price, 1.0) - 1.0) * sign(position), 0.0)
    overstay = open_now & (unreal <= -cfg.stop_loss)
    stop_take = f64(took) + 0.5 * f64(cut) - f64(overstay)
    exploration = f64(filled) - f64(status == STATUS_REJECTED)
    peak = where(peak_equity > 0.0, peak_equity, 1.0)
    dd = where(peak_equity > 0.0, 1.0 - equity_after / peak, 0.0)
    drawdown = -clip(cfg.drawdown_scale * (dd - cfg.drawdown_threshold), 0.0, 1.0)
    return {"direction": direction, "magnitude": magnitude, "pnl": pnl, "stop_take": stop_take,
            "exploration": exploration, "drawdown": drawdown}


def total_reward(cfg: RewardConfig, components: dict):
    """``sum(weight * component)`` in `COMPONENTS` order (torch or numpy, like the components)."""
    out = None
    for name, w in zip(COMPONENTS, cfg.weights):
        if w:
            term = w * components[name]
            out = term if out is None else out + term
    return out  # the weights sum to 1, so at least one is non-zero
