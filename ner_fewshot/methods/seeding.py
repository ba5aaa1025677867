"""Seeded randomness that leaves torch's global RNG as it was found.

A method that reseeds the global generator changes what every later method (and the harness) draws:
the order methods run in would then change their results. Methods draw from their own
`torch.Generator` where an API takes one (`generator(seed)`), and wrap everything else that draws from
the global generator (dropout masks, parameter initialisation) in `isolated_rng(seed)`.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A private generator seeded with `seed` (for randperm, randn, dropout-free sampling, ...)."""
    return torch.Generator(device=device).manual_seed(seed)


@contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Inside: torch's global RNG (CPU and every CUDA device) seeded with `seed`. After: restored exactly,
    whether the block returns or raises."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
