"""Curated mutations: the trainer: reward alignment, learning diagnostics, the cpu mode (issue 24).

Same form as `benchmarks.mutations`: exact snippet, replacement, killing tests, the bug.
"""

from __future__ import annotations

from benchmarks.mutation import Mutation

M = Mutation
_ALIGN = "tests/test_reward_alignment.py"
_CHECK = "tests/test_learning_check.py"
_CLI = "tests/test_run_cli.py::test_each_fold_reports_its_checkpoint_in_sample_beside_validation_and_test"
_OPT = "tests/test_trainer_options.py"
_AUG = "tests/test_augment.py"
_RES = "tests/test_resolution.py"

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
    M("tr_cpu_window", "walkforward/config.py", 'MODE_WINDOW = {"cpu": 1}', 'MODE_WINDOW = {"cpu": 100}',
      ("tests/test_run_config.py",), "mode cpu keeps the 100-bar window that memorised its training bars"),
    M("tr_cpu_gamma", "models/config.py", '''hidden="tiny",
                gamma=0.5),''', '''hidden="tiny",
                gamma=0.99),''',
      ("tests/test_run_config.py",), "mode cpu loses the short discount that made it learn (issue 24)"),
    M("tr_cpu_intraday_gamma", "models/config.py", '_INTRADAY: dict[str, dict] = {"cpu": dict(gamma=0.9)}',
      '_INTRADAY: dict[str, dict] = {"cpu": dict(gamma=0.5)}', (_RES,),
      "mode cpu discounts 15-minute bars like daily ones, which left it blind to a time-of-day edge"),
    M("tr_cpu_intraday_which_bars", "walkforward/orchestrator.py", "intraday=p.bars.timeframe < DAY),",
      "intraday=p.bars.timeframe <= DAY),", (_RES,), "daily symbols get the intraday discount too"),
    M("tr_last_bar_edge", "backtest/features/calendar.py", "(m <= minutes_per_bar + 1e-6)",
      "(m < minutes_per_bar - 1e-6)", ("tests/test_features_known.py",),
      "last_bar never marks a session's last bar (its close is exactly one bar away)"),
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
    M("tr_check_infinite_test_pf", "walkforward/learning_check.py",
      "if not math.isinf(pf_out) and (math.isinf(pf_in) or", "if (math.isinf(pf_in) or", (_CHECK,),
      "a fold without a losing test trade is told it memorised its training bars"),
    M("tr_figures_sharpe_ddof", "walkforward/learning_check.py", "sd = float(r.std(ddof=1)) if r.size >= 2 else 0.0",
      "sd = float(r.std()) if r.size >= 2 else 0.0", (_CHECK,),
      "the in-sample Sharpe uses a different deviation than the report's metrics"),
    M("tr_ppo_ascends_loss", "models/ppo.py",
      'loss = parts["pg_loss"] - ent_coef * parts["entropy"] + cfg.vf_coef * parts["v_loss"]',
      'loss = -parts["pg_loss"] - ent_coef * parts["entropy"] + cfg.vf_coef * parts["v_loss"]',
      ("tests/test_trainer_learns.py",), "the policy gradient's sign is flipped: the trainer stops learning"),
    M("tr_fold_figures_segment", "walkforward/fold_job.py", 'for name in ("train", "val")}',
      'for name in ("val", "val")}', (_CLI,), "the in-sample figures are the validation backtest's"),
    M("tr_weight_decay_ignored", "models/ppo.py",
      'cls, extra = (torch.optim.AdamW, {"weight_decay": weight_decay}) if weight_decay > 0 else (torch.optim.Adam, {})',
      'cls, extra = (torch.optim.AdamW, {"weight_decay": 0.0}) if weight_decay > 0 else (torch.optim.Adam, {})',
      (_OPT + "::test_weight_decay_switches_to_adamw_and_shrinks_the_weights",),
      "weight_decay is accepted but the optimiser never decays"),
    M("tr_entropy_schedule_reversed", "models/config.py",
      "return self.ent_coef + (self.ent_coef_final - self.ent_coef) * frac",
      "return self.ent_coef_final + (self.ent_coef - self.ent_coef_final) * frac",
      (_OPT + "::test_entropy_weight_is_constant_or_linear_to_its_final_value",),
      "the entropy schedule runs backwards (starts at the final weight)"),
    M("tr_entropy_schedule_unused", "models/ppo.py", "ent_coef = cfg.ent_coef_at(self.update)",
      "ent_coef = cfg.ent_coef", (_OPT + "::test_entropy_schedule_changes_training_only_when_it_moves_the_weight",),
      "the trainer ignores the entropy schedule"),
    M("tr_early_stop_window", "models/ppo.py", 'not any(e.get("best") for e in hist[-k:])',
      'not any(e.get("best") for e in hist[-k + 1:])',
      (_OPT + "::test_early_stop_ends_training_after_k_validations_without_a_new_best",),
      "early stopping gives up one validation too soon"),
    M("tr_augment_block_ignored", "models/augment.py", "fresh = rng.random(n) < 1.0 / block",
      "fresh = rng.random(n) < 1.0", (_AUG,),
      "every resampled bar is drawn anew: the lag-1 dependence the block bootstrap keeps is lost"),
    M("tr_augment_time_of_day_ignored", "models/augment.py", "pool = members[inverse[j]]",
      "pool = np.arange(start, stop)", (_AUG,),
      "runs start at any time of day: the time-of-day structure of intraday bars is scrambled"),
    M("tr_augment_run_crosses_slots", "models/augment.py",
      "if fresh[j] or prev >= stop or seg[prev - start] != seg[j]:", "if fresh[j] or prev >= stop:", (_AUG,),
      "a run continues into a bar of another time of day (across a session change)"),
    M("tr_augment_past_the_segment", "models/augment.py", "if fresh[j] or prev >= stop or seg[prev - start] != seg[j]:",
      "if fresh[j] or prev > stop or seg[min(prev, stop - 1) - start] != seg[j]:", (_AUG,),
      "a run continues past the training segment's end: the copy reads the bar after it (look-ahead)"),
    M("tr_augment_offsets", "models/augment.py", "offsets = np.r_[0, np.cumsum(sizes)[:-1]]",
      "offsets = np.r_[0, np.cumsum(sizes)[:-1]] - 1", (_AUG,),
      "the trainer's bar index points one row off in the stacked windows: it trains on other bars than it trades"),
]
