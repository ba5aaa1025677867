"""CLLMFS constrained decoding and the mapping of answers back to spans."""
from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cllmfs_tiny import one_torch_thread, LABEL_SET, SUPPORT, tiny_method, tiny_tokenizer
from ner_fewshot.cllmfs.constrained import AnswerLogitsProcessor
from ner_fewshot.cllmfs.generation import make_grammar
from ner_fewshot.cllmfs.prompts import PromptEncoder
from ner_fewshot.cllmfs.spans import Candidate, align_tokens, candidates_for, occurrences, parse_answer, resolve_overlaps
from ner_fewshot.data.types import Sentence, Span

TOKENIZER = tiny_tokenizer()
ENCODER = PromptEncoder(TOKENIZER, "plain")
WORD_POOL = ["New", "York", "Geneva", "Smith", "Zurich", "met", "in", ".", "the", "<<<", ">>>", "U.S.", "im_end"]
WELL_FORMED = re.compile(r"( <<<( \S+)+ >>>)* <im_end>")


@pytest.fixture(autouse=True)
def _single_thread():
    with one_torch_thread():
        yield


def decode(ids):
    return TOKENIZER.decode(list(ids), clean_up_tokenization_spaces=False)


def run_processor(words, scores_for_step, max_steps=80):
    """Greedy decoding of one row where step t's logits come from `scores_for_step(t)`."""
    processor = AnswerLogitsProcessor([make_grammar(ENCODER, words)], 1, ENCODER.eos_id)
    ids = torch.zeros((1, 3), dtype=torch.long)  # stands in for the prompt
    for step in range(max_steps):
        token = processor(ids, scores_for_step(step)).argmax(dim=-1)
        ids = torch.cat([ids, token[:, None]], dim=1)
        if token.item() == ENCODER.eos_id:
            break
    processor.finish(ids)
    return ids[0, 3:].tolist(), processor


@settings(max_examples=80, deadline=None)
@given(words=st.lists(st.sampled_from(WORD_POOL), min_size=1, max_size=9), seed=st.integers(0, 2**31 - 1),
       end_bias=st.floats(0.0, 6.0))
def test_random_logits_can_only_produce_spans_of_the_input(words, seed, end_bias):
    generator = torch.Generator().manual_seed(seed)
    close_and_end = list(ENCODER.close_ids[-1:]) + list(ENCODER.end_ids) + [ENCODER.eos_id]

    def scores(step):
        logits = torch.randn(1, len(TOKENIZER), generator=generator) * 3
        logits[0, close_and_end] += end_bias  # sometimes finish early, sometimes build long answers
        return logits

    generated, processor = run_processor(words, scores)
    assert len(processor.token_logprobs[0]) == len(generated)
    assert all(lp <= 0 for lp in processor.token_logprobs[0])
    finished = generated[-1] == ENCODER.eos_id
    text = decode(generated[:-1] if finished else generated)
    if finished:
        assert WELL_FORMED.fullmatch(text), text
        assert make_grammar(ENCODER, words).accepts(generated)
    for predicted in parse_answer(text):
        assert occurrences(words, predicted.words), (words, predicted)


def test_forced_answers_with_repeated_words_and_subwords_map_to_all_occurrences():
    words = ("New", "York", "and", "New", "York", "City", ".")
    grammar = make_grammar(ENCODER, words)
    def answer(*entities):
        return list(ENCODER.answer_ids([e.split() for e in entities]))
    assert all(len(ENCODER.word_ids(w)) > 1 for w in ("York", "City"))  # sub-word splits
    assert grammar.accepts(answer("New York", "New York City"))
    assert grammar.accepts(answer("York City", "and New"))
    assert grammar.accepts(answer())  # the empty answer
    assert not grammar.accepts(answer("York and City"))  # not contiguous
    assert not grammar.accepts(answer("City New"))
    assert not grammar.accepts(answer("Boston"))
    assert not grammar.accepts(list(ENCODER.open_ids + ENCODER.close_ids + ENCODER.end_ids) + [ENCODER.eos_id])  # empty entity
    # greedy decoding that prefers a forced answer reproduces it, and the parse finds every occurrence
    target = answer("New York")
    generated, processor = run_processor(words, lambda t: torch.nn.functional.one_hot(
        torch.tensor([target[min(t, len(target) - 1)]]), len(TOKENIZER)).float() * 10)
    assert generated == target
    strings = parse_answer(decode(generated[:-1]))
    assert [s.words for s in strings] == [("New", "York")]
    found, missing = candidates_for(words, "LOC", strings)
    assert [c.span for c in found] == [Span(0, 2, "LOC"), Span(3, 5, "LOC")] and missing == 0


def test_overlaps_resolved_longest_first_then_by_score():
    spans = resolve_overlaps([
        Candidate(Span(3, 5, "LOC"), -0.1), Candidate(Span(0, 2, "LOC"), -0.1),
        Candidate(Span(3, 6, "ORG"), -9.0),  # longest wins even with a worse score
        Candidate(Span(0, 2, "PER"), -0.5),  # same length as LOC (0, 2): the better score (LOC) wins
        Candidate(Span(6, 7, "PER"), -1.0),
    ])
    assert spans == [Span(0, 2, "LOC"), Span(3, 6, "ORG"), Span(6, 7, "PER")]


def test_parse_answer_ignores_text_after_the_end_marker_and_unterminated_entities():
    text = " <<< New York >>> <<< Geneva >>> <im_end> <<< Paris >>>"
    assert [s.words for s in parse_answer(text)] == [("New", "York"), ("Geneva",)]
    assert [s.words for s in parse_answer(" <<< New York >>> <<< Gen")] == [("New", "York")]
    # tokens " <<<" (-1), " A" (-2), " >>>" (-3), " <im_end>" (-4): the entity scores its first three tokens
    ids = list(ENCODER.open_ids + ENCODER.word_ids("A") + ENCODER.close_ids + ENCODER.end_ids)
    sizes = [len(ENCODER.open_ids), len(ENCODER.word_ids("A")), len(ENCODER.close_ids), len(ENCODER.end_ids)]
    logprobs = [v / n for v, n in zip((-1.0, -2.0, -3.0, -4.0), sizes) for _ in range(n)]
    text, alignment = align_tokens(TOKENIZER, ids, logprobs)
    assert text == " <<< A >>> <im_end>"
    [scored] = parse_answer(text, alignment)
    assert scored.words == ("A",) and abs(scored.score - -6.0) < 1e-9


def test_batched_generation_with_a_tiny_model_only_predicts_input_spans():
    method = tiny_method(max_steps=1, generation_batch_size=3)
    method.fit(SUPPORT, LABEL_SET)
    queries = [Sentence(("Mary", "met", "John", "Smith", "in", "New", "York", ".")),
               Sentence(("Geneva", "Geneva", ".")), Sentence(("The", "United", "Nations", "met", "."))]
    predictions = method.predict(queries)
    assert len(predictions) == 3
    for sentence, spans in zip(queries, predictions):
        for span in spans:
            assert span.end <= len(sentence) and span.label in LABEL_SET
        assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))  # sorted, no overlaps
    assert method.unmatched_strings == 0
    assert method.generation_stats.prompts == 9
