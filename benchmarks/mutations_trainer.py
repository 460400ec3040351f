"""Curated mutations: the trainer: reward alignment, learning diagnostics, the cpu mode (issue 24).

Same form as `benchmarks.mutations`: exact snippet, replacement, killing tests, the bug.
"""

from __future__ import annotations

from benchmarks.mutation import Mutation

M = Mutation
_ALIGN = "tests/test_reward_alignment.py"
_CHECK = "tests/test_learning_check.py"
_CLI = "tests/test_run_cli.py::test_each_fold_reports_its_checkpoint_in_sample_beside_validation_and_test"

MUTATIONS: list[Mutation] = [
    M("tr_default_reward_exploration", "models/reward.py",
      "    pnl: float = 0.95\n" + '    """Weight of the net P&L component."""\n    stop_take: float = 0.0\n'
      + '    """Weight of the stop-loss / take-profit component."""\n    exploration: float = 0.0\n',
      "    pnl: float = 0.85\n" + '    """Weight of the net P&L component."""\n    stop_take: float = 0.0\n'
      + '    """Weight of the stop-loss / take-profit component."""\n    exploration: float = 0.1\n',
      ("tests/test_reward.py", _ALIGN), "the default reward pays for fills again (a tenth of it for exploration)"),
    M("tr_preset_seeds_exploration", "models/reward.py",
      '"seeds": {"direction": 0.35, "magnitude": 0.10, "pnl": 0.25, "stop_take": 0.15, "exploration": 0.10,',
      '"seeds": {"direction": 0.35, "magnitude": 0.10, "pnl": 0.25, "stop_take": 0.25, "exploration": 0.00,',
      ("tests/test_reward.py",), "the seeds preset no longer reproduces the seeds' weights"),
    M("tr_preset_name_tolerance", "models/reward.py",
      "if all(abs(getattr(self, k) - weights.get(k, 0.0)) <= 1e-12 for k in COMPONENTS):",
      "if all(abs(getattr(self, k) - weights.get(k, 0.0)) <= 1.0 for k in COMPONENTS):",
      ("tests/test_reward.py",), "any weights are reported as the first preset (the report names the wrong reward)"),
    M("tr_alignment_rank", "benchmarks/reward_alignment.py",
      'ry = np.argsort(np.argsort(y, kind="stable"), kind="stable").astype(float)',
      'ry = np.argsort(y, kind="stable").astype(float)',
      (_ALIGN,), "the alignment ranks with argsort once (positions, not ranks)"),
    M("tr_config_preset_order", "walkforward/config.py", "value = {**REWARD_PRESETS[preset], **value}",
      "value = {**value, **REWARD_PRESETS[preset]}", ("tests/test_run_config.py",),
      "explicit [reward] weights are overwritten by the preset instead of overriding it"),
    M("tr_cpu_window", "walkforward/config.py", 'MODE_WINDOW = {"cpu": 5}', 'MODE_WINDOW = {"cpu": 100}',
      ("tests/test_run_config.py",), "mode cpu keeps the 100-bar window that memorised its training bars"),
    M("tr_check_first_point", "walkforward/learning_check.py",
      'if len(history) >= 2 and best.get("update") == history[0].get("update"):',
      'if len(history) >= 2 and best.get("update") == history[-1].get("update"):',
      (_CHECK,), "'validation never improved' compares with the last point, not the first"),
    M("tr_check_entropy", "walkforward/learning_check.py",
      "entropy >= NEAR_UNIFORM * math.log(n_actions)", "entropy >= NEAR_UNIFORM * math.log(n_actions + 1)",
      (_CHECK,), "the uniform entropy is computed for one action too many"),
    M("tr_check_overfit_ratio", "walkforward/learning_check.py",
      "pf_in >= OVERFIT_RATIO * pf_out", "pf_in >= pf_out", (_CHECK,),
      "any in-sample PF above the test's counts as memorisation"),
    M("tr_figures_sharpe_ddof", "walkforward/learning_check.py", "sd = float(r.std(ddof=1)) if r.size >= 2 else 0.0",
      "sd = float(r.std()) if r.size >= 2 else 0.0", (_CHECK,),
      "the in-sample Sharpe uses a different deviation than the report's metrics"),
    M("tr_ppo_ascends_loss", "models/ppo.py",
      'loss = parts["pg_loss"] - ent_coef * parts["entropy"] + cfg.vf_coef * parts["v_loss"]',
      'loss = -parts["pg_loss"] - ent_coef * parts["entropy"] + cfg.vf_coef * parts["v_loss"]',
      ("tests/test_trainer_learns.py",), "the policy gradient's sign is flipped: the trainer stops learning"),
    M("tr_fold_figures_segment", "walkforward/fold_job.py", 'for name in ("train", "val")}',
      'for name in ("val", "val")}', (_CLI,), "the in-sample figures are the validation backtest's"),
]
