"""One trainer change at a time on one fixed fold of a learning world (issue 24, BENCHMARKS.md).

The fold: training bars [warm-up, warm-up + 858), then an embargo of window + 1 bars,
validation 250 bars, embargo, test 250 bars: the daily layout of a 5-fold run on 2,390
sessions. Trains PPO (`models.ppo.PPOTrainer`) on `models.env.TradingEnv` with the given
window, feature subset (``compact`` or a comma list of names), steps, network and PPO
settings, selects the best validation checkpoint like a fold does, and prints one JSON
line: the checkpoint's PF, net return, Sharpe, trades and HOLD share on train, validation
and test, the oracle rule's test figures, the validation history and the entropy curve.

Run: ``python -m benchmarks.trainer_ablation --window 5 --features compact --steps 163840``.
"""
import argparse
import json
import time

import numpy as np
import torch

from benchmarks.learning_worlds import make_world, oracle_actions, parse
from backtest.features import FEATURE_SETS, FeatureSchema, compute_features, default_schema
from backtest.features.pipeline import available_specs, named_schema
from backtest.normaliser import Normaliser
from backtest.observation import BacktestObservationBuilder
from backtest.simulator import SimConfig, simulate
from backtest.account import AccountConfig
from models.augment import training_env
from models.reward import RewardConfig
from models.config import mode_config
from models.ppo import PPOTrainer
from walkforward.fold_job import evaluate, validation_metrics, episode_length


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", default="lag1_daily_030"); p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=100); p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--reward", default="net_pnl"); p.add_argument("--hidden", default="tiny")
    p.add_argument("--envs", type=int, default=64); p.add_argument("--nsteps", type=int, default=64)
    p.add_argument("--ent", type=float, default=0.01); p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--epochs", type=int, default=4); p.add_argument("--close", action="store_true")
    p.add_argument("--extra", default="{}"); p.add_argument("--features", default="")
    p.add_argument("--train", type=int, default=858, help="training bars (858: a daily 5-fold layout)")
    p.add_argument("--seg", type=int, default=250, help="validation and test bars each")
    p.add_argument("--test", type=int, default=None,
                   help="test bars (default --seg); a longer test (e.g. 1100 daily) ranks changes with less noise")
    p.add_argument("--pdt", default=None, help="pattern-day-trader mode (default: off for 15m worlds, else auto)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    bars = make_world(a.world, a.seed)
    schema = default_schema(window=a.window)
    if a.features in FEATURE_SETS:
        schema = named_schema(a.features, a.window)
    elif a.features:  # a comma list of feature names, in the default order
        keep = a.features.split(",")
        schema = FeatureSchema(features=tuple(f for f in available_specs() if f.name in keep), window=a.window)
    raw = compute_features(bars, schema)
    w0 = schema.warmup_bars
    emb = a.window + 1
    # folds like the 5-fold layout: train 858, val 250, test 250 from the start
    tr = (w0, w0 + a.train); va = (tr[1] + emb, tr[1] + emb + a.seg); te = (va[1] + emb, va[1] + emb + (a.test or a.seg))
    norm = Normaliser.fit(raw, *tr)
    acct = AccountConfig(include_close_action=a.close)
    cfg = SimConfig(account=acct, pdt=a.pdt or ("auto" if parse(a.world)[1] == "daily" else "off"))
    builder = BacktestObservationBuilder(raw, schema, norm, cfg.account)
    kw = dict(total_steps=a.steps, n_envs=a.envs, n_steps=a.nsteps, hidden=a.hidden, ent_coef=a.ent,
                     actor_lr=a.lr, n_epochs=a.epochs, minibatch_size=min(1024, a.envs * a.nsteps), seed=a.seed)
    kw.update(json.loads(a.extra))
    tc = mode_config("smoke", **kw)
    env = training_env(builder.features, bars, schema, norm, tr, tc.augment_paths, tc.augment_block, n_envs=tc.n_envs,
                       seed=a.seed, sim_config=cfg, episode_len=episode_length(a.train), reward=RewardConfig.preset(a.reward))

    def stats(seg, policy=None):
        r = evaluate(policy if policy is not None else pol, builder, bars, cfg, *seg)
        eq = np.r_[cfg.account.initial_equity, r.sim.equity]; rets = np.diff(eq) / eq[:-1]
        # daily annualisation for every world: to compare, not to quote
        sh = rets.mean() / rets.std() * np.sqrt(252) if rets.std() > 0 else 0.0
        return dict(pf=r.sim.profit_factor(), net=round(r.sim.net_return, 4), sharpe=round(float(sh), 2), trades=len(r.sim.trades),
                    hold=round(float(np.mean(r.actions == 0)), 2))
    test_at_validation = []  # the test figures of every validation checkpoint: compares selection rules offline

    def validate(pol):
        test_at_validation.append(stats(te, pol))
        return validation_metrics(evaluate(pol, builder, bars, cfg, *va))
    t0 = time.time()
    trainer = PPOTrainer(env, schema, tc, validate=validate, action_meanings=list(cfg.account.action_space.meanings), verbose=0)
    res = trainer.train(resume=False)
    secs = time.time() - t0
    if res.best_state is not None:
        trainer.net.load_state_dict(res.best_state)
    pol = trainer.policy()
    def ostats(seg):
        acts = oracle_actions(a.world, bars)[seg[0]:seg[1]]
        if not a.close: acts = np.where(acts == 7, 6, acts)
        s = simulate(bars, acts, cfg, start=seg[0], close_at_end=True)
        eq = np.r_[cfg.account.initial_equity, s.equity]; rets = np.diff(eq) / eq[:-1]
        return dict(pf=s.profit_factor(), net=round(s.net_return, 4), sharpe=round(float(rets.mean() / rets.std() * np.sqrt(252)), 2))
    vh = [(v["update"], round(v["net_return"], 4), v["pf"] and round(v["pf"], 2)) for v in res.validation_history]
    ent = [round(h["entropy"], 2) for h in res.history]
    print(json.dumps(dict(args=vars(a), secs=round(secs, 1), train=stats(tr), val=stats(va), test=stats(te),
                          oracle_test=ostats(te), val_hist=vh,
                          test_hist=[round(t["sharpe"], 2) for t in test_at_validation], entropy=ent[::max(1, len(ent) // 8)] + ent[-1:])))


if __name__ == "__main__":
    main()
