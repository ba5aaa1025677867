"""Process-wide settings resolved from the environment: data directory, cache directory, device."""
from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "NER_FEWSHOT_DATA"
CACHE_ENV = "NER_FEWSHOT_CACHE"


def data_dir(override: str | os.PathLike | None = None) -> Path | None:
    """The local data folder: `override` (a --data-dir flag), else $NER_FEWSHOT_DATA, else None."""
    value = override if override is not None else os.environ.get(DATA_ENV)
    return Path(value).expanduser().resolve() if value else None


def cache_dir() -> Path:
    """Where derived artefacts live (converted weights): $NER_FEWSHOT_CACHE or ~/.cache/ner-fewshot."""
    value = os.environ.get(CACHE_ENV)
    base = Path(value) if value else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ner-fewshot"
    base.mkdir(parents=True, exist_ok=True)
    return base


def resolve_device(device: str = "auto"):
    """'auto' -> CUDA when available, else CPU; anything else is passed to torch.device."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def preferred_dtype(device) -> "object":
    """bf16 on GPUs that support it, fp32 elsewhere (CPU bf16 matmuls are slow and lossy here)."""
    import torch

    if getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def check_device(device: str) -> None:
    """Raise ValueError, with the fix, unless `device` is 'auto' or a device this machine has."""
    if device == "auto":
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a device name; use auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cpu":
        return
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {device!r}: this machine has no usable CUDA device; use cpu or auto")
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"device {device!r}: this machine has {count} CUDA device(s) (cuda:0 to cuda:{count - 1})")
        return
    if parsed.type == "mps" and torch.backends.mps.is_available():
        return
    raise ValueError(f"device {device!r} is not available here; use auto, cpu or cuda")
