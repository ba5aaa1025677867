"""FGM adversarial augmentation on the input embeddings (Miyato et al. 2017 style, as CLLMFS uses it).

The clean pass runs on looked-up embeddings that require grad; after its backward, g = d loss / d embeds.
  target 'inputs':  perturbed embeds = embeds + epsilon * g / ||g||  (norm per sequence); the embedding
                    matrix is never written (right for LMs whose input and output embeddings are tied).
  target 'weights': classic FGM: the gradient scattered onto the embedding rows used, r = epsilon * G / ||G||
                    added to the matrix for the perturbed pass, the original rows copied back bit-exactly.
The caller adds the perturbed pass's SFT loss (its backward accumulates into the LoRA grads).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


def input_perturbation(embeds_grad: torch.Tensor, epsilon: float) -> torch.Tensor:
    """epsilon * g / ||g|| with the norm over each sequence (B, T, d); zero where g is zero."""
    norms = embeds_grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return epsilon * embeds_grad / norms.view(-1, 1, 1)


@contextlib.contextmanager
def perturbed_embedding_weights(embedding: torch.nn.Embedding, input_ids: torch.Tensor, embeds_grad: torch.Tensor,
                                epsilon: float) -> Iterator[None]:
    """Classic FGM: add epsilon * G / ||G|| to the embedding matrix inside the block, restore exactly after."""
    weight = embedding.weight
    grad = torch.zeros_like(weight)
    grad.index_add_(0, input_ids.reshape(-1), embeds_grad.reshape(-1, weight.shape[1]).to(weight.dtype))
    norm = grad.norm()
    backup = weight.detach().clone()
    try:
        if norm > 0:
            with torch.no_grad():
                weight.add_(epsilon * grad / norm)
        yield
    finally:
        with torch.no_grad():
            weight.copy_(backup)  # copy, not subtract: floating point add/sub would not be bit-exact
