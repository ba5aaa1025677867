"""Optimiser parameter groups: which trainable parameters get weight decay is the caller's explicit
choice, made once per method with a `no_decay(name)` rule, never re-implemented per method."""
from __future__ import annotations

from typing import Callable, Iterable

import torch


def bias_or_norm(name: str) -> bool:
    """The BERT / Few-NERD convention: no decay on biases and LayerNorm weights."""
    return name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name


def decay_everything(name: str) -> bool:
    """No exemption: every trainable parameter is decayed (e.g. the LightNER reference's optimiser)."""
    return False


def parameter_groups(named_parameters: Iterable[tuple[str, torch.nn.Parameter]], weight_decay: float, *,
                     no_decay: Callable[[str], bool]) -> list[dict]:
    """AdamW groups over the trainable parameters: `weight_decay` on each, except 0 where
    `no_decay(name)` holds. Frozen parameters are left out; an empty group is dropped."""
    decay, exempt = [], []
    for name, parameter in named_parameters:
        if parameter.requires_grad:
            (exempt if no_decay(name) else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]
