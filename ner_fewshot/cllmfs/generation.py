"""Batched greedy generation of answers for many (sentence, type) prompts.

Prompts of one entity type share their instruction: its KV cache is computed once and each batch row adds
only its sentence, the frame tail and the answer prefix. Within a type, prompts are sorted by length and
decoded `generation_batch_size` at a time (padding sits between the shared prefix and a row's own tokens;
positions skip it). A row leaves the batch as soon as its answer has ended: eos, or (constrained) when only
a forced ending remains, e.g. the rest of the end marker after its first token. No row runs past
8 + new_tokens_per_input_token * (longest input sentence of the batch, in tokens) or max_new_tokens steps.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass
from typing import Sequence

import torch

from ..methods.batching import pad_batch
from .config import CLLMFSConfig
from .constrained import AnswerGrammar
from .prompts import NONE_WORD, EncodedPrompt, PromptEncoder
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
    # A model that never names an entity predicts nothing: these show it at once rather than as an F1 of 0.
    answered: int = 0  # prompts whose answer names at least one entity
    first_opened: int = 0  # prompts whose first generated token starts the open marker
    first_open_probability: float = 0.0  # summed over prompts: the model's P(open) at that first decision

    @property
    def answer_rate(self) -> float:
        return self.answered / self.prompts if self.prompts else 0.0

    @property
    def first_open_rate(self) -> float:
        return self.first_opened / self.prompts if self.prompts else 0.0

    @property
    def mean_first_open_probability(self) -> float:
        return self.first_open_probability / self.prompts if self.prompts else 0.0

    def as_dict(self) -> dict:
        return {"prompts": self.prompts, "prompt_tokens": self.prompt_tokens, "new_tokens": self.new_tokens,
                "steps": self.steps, "seconds": round(self.seconds, 3), "cpu_seconds": round(self.cpu_seconds, 3),
                "answer_rate": round(self.answer_rate, 4), "first_open_rate": round(self.first_open_rate, 4),
                "mean_first_open_probability": round(self.mean_first_open_probability, 4)}

    @property
    def new_tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Answer:
    text: str  # generated text after the fixed prefix
    strings: tuple[PredictedString, ...]


def make_grammar(encoder: PromptEncoder, words: Sequence[str]) -> AnswerGrammar:
    return AnswerGrammar(words, encoder.word_ids, encoder.open_ids, encoder.close_ids, encoder.end_ids, encoder.eos_id,
                         encoder.none_ids)


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


class RowDecoder:
    """One prompt's greedy choice under its grammar (or free), with the chosen tokens' raw log-probs."""

    def __init__(self, grammar: AnswerGrammar | None, eos_id: int) -> None:
        self.grammar, self.eos_id = grammar, eos_id
        self.state = grammar.initial() if grammar is not None else None
        self.tokens: list[int] = []
        self.logprobs: list[float] = []  # raw model log-prob of each token (0.0 for a forced ending)
        self.done = False

    def choose(self, logprobs: torch.Tensor) -> int:
        """Pick the next token from this row's log-probs (1-D), advance, and finish the row when the answer
        has ended (eos) or only a forced ending remains (appended without running the model)."""
        if self.grammar is None:
            token = int(logprobs.argmax())
        else:
            allowed = torch.tensor(self.grammar.allowed(self.state))
            token = int(allowed[logprobs[allowed].argmax()])
            self.state = self.grammar.step(self.state, token)
        self.tokens.append(token)
        self.logprobs.append(float(logprobs[token]))
        if token == self.eos_id or self.state == ():
            self.done = True
        elif self.grammar is not None:
            ending = self.grammar.forced_ending(self.state)
            if ending is not None:
                self.tokens.extend(ending)
                self.logprobs.extend([0.0] * len(ending))
                self.done = True
        return token


def _prefix_cache(model, prefix: Sequence[int], device):
    """The KV cache of the prompt part shared by every sentence of one type (frame head + instruction)."""
    from transformers import DynamicCache

    cache = DynamicCache()
    model(input_ids=torch.tensor([list(prefix)], device=device), past_key_values=cache, use_cache=True, logits_to_keep=1)
    return cache


@torch.no_grad()
def generate_answers(model, encoder: PromptEncoder, prompts: Sequence[tuple[Sequence[str], EncodedPrompt]],
                     config: CLLMFSConfig, device, stats: GenerationStats | None = None) -> list[Answer]:
    """One Answer per (words, prompt), in input order.

    Prompts sharing their instruction (one entity type) reuse its KV cache: only each sentence, the frame
    tail and the answer prefix are computed per row. Within a type, prompts are sorted by length and decoded
    `generation_batch_size` at a time; a row leaves the batch as soon as its answer has ended.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (_, prompt) in enumerate(prompts):
        groups.setdefault(prompt.ids[: prompt.shared_length], []).append(i)
    answers: list[Answer | None] = [None] * len(prompts)
    bar = None
    if config.show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prompts), desc="cllmfs generate", leave=False)
    model.eval()
    for prefix, members in groups.items():
        started, cpu_started = time.perf_counter(), time.process_time()
        cache = _prefix_cache(model, prefix, device)
        if stats is not None:
            stats.prompt_tokens += len(prefix)
            stats.seconds += time.perf_counter() - started
            stats.cpu_seconds += time.process_time() - cpu_started
        members.sort(key=lambda i: len(prompts[i][1].ids))
        for b in range(0, len(members), config.generation_batch_size):
            rows = members[b : b + config.generation_batch_size]
            decoded = _decode_batch(model, encoder, [prompts[i] for i in rows], len(prefix), cache, config, device, stats)
            for i, answer in zip(rows, decoded):
                answers[i] = answer
            if bar is not None:
                bar.update(len(rows))
    if bar is not None:
        bar.close()
    return answers  # type: ignore[return-value]


def _decode_batch(model, encoder: PromptEncoder, batch: Sequence[tuple[Sequence[str], EncodedPrompt]], shared: int,
                  prefix_cache, config: CLLMFSConfig, device, stats: GenerationStats | None) -> list[Answer]:
    """Greedy decoding of prompts that all start with the cached `shared` tokens; rows leave when done."""
    started, cpu_started = time.perf_counter(), time.process_time()
    tokenizer = encoder.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else encoder.eos_id
    suffixes = [prompt.ids[shared:] for _, prompt in batch]
    ids, own = pad_batch(suffixes, pad_id, side="left")  # padding sits between the shared prefix and each row
    mask = torch.cat([own.new_ones((len(batch), shared)), own], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    cache = copy.deepcopy(prefix_cache)
    cache.batch_repeat_interleave(len(batch))
    grammar_started = time.perf_counter()
    decoders = [RowDecoder(make_grammar(encoder, words) if config.constrained else None, encoder.eos_id)
                for words, _ in batch]
    grammar_seconds = time.perf_counter() - grammar_started
    input_tokens = max(p.word_offsets[-1][1] - p.word_offsets[0][0] for _, p in batch)
    bound = min(config.max_new_tokens, 8 + math.ceil(config.new_tokens_per_input_token * input_tokens))
    mask, positions = mask.to(device), positions.to(device)
    logits = model(input_ids=ids.to(device), attention_mask=mask, position_ids=positions[:, shared:],
                   past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1]
    alive = list(range(len(batch)))  # batch rows still decoding, in cache order
    steps, first_open = 0, []
    while True:
        steps += 1
        logprobs = logits.float().log_softmax(-1)
        if steps == 1:  # the first decision, every row still in the batch: P(open an entity)
            first_open = logprobs[:, encoder.open_ids[0]].exp().tolist()
        chosen = [decoders[r].choose(logprobs[k]) for k, r in enumerate(alive)]
        keep = [k for k, r in enumerate(alive) if not decoders[r].done and steps < bound]
        if not keep:
            break
        if len(keep) < len(alive):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, positions = mask[index], positions[index]
            chosen = [chosen[k] for k in keep]
            alive = [alive[k] for k in keep]
        mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=1)
        positions = torch.cat([positions, positions[:, -1:] + 1], dim=1)
        logits = model(input_ids=torch.tensor(chosen, device=device)[:, None], attention_mask=mask,
                       position_ids=positions[:, -1:], past_key_values=cache, use_cache=True,
                       logits_to_keep=1).logits[:, -1]
    answers = []
    for decoder in decoders:
        tokens, logprobs = decoder.tokens, decoder.logprobs
        if tokens and tokens[-1] == encoder.eos_id:
            tokens, logprobs = tokens[:-1], logprobs[:-1]
        text, alignment = align_tokens(tokenizer, tokens, logprobs)
        answers.append(Answer(text, tuple(parse_answer(text, alignment, NONE_WORD if encoder.none_ids else None))))
    if stats is not None:
        stats.prompts += len(batch)
        stats.prompt_tokens += sum(len(s) for s in suffixes)
        stats.new_tokens += sum(len(d.tokens) for d in decoders)
        stats.steps += steps
        stats.grammar_seconds += grammar_seconds
        stats.first_opened += sum(bool(d.tokens) and d.tokens[0] == encoder.open_ids[0] for d in decoders)
        stats.answered += sum(bool(a.strings) for a in answers)
        stats.first_open_probability += sum(first_open)
        stats.seconds += time.perf_counter() - started
        stats.cpu_seconds += time.process_time() - cpu_started
    return answers
