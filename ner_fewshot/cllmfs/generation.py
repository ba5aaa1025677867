"""Batched greedy generation of answers for many (sentence, type) prompts.

Prompts are sorted by length and decoded `generation_batch_size` at a time, left padded, with the KV
cache; a batch stops as soon as every row has emitted eos, and never runs past
8 + new_tokens_per_input_token * (longest input sentence of the batch, in tokens) or max_new_tokens.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Sequence

import torch

from .config import CLLMFSConfig
from .constrained import AnswerGrammar, AnswerLogitsProcessor
from .prompts import EncodedPrompt, PromptEncoder
from .spans import PredictedString, align_tokens, parse_answer


@dataclass
class GenerationStats:
    prompts: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    steps: int = 0  # decoding steps (one batched forward each), summed over batches
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # process CPU time (all threads): load-independent on a shared machine
    grammar_seconds: float = 0.0  # building the per-row automata (constrained decoding)
    processor_seconds: float = 0.0  # inside the logits processor (masking + log-prob bookkeeping)

    @property
    def new_tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Answer:
    text: str  # generated text after the fixed prefix
    strings: tuple[PredictedString, ...]


def make_grammar(encoder: PromptEncoder, words: Sequence[str]) -> AnswerGrammar:
    return AnswerGrammar(words, encoder.word_ids, encoder.open_ids, encoder.close_ids, encoder.end_ids, encoder.eos_id)


@contextlib.contextmanager
def merged_lora(model):
    """LoRA folded into the base weights inside the block (one matmul per projection while decoding).

    peft's unmerge subtracts the delta again, which is not bit-exact in floating point, so the base
    weights are copied back from a backup: the next episode starts from exactly the same backbone.
    """
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    backups = [m.get_base_layer().weight.detach().clone() for m in layers]
    model.merge_adapter()
    try:
        yield
    finally:
        model.unmerge_adapter()
        with torch.no_grad():
            for layer, backup in zip(layers, backups):
                layer.get_base_layer().weight.copy_(backup)


@torch.no_grad()
def generate_answers(model, encoder: PromptEncoder, prompts: Sequence[tuple[Sequence[str], EncodedPrompt]],
                     config: CLLMFSConfig, device, stats: GenerationStats | None = None) -> list[Answer]:
    """One Answer per (words, prompt), in input order."""
    from transformers import GenerationConfig, LogitsProcessorList

    tokenizer = encoder.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else encoder.eos_id
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i][1].ids))
    answers: list[Answer | None] = [None] * len(prompts)
    bar = None
    if config.show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prompts), desc="cllmfs generate", leave=False)
    model.eval()
    for b in range(0, len(order), config.generation_batch_size):
        rows = order[b : b + config.generation_batch_size]
        started, cpu_started = time.perf_counter(), time.process_time()
        width = max(len(prompts[i][1].ids) for i in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            prompt_ids = prompts[i][1].ids
            ids[r, width - len(prompt_ids):] = torch.tensor(prompt_ids)
            mask[r, width - len(prompt_ids):] = 1
        input_tokens = max(p.word_offsets[-1][1] - p.word_offsets[0][0] for _, p in (prompts[i] for i in rows))
        bound = min(config.max_new_tokens, 8 + math.ceil(config.new_tokens_per_input_token * input_tokens))
        grammar_started = time.perf_counter()
        grammars = [make_grammar(encoder, prompts[i][0]) for i in rows] if config.constrained else None
        grammar_seconds = time.perf_counter() - grammar_started
        processor = AnswerLogitsProcessor(grammars, len(rows), encoder.eos_id)
        generation_config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=bound,
                                             eos_token_id=encoder.eos_id, pad_token_id=pad_id, use_cache=True)
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                             generation_config=generation_config, logits_processor=LogitsProcessorList([processor]))
        sequences = out if isinstance(out, torch.Tensor) else out.sequences
        processor.finish(sequences)
        new = sequences[:, width:].tolist()
        for r, i in enumerate(rows):
            logprobs = processor.token_logprobs[r]
            tokens = new[r][: len(logprobs)]
            if tokens and tokens[-1] == encoder.eos_id:
                tokens, logprobs = tokens[:-1], logprobs[:-1]
            text, alignment = align_tokens(tokenizer, tokens, logprobs)
            answers[i] = Answer(text, tuple(parse_answer(text, alignment)))
            if stats is not None:
                stats.new_tokens += len(processor.token_logprobs[r])
        if stats is not None:
            stats.prompts += len(rows)
            stats.steps += sequences.shape[1] - width
            stats.grammar_seconds += grammar_seconds
            stats.processor_seconds += processor.seconds
            stats.prompt_tokens += int(mask.sum())
            stats.seconds += time.perf_counter() - started
            stats.cpu_seconds += time.process_time() - cpu_started
        if bar is not None:
            bar.update(len(rows))
    if bar is not None:
        bar.close()
    return answers  # type: ignore[return-value]
