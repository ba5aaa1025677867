"""CLLMFS constrained decoding and the mapping of answers back to spans."""
from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cllmfs_tiny import one_torch_thread, LABEL_SET, SUPPORT, tiny_method, tiny_tokenizer
from ner_fewshot.cllmfs.generation import RowDecoder, make_grammar
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


def run_decoder(words, scores_for_step, max_steps=80):
    """Constrained greedy decoding of one row where step t's logits come from `scores_for_step(t)`."""
    decoder = RowDecoder(make_grammar(ENCODER, words), ENCODER.eos_id)
    for step in range(max_steps):
        decoder.choose(scores_for_step(step)[0].log_softmax(-1))
        if decoder.done:
            break
    return decoder.tokens, decoder


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

    generated, decoder = run_decoder(words, scores)
    assert len(decoder.logprobs) == len(generated)
    assert all(lp <= 0 for lp in decoder.logprobs)
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
    generated, _ = run_decoder(words, lambda t: torch.nn.functional.one_hot(
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
    method = tiny_method(train_steps=1, generation_batch_size=3)
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


def test_the_rest_of_the_end_marker_is_forced_and_an_entity_is_never_cut():
    words = ("New", "York", ".")
    grammar = make_grammar(ENCODER, words)
    state = grammar.initial()
    assert grammar.forced_ending(state) is None  # open an entity or end: a real choice
    consumed, ending = [], None
    for token in ENCODER.end_ids:  # once the end marker is told apart from " <<<", the rest is forced
        state = grammar.step(state, token)
        consumed.append(token)
        if (ending := grammar.forced_ending(state)) is not None:
            break
    assert len(consumed) < len(ENCODER.end_ids)
    assert tuple(consumed) + ending == tuple(ENCODER.end_ids) + (ENCODER.eos_id,)
    state = grammar.initial()
    for token in ENCODER.open_ids + ENCODER.word_ids("New")[:1]:
        state = grammar.step(state, token)
    assert grammar.forced_ending(state) is None  # inside an entity nothing is appended unseen


def _greedy_without_cache(model, encoder, words, prompt, constrained=True, limit=40):
    """Reference: every step recomputes the whole unpadded sequence of one prompt."""
    decoder = RowDecoder(make_grammar(encoder, words) if constrained else None, encoder.eos_id)
    ids = list(prompt.ids)
    for _ in range(limit):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        ids.append(decoder.choose(logits.float().log_softmax(-1)))
        if decoder.done:
            break
    return decoder.tokens


@pytest.mark.parametrize("constrained", [True, False])
def test_batched_decoding_with_shared_instruction_cache_equals_unbatched_recomputation(constrained):
    from ner_fewshot.cllmfs.generation import GenerationStats, generate_answers
    from ner_fewshot.cllmfs.prompts import definition_of

    method = tiny_method(train_steps=2, generation_batch_size=2, constrained=constrained, max_new_tokens=12)
    method.fit(SUPPORT, LABEL_SET)
    queries = [("Mary", "met", "John", "Smith", "in", "New", "York", "."), ("Geneva", "."),
               ("The", "United", "Nations", "met", "in", "Geneva", "today", ".")]
    prompts = [(words, method.encoder.encode_prompt(words, t, definition_of(t))) for words in queries for t in LABEL_SET]
    stats = GenerationStats()
    answers = generate_answers(method.model, method.encoder, prompts, method.config, method.device, stats)
    for (words, prompt), answer in zip(prompts, answers):
        expected = _greedy_without_cache(method.model, method.encoder, words, prompt, constrained, limit=12)
        if expected and expected[-1] == ENCODER.eos_id:
            expected = expected[:-1]
        assert answer.text == decode(expected)
    assert stats.prompts == len(prompts) and 0.0 <= stats.first_open_rate <= 1.0


def test_empty_answer_none_is_the_only_way_to_say_nothing_after_opening():
    encoder = PromptEncoder(TOKENIZER, "plain", empty_answer="none")
    words = ("New", "York", ".")
    grammar = make_grammar(encoder, words)
    assert encoder.answer_ids([]) == encoder.open_ids + encoder.none_ids + encoder.close_ids + encoder.end_ids + (encoder.eos_id,)
    assert grammar.accepts(encoder.answer_ids([]))
    assert grammar.accepts(encoder.answer_ids([["New", "York"]]))
    assert not grammar.accepts(encoder.answer_ids([["New", "York"], ["none"]]))  # 'none' only as the whole answer
    state = grammar.initial()
    for token in encoder.open_ids + encoder.none_ids:
        state = grammar.step(state, token)
    assert grammar.forced_ending(state) == encoder.close_ids + encoder.end_ids + (encoder.eos_id,)
    text = decode(encoder.answer_ids([])[:-1])
    assert parse_answer(text, none_word="none") == [] and [s.words for s in parse_answer(text)] == [("none",)]
