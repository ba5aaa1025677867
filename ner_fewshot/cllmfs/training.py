"""The CLLMFS SFT loop: loss = CE(answer) + lambda * InfoNCE(layer L) + CE(FGM-perturbed pass); AdamW on LoRA."""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from ..methods.batching import pad_batch
from .adversarial import input_perturbation, perturbed_embedding_weights
from .config import CLLMFSConfig
from .contrastive import ContrastivePositions, batch_info_nce
from .prompts import EncodedExample

IGNORE = -100


@dataclass
class TrainingLog:
    losses: list[float] = field(default_factory=list)  # total loss per step
    ce: list[float] = field(default_factory=list)
    contrastive: list[float] = field(default_factory=list)
    adversarial: list[float] = field(default_factory=list)
    examples: list[int] = field(default_factory=list)  # examples per step
    positives: list[int] = field(default_factory=list)  # of which have at least one entity
    tokens: int = 0
    padded_tokens: int = 0  # tokens computed including padding (batch rows x longest row)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # process CPU time: a load-independent cost figure on shared machines

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def collate(examples: Sequence[EncodedExample], pad_id: int, device) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask and CE labels (-100 off the loss mask and on padding)."""
    ids, mask = pad_batch([e.ids for e in examples], pad_id, device=device)
    labels, _ = pad_batch([[t if keep else IGNORE for t, keep in zip(e.ids, e.label_mask)] for e in examples], IGNORE,
                          device=device)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def forward_with_loss(model, labels: torch.Tensor, attention_mask: torch.Tensor, *, inputs_embeds=None,
                      input_ids=None, output_hidden_states: bool = False):
    """(mean next-token CE over labelled positions, decoder output).

    Runs the decoder trunk and applies the LM head only at labelled positions: with loss on the answer
    that skips most of the vocabulary projection (a fifth of a small LM's forward cost).
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    out = base.get_decoder()(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                             output_hidden_states=output_hidden_states, use_cache=False)
    targets = labels[:, 1:]
    selected = targets != IGNORE
    logits = base.get_output_embeddings()(out.last_hidden_state[:, :-1][selected])
    return F.cross_entropy(logits.float(), targets[selected]), out


def epoch_examples(examples: Sequence[EncodedExample], negative_ratio: float | None,
                   generator: torch.Generator) -> list[int]:
    """Indices of one pass: every positive example, plus round(ratio x positives) empty-answer ones drawn
    afresh (all of them when the ratio is None or there is no positive to balance against)."""
    positives = [i for i, e in enumerate(examples) if e.spans]
    negatives = [i for i, e in enumerate(examples) if not e.spans]
    if negative_ratio is not None and positives:
        keep = min(len(negatives), round(negative_ratio * len(positives)))
        picked = torch.randperm(len(negatives), generator=generator)[:keep].tolist()
        negatives = [negatives[j] for j in sorted(picked)]
    return positives + negatives


def length_bucketed_batches(indices: Sequence[int], lengths: Sequence[int], batch_size: int,
                            generator: torch.Generator, window: int = 8) -> list[list[int]]:
    """Shuffled batches of similar lengths: shuffle, sort each window of `window` batches by length, cut,
    shuffle the batches. Less padding than random batches, still a different mix every pass."""
    order = [indices[j] for j in torch.randperm(len(indices), generator=generator).tolist()]
    span = batch_size * window
    batches = []
    for w in range(0, len(order), span):
        chunk = sorted(order[w : w + span], key=lambda i: lengths[i])
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    return [batches[j] for j in torch.randperm(len(batches), generator=generator).tolist()]


def training_batches(examples: Sequence[EncodedExample], config: CLLMFSConfig, generator: torch.Generator):
    """Yields the batches of the whole run: `train_steps` of them (passes repeat as needed), or `epochs` passes."""
    lengths = [len(e.ids) for e in examples]
    steps = 0
    for epoch in itertools.count():
        if config.train_steps is None and epoch >= config.epochs:
            return
        for batch in length_bucketed_batches(epoch_examples(examples, config.negative_ratio, generator), lengths,
                                             config.batch_size, generator):
            if config.train_steps is not None and steps >= config.train_steps:
                return
            steps += 1
            yield batch


def planned_steps(examples: Sequence[EncodedExample], config: CLLMFSConfig) -> int:
    if config.train_steps is not None:
        return config.train_steps
    per_pass = len(epoch_examples(examples, config.negative_ratio, torch.Generator().manual_seed(0)))
    return config.epochs * math.ceil(per_pass / config.batch_size)


def train_lora(model, examples: Sequence[EncodedExample], positions: Sequence[ContrastivePositions | None],
               config: CLLMFSConfig, *, layer: int, pad_id: int, device, progress: bool = False) -> TrainingLog:
    """Train the LoRA weights of `model` (a PeftModel) in place; returns per-step losses and throughput."""
    if not examples:
        raise ValueError("CLLMFS.fit got no SFT examples: the support set is empty")
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    embedding = model.get_input_embeddings()
    log = TrainingLog()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=planned_steps(examples, config), desc="cllmfs fit", leave=False)
    model.train()
    started, cpu_started = time.perf_counter(), time.process_time()
    for rows in training_batches(examples, config, generator):
        batch = collate([examples[i] for i in rows], pad_id, device)
        embeds = embedding(batch["input_ids"]).detach().requires_grad_(config.adversarial)
        ce, out = forward_with_loss(model, batch["labels"], batch["attention_mask"], inputs_embeds=embeds,
                                    output_hidden_states=config.contrastive)
        loss = ce
        nce = None
        if config.contrastive:
            nce = batch_info_nce(out.hidden_states[layer], [positions[i] for i in rows], config.contrastive_tau)
            if nce is not None:
                loss = loss + config.contrastive_weight * nce
        loss.backward()
        adv_value = 0.0
        if config.adversarial and embeds.grad is not None:
            adv_value = _adversarial_step(model, embedding, embeds, batch, config)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        log.ce.append(ce.item())
        log.contrastive.append(nce.item() if nce is not None else 0.0)
        log.adversarial.append(adv_value)
        log.losses.append(loss.item() + adv_value)
        log.examples.append(len(rows))
        log.positives.append(sum(bool(examples[i].spans) for i in rows))
        log.tokens += int(batch["attention_mask"].sum())
        log.padded_tokens += batch["attention_mask"].numel()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{log.losses[-1]:.3f}")
    log.seconds = time.perf_counter() - started
    log.cpu_seconds = time.process_time() - cpu_started
    if bar is not None:
        bar.close()
    model.eval()
    return log


def _adversarial_step(model, embedding, embeds: torch.Tensor, batch, config: CLLMFSConfig) -> float:
    """FGM: the SFT loss at the perturbed embeddings, backpropagated into the LoRA grads."""
    if config.adversarial_target == "inputs":
        perturbed = embeds.detach() + input_perturbation(embeds.grad, config.adversarial_epsilon)
        adv, _ = forward_with_loss(model, batch["labels"], batch["attention_mask"], inputs_embeds=perturbed)
        adv.backward()
        return adv.item()
    with perturbed_embedding_weights(embedding, batch["input_ids"], embeds.grad, config.adversarial_epsilon):
        adv, _ = forward_with_loss(model, batch["labels"], batch["attention_mask"], input_ids=batch["input_ids"])
        adv.backward()
    return adv.item()
