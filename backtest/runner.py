"""Policy backtest, the reference way: one bar at a time through the simulator's step API.

`run_policy_naive` is the loop everything else is checked against: for each decision bar
t, ``obs = builder.get_obs_at_bar(t, sim.account_state())``, ``a = policy.act(obs)``,
``sim.step(a)``. The fast runner (`models.fast_runner.run_policy`: the network's market
part in batch, the rest speculated or compiled) must give exactly its actions, fills,
trades and equity; it lives in `models` because it is model inference, and shares with
this module `PolicyRun`, the segment and policy checks, and the `PolicyLike` protocol.

The policy is duck-typed (`PolicyLike`): `backtest` never imports `models`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from backtest.account import REASON_PDT
from backtest.errors import ConfigError, SchemaMismatchError
from backtest.simulator import SimConfig, SimResult, Simulator
from backtest.state import equity as state_equity
from backtest.trades import FILL_DTYPE, STATUS_HOLD, TRADE_DTYPE


@runtime_checkable
class PolicyLike(Protocol):
    """What the reference loop needs of a policy: ``act(obs)``, the greedy action (int, or an
    array or tensor of one) of one full observation ``[obs_dim]``. Optional ``schema`` and
    ``n_actions`` are checked against the builder's and the account's."""

    def act(self, obs: Any) -> Any: ...


@dataclass
class PolicyRun:
    """A policy's backtest over decision bars ``[start, stop)``."""

    actions: np.ndarray
    """int64 ``[stop - start]``: the policy's decision at each bar (before close_at_end)."""
    sim: SimResult
    """Fills, trades, per-bar equity/cash/position, PDT rejections (`backtest.simulator`);
    ``sim.actions`` is what was executed (the last one CLOSE with ``close_at_end``)."""
    n_actions: int
    """Size of the action space (for `action_counts`)."""
    stats: dict
    """How the run went. The fast runner: ``blocks`` (speculative batches), ``reference_calls``
    (near ties decided by ``policy.act``), ``evaluated`` (rows the network tail evaluated,
    >= bars, more when speculation was cut short), ``compiled_bars`` (bars decided by the
    compiled loop)."""

    @property
    def start(self) -> int:
        return self.sim.start

    @property
    def stop(self) -> int:
        return self.sim.stop

    @property
    def action_counts(self) -> np.ndarray:
        """int64 ``[n_actions]``: how often the policy chose each action."""
        return np.bincount(self.actions, minlength=self.n_actions).astype(np.int64)


def check_segment(builder, bars, start: int, stop: int) -> tuple[int, int]:
    """``(start, stop)`` as ints, or `ConfigError`: the builder must cover ``bars`` and the
    decisions ``[start, stop)`` must lie after the warm-up, inside the bars."""
    if builder.n_bars != len(bars):
        raise ConfigError(f"run_policy: the builder covers {builder.n_bars} bars but bars has {len(bars)}; "
                          "build the BacktestObservationBuilder over the same full series")
    start, stop = int(start), int(stop)
    if start < builder.first_bar:
        raise ConfigError(f"run_policy: start={start} is inside the warm-up (window + look-back = "
                          f"{builder.first_bar} bars); start at bar {builder.first_bar} or later")
    if not start < stop <= len(bars):
        raise ConfigError(f"run_policy: need start < stop <= {len(bars)} (number of bars), got "
                          f"start={start}, stop={stop}")
    return start, stop


def check_policy(policy, builder, config: SimConfig) -> None:
    """`SchemaMismatchError` when the policy's schema or action count differs from the
    builder's schema or the account's action space."""
    schema = getattr(policy, "schema", None)
    if schema is not None and getattr(schema, "version", None) != builder.schema.version:
        raise SchemaMismatchError(f"run_policy: the policy's feature schema {str(schema.version)[:12]} differs "
                                  f"from the builder's {builder.schema.version[:12]}; build features with the "
                                  "checkpoint's schema")
    n = getattr(policy, "n_actions", None)
    if n is not None and int(n) != config.account.action_space.n:
        raise SchemaMismatchError(f"run_policy: the policy has {n} actions but the account's action space has "
                                  f"{config.account.action_space.n}; set AccountConfig.include_close_action to match")


def to_numpy(x) -> np.ndarray:
    """A torch tensor (any device) or array-like as a numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def run_policy_naive(policy: PolicyLike, builder, bars, sim_config: SimConfig | None, start: int, stop: int, *,
                     close_at_end: bool = True) -> PolicyRun:
    """Backtest ``policy`` with decisions at every bar of ``[start, stop)``, the reference loop
    (module doc). ``builder``: `BacktestObservationBuilder` over the FULL series ``bars``
    (features normalised with the fold's normaliser), so bar indices, slippage draws and
    sessions are those of the full series; ``close_at_end`` closes the open position at bar
    ``stop-1`` (the simulator's internal CLOSE). Its records are assembled from the step
    results (not from `Simulator.run`)."""
    config = sim_config if sim_config is not None else SimConfig()
    start, stop = check_segment(builder, bars, start, stop)
    check_policy(policy, builder, config)
    sim = Simulator(bars, config)
    state = sim.reset(start)
    n = stop - start
    actions = np.zeros(n, dtype=np.int64)
    executed = np.zeros(n, dtype=np.int64)
    eq, cash, pos = np.zeros(n), np.zeros(n), np.zeros(n)
    fills = []
    for i in range(n):
        t = start + i
        a = int(to_numpy(policy.act(builder.get_obs_at_bar(t, state))).reshape(-1)[0])
        actions[i] = a
        if close_at_end and i == n - 1:
            executed[i] = sim.n_actions  # the simulator's internal CLOSE row
            fill = sim.step(sim.n_actions, internal_close=True)
        else:
            executed[i] = a
            fill = sim.step(a)
        if fill["status"] != STATUS_HOLD:
            fills.append(fill)
        state = sim.account_state()
        eq[i] = state_equity(state)
        cash[i], pos[i] = state["cash"], state["position"]
    fills_arr = np.array(fills, dtype=FILL_DTYPE) if fills else np.zeros(0, dtype=FILL_DTYPE)
    trades = np.array(sim.trades, dtype=TRADE_DTYPE) if sim.trades else np.zeros(0, dtype=TRADE_DTYPE)
    pdt = int(np.count_nonzero(fills_arr["reason"] == REASON_PDT))
    result = SimResult(bars, config, start, stop, executed, fills_arr, trades, eq, cash, pos, pdt)
    return PolicyRun(actions, result, config.account.action_space.n,
                     {"blocks": n, "reference_calls": n, "evaluated": n})


__all__ = ["PolicyLike", "PolicyRun", "check_policy", "check_segment", "run_policy_naive", "to_numpy"]
