"""Generalised advantage estimation over a rollout [T, n_envs], with truncation bootstrapping.

Episodes in the training env end by truncation (fixed length), not by a terminal state,
so the value after the last step of an episode is the critic's value of the final
observation (`info["final_obs"]`), not zero. The caller passes, for every step, the
value of the state that followed it (`next_values`): V(final_obs) where the episode
ended, V(next obs) otherwise. `dones` cuts the advantage trace between episodes;
`terminated` (a true terminal state) also drops the bootstrap.
"""

from __future__ import annotations

import torch


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
                dones: torch.Tensor, terminated: torch.Tensor | None = None,
                gamma: float = 0.99, lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns), each [T, n_envs].

    delta_t = r_t + gamma * (1 - terminated_t) * next_value_t - value_t
    A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
    The loop runs over time steps only (a reverse scan); every env is one vector lane.
    """
    keep_boot = 1.0 - (terminated.to(rewards.dtype) if terminated is not None else torch.zeros_like(rewards))
    carry = 1.0 - dones.to(rewards.dtype)
    deltas = rewards + gamma * keep_boot * next_values - values
    adv = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * lam * carry[t] * running
        adv[t] = running
    return adv, adv + values
