"""CLLMFS FGM: the perturbation's size, and the embedding matrix left bit-identical."""
from __future__ import annotations

import pytest
import torch

from cllmfs_tiny import one_torch_thread, LABEL_SET, SUPPORT, tiny_method
from ner_fewshot.cllmfs.adversarial import input_perturbation, perturbed_embedding_weights


@pytest.fixture(autouse=True)
def _single_thread():
    with one_torch_thread():
        yield


def test_input_perturbation_has_norm_epsilon_per_sequence():
    grad = torch.randn(3, 5, 4)
    grad[2] = 0.0  # a sequence with no gradient gets no perturbation (no division by zero)
    delta = input_perturbation(grad, 0.7)
    norms = delta.flatten(1).norm(dim=1)
    assert torch.allclose(norms[:2], torch.tensor([0.7, 0.7]), atol=1e-6)
    assert norms[2] == 0
    assert torch.allclose(delta[0] / delta[0].norm(), grad[0] / grad[0].norm(), atol=1e-6)


def test_weight_perturbation_is_applied_inside_and_restored_bit_exactly():
    embedding = torch.nn.Embedding(11, 4)
    embedding.weight.requires_grad_(False)
    before = embedding.weight.detach().clone()
    ids = torch.tensor([[1, 3, 3], [5, 1, 0]])
    grad = torch.randn(2, 3, 4)
    with perturbed_embedding_weights(embedding, ids, grad, 0.5):
        changed = embedding.weight.detach().clone()
    assert torch.equal(embedding.weight, before)  # bit-identical, not just close
    moved = (changed - before).abs().sum(dim=1) > 0
    assert moved.tolist() == [i in (0, 1, 3, 5) for i in range(11)]  # only the rows used
    assert torch.isclose((changed - before).norm(), torch.tensor(0.5), atol=1e-5)


@pytest.mark.parametrize("target", ["inputs", "weights"])
def test_fgm_training_leaves_the_embedding_matrix_bit_identical(target):
    method = tiny_method(adversarial=True, adversarial_target=target, adversarial_epsilon=5.0, epochs=1)
    embedding = method.base_model.get_input_embeddings().weight
    before = embedding.detach().clone()
    method.fit(SUPPORT, LABEL_SET)
    log = method.training_log
    assert all(a > 0 for a in log.adversarial)  # the perturbed pass ran every step
    assert torch.equal(method.model.get_input_embeddings().weight, before)
    assert any(p.abs().sum() > 0 for n, p in method.model.named_parameters() if "lora_B" in n)  # LoRA did train
