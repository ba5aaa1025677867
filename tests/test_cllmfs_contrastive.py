"""CLLMFS InfoNCE: value, positions, and where its gradient goes."""
from __future__ import annotations

import math

import pytest
import torch

from cllmfs_tiny import one_torch_thread, LABEL_SET, SUPPORT, tiny_method
from ner_fewshot.cllmfs.contrastive import ContrastivePositions, batch_info_nce, contrastive_positions, info_nce
from ner_fewshot.cllmfs.prompts import EncodedPrompt, build_examples
from ner_fewshot.data.types import Span


@pytest.fixture(autouse=True)
def _single_thread():
    with one_torch_thread():
        yield


def test_info_nce_equals_a_hand_computation():
    anchor_tokens = torch.tensor([[2.0, 0.0], [0.0, 2.0]])  # mean (1, 1) -> normalised (1, 1)/sqrt2
    positives = torch.tensor([[3.0, 3.0], [1.0, 0.0]])
    negatives = torch.tensor([[0.0, -5.0], [-1.0, 0.0], [1.0, 0.0]])
    tau = 0.5
    s = 1 / math.sqrt(2)
    neg = [-s, -s, s]  # cosines of the negatives with the anchor
    expected = []
    for cos_p in (1.0, s):
        logits = [cos_p / tau] + [c / tau for c in neg]
        expected.append(-cos_p / tau + math.log(sum(math.exp(x) for x in logits)))
    got = info_nce(anchor_tokens, positives, negatives, tau)
    assert torch.allclose(got, torch.tensor(expected), atol=1e-6)
    hidden = torch.zeros(1, 8, 2)
    hidden[0, [0, 1]] = anchor_tokens
    hidden[0, [2, 3]] = positives
    hidden[0, [4, 5, 6]] = negatives
    batch = batch_info_nce(hidden, [ContrastivePositions((0, 1), (2, 3), (4, 5, 6)), None], tau)
    assert math.isclose(batch.item(), sum(expected) / 2, rel_tol=1e-6)
    assert batch_info_nce(hidden, [None], tau) is None


def test_positions_first_last_tokens_and_negatives():
    # words -> tokens: w0 [10,12)  w1 [12,13)  w2 [13,16)  w3 [16,17)  w4 [17,19)
    prompt = EncodedPrompt(tuple(range(25)), (3, 4), ((10, 12), (12, 13), (13, 16), (16, 17), (17, 19)), 21)
    pos = contrastive_positions(prompt, [Span(1, 3, "X")], "non_entity")
    assert pos.anchor == (3, 4)
    assert pos.positives == (12, 15)  # first token of w1, last token of w2
    assert pos.negatives == (10, 11, 16, 17, 18)  # input tokens outside the entity, prompt tokens excluded
    boundary = contrastive_positions(prompt, [Span(1, 3, "X")], "boundary")
    assert boundary.negatives == (11, 16)  # last sub-word before, first sub-word after
    assert contrastive_positions(prompt, [], "non_entity") is None  # empty type: no positive
    whole = contrastive_positions(prompt, [Span(0, 5, "X")], "boundary")
    assert whole is None  # entity covers the sentence: nothing outside it


def test_gradient_reaches_only_lora_parameters():
    method = tiny_method()
    method._fresh_adapters()
    encoder = method.encoder
    example = [e for e in build_examples([SUPPORT[0]], LABEL_SET) if e.spans][0]
    encoded = encoder.encode_example(example)
    positions = contrastive_positions(encoded.prompt, encoded.spans)
    model = method.model
    model.train()
    out = model(input_ids=torch.tensor([encoded.ids]), output_hidden_states=True)
    loss = batch_info_nce(out.hidden_states[method.layer], [positions], tau=0.1)
    loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad and all("lora_" in n for n in with_grad)
    assert any("lora_B" in n for n in with_grad)
    assert all(p.grad is None for n, p in model.named_parameters() if "lora_" not in n)
