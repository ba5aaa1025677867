"""Shared builders for the LightNER tests: a tiny byte-level BPE tokenizer with BART's special tokens and a
tiny random BART, saved together in a folder that the method loads like a real checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ner_fewshot.data.types import EntityType, LabelSet, Sentence, Span

EMBEDDING_STD = 0.3
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, as in BART

CORPUS = [
    "Barack Obama visited Paris with Angela Merkel on Tuesday .",
    "The United Nations met in New York City last week .",
    "Microsoft and Google compete in Seattle and Mountain View .",
    "Lionel Messi scored twice for Barcelona in Madrid .",
    "The conference in Berlin was organised by the European Commission .",
    "person location organization others city name",
]


def build_tokenizer(folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    # A small vocabulary: most words split into several sub-words, with BART's leading-space marker.
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(CORPUS * 3, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", mask_token="<mask>")
    assert [fast.convert_tokens_to_ids(t) for t in SPECIALS] == [0, 1, 2, 3, 4]
    fast.save_pretrained(folder)
    return fast


def tiny_bart_config(vocab_size: int, **overrides):
    from transformers import BartConfig

    values = dict(vocab_size=vocab_size, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                  decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                  dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=1, bos_token_id=0,
                  eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2)
    values.update(overrides)
    return BartConfig(**values)


def build_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Tokenizer + random tiny BART saved in `folder`."""
    from transformers import BartForConditionalGeneration

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder)
    torch.manual_seed(seed)
    model = BartForConditionalGeneration(tiny_bart_config(len(tokenizer)))
    # Random init gives embeddings of norm ~0.2 (std 0.02): end/label scores h . E would then be stuck
    # near 0. Pretrained BART's rows are an order of magnitude larger; mimic that.
    with torch.no_grad():
        model.get_input_embeddings().weight.normal_(0.0, EMBEDDING_STD)
    model.save_pretrained(folder)
    return folder


LABEL_SET = LabelSet((
    EntityType("PER", ("person",), "a person"),
    EntityType("LOC", ("location",), "a place"),
    EntityType("ORG", ("organization",), "an organisation"),
))


def sentence(text: str, *spans: tuple[int, int, str]) -> Sentence:
    return Sentence(tuple(text.split()), tuple(Span(*s) for s in spans), "test.txt:1")


SUPPORT = [
    sentence("Barack Obama visited Paris with Angela Merkel on Tuesday .", (0, 2, "PER"), (3, 4, "LOC"), (5, 7, "PER")),
    sentence("The United Nations met in New York City last week .", (1, 3, "ORG"), (5, 8, "LOC")),
    sentence("Microsoft and Google compete in Seattle", (0, 1, "ORG"), (2, 3, "ORG"), (5, 6, "LOC")),
    sentence("Lionel Messi scored twice for Barcelona in Madrid", (0, 2, "PER"), (5, 6, "ORG"), (7, 8, "LOC")),
]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("tiny-bart"))


@pytest.fixture(scope="module", autouse=False)
def one_thread():
    """Tiny models run fastest on one thread, and a shared machine stays usable; restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
