"""Padding variable-length id lists into one batch tensor: written once, used by every method."""
from __future__ import annotations

from typing import Sequence

import torch

SIDES = ("right", "left")


def pad_batch(rows: Sequence[Sequence[int]], pad_value: int, *, side: str = "right", device=None,
              dtype: torch.dtype = torch.long) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, mask), both (len(rows), longest row): each row's values at the start ("right" padding,
    for training and encoders) or at the end ("left" padding, for batched generation), `pad_value`
    elsewhere; `mask` is 1 on real positions, 0 on padding. Labels padded with -100 are a second call
    with pad_value=-100 (the mask is the same)."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if not rows:
        raise ValueError("pad_batch needs at least one row")
    width = max(len(row) for row in rows)
    values = torch.full((len(rows), width), pad_value, dtype=dtype)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        if not len(row):
            continue
        where = slice(0, len(row)) if side == "right" else slice(width - len(row), width)
        values[index, where] = torch.as_tensor(row, dtype=dtype)
        mask[index, where] = 1
    if device is not None:
        values, mask = values.to(device), mask.to(device)
    return values, mask
