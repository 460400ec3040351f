"""Per-feature standardisation fitted on a fold's training segment only.

The mean and std come from rows ``[start, stop)`` of the raw feature matrix (the
training segment), so nothing from validation or test leaks into the scaling.
A feature that is (nearly) constant over the training rows keeps a std of 1: it is
centred but left in its raw units, instead of turning every later change into a
+-10 spike through a tiny floor. Values are clipped to +-``clip`` (10 by default).
Stored as plain float lists so a checkpoint loads with ``weights_only=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from backtest.errors import ConfigError

DEFAULT_CLIP = 10.0
#: Training-segment std below this counts as constant (the feature keeps std 1).
DEFAULT_MIN_STD = 1e-8


@dataclass(frozen=True, eq=False)
class Normaliser:
    """Fitted per-feature ``mean`` and ``std``; build with `Normaliser.fit`."""

    mean: np.ndarray
    """float64 [n_features]: training-segment means."""
    std: np.ndarray
    """float64 [n_features]: training-segment stds (1 where the feature was constant)."""
    clip: float = DEFAULT_CLIP
    """Normalised values are clipped to [-clip, clip]."""
    fit_range: tuple[int, int] | None = None
    """Rows ``[start, stop)`` the statistics came from (for audit)."""

    def __post_init__(self) -> None:
        mean = np.ascontiguousarray(self.mean, dtype=np.float64)
        std = np.ascontiguousarray(self.std, dtype=np.float64)
        if mean.ndim != 1 or mean.shape != std.shape:
            raise ConfigError(f"Normaliser: mean and std must be 1-D of equal length, got {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ConfigError("Normaliser: mean must be finite and std finite and > 0 (refit the normaliser)")
        if not self.clip > 0:
            raise ConfigError(f"Normaliser.clip must be > 0, got {self.clip!r}")
        mean.flags.writeable = False
        std.flags.writeable = False
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        if self.fit_range is not None:
            object.__setattr__(self, "fit_range", (int(self.fit_range[0]), int(self.fit_range[1])))

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        start: int = 0,
        stop: int | None = None,
        clip: float = DEFAULT_CLIP,
        min_std: float = DEFAULT_MIN_STD,
    ) -> "Normaliser":
        """Statistics of rows ``[start, stop)`` of ``features`` (float [T, n])."""
        f = np.asarray(features)
        if f.ndim != 2:
            raise ValueError(f"features must be 2-D [T, n_features], got shape {f.shape}")
        stop = f.shape[0] if stop is None else int(stop)
        start = int(start)
        if not 0 <= start < stop <= f.shape[0]:
            raise ConfigError(
                f"normaliser fit range [{start}, {stop}) must be non-empty and inside [0, {f.shape[0]}]"
            )
        rows = np.asarray(f[start:stop], dtype=np.float64)
        if not np.isfinite(rows).all():
            bad = np.flatnonzero(~np.isfinite(rows).all(axis=0)).tolist()
            raise ConfigError(f"normaliser fit rows [{start}, {stop}) contain NaN/inf in feature columns {bad}")
        mean = rows.mean(axis=0)
        std = rows.std(axis=0)
        std = np.where(std < min_std, 1.0, std)
        return cls(mean=mean, std=std, clip=float(clip), fit_range=(start, stop))

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def _check_width(self, n: int) -> None:
        if n != self.n_features:
            raise ValueError(f"feature matrix has {n} columns, the normaliser was fitted on {self.n_features}")

    def transform(self, features: np.ndarray) -> np.ndarray:
        """``clip((F - mean) / std, -clip, clip)`` as C-contiguous float64."""
        f = np.asarray(features, dtype=np.float64)
        self._check_width(f.shape[-1])
        out = np.subtract(f, self.mean)
        np.divide(out, self.std, out=out)
        np.clip(out, -self.clip, self.clip, out=out)
        return np.ascontiguousarray(out)

    def transform_tensor(self, features: Any, dtype: Any = None) -> Any:
        """Torch version of `transform`, computed in float64 then cast to ``dtype``
        (default: the input's dtype) so float32 tensors match ``transform(F).astype(float32)``."""
        import torch

        self._check_width(int(features.shape[-1]))
        x = features.to(torch.float64)
        mean = torch.from_numpy(self.mean.copy()).to(x.device)
        std = torch.from_numpy(self.std.copy()).to(x.device)
        out = torch.clamp((x - mean) / std, -self.clip, self.clip)
        return out.to(dtype or features.dtype)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "clip": float(self.clip),
            "fit_range": None if self.fit_range is None else list(self.fit_range),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Normaliser":
        fr = data.get("fit_range")
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float64),
            std=np.asarray(data["std"], dtype=np.float64),
            clip=float(data.get("clip", DEFAULT_CLIP)),
            fit_range=None if fr is None else (int(fr[0]), int(fr[1])),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Normaliser):
            return NotImplemented
        return (
            np.array_equal(self.mean, other.mean)
            and np.array_equal(self.std, other.std)
            and self.clip == other.clip
        )

    def __hash__(self) -> int:
        return hash((self.mean.tobytes(), self.std.tobytes(), self.clip))
