"""The curated mutations of `benchmarks.mutation`: realistic bugs in the integrity core.

Each is an exact snippet of today's source and its replacement, the tests that must
catch it (likeliest first; ``pytest -x`` stops at the first failure) and the bug it
models. Modules: features, the observation builder, the env, the simulator kernel, the
torch mirror, costs, PDT, folds, the normaliser and its wiring, the runner, metrics and
the verdict. The first block is the audit's survivors (issue 20): each now has a test
that fails on it.
"""

from __future__ import annotations

from benchmarks.mutation import Mutation

PARITY = "tests/test_env_parity.py"
REFERENCE = "tests/test_reference_account.py"
STRADDLE = "tests/test_pdt_straddle.py"
FOLDS_RUN = "tests/test_fold_integrity.py"
SIM = "tests/test_simulator.py"

M = Mutation

MUTATIONS: list[Mutation] = [
    # ---- the audit's survivors -------------------------------------------------------------
    M("pdt_kernel_current_equity", "backtest/_sim_kernel.py",
      "binding = fs[F_PREV_CLOSE_EQUITY] < ap[A_PDT_THRESHOLD]",
      "binding = e < ap[A_PDT_THRESHOLD]",
      (STRADDLE, REFERENCE, "tests/test_pdt.py"),
      "PDT binds on the equity at the fill's open instead of the previous close"),
    M("pdt_torch_no_session_roll", "models/env_step.py",
      "    acc.prev_close_equity = torch.where(new, acc.equity, acc.prev_close_equity)\n",
      "    acc.prev_close_equity = acc.prev_close_equity\n",
      (STRADDLE, REFERENCE, PARITY),
      "the torch mirror never rolls the previous-close equity at a new session"),
    M("pdt_kernelstep_state_swapped", "models/env_step.py",
      "self.ap, acc.equity.numpy(),\n                                      acc.prev_close_equity.numpy(),",
      "self.ap, acc.prev_close_equity.numpy(),\n                                      acc.equity.numpy(),",
      (STRADDLE, REFERENCE, PARITY),
      "the CPU env's account state swaps equity and previous-close equity (wrong day-trades-left feature)"),
    M("normaliser_fit_train_and_val", "walkforward/fold_job.py",
      "normaliser = Normaliser.fit(raw, train.start, train.stop)",
      "normaliser = Normaliser.fit(raw, train.start, val.stop)",
      (f"{FOLDS_RUN}::test_every_checkpoint_normaliser_is_fitted_on_exactly_its_training_rows",),
      "the fold's normaliser is fitted on training AND validation rows"),
    M("normaliser_fit_all_rows", "walkforward/fold_job.py",
      "normaliser = Normaliser.fit(raw, train.start, train.stop)",
      "normaliser = Normaliser.fit(raw, 0, len(raw))",
      (f"{FOLDS_RUN}::test_every_checkpoint_normaliser_is_fitted_on_exactly_its_training_rows",),
      "the fold's normaliser is fitted on every row, test rows included"),
    M("embargo_window_1", "walkforward/orchestrator.py",
      "window=schema.window, reward_horizon=REWARD_HORIZON",
      "window=1, reward_horizon=REWARD_HORIZON",
      (f"{FOLDS_RUN}::test_every_fold_keeps_the_embargo_between_its_segments",),
      "the orchestrator hands the splitter window=1: a 2-bar embargo instead of 101"),
    M("tie_tol_zero", "backtest/runner.py",
      "TIE_TOL = 1e-4\n",
      "TIE_TOL = 0.0\n",
      ("tests/test_runner_near_ties.py", "tests/test_runner.py"),
      "the fast runner trusts its own logits on near ties"),
    M("profit_factor_gross", "backtest/simulator.py",
      'pnl = self.trades["net_pnl"]',
      'pnl = self.trades["gross_pnl"]',
      ("tests/test_profit_factor.py", SIM),
      "SimResult.profit_factor of gross P&L (checkpoint selection, test.pf, the random baseline)"),
    M("selection_last_checkpoint", "walkforward/fold_job.py",
      "best = result.best_path if result.best_path is not None and Path(result.best_path).exists() "
      "else result.last_path",
      "best = result.last_path",
      (f"{FOLDS_RUN}::test_the_tested_checkpoint_is_the_best_validation_not_the_last",),
      "the fold tests the last checkpoint instead of the best validation's"),
    M("selection_always_improves", "models/ppo.py",
      'improved = best is None or (score, tie) > (best["score"], best["tie_break"])',
      "improved = True",
      ("tests/test_ppo.py", f"{FOLDS_RUN}::test_the_tested_checkpoint_is_the_best_validation_not_the_last"),
      "every validation replaces the best checkpoint (best == last)"),
]
