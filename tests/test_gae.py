"""GAE: vectorised scan vs a plain Python loop, a known-answer case, truncation bootstrapping."""

import numpy as np
import torch
from hypothesis import given, strategies as st

from models.gae import compute_gae


def gae_loop(rewards, values, next_values, dones, terminated, gamma, lam):
    """Reference: one env, one step at a time, written as the textbook recursion."""
    T, N = len(rewards), len(rewards[0])
    adv = [[0.0] * N for _ in range(T)]
    for n in range(N):
        running = 0.0
        for t in reversed(range(T)):
            boot = 0.0 if terminated[t][n] else next_values[t][n]
            delta = rewards[t][n] + gamma * boot - values[t][n]
            running = delta + gamma * lam * (0.0 if dones[t][n] else running)
            adv[t][n] = running
    return adv


@given(T=st.integers(1, 12), N=st.integers(1, 5), seed=st.integers(0, 10_000),
       gamma=st.floats(0.0, 1.0), lam=st.floats(0.0, 1.0))
def test_gae_matches_python_loop(T, N, seed, gamma, lam):
    rng = np.random.default_rng(seed)
    r, v, nv = (rng.normal(size=(T, N)) for _ in range(3))
    dones = rng.random((T, N)) < 0.3
    term = dones & (rng.random((T, N)) < 0.5)
    adv, ret = compute_gae(*(torch.tensor(a) for a in (r, v, nv, dones, term)), gamma=gamma, lam=lam)
    expected = np.array(gae_loop(r.tolist(), v.tolist(), nv.tolist(), dones.tolist(), term.tolist(), gamma, lam))
    np.testing.assert_allclose(adv.numpy(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ret.numpy(), expected + v, rtol=1e-10, atol=1e-10)


def test_gae_known_answer():
    # gamma = lam = 0.5, one env, three steps, no episode end; values 0, next values 0.
    r = torch.tensor([[1.0], [2.0], [4.0]])
    z = torch.zeros(3, 1)
    adv, ret = compute_gae(r, z, z, torch.zeros(3, 1, dtype=torch.bool), None, gamma=0.5, lam=0.5)
    # A2 = 4; A1 = 2 + 0.25*4 = 3; A0 = 1 + 0.25*3 = 1.75
    assert adv.squeeze(1).tolist() == [1.75, 3.0, 4.0]
    assert torch.equal(ret, adv)


def test_truncation_bootstraps_from_final_value_and_cuts_trace():
    # step 0 ends an episode by truncation: bootstrap V(final_obs) = 10, no carry from step 1
    r = torch.tensor([[1.0], [100.0]])
    v = torch.tensor([[2.0], [0.0]])
    nv = torch.tensor([[10.0], [0.0]])
    dones = torch.tensor([[True], [False]])
    adv, _ = compute_gae(r, v, nv, dones, torch.zeros_like(dones), gamma=0.9, lam=0.95)
    assert adv[0, 0].item() == 1.0 + 0.9 * 10.0 - 2.0
    # a true terminal state drops the bootstrap
    adv_t, _ = compute_gae(r, v, nv, dones, dones, gamma=0.9, lam=0.95)
    assert adv_t[0, 0].item() == 1.0 - 2.0
