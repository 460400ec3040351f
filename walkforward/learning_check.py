"""Did a fold's training learn? In-sample figures beside validation and test, in words.

Every fold backtests its selected checkpoint on its own training segment as well as on
validation and test (`segment_figures`), so memorisation shows: a policy that earns a PF of
5 on the bars it trained on and 0.8 on the next ones learned its path, not the market.
`diagnose` turns the fold's record into plain sentences, empty when nothing is wrong:

- validation never improved on its first point (the checkpoint kept is the one trained
  least, so training added nothing the validation segment could see);
- the policy's entropy at the end of training is still near uniform (at or above
  `NEAR_UNIFORM` of ``ln(n_actions)``): it never committed to anything;
- the in-sample PF is far above the out-of-sample one (at least `OVERFIT_RATIO` times the
  test PF and above `OVERFIT_MIN_PF`): it memorised its training bars.
"""

from __future__ import annotations

import math

import numpy as np

NEAR_UNIFORM = 0.95  # entropy share of ln(n_actions) that counts as "still near uniform"
OVERFIT_RATIO = 2.0  # in-sample PF at least this many times the test PF ...
OVERFIT_MIN_PF = 1.5  # ... and at least this high, is "far above"


def segment_figures(sim, bars_per_year: float) -> dict:
    """PF, net return, annualised Sharpe of the bar returns and trades of one backtest."""
    eq = np.r_[float(sim.initial_equity), np.asarray(sim.equity, dtype=np.float64)]
    r = eq[1:] / eq[:-1] - 1.0
    sd = float(r.std(ddof=1)) if r.size >= 2 else 0.0
    sharpe = float(r.mean() / sd * math.sqrt(bars_per_year)) if sd > 0 else None
    pf = sim.profit_factor()
    return {"pf": None if pf is None else float(pf), "net_return": float(sim.net_return), "sharpe": sharpe,
            "trades": int(len(sim.round_trip_pnl()))}


def _pf(value) -> float:
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def diagnose(record: dict) -> list[str]:
    """Sentences saying why a fold's training did not learn (empty: no sign of it)."""
    out = []
    history = record.get("validation_history") or []
    best = record.get("best_validation") or {}
    if len(history) >= 2 and best.get("update") == history[0].get("update"):
        out.append(f"validation never improved on its first point (update {history[0].get('update')} of "
                   f"{history[-1].get('update')}): the checkpoint kept is the least trained one")
    log = record.get("training_log") or []
    n_actions = len(record.get("action_meanings") or [])
    entropy = log[-1].get("entropy") if log else None
    if isinstance(entropy, (int, float)) and n_actions > 1 and entropy >= NEAR_UNIFORM * math.log(n_actions):
        out.append(f"the policy's entropy at the end of training is {entropy:.2f}, near the uniform "
                   f"{math.log(n_actions):.2f}: it never committed to a choice")
    figures = record.get("figures") or {}
    pf_in = _pf((figures.get("train") or {}).get("pf"))
    pf_out = _pf((figures.get("test") or {}).get("pf"))
    if not math.isinf(pf_out) and (math.isinf(pf_in) or (pf_in >= OVERFIT_MIN_PF and pf_in >= OVERFIT_RATIO * pf_out)):
        out.append(f"in-sample PF {pf_in:.2f} is far above the test PF {pf_out:.2f}: it learned its training "
                   "bars, not the market")
    return out


def symbol_training_notes(folds: list[dict]) -> list[str]:
    """One line per trained fold that shows a sign of not learning (for the page and terminal)."""
    notes = []
    for f in folds:
        if not f.get("training_log"):
            continue
        for sentence in diagnose(f):
            notes.append(f"fold {f.get('fold')}: {sentence}")
    return notes


__all__ = ["NEAR_UNIFORM", "OVERFIT_MIN_PF", "OVERFIT_RATIO", "diagnose", "segment_figures", "symbol_training_notes"]
