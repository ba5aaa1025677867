"""Batching and the optimisation loop: AdamW without schedule on the prompts and answer-space weights."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ner_fewshot.methods.batching import pad_batch
from ner_fewshot.methods.optim import decay_everything, parameter_groups

from .model import LightNERModel
from .targets import EncodedSource


def pad_sources(sources: Sequence[EncodedSource], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_batch([s.token_ids for s in sources], pad_id, device=device)


def pad_targets(targets: Sequence[Sequence[int]], device) -> torch.Tensor:
    return pad_batch(targets, -100, device=device)[0]


def trainable_parameters(model: LightNERModel) -> list[tuple[str, nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def make_optimizer(model: LightNERModel, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on every trained parameter: the reference decays all its non-BART parameters
    (prompt embeddings, MLP weights and biases) at 1e-2; only BART's own LayerNorms go undecayed there, and
    BART is frozen here."""
    groups = parameter_groups(trainable_parameters(model), weight_decay, no_decay=decay_everything)
    return torch.optim.AdamW(groups, lr=learning_rate)


def train_epochs(model: LightNERModel, examples: Sequence[tuple[EncodedSource, list[int]]], *, epochs: int,
                 batch_size: int, learning_rate: float, weight_decay: float, pad_id: int,
                 generator: torch.Generator, after_epoch: Callable[[int], None] | None = None,
                 progress=None) -> list[float]:
    """Train for `epochs` over shuffled batches; returns the mean loss of each epoch."""
    if not examples:
        raise ValueError("LightNER got no training sentences (after the protocol's filtering)")
    device = model.embedding_matrix.device
    optimizer = make_optimizer(model, learning_rate, weight_decay)
    losses = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(examples), generator=generator).tolist()
        total, batches = 0.0, 0
        for first in range(0, len(order), batch_size):
            chunk = [examples[i] for i in order[first : first + batch_size]]
            src_ids, src_mask = pad_sources([source for source, _ in chunk], pad_id, device)
            loss = model.loss(src_ids, src_mask, pad_targets([target for _, target in chunk], device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        losses.append(total / batches)
        if progress is not None:
            progress(epoch, losses[-1])
        if after_epoch is not None:
            after_epoch(epoch)
    model.eval()
    return losses
