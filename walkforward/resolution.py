"""`auto` resolved once per run: the device and the training size every fold uses.

`models.config.auto_config` sizes training by the machine (CUDA tier by free GPU memory,
bf16 where the CPU multiplies it in hardware). Resolved per fold, a run resumed on another
machine could mix network sizes between folds (and warm start then fails); so a run
resolves once, records the result in its manifest (``resolution``) and in its fingerprint,
and every fold and every resume use the recorded resolution. A resume on a machine that
cannot honour it (no CUDA for a CUDA run, no native bf16 for a run trained with bf16 on a
CPU) is refused with what differs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from backtest.errors import ConfigError

#: Keys of the manifest entry.
MANIFEST_KEY = "resolution"


@dataclass(frozen=True)
class Resolution:
    """What ``auto`` became for one run."""

    device: str  # torch device of every fold ("cpu", "cuda", "cuda:1")
    trainer: dict  # the resolved `models.config.TrainConfig` as a dict, without the per-fold seed
    machine: dict  # what it was resolved on (shown, not compared): bf16 CPU, GPU name and free memory
    #: trainer settings that replace ``trainer``'s on a symbol with intraday bars (the mode's
    #: `models.config.intraday_settings` less those [trainer] sets); empty in runs made before it
    intraday: dict = dataclasses.field(default_factory=dict)

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    def identity(self) -> dict:
        """What results depend on (part of the run's fingerprint): device type and trainer (and
        the intraday settings when there are any, so older runs keep their fingerprint)."""
        out = {"device": self.device_type, "trainer": self.trainer}
        if self.intraday:
            out["intraday"] = self.intraday
        return out

    def train_config(self, seed: int, intraday: bool = False):
        """The fold's `TrainConfig`: the recorded one with the fold's seed, and the intraday
        settings on a symbol whose bars are shorter than a day."""
        from models.config import TrainConfig

        return TrainConfig.from_dict({**self.trainer, **(self.intraday if intraday else {}), "seed": int(seed)})

    def to_dict(self) -> dict:
        out = {"device": self.device, "trainer": dict(self.trainer), "machine": dict(self.machine)}
        if self.intraday:
            out["intraday"] = dict(self.intraday)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Resolution":
        if not isinstance(d, dict) or not isinstance(d.get("trainer"), dict) or not isinstance(d.get("device"), str):
            raise ConfigError(f"the run's recorded resolution {d!r} is malformed; start a new --out")
        intraday = d.get("intraday") or {}
        if not isinstance(intraday, dict):
            raise ConfigError(f"the run's recorded resolution {d!r} is malformed; start a new --out")
        return cls(d["device"], dict(d["trainer"]), dict(d.get("machine") or {}), dict(intraday))


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is refused."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available to torch here; use --device cpu or auto")
    return name


def machine() -> dict:
    """The facts `auto_config` reads, for the manifest."""
    import torch

    from models.config import cpu_has_native_bf16

    out = {"cpu_native_bf16": cpu_has_native_bf16(), "cuda": torch.cuda.is_available()}
    if out["cuda"]:
        free, total = torch.cuda.mem_get_info()
        out.update(gpu=torch.cuda.get_device_name(), gpu_free_gib=round(free / 2**30, 1),
                   gpu_total_gib=round(total / 2**30, 1))
    return out


def resolve(config) -> Resolution:
    """Resolve ``config`` (a `RunConfig`) on this machine: device, then the mode sized for it
    with the [trainer] overrides on top, and what the mode changes on intraday bars."""
    from models.config import auto_config, intraday_settings

    device = resolve_device(config.device)
    trainer = auto_config(device, config.mode, **config.trainer).to_dict()
    trainer.pop("seed")
    intraday = {k: v for k, v in intraday_settings(config.mode).items() if k not in config.trainer}
    return Resolution(device, trainer, machine(), intraday)


def check_honoured(recorded: Resolution, config) -> Resolution:
    """The recorded resolution, refused when this machine cannot train that way; the device
    index of a CUDA run follows ``--device`` when given."""
    import torch

    from models.config import cpu_has_native_bf16

    problems = []
    if recorded.device_type == "cuda" and not torch.cuda.is_available():
        problems.append("it trained on CUDA and this machine has no CUDA device")
    if config.device not in ("auto", recorded.device_type) and not config.device.startswith(recorded.device_type):
        problems.append(f"it trained on {recorded.device_type} and --device {config.device} was asked for")
    if recorded.device_type == "cpu" and recorded.trainer.get("amp") and not cpu_has_native_bf16():
        problems.append("it trained with bf16 matmul on a CPU that has it in hardware (AMX or AVX512-BF16), and "
                        "this CPU has not, so the remaining folds would train in float32")
    if problems:
        raise ConfigError(
            f"cannot resume {config.out!r} here: " + "; ".join(problems) + f" (recorded: device {recorded.device}, "
            f"n_envs {recorded.trainer.get('n_envs')}, hidden {recorded.trainer.get('hidden')}, amp "
            f"{recorded.trainer.get('amp')}); resume on a machine like the first one, or start a new --out")
    if recorded.device_type == "cuda" and config.device.startswith("cuda:"):
        return dataclasses.replace(recorded, device=config.device)
    return recorded


__all__ = ["MANIFEST_KEY", "Resolution", "check_honoured", "machine", "resolve", "resolve_device"]
