"""LightNER's three prompt sets (encoder self-attention, decoder self-attention, decoder cross-attention).

Each set is `Embedding(prompt_len, d)` -> `Linear(d, mid)` -> tanh -> `Linear(mid, layers * 2 * d)`
(the prefix-tuning reparameterisation), reshaped into one key prefix and one value prefix per
layer of shape (heads, prompt_len, head_dim). The prompts do not depend on the input, so one
prefix serves the whole batch. After training, `fold()` turns a set into plain per-layer K/V
tensors (the MLP is then no longer needed).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .prefix_attention import DECODER_CROSS, DECODER_SELF, ENCODER_SELF, PROMPT_KINDS

LayerPrefixes = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: (key, value), each (heads, P, head_dim)


@dataclass(frozen=True)
class PromptShape:
    """Everything the prompt sets need to know about the backbone."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_heads: int
    decoder_heads: int

    @classmethod
    def from_bart_config(cls, config) -> "PromptShape":
        return cls(config.d_model, config.encoder_layers, config.decoder_layers,
                   config.encoder_attention_heads, config.decoder_attention_heads)

    def layers_and_heads(self, kind: str) -> tuple[int, int]:
        if kind == ENCODER_SELF:
            return self.encoder_layers, self.encoder_heads
        if kind in (DECODER_SELF, DECODER_CROSS):
            return self.decoder_layers, self.decoder_heads
        raise KeyError(f"unknown prompt kind {kind!r}; expected one of {list(PROMPT_KINDS)}")

    def folded_count(self, prompt_len: int) -> int:
        """Numbers in the folded K/V prompts: sum over the 3 sets of layers x 2 x prompt_len x d."""
        return sum(self.layers_and_heads(kind)[0] * 2 * prompt_len * self.d_model for kind in PROMPT_KINDS)


class PromptSet(nn.Module):
    """One prompt set: trainable prompt embeddings and the MLP that makes every layer's K/V prefix."""

    def __init__(self, prompt_len: int, d_model: int, mid_dim: int, n_layers: int, n_heads: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by {n_heads} heads")
        self.prompt_len, self.d_model, self.n_layers, self.n_heads = prompt_len, d_model, n_layers, n_heads
        self.embedding = nn.Embedding(prompt_len, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mid_dim), nn.Tanh(), nn.Linear(mid_dim, n_layers * 2 * d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self) -> LayerPrefixes:
        # (P, layers*2*d) -> (layers, 2, heads, P, head_dim)
        flat = self.dropout(self.mlp(self.embedding.weight))
        head_dim = self.d_model // self.n_heads
        per_layer = flat.view(self.prompt_len, self.n_layers, 2, self.n_heads, head_dim).permute(1, 2, 3, 0, 4)
        return [(per_layer[layer, 0], per_layer[layer, 1]) for layer in range(self.n_layers)]

    @torch.no_grad()
    def fold(self) -> torch.Tensor:
        """Plain K/V tensors (layers, 2, heads, P, head_dim): what inference needs, without the MLP."""
        was_training = self.training
        self.eval()
        prefixes = self.forward()
        self.train(was_training)
        return torch.stack([torch.stack(pair) for pair in prefixes]).clone()


class LightNERPrompts(nn.Module):
    """The three prompt sets, keyed by prompt kind."""

    def __init__(self, shape: PromptShape, prompt_len: int, mid_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        if prompt_len < 0:
            raise ValueError(f"prompt_len must be >= 0, got {prompt_len}")
        self.shape, self.prompt_len = shape, prompt_len
        self.sets = nn.ModuleDict({
            kind: PromptSet(prompt_len, shape.d_model, mid_dim, *shape.layers_and_heads(kind), dropout=dropout)
            for kind in PROMPT_KINDS
        })

    def forward(self) -> dict[str, LayerPrefixes]:
        return {kind: prompt_set() for kind, prompt_set in self.sets.items()}

    def fold(self) -> dict[str, torch.Tensor]:
        return {kind: prompt_set.fold() for kind, prompt_set in self.sets.items()}

    def folded_count(self) -> int:
        return self.shape.folded_count(self.prompt_len)


def folded_to_prefixes(folded: dict[str, torch.Tensor]) -> dict[str, LayerPrefixes]:
    """The inverse view of `fold()`: per-layer (key, value) pairs for `prefixes_applied`."""
    return {kind: [(tensor[layer, 0], tensor[layer, 1]) for layer in range(tensor.shape[0])]
            for kind, tensor in folded.items()}


def trainable_prompt_count(shape: PromptShape, prompt_len: int, mid_dim: int) -> int:
    """Parameters of the three prompt sets with their MLPs (closed form, no model needed)."""
    total = 0
    for kind in PROMPT_KINDS:
        layers, _ = shape.layers_and_heads(kind)
        out = layers * 2 * shape.d_model
        total += prompt_len * shape.d_model + (shape.d_model + 1) * mid_dim + (mid_dim + 1) * out
    return total
