"""Tiny CLLMFS test assets built in-process: a byte-level BPE tokenizer (words split into sub-words,
the markers <<< >>> <im_start> <im_end> are plain text) and a random 3-layer Llama."""
from __future__ import annotations

import contextlib
import functools

import torch

from ner_fewshot.cllmfs.config import CLLMFSConfig
from ner_fewshot.data.types import EntityType, LabelSet, Sentence, Span

CORPUS = [
    "Please extract the entity of person in the input sentence given below, the entity of location refers to",
    "names of people places and organisations in the input sentence.",
    "<im_start> I can extract entities for you, the extracted entities are <<< John Smith >>> <im_end>",
    "John Smith flew from New York to Paris on Monday .",
    "The United Nations met in Geneva and New York .",
    "### Instruction: ### Input: ### Response:",
]

LABEL_SET = LabelSet((
    EntityType("PER", ("person",), "names of people"),
    EntityType("LOC", ("location",), "names of places"),
    EntityType("ORG", ("organisation",), "names of companies and institutions"),
))

SUPPORT = (
    Sentence(("John", "Smith", "flew", "from", "New", "York", "to", "Paris", "."),
             (Span(0, 2, "PER"), Span(4, 6, "LOC"), Span(7, 8, "LOC")), "tiny:1"),
    Sentence(("The", "United", "Nations", "met", "in", "Geneva", "."), (Span(1, 3, "ORG"), Span(5, 6, "LOC")), "tiny:2"),
    Sentence(("Mary", "stayed", "home", "."), (Span(0, 1, "PER"),), "tiny:3"),
)


@functools.lru_cache(maxsize=None)  # training the BPE takes a moment; nobody mutates it
def tiny_tokenizer(vocab_size: int = 300, chat_template: str | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<pad>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


CHAT_TEMPLATE = ("{% for m in messages %}<eos>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


def tiny_llama(tokenizer, seed: int = 0, layers: int = 3):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=None, tie_word_embeddings=True,
                         initializer_range=0.5)  # a frozen head of std 0.02 could not express any confident token
    return LlamaForCausalLM(config).eval()


def tiny_config(**overrides) -> CLLMFSConfig:
    values = dict(backbone="tiny-in-test", device="cpu", lora_rank=4, lora_alpha=8, batch_size=4, epochs=1,
                  train_steps=None, negative_ratio=None,
                  learning_rate=1e-2, generation_batch_size=4, max_new_tokens=24, contrastive_weight=0.1)
    values.update(overrides)
    return CLLMFSConfig(**values)


def tiny_method(**overrides):
    from ner_fewshot.cllmfs.method import CLLMFS

    tokenizer = tiny_tokenizer()
    method = CLLMFS(tiny_config(**overrides))
    method.attach(tiny_llama(tokenizer), tokenizer)
    return method


@contextlib.contextmanager
def one_torch_thread():
    """Tiny models run fastest single-threaded; on a loaded 2-core machine 2 threads spin and crawl."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
