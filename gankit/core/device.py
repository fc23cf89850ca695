"""Device choice: ``auto`` picks CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

from gankit.core.errors import UsageError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
"""``--precision`` / ``--trainer.precision`` names -> the reduced dtype (None: float32)."""


def precision_dtype(precision: str) -> torch.dtype | None:
    """The dtype a precision name runs in (None for fp32); an unknown name is a usage error."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
"""The CPU features that decide training speed here (what benchmark figures are quoted with)."""


def cpu_flags(names: tuple[str, ...] = SPEED_FLAGS) -> list[str]:
    """Which of ``names`` this CPU reports in ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return []
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    present = set(line.split(":", 1)[-1].split())
    return [f for f in names if f in present]


def cpu_has_native_bf16() -> bool:
    return bool(cpu_flags(("avx512_bf16", "amx_bf16")))


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a device, failing clearly if it is not present."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise UsageError(f"unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' was asked for but no CUDA GPU is available")
    if kind == "mps" and not _mps_available():
        raise UsageError("device 'mps' was asked for but Apple MPS is not available")
    return torch.device(name)


def run_device(model: object, device: str | torch.device | None) -> torch.device:
    """Where an API function runs ``model``: ``device`` when one is given; otherwise where a
    module handed in already is (an API never moves a caller's model to a device nobody asked
    for); otherwise (a model it loads itself) ``auto``."""
    if device is not None:
        return device if isinstance(device, torch.device) else resolve_device(device)
    if isinstance(model, torch.nn.Module):
        tensor = next(iter(model.parameters()), None)
        if tensor is None:
            tensor = next(iter(model.buffers()), None)
        if tensor is not None:
            return tensor.device
    return resolve_device("auto")
