"""LightNER against the authors' code: the shared reference's `lightner-golden` cases (a tiny random BART, fixed
prompts and inputs, run through the reference) loaded into the suite's own LightNER.

The reference's BART is saved as a checkpoint folder with its tokenizer and loaded by `LightNER.prepare()`;
its prompt sets and answer-space weights replace the seeded ones; sources and targets come from the suite's
own encoders. Then ids, teacher-forced scores, masked entries and greedy outputs must all agree.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.lightner.method import LightNER, LightNERConfig
from baselines.lightner.model import reference_max_length
from baselines.lightner.targets import END, decode_output, encode_target
from baselines.lightner.training import pad_sources, pad_targets
from ner_fewshot.data.conll import read_conll
from ner_fewshot.data.types import EntityType, LabelSet

CASES = ("random-prompts", "trained-prompts")
VALID = -1e20  # the reference masks with about -1e24, the suite with -1e30: anything above is a real score
SCORE_TOLERANCE = 1e-4

pytestmark = pytest.mark.usefixtures("one_thread")


def load_case(reference: Path, name: str, folder: Path):
    """(method, golden arrays, golden json, sentences): the case's BART + tokenizer saved as a checkpoint
    folder, loaded by LightNER.prepare(), with the case's prompts and answer-space weights."""
    from transformers import BartConfig, BartForConditionalGeneration

    case = reference / "lightner-golden" / name
    config = BartConfig(**json.loads((case / "bart_config.json").read_text()))
    bart = BartForConditionalGeneration(config)
    weights = np.load(case / "bart_weights.npz")
    bart.model.load_state_dict({key: torch.from_numpy(weights[key]) for key in weights.files}, strict=True)
    bart.save_pretrained(folder)
    for file in (case / "tok").iterdir():
        shutil.copy(file, folder / file.name)

    labels = json.loads((case / "labels.json").read_text())
    label_set = LabelSet(tuple(EntityType(name, (word,), f"{name} entity")
                               for name, word in zip(labels["names"], labels["words"])))
    sentences = read_conll(case / "sentences.txt", scheme="iob2", strict=True).sentences
    method = LightNER(LightNERConfig(backbone=str(folder), prompt_len=labels["prompt_len"],
                                     prompt_mid_dim=labels["mid"], dropout=0.0, epochs=0,
                                     max_len_base=10, max_len_ratio=0.8))
    method.prepare()
    method.fit(sentences, label_set)  # zero epochs: the episode's answer space, from the suite's own encoder
    space = method.model.answer_space
    assert [list(ids) for ids in space.sub_words] == labels["sub_words"]
    prompts = np.load(case / "prompts.npz")
    method.model.prompts.load_state_dict({key: torch.from_numpy(prompts[key]) for key in prompts.files}, strict=True)
    with torch.no_grad():
        for index, values in enumerate(labels["weights"]):
            weight = space.label_weight(index)
            assert (weight is None) == (values is None)  # weights exactly for the multi-sub-word labels
            if weight is not None:
                weight.copy_(torch.tensor(values))
    method.model.eval()
    return method, np.load(case / "deepke_out.npz"), json.loads((case / "deepke_out.json").read_text()), sentences


@pytest.fixture(scope="module", params=CASES)
def case(request, shared_reference, tmp_path_factory):
    return load_case(shared_reference, request.param, tmp_path_factory.mktemp(request.param))


def encoded(method, sentences):
    sources = [method.encoder.encode(sentence) for sentence in sentences]
    index = {name: i for i, name in enumerate(method.label_set.names)}
    targets = [encode_target(source, sentence.spans, index) for source, sentence in zip(sources, sentences)]
    return sources, targets


def test_source_and_target_ids_equal_the_reference(case):
    method, golden, golden_json, sentences = case
    sources, targets = encoded(method, sentences)
    src_ids, _ = pad_sources(sources, method.pad_id, "cpu")
    assert src_ids.tolist() == golden["src_tokens"].tolist()
    assert targets == golden_json["tgt_tokens"]


def test_teacher_forced_scores_and_masks_equal_the_reference(case):
    method, golden, golden_json, sentences = case
    sources, targets = encoded(method, sentences)
    src_ids, src_mask = pad_sources(sources, method.pad_id, "cpu")
    with torch.no_grad():
        scores = method.model.teacher_forced_scores(src_ids, src_mask, pad_targets(targets, "cpu")).numpy()
    reference = golden["logits"]
    for row, target in enumerate(targets):
        steps = len(target) - 1  # scores of target steps 1.. (padded steps are no one's output)
        ours, theirs = scores[row, :steps], reference[row, :steps]
        assert np.array_equal(ours > VALID, theirs > VALID), f"sentence {row}: masked entries differ"
        valid = theirs > VALID
        assert np.abs(ours[valid] - theirs[valid]).max() < SCORE_TOLERANCE, f"sentence {row}"
    # The <s> pointer (source position 0, output index 2 + labels) is masked at every step, as the reference.
    first_pointer = 2 + len(method.label_set.names)
    assert (scores[:, :, first_pointer] < VALID).all()


def test_teacher_forced_loss_equals_the_reference(case):
    method, _, golden_json, sentences = case
    sources, targets = encoded(method, sentences)
    src_ids, src_mask = pad_sources(sources, method.pad_id, "cpu")
    with torch.no_grad():
        loss = float(method.model.loss(src_ids, src_mask, pad_targets(targets, "cpu")))
    assert loss == pytest.approx(golden_json["loss"], abs=1e-4)


def test_greedy_outputs_equal_the_reference(case):
    method, golden, _, sentences = case
    sources, _ = encoded(method, sentences)
    src_ids, src_mask = pad_sources(sources, method.pad_id, "cpu")
    limits = [reference_max_length(len(source.token_ids), 10, 0.8) for source in sources]
    ours = method.model.greedy_decode(src_ids, src_mask, limits)
    expected = []
    for row in golden["preds"].tolist():  # leading start, then up to and including the first end
        body = row[1:]
        expected.append(body[: body.index(END) + 1])
    assert ours == expected
    # predict() (batching, decoding limits, parsing) gives the spans the reference's outputs parse to.
    assert method.predict(sentences) == [decode_output(out, source, method.label_set.names)
                                         for out, source in zip(expected, sources)]
