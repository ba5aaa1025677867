"""Prompt-guided attention: prefixes enter all three attention kinds, at every decoding step, with
correct masks; zero-length prompts leave BART exactly as it was."""
from __future__ import annotations

import copy

import pytest
import torch

from baselines.lightner.answer_space import AnswerSpace, label_sub_words
from baselines.lightner.model import LightNERModel
from baselines.lightner.prefix_attention import PROMPT_KINDS, prefixes_applied
from baselines.lightner.prompts import LightNERPrompts, PromptShape, folded_to_prefixes
from baselines.lightner.targets import SourceEncoder, encode_target
from baselines.lightner.training import pad_sources, pad_targets
from test_lightner_support import one_thread, LABEL_SET, SUPPORT, build_tokenizer, tiny_bart_config  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("tok"))


def build(tokenizer, prompt_len: int, seed: int = 0):
    from transformers import BartForConditionalGeneration

    torch.manual_seed(seed)
    bart = BartForConditionalGeneration(tiny_bart_config(len(tokenizer))).eval()
    plain = copy.deepcopy(bart)
    prompts = LightNERPrompts(PromptShape.from_bart_config(bart.config), prompt_len, mid_dim=16)
    model = LightNERModel(bart, prompts, bos_id=0, eos_id=2, dropout=0.3)
    encoder = SourceEncoder(tokenizer)
    model.set_answer_space(AnswerSpace(LABEL_SET.names, label_sub_words(LABEL_SET, encoder.word_ids),
                                       generator=torch.Generator().manual_seed(0)))
    return model.eval(), plain, encoder


def batch(encoder, sentences):
    index = {n: i for i, n in enumerate(LABEL_SET.names)}
    sources = [encoder.encode(s) for s in sentences]
    src_ids, src_mask = pad_sources(sources, 1, "cpu")
    targets = pad_targets([encode_target(src, s.spans, index) for src, s in zip(sources, sentences)], "cpu")
    return src_ids, src_mask, targets


def test_zero_length_prompts_reproduce_the_plain_model(tokenizer):
    model, plain, encoder = build(tokenizer, prompt_len=0)
    src_ids, src_mask, targets = batch(encoder, SUPPORT)  # padded batch: masks matter
    with torch.no_grad():
        ours = model.teacher_forced_scores(src_ids, src_mask, targets)
        inputs = model.decoder_inputs(targets[:, :-1].masked_fill(targets[:, :-1] < 0, 1), src_ids)
        encoder_out = plain.get_encoder()(input_ids=src_ids, attention_mask=src_mask).last_hidden_state
        hidden = plain.get_decoder()(inputs_embeds=inputs, encoder_hidden_states=encoder_out,
                                     encoder_attention_mask=src_mask).last_hidden_state
        reference = model.scores(hidden, encoder_out, src_ids, src_mask)
        # and BART's own LM logits, through the whole HF forward
        with prefixes_applied(model.bart, model.prompts()):
            lm = model.bart(input_ids=src_ids, attention_mask=src_mask, decoder_input_ids=src_ids).logits
        lm_plain = plain(input_ids=src_ids, attention_mask=src_mask, decoder_input_ids=src_ids).logits
    assert torch.allclose(ours, reference, atol=1e-6, rtol=0)
    assert torch.allclose(lm, lm_plain, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", PROMPT_KINDS)
def test_each_prompt_set_reaches_its_attention(tokenizer, kind):
    model, _, encoder = build(tokenizer, prompt_len=4)
    src_ids, src_mask, targets = batch(encoder, SUPPORT[:2])
    with torch.no_grad():
        before = model.teacher_forced_scores(src_ids, src_mask, targets)
        model.prompts.sets[kind].mlp[2].bias.add_(0.5)
        after = model.teacher_forced_scores(src_ids, src_mask, targets)
    valid = targets[:, 1:] >= 0
    changed = (after - before).abs().amax(dim=-1)[valid]
    assert bool((changed > 1e-4).all()), f"{kind} prompts did not change every target step"


def test_prefixes_apply_at_every_decoding_step_and_cache_matches_recomputation(tokenizer):
    model, _, encoder = build(tokenizer, prompt_len=5, seed=3)
    src_ids, src_mask, _ = batch(encoder, SUPPORT)
    limits = [12] * len(SUPPORT)
    cached = model.greedy_decode(src_ids, src_mask, limits, use_cache=True)
    recomputed = model.greedy_decode(src_ids, src_mask, limits, use_cache=False)
    assert cached == recomputed
    # Per-step scores of the cached run equal a full teacher-forced pass over the generated sequence,
    # and differ from the same pass with the decoder prompts removed, at every step.
    row = max(range(len(cached)), key=lambda r: len(cached[r]))
    generated = torch.tensor([[0] + cached[row]])
    src, mask = src_ids[row : row + 1], src_mask[row : row + 1]
    with torch.no_grad():
        full = model.teacher_forced_scores(src, mask, generated)
        assert full.argmax(-1)[0].tolist()[:-1] == cached[row][:-1]  # the last index may be a forced end
        for kind in ("decoder_self", "decoder_cross"):
            model.prompts.sets[kind].mlp[2].weight.zero_()
            model.prompts.sets[kind].mlp[2].bias.zero_()
            model.prompts.sets[kind].embedding.weight.zero_()
        without = model.teacher_forced_scores(src, mask, generated)
    assert len(cached[row]) >= 3
    per_step = (full - without).abs().amax(dim=-1)[0]
    assert bool((per_step > 1e-4).all())


def test_padding_in_a_batch_does_not_change_a_sentence(tokenizer):
    model, _, encoder = build(tokenizer, prompt_len=3, seed=5)
    short = SUPPORT[2]
    alone_ids, alone_mask, alone_targets = batch(encoder, [short])
    ids, mask, targets = batch(encoder, [SUPPORT[1], short])
    with torch.no_grad():
        alone = model.teacher_forced_scores(alone_ids, alone_mask, alone_targets)[0]
        together = model.teacher_forced_scores(ids, mask, targets)[1]
    steps, width = alone.shape[0], alone.shape[1]
    assert torch.allclose(alone, together[:steps, :width], atol=1e-5)
    assert bool((together[:steps, width:] < -1e20).all())  # padding positions are never valid pointers
    limits = [15]
    assert model.greedy_decode(alone_ids, alone_mask, limits) == model.greedy_decode(ids, mask, [15, 15])[1:]


def test_folded_prompts_give_the_same_scores_as_the_mlp(tokenizer):
    model, _, encoder = build(tokenizer, prompt_len=4, seed=7)
    src_ids, src_mask, targets = batch(encoder, SUPPORT[:2])
    folded = model.prompts.fold()
    assert {k: tuple(v.shape) for k, v in folded.items()} == {k: (2, 2, 4, 4, 8) for k in PROMPT_KINDS}
    assert sum(v.numel() for v in folded.values()) == model.prompts.folded_count() == 3 * 2 * 2 * 4 * 32
    with torch.no_grad():
        expected = model.teacher_forced_scores(src_ids, src_mask, targets)
        inputs = model.decoder_inputs(targets[:, :-1].masked_fill(targets[:, :-1] < 0, 1), src_ids)
        with prefixes_applied(model.bart, folded_to_prefixes(folded)):
            encoder_out = model.encode(src_ids, src_mask)
            hidden = model.decode_states(inputs, encoder_out, src_mask).last_hidden_state
        from_folded = model.scores(hidden, encoder_out, src_ids, src_mask)
    assert torch.allclose(expected, from_folded, atol=1e-6)
