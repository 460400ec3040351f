"""DEPLOY / PAPER / DROP per symbol (DESIGN 3.8), with every failing reason spelled out.

A verdict is only as useful as its reasons: a PAPER verdict lists why it is not DEPLOY, a
DROP lists why it is not PAPER (and why not DEPLOY). Missing numbers (no trades, no random
baseline) fail the criterion that needs them, saying so, rather than passing silently.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from backtest.errors import ConfigError

DEPLOY, PAPER, DROP = "DEPLOY", "PAPER", "DROP"


@dataclass(frozen=True)
class VerdictThresholds:
    """Thresholds of the verdict; printed in every report."""

    deploy_consistency: float = 0.8  #: min share of profitable test folds for DEPLOY
    deploy_pf: float = 1.4  #: min profit factor of the stitched out-of-sample trades for DEPLOY
    deploy_max_drawdown: float = 0.10  #: max drawdown (fraction) allowed for DEPLOY
    deploy_random_percentile: float = 95.0  #: DEPLOY must beat this percentile of the random policy
    paper_consistency: float = 0.6  #: min share of profitable test folds for PAPER
    paper_pf: float = 1.1  #: min profit factor for PAPER
    paper_max_drawdown: float = 0.20  #: max drawdown (fraction) allowed for PAPER

    def __post_init__(self) -> None:
        for name in ("deploy_consistency", "paper_consistency", "deploy_max_drawdown", "paper_max_drawdown"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise ConfigError(f"VerdictThresholds.{name} must be a fraction in [0, 1], got {v!r}")
        for name in ("deploy_pf", "paper_pf"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
                raise ConfigError(f"VerdictThresholds.{name} must be a finite number >= 0, got {v!r}")
        p = self.deploy_random_percentile
        if not (isinstance(p, (int, float)) and 0.0 <= p <= 100.0):
            raise ConfigError(f"VerdictThresholds.deploy_random_percentile must be in [0, 100], got {p!r}")
        if self.deploy_pf < self.paper_pf or self.deploy_consistency < self.paper_consistency \
                or self.deploy_max_drawdown > self.paper_max_drawdown:
            raise ConfigError(
                "VerdictThresholds: DEPLOY must be at least as strict as PAPER "
                f"(got {self}); raise the deploy_* or relax the paper_* values"
            )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "VerdictThresholds":
        if not d:
            return cls()
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown verdict thresholds {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


def _fmt(x: Any) -> str:
    if x is None:
        return "undefined"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.3g}"


def _criteria(level: str, m: Mapping[str, Any], th: VerdictThresholds) -> list[str]:
    """Failing reasons of one level ('deploy' or 'paper'); empty when it passes."""
    cons, pf, mdd = m.get("consistency"), m.get("pf"), m.get("max_drawdown")
    min_c, min_pf, max_dd = (getattr(th, f"{level}_{k}") for k in ("consistency", "pf", "max_drawdown"))
    out = []
    if cons is None or cons < min_c:
        out.append(f"consistency {_fmt(cons)} < {min_c:g}")
    if pf is None:
        out.append(f"profit factor undefined (no closed trades) < {min_pf:g}")
    elif pf < min_pf:
        out.append(f"profit factor {_fmt(pf)} < {min_pf:g}")
    if mdd is None or mdd > max_dd:
        out.append(f"max drawdown {_fmt(mdd)} > {max_dd:g}")
    if level == "deploy":
        pct = m.get("random_percentile")
        if pct is None:
            out.append("no random-policy baseline to beat")
        elif pct < th.deploy_random_percentile:
            out.append(f"net return at random-policy percentile {pct:.1f} < {th.deploy_random_percentile:g}")
    return out


def verdict(metrics: Mapping[str, Any], thresholds: VerdictThresholds | None = None) -> dict[str, Any]:
    """Verdict of one symbol from its stitched metrics plus ``consistency``.

    Returns ``{"verdict": DEPLOY|PAPER|DROP, "reasons": [...], "not_deploy": [...],
    "not_paper": [...]}``; ``reasons`` is what keeps the symbol from the next level up
    (empty for DEPLOY).
    """
    th = thresholds or VerdictThresholds()
    not_deploy = _criteria("deploy", metrics, th)
    not_paper = _criteria("paper", metrics, th)
    if not not_deploy:
        v, reasons = DEPLOY, []
    elif not not_paper:
        v, reasons = PAPER, [f"not DEPLOY: {r}" for r in not_deploy]
    else:
        v, reasons = DROP, [f"not PAPER: {r}" for r in not_paper]
    return {"verdict": v, "reasons": reasons, "not_deploy": not_deploy, "not_paper": not_paper}
