"""Episodic meta-training of the token encoder, as in the Few-NERD code.

Each iteration takes source-domain episodes, scores the query words against the support (the
method's own scoring: prototypes or nearest neighbours) and minimises cross-entropy on the query
words. AdamW; learning rate warmed up linearly from 0 (at the first step) over the first
`warmup_fraction` of the iterations, then decayed linearly to 0 (`get_linear_schedule_with_warmup`, as the reference);
`linear_decay=False` keeps it constant after the warm-up instead. Every `dev_every` iterations the
method is scored on dev episodes; the best state is kept in memory, saved to `checkpoint_dir`, and
restored at the end. Episodes are drawn lazily, `block` at a time, so a 10,000-iteration run starts
at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from ner_fewshot.episodes import Episode
from ner_fewshot.methods.optim import bias_or_norm, parameter_groups


@dataclass(frozen=True)
class MetaTrainSettings:
    iterations: int
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    linear_decay: bool = True
    episodes_per_step: int = 1
    dev_every: int = 1000
    max_grad_norm: float = 0.0  # 0 = no clipping


@dataclass
class MetaTrainResult:
    iterations: int
    best_iteration: int  # iteration whose weights were kept (the last one when there is no dev set)
    best_dev_f1: float | None
    losses: list[float] = field(default_factory=list)  # mean episode loss per iteration
    dev_history: list[tuple[int, float]] = field(default_factory=list)
    checkpoint_dir: str = ""


def meta_train(
    module: torch.nn.Module,
    episode_loss: Callable[[Episode], torch.Tensor],
    train_episodes: Iterator[Episode],
    settings: MetaTrainSettings,
    *,
    dev_score: Callable[[], float] | None = None,
    save_checkpoint: Callable[[Path], None] | None = None,
    checkpoint_dir: str | Path | None = None,
    show_progress: bool = True,
) -> MetaTrainResult:
    """Train `module` in place; on return it holds the best (or last) weights."""
    if settings.iterations < 1:
        raise ValueError(f"meta-training needs iterations >= 1, got {settings.iterations}")
    parameters = [p for p in module.parameters() if p.requires_grad]
    # No decay on biases and LayerNorm weights: the Few-NERD / BERT convention.
    groups = parameter_groups(module.named_parameters(), settings.weight_decay, no_decay=bias_or_norm)
    optimizer = torch.optim.AdamW(groups, lr=settings.lr)
    scheduler = learning_rate_schedule(optimizer, settings)
    result = MetaTrainResult(settings.iterations, settings.iterations, None,
                             checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else "")
    best_state = None
    bar = tqdm(range(1, settings.iterations + 1), desc="meta-training", disable=not show_progress, leave=False)
    for iteration in bar:
        module.train()
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(settings.episodes_per_step):
            loss = episode_loss(next(train_episodes)) / settings.episodes_per_step
            loss.backward()
            total += float(loss.detach())
        if settings.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(parameters, settings.max_grad_norm)
        optimizer.step()
        scheduler.step()
        result.losses.append(total)
        bar.set_postfix(loss=f"{total:.3f}")
        evaluate_now = dev_score is not None and (iteration % settings.dev_every == 0 or iteration == settings.iterations)
        if evaluate_now:
            module.eval()
            score = float(dev_score())
            result.dev_history.append((iteration, score))
            if result.best_dev_f1 is None or score > result.best_dev_f1:
                result.best_dev_f1, result.best_iteration = score, iteration
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
                if save_checkpoint is not None and checkpoint_dir:
                    save_checkpoint(Path(checkpoint_dir))
            bar.write(f"meta-training: iteration {iteration}: dev F1 {score:.4f} (best {result.best_dev_f1:.4f} at {result.best_iteration})")
    if best_state is not None:
        module.load_state_dict(best_state)
    elif save_checkpoint is not None and checkpoint_dir:
        save_checkpoint(Path(checkpoint_dir))
    module.eval()
    return result


def warmup_steps(settings: MetaTrainSettings) -> int:
    return int(round(settings.warmup_fraction * settings.iterations))


def learning_rate_schedule(optimizer: torch.optim.Optimizer, settings: MetaTrainSettings):
    """transformers' warm-up schedules, stepped once per iteration: the first step runs at lr 0, then
    the rate climbs linearly to `lr` at the end of the warm-up, then decays linearly to 0 at the last
    iteration (`get_linear_schedule_with_warmup`, the reference's) or stays (`linear_decay=False`)."""
    from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

    if settings.linear_decay:
        return get_linear_schedule_with_warmup(optimizer, warmup_steps(settings), settings.iterations)
    return get_constant_schedule_with_warmup(optimizer, warmup_steps(settings))


def episode_stream(sample: Callable[[int, int], Sequence[Episode]], block: int = 500, seed: int = 0) -> Iterator[Episode]:
    """Endless episodes, sampled `block` at a time with seeds seed, seed+1, ... (cheap to start)."""
    round_number = 0
    while True:
        yield from sample(block, seed + round_number)
        round_number += 1
