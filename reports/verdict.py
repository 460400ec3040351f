"""Verdict v2 per symbol (DESIGN 3.8): is there evidence of timing skill that survives costs
and multiple testing? INCONCLUSIVE / DEPLOY / PAPER / DROP, with every criterion shown.

The verdict is a list of criteria, each with its value, threshold, comparison and pass/fail
(`verdict` returns them all, so summary.json, the terminal and the report pages show the same
table). Three levels:

- evidence: enough closed trades and completed test folds, and a defined PF interval.
  Failing any of them gives INCONCLUSIVE: the other numbers are too noisy to judge by.
- deploy: the seeds' gates (consistency, PF, drawdown) plus what separates skill from luck
  and exposure: the timing null (`backtest.baselines.timing_null`, the policy's own
  exposure moved in time) and the excess over exposure-matched buy and hold, both
  significant, and the deflated Sharpe above its bar.
- paper: weaker but positive evidence (looser gates, the nulls beaten at looser levels).

A missing number (no timing null in an old run, an undefined Sharpe) fails the criterion
that needs it, saying why, rather than passing silently. The calibration of the default
thresholds (false DEPLOY rate on policies without skill, DEPLOY rate with a planted edge)
is measured by ``python -m benchmarks.bench_verdict`` (BENCHMARKS.md).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from backtest.errors import ConfigError

INCONCLUSIVE, DEPLOY, PAPER, DROP = "INCONCLUSIVE", "DEPLOY", "PAPER", "DROP"
VERDICTS = (DEPLOY, PAPER, DROP, INCONCLUSIVE)

#: Threshold names of verdict v1 that no longer exist, and what replaced them.
RETIRED = {
    "deploy_random_percentile": "verdict v2 judges timing against the timing null, which keeps the policy's "
                                "exposure (deploy_null_alpha); the random-policy percentile is still reported",
}


@dataclass(frozen=True)
class VerdictThresholds:
    """Thresholds of the verdict (TOML table ``[verdict]``); printed in every report."""

    min_trades: int = 30  #: fewer closed trades over the stitched test folds: INCONCLUSIVE
    min_folds: int = 3  #: fewer completed test folds: INCONCLUSIVE
    deploy_consistency: float = 0.8  #: min share of profitable test folds for DEPLOY
    deploy_pf: float = 1.4  #: min profit factor of the stitched out-of-sample trades for DEPLOY
    deploy_max_drawdown: float = 0.10  #: max drawdown (fraction) allowed for DEPLOY
    deploy_null_alpha: float = 0.05  #: DEPLOY: timing-null p-value at most this
    deploy_excess_alpha: float = 0.05  #: DEPLOY: p-value of the excess over exposure-matched B&H at most this
    deploy_dsr: float = 0.95  #: DEPLOY: deflated Sharpe ratio (probability) at least this
    paper_consistency: float = 0.6  #: min share of profitable test folds for PAPER
    paper_pf: float = 1.1  #: min profit factor for PAPER
    paper_max_drawdown: float = 0.20  #: max drawdown (fraction) allowed for PAPER
    paper_null_alpha: float = 0.10  #: PAPER: timing-null p-value at most this (0.25 gave PAPER to 14-25% of nulls)
    paper_excess_alpha: float = 0.5  #: PAPER: excess over matched B&H p-value at most this (0.5: excess >= 0)

    def __post_init__(self) -> None:
        for name in ("min_trades", "min_folds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"VerdictThresholds.{name} must be a whole number >= 1, got {v!r}")
        for name in ("deploy_consistency", "paper_consistency", "deploy_max_drawdown", "paper_max_drawdown",
                     "deploy_dsr"):
            v = getattr(self, name)
            if not (_is_number(v) and 0.0 <= v <= 1.0):
                raise ConfigError(f"VerdictThresholds.{name} must be a fraction in [0, 1], got {v!r}")
        for name in ("deploy_null_alpha", "deploy_excess_alpha", "paper_null_alpha", "paper_excess_alpha"):
            v = getattr(self, name)
            if not (_is_number(v) and 0.0 < v <= 1.0):
                raise ConfigError(f"VerdictThresholds.{name} must be a significance level in (0, 1], got {v!r}")
        for name in ("deploy_pf", "paper_pf"):
            v = getattr(self, name)
            if not (_is_number(v) and v >= 0 and math.isfinite(v)):
                raise ConfigError(f"VerdictThresholds.{name} must be a finite number >= 0, got {v!r}")
        if self.deploy_pf < self.paper_pf or self.deploy_consistency < self.paper_consistency \
                or self.deploy_max_drawdown > self.paper_max_drawdown \
                or self.deploy_null_alpha > self.paper_null_alpha or self.deploy_excess_alpha > self.paper_excess_alpha:
            raise ConfigError(
                "VerdictThresholds: DEPLOY must be at least as strict as PAPER "
                f"(got {self}); raise the deploy_* or relax the paper_* values"
            )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, strict: bool = True) -> "VerdictThresholds":
        """From a ``[verdict]`` table. Retired v1 names are refused with what replaced them
        (``strict``, user input) or dropped with a warning (a manifest of an older run)."""
        if not d:
            return cls()
        d = dict(d)
        for name in [k for k in d if k in RETIRED]:
            if strict:
                raise ConfigError(f"verdict.{name} no longer exists: {RETIRED[name]}; remove it")
            warnings.warn(f"verdict threshold {name!r} of an older run is ignored: {RETIRED[name]}", stacklevel=2)
            d.pop(name)
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(f"unknown verdict thresholds {unknown}; known: {known}")
        return cls(**d)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(x: Any, kind: str) -> str:
    if x is None:
        return "undefined"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if kind == "pct":
        return f"{100.0 * x:.1f}%"
    if kind == "int":
        return f"{int(x)}"
    if kind == "p":
        return f"{x:.3f}"
    return f"{x:.3g}"


_NEGATED = {">=": "<", "<=": ">"}


def _criterion(level: str, name: str, label: str, value: Any, op: str, threshold: Any, kind: str,
               undefined: str | None = None) -> dict[str, Any]:
    """One row of the criteria table; ``undefined`` says why a missing value fails."""
    if value is None:
        passed = False
        text = f"{label} undefined ({undefined})" if undefined else f"{label} undefined"
    else:
        passed = value >= threshold if op == ">=" else value <= threshold
        shown = f"{label} {_fmt(value, kind)} {op if passed else _NEGATED[op]} {_fmt(threshold, kind)}"
        text = shown
    return {"level": level, "name": name, "label": label, "value": value, "op": op, "threshold": threshold,
            "kind": kind, "passed": bool(passed), "text": text}


def _trades_criterion(m: Mapping[str, Any], min_trades: int) -> dict[str, Any]:
    """Enough closed round trips (flat to flat; partial exits are part of theirs), or, for a
    policy with few round trips that resizes its position (never flat), enough resizing orders:
    each is a timing decision the timing null moves within its episode."""
    row = _criterion("evidence", "trades", "closed round trips", m.get("trades"), ">=", min_trades, "int")
    resizing = m.get("resizing_orders")
    if not row["passed"] and resizing is not None and resizing >= min_trades:
        row.update(passed=True, text=f"closed round trips {_fmt(m.get('trades'), 'int')} < {min_trades}, but "
                                     f"resizing orders {int(resizing)} >= {min_trades}")
    return row


def _null_criterion(level: str, m: Mapping[str, Any], alpha: float) -> dict[str, Any]:
    """The timing-null criterion: its p-value at most ``alpha``, failed with the reason when the
    null can lay out fewer distinct arrangements than ``1/alpha`` (it cannot separate the policy
    from its draws, so no p-value it gives means anything)."""
    row = _criterion(level, "timing_null_p", "timing-null p-value", m.get("timing_null_p"), "<=", alpha, "p",
                     "no timing-null draws in the fold results")
    arr = m.get("timing_null_arrangements_log10")
    if arr is not None and arr < math.log10(1.0 / alpha) - 1e-9:
        count = f"{10.0 ** arr:.0f}" if arr < 6 else f"1e{arr:.1f}"
        row.update(passed=False, text=f"timing null degenerate: it can lay out only {count} distinct arrangement(s) "
                                      f"of the policy's episodes, fewer than 1/alpha = {1.0 / alpha:.0f}, so it "
                                      "cannot separate the policy from its draws")
    return row


def criteria(m: Mapping[str, Any], th: VerdictThresholds) -> list[dict[str, Any]]:
    """Every criterion of every level for one symbol's stitched metrics (plus ``consistency``
    and ``folds``), in the order the reports show them."""
    out = [
        _trades_criterion(m, th.min_trades),
        _criterion("evidence", "folds", "completed test folds", m.get("folds"), ">=", th.min_folds, "int"),
    ]
    lo, hi = m.get("pf_ci_low"), m.get("pf_ci_high")
    note = m.get("pf_ci_note") or "no bootstrap interval"
    # many round trips and no loser: PF is inf and no resample can bound it; the policy is judged
    # on the rest of its evidence (its nulls, excess, deflated Sharpe) instead of INCONCLUSIVE
    no_loser = lo is None and m.get("pf") == math.inf and (m.get("trades") or 0) >= 2
    ci = {"level": "evidence", "name": "pf_interval", "label": "PF 95% interval", "value": None if lo is None else
          [lo, hi], "op": "defined", "threshold": None, "kind": "num", "passed": lo is not None or no_loser,
          "text": (f"PF 95% interval [{_fmt(lo, 'num')}, {_fmt(hi, 'num')}] defined" if lo is not None
                   else f"PF inf: {m.get('trades')} round trips, no loser (no interval needed)" if no_loser
                   else f"PF 95% interval undefined ({note})")}
    out.append(ci)
    for level in ("deploy", "paper"):
        g = lambda k: getattr(th, f"{level}_{k}")  # noqa: E731
        out += [
            _criterion(level, "consistency", "consistency", m.get("consistency"), ">=", g("consistency"), "pct",
                       "no completed fold"),
            _criterion(level, "pf", "profit factor", m.get("pf"), ">=", g("pf"), "num", "no closed trades"),
            _criterion(level, "max_drawdown", "max drawdown", m.get("max_drawdown"), "<=", g("max_drawdown"), "pct"),
            _null_criterion(level, m, g("null_alpha")),
            _criterion(level, "excess_p", "excess over exposure-matched buy & hold, p-value", m.get("excess_p"),
                       "<=", g("excess_alpha"), "p", "no exposure-matched buy and hold, or no variation"),
        ]
        if level == "deploy":
            out.append(_criterion(level, "dsr", "deflated Sharpe", m.get("dsr"), ">=", th.deploy_dsr, "p",
                                  "Sharpe undefined (no variation in returns)"))
    return out


def verdict(metrics: Mapping[str, Any], thresholds: VerdictThresholds | None = None) -> dict[str, Any]:
    """Verdict of one symbol from its stitched metrics plus ``consistency`` and ``folds``.

    Returns ``{"verdict", "reasons", "criteria", "not_judged", "not_deploy", "not_paper"}``;
    ``reasons`` is what keeps the symbol from the next level up (empty for DEPLOY), each
    ``not_*`` the failing criteria of that level as text, ``criteria`` the full table.
    """
    th = thresholds or VerdictThresholds()
    rows = criteria(metrics, th)
    failing = {level: [r["text"] for r in rows if r["level"] == level and not r["passed"]]
               for level in ("evidence", "deploy", "paper")}
    if failing["evidence"]:
        v, reasons = INCONCLUSIVE, [f"too little evidence: {r}" for r in failing["evidence"]]
    elif not failing["deploy"]:
        v, reasons = DEPLOY, []
    elif not failing["paper"]:
        v, reasons = PAPER, [f"not DEPLOY: {r}" for r in failing["deploy"]]
    else:
        v, reasons = DROP, [f"not PAPER: {r}" for r in failing["paper"]]
    return {"verdict": v, "reasons": reasons, "criteria": rows, "not_judged": failing["evidence"],
            "not_deploy": failing["deploy"], "not_paper": failing["paper"]}
