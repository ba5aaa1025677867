"""LightNER details pinned against the authors' code (DeepKE's PromptBartDecoder, fastNLP greedy search):
the answer space's decoder inputs and one-sub-word labels, and the decoding length with its forced end."""
from __future__ import annotations

import pytest
import torch

from baselines.lightner.answer_space import AnswerSpace
from baselines.lightner.model import free_decoding_steps, reference_max_length
from baselines.lightner.targets import END, FIRST_LABEL, decode_output, pointer_offset
from ner_fewshot.data.types import Span
from test_lightner_support import one_thread, LABEL_SET, SUPPORT, sentence, tiny_checkpoint  # noqa: F401 (fixture)
from test_lightner_method import make

pytestmark = pytest.mark.usefixtures("one_thread")

EMBEDDINGS = torch.arange(40, dtype=torch.float32).view(10, 4)  # row i = [4i, 4i+1, 4i+2, 4i+3]


def test_weighted_space_feeds_the_first_sub_word_and_average_the_mean():
    sub_words = [(3,), (5, 7, 9)]
    weighted = AnswerSpace(["A", "B"], sub_words, "weighted", generator=torch.Generator().manual_seed(0))
    assert torch.equal(weighted.input_vectors(EMBEDDINGS), EMBEDDINGS[[3, 5]])  # DeepKE: mapping += id[:1]
    average = AnswerSpace(["A", "B"], sub_words, "average")
    assert torch.equal(average.input_vectors(EMBEDDINGS), torch.stack([EMBEDDINGS[3], EMBEDDINGS[[5, 7, 9]].mean(0)]))
    # The scored representation stays the softmax-weighted sum (weighted) / the mean (average).
    w = torch.softmax(weighted.label_weight(1).detach(), 0)
    assert torch.allclose(weighted.representations(EMBEDDINGS)[1], w @ EMBEDDINGS[[5, 7, 9]])
    assert torch.equal(average.representations(EMBEDDINGS), average.input_vectors(EMBEDDINGS))


def test_model_decoder_input_of_a_label_is_its_first_sub_word(tiny_checkpoint):
    method = make(tiny_checkpoint, epochs=0)
    method.fit(SUPPORT, LABEL_SET)
    model = method.model
    space = model.answer_space
    src_ids = torch.tensor([method.encoder.encode(SUPPORT[0]).token_ids])
    labels = torch.tensor([[FIRST_LABEL + i for i in range(len(LABEL_SET))]])
    scale = model.bart.get_input_embeddings().embed_scale or 1.0
    expected = model.embedding_matrix[[ids[0] for ids in space.sub_words]] * scale
    assert torch.allclose(model.decoder_inputs(labels, src_ids)[0], expected)


def test_one_sub_word_labels_get_no_weight():
    space = AnswerSpace(["A", "B", "C"], [(3,), (5, 7, 9), (8, 2)], "weighted", generator=torch.Generator().manual_seed(0))
    assert space.label_weight(0) is None and [w.numel() for w in space.weights] == [3, 2]
    assert space.trainable_count() == 5  # 3 + 2: the one-sub-word label counts nothing
    assert torch.equal(space.representations(EMBEDDINGS)[0], EMBEDDINGS[3])
    assert space.state()["weights"][0] is None
    # Save/load and transfer keep the weights of multi-sub-word labels and rebuild the rest.
    rebuilt = AnswerSpace.from_state(space.state())
    assert torch.equal(rebuilt.representations(EMBEDDINGS), space.representations(EMBEDDINGS))
    inherited = space.inheritable()
    target = AnswerSpace(["C", "A"], [(8, 2), (3,)], inherited=inherited)
    assert torch.equal(target.label_weight(0).detach(), space.label_weight(2).detach()) and target.label_weight(1) is None
    frozen = AnswerSpace(["A", "B"], [(3,), (5, 7)], "weighted", frozen_weights=True)
    assert frozen.trainable_count() == 0 and frozen.label_weight(1).numel() == 2


@pytest.mark.parametrize("length, ratio, expected", [
    (12, 0.8, 19), (10, 0.6, 16), (11, 0.6, 16),
    (90, 0.7, 73),  # float32 as the reference: 90 x 0.7 = 63.0000..., where float64 gives 62.99999...
])
def test_reference_max_length(length, ratio, expected):
    assert reference_max_length(length, 10, ratio) == expected
    assert free_decoding_steps(expected) == expected - 2 and free_decoding_steps(1) == 0


def _scripted(model, script):
    """Make the model choose `script[step]` at every decoding step (any sentence)."""
    calls = {"step": 0}

    def scores(hidden, encoder_out, src_ids, src_mask):
        width = pointer_offset(len(LABEL_SET)) + src_ids.shape[1]
        out = torch.zeros(hidden.shape[0], hidden.shape[1], width)
        out[:, :, script[min(calls["step"], len(script) - 1)]] = 1.0
        calls["step"] += 1
        return out

    model.scores = scores


@pytest.mark.parametrize("max_length, expected_spans", [
    # 5 free steps: the label at the last free step closes its entity, then end is forced.
    (7, [Span(0, 2, "PER"), Span(3, 4, "LOC")]),
    # 4 free steps: the second entity's pointer is pending when end is forced; it is dropped.
    (6, [Span(0, 2, "PER")]),
    # 7 free steps: two pointers of a third entity are pending at the forced end: dropped.
    (9, [Span(0, 2, "PER"), Span(3, 4, "LOC")]),
    # 8 free steps: that entity's label is the last free choice: kept.
    (10, [Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(5, 7, "PER")]),
])
def test_generation_stops_at_max_length_minus_two_with_a_forced_end(tiny_checkpoint, max_length, expected_spans):
    method = make(tiny_checkpoint, epochs=0)
    method.fit(SUPPORT, LABEL_SET)
    source = method.encoder.encode(SUPPORT[0])  # "Barack Obama visited Paris with Angela Merkel on Tuesday ."
    offset = pointer_offset(len(LABEL_SET))
    p = [offset + start for start in source.word_starts]
    per, loc = FIRST_LABEL + 0, FIRST_LABEL + 1
    _scripted(method.model, [p[0], p[1], per, p[3], loc, p[5], p[6], per, p[8], loc])
    src_ids = torch.tensor([source.token_ids])
    output = method.model.greedy_decode(src_ids, torch.ones_like(src_ids), [max_length])[0]
    assert len(output) == max_length - 1 and output[-1] == END  # max_length counts start and the forced end
    assert decode_output(output, source, LABEL_SET.names) == expected_spans


def test_an_end_chosen_before_the_limit_is_not_doubled(tiny_checkpoint):
    method = make(tiny_checkpoint, epochs=0)
    method.fit(SUPPORT, LABEL_SET)
    source = method.encoder.encode(SUPPORT[0])
    _scripted(method.model, [pointer_offset(len(LABEL_SET)) + 1, FIRST_LABEL, END])
    src_ids = torch.tensor([source.token_ids])
    assert method.model.greedy_decode(src_ids, torch.ones_like(src_ids), [20])[0] == [pointer_offset(3) + 1, FIRST_LABEL, END]
