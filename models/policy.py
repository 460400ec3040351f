"""Inference adapter: a trained network acting deterministically (argmax) on observation batches.

Used by validation during training (wrapping the live network) and by the backtest
(`load_policy(path)`). Besides `act(obs)` it exposes the split first layer
(`market_projection` / `act_from_projection`) so a backtest can compute the market
part once per bar for a whole test segment and add only the account part per step.
"""

from __future__ import annotations

import numpy as np
import torch

from backtest.errors import SchemaMismatchError


class Policy:
    """Deterministic policy over `ActorCritic`; numpy in -> numpy out, torch in -> torch out."""

    def __init__(self, network, schema, action_meanings, normaliser=None, device="cpu",
                 batch_size: int = 65_536, amp: bool = False, info: dict | None = None) -> None:
        self.network = network
        self.schema = schema
        self.action_meanings = list(action_meanings)
        self.normaliser = normaliser
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.info = info or {}
        self._amp = amp and self.device.type == "cuda"

    @property
    def n_actions(self) -> int:
        return len(self.action_meanings)

    @property
    def obs_dim(self) -> int:
        return int(self.schema.obs_dim)

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self._amp)

    def _as_tensor(self, x) -> tuple[torch.Tensor, bool]:
        was_numpy = not isinstance(x, torch.Tensor)
        if was_numpy:
            x = np.asarray(x)
            if not x.flags.writeable:  # feature matrices are read-only views: torch would warn on them
                x = x.astype(np.float32)
        return torch.as_tensor(x).to(self.device, torch.float32), was_numpy

    @torch.no_grad()
    def act(self, obs):
        """Greedy actions for observations [obs_dim] or [B, obs_dim], in chunks of batch_size."""
        x, was_numpy = self._as_tensor(obs)
        single = x.ndim == 1
        x = x.reshape(1, -1) if single else x
        if x.shape[-1] != self.obs_dim:
            raise SchemaMismatchError(f"observations have {x.shape[-1]} columns but the policy's schema "
                                      f"(version {getattr(self.schema, 'version', '?')}) expects {self.obs_dim}")
        was_training = self.network.training
        self.network.eval()
        out = []
        with self._autocast():
            for start in range(0, x.shape[0], self.batch_size):
                logits, _ = self.network(x[start:start + self.batch_size])
                out.append(logits.argmax(-1))
        self.network.train(was_training)
        actions = torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=self.device)
        actions = actions[0] if single else actions
        return actions.cpu().numpy() if was_numpy else actions

    __call__ = act

    @torch.no_grad()
    def market_projection(self, windows) -> torch.Tensor:
        """Actor first-layer market part for windows [B, W*n_market] -> [B, h1] (on the device)."""
        x, _ = self._as_tensor(windows)
        with self._autocast():
            parts = [self.network.market_projection(x[s:s + self.batch_size], "actor")
                     for s in range(0, x.shape[0], self.batch_size)]
        return torch.cat(parts).float() if parts else x.new_zeros((0, self.network.h1))

    @torch.no_grad()
    def act_from_projection(self, proj, account_feats):
        """Greedy actions from `market_projection` rows and account features [B, n_account]."""
        p, _ = self._as_tensor(proj)
        a, was_numpy = self._as_tensor(account_feats)
        a = a.reshape(p.shape[0], -1)
        with self._autocast():
            actions = self.network.logits_from_projection(p, a).argmax(-1)
        return actions.cpu().numpy() if was_numpy else actions

    @torch.no_grad()
    def logits_from_projection(self, proj, account_feats) -> torch.Tensor:
        """Actor logits [B, n_actions] (float32, on the device) from `market_projection` rows and
        account features; lets `models.fast_runner` see near ties and send them to `act`."""
        p, _ = self._as_tensor(proj)
        a, _ = self._as_tensor(account_feats)
        a = a.reshape(p.shape[0], -1)
        with self._autocast():
            return self.network.logits_from_projection(p, a).float()

    def market_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor's market layer (weight [h1, W*n_market], bias [h1]), read-only use: lets
        `models.fast_runner` compute the projection of a long segment as a convolution (FFT)."""
        layer = self.network.actor_market
        return layer.weight.detach(), layer.bias.detach()

    def actor_tail(self) -> list[tuple]:
        """The actor above the market projection (`ActorCritic.tower_layers`) with float32 numpy
        arrays, for `models.fast_runner`'s compiled loop."""
        as_np = lambda t: t.detach().float().cpu().numpy().copy()  # noqa: E731
        return [(entry[0], *(as_np(t) for t in entry[1:])) for entry in self.network.tower_layers("actor")]

    def check(self, expected_schema=None, expected_actions=None) -> None:
        """Raise SchemaMismatchError naming what differs from the expected schema/actions."""
        if expected_schema is not None:
            if hasattr(expected_schema, "check_compatible"):
                expected_schema.check_compatible(self.schema)
            elif getattr(expected_schema, "version", None) != getattr(self.schema, "version", None):
                raise SchemaMismatchError(f"schema version {self.schema.version!r} != expected "
                                          f"{expected_schema.version!r}")
        if expected_actions is not None:
            expected = list(expected_actions)
            if expected != self.action_meanings:
                raise SchemaMismatchError(f"action space differs: checkpoint has {self.action_meanings}, "
                                          f"expected {expected}; backtest with the checkpoint's ActionSpace")


def load_policy(path, device="cpu", expected_schema=None, expected_actions=None):
    """Load a checkpoint as a deterministic `Policy` (weights_only loading; see models.checkpoint)."""
    from models.checkpoint import build_network, load_checkpoint, normaliser_from_dict

    data = load_checkpoint(path, map_location="cpu")
    network, schema = build_network(data, device)
    info = {k: data.get(k) for k in ("config", "global_step", "update", "validation_history",
                                      "best_validation", "fold_id", "data_hash", "versions", "world")}
    policy = Policy(network, schema, data["action_meanings"], normaliser_from_dict(data.get("normaliser")),
                    device=device, info=info)
    policy.check(expected_schema, expected_actions)
    return policy
