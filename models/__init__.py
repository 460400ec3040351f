"""The learning side: the batched torch training environment, the actor-critic, PPO, checkpoints."""
