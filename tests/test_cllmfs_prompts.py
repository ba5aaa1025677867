"""CLLMFS SFT text and its token layout."""
from __future__ import annotations

import pytest

from cllmfs_tiny import CHAT_TEMPLATE, LABEL_SET, SUPPORT, tiny_tokenizer
from ner_fewshot.cllmfs.prompts import PromptEncoder, build_examples
from ner_fewshot.data.types import Sentence, Span

PREFIX = "<im_start> I can extract entities for you, the extracted entities are"


def test_sft_text_matches_the_paper_for_two_types_and_an_empty_type():
    examples = build_examples([SUPPORT[0]], LABEL_SET)  # PER and LOC present, ORG absent
    assert [e.entity_type.name for e in examples] == ["PER", "LOC", "ORG"]
    per, loc, org = examples
    assert per.instruction == ("Please extract the entity of person in the input sentence given below, the entity of "
                               "person refers to names of people in the input sentence.")
    assert per.input == "John Smith flew from New York to Paris ."
    assert per.output == PREFIX + " <<< John Smith >>> <im_end>"
    assert loc.output == PREFIX + " <<< New York >>> <<< Paris >>> <im_end>"
    assert org.instruction.endswith("the entity of organisation refers to names of companies and institutions "
                                    "in the input sentence.")
    assert org.output == PREFIX + " <im_end>"  # the documented explicit empty answer


def test_support_types_outside_the_label_set_are_an_error_naming_the_sentence():
    bad = Sentence(("Acme", "rocks"), (Span(0, 1, "PRODUCT"),), "support.txt:7")
    with pytest.raises(ValueError, match="support.txt:7.*PRODUCT"):
        build_examples([bad], LABEL_SET)


@pytest.mark.parametrize("template", [None, CHAT_TEMPLATE])
def test_token_layout_decodes_to_the_text_and_positions_point_at_the_right_tokens(template):
    tokenizer = tiny_tokenizer(chat_template=template)
    encoder = PromptEncoder(tokenizer, "auto", system_prompt=None)
    assert encoder.layout == ("plain" if template is None else "chat")
    example = build_examples([SUPPORT[0]], LABEL_SET)[1]  # LOC: two entities
    encoded = encoder.encode_example(example)
    decode = lambda ids: tokenizer.decode(list(ids), clean_up_tokenization_spaces=False)
    text = decode(encoded.ids)
    assert example.instruction + "\n" in text
    assert text.endswith(example.instruction[-20:] + ("\n\n### Input:\n" if template is None else "\n") + example.input
                         + ("\n\n### Response:\n" if template is None else "\nassistant: ") + example.output + "<eos>")
    prompt = encoded.prompt
    assert decode(encoded.ids[prompt.answer_start:]) == example.output + "<eos>"
    assert decode(encoded.ids[: prompt.answer_start + len(encoder.prefix_ids)]) == decode(prompt.ids)
    assert decode(prompt.ids[i] for i in prompt.type_positions) == " location location"
    for word, (start, end) in zip(example.sentence.words, prompt.word_offsets):
        assert decode(prompt.ids[start:end]).strip() == word
    assert any(end - start > 1 for start, end in prompt.word_offsets), "the test needs words split into sub-words"
    # default loss: exactly the tokens after the fixed answer prefix (the prefix is prompt at decoding time)
    assert [i for i, keep in enumerate(encoded.label_mask) if keep] == list(range(len(prompt.ids), len(encoded.ids)))
    assert decode(encoded.ids[len(prompt.ids):]) == example.output[len(PREFIX):] + "<eos>"
    # loss_on="answer" (the paper's SFT target): the fixed prefix carries labels too
    whole_answer = encoder.encode_example(example, loss_on="answer")
    assert [i for i, keep in enumerate(whole_answer.label_mask) if keep] == list(range(prompt.answer_start, len(encoded.ids)))
    everything = encoder.encode_example(example, loss_on="all")
    assert sum(everything.label_mask) == len(everything.ids) - 1


def test_too_long_example_is_an_error_not_a_truncation():
    encoder = PromptEncoder(tiny_tokenizer(), "plain")
    example = build_examples([SUPPORT[0]], LABEL_SET)[0]
    with pytest.raises(ValueError, match="max_length"):
        encoder.encode_example(example, max_length=20)
