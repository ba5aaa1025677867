"""CPU time of one LightNER training step on a bart-base-sized random BART (no download needed).

    python -m benchmarks.bench_lightner [--threads 2] [--steps 3] [--batch 16] [--source-len 40] [--target-len 12]

Model: `BartConfig` with bart-base's sizes (d_model 768, 6+6 layers, 12 heads, FFN 3072, vocab 50265),
random weights, frozen; prompts of length 10 with an 800-wide MLP in all three prompt sets; 4 labels.
One step = prompts -> K/V prefixes, encoder + teacher-forced decoder with prefixes, pointer scores,
cross-entropy, backward into the prompts, AdamW update. For comparison the same batch
goes through the plain frozen BartModel without LM head: forward only, and forward + backward to its
input embeddings (roughly the least any prompt method must pay). Each figure is the best of
`--steps` runs after one warm-up (wall clock, and the CPU time of that run summed over threads), so
that load from other processes shows as little as possible.
"""
from __future__ import annotations

import argparse
import time

import torch


def best_time(run, repeats: int) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run summed over threads)."""
    run()  # warm-up
    times = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(times)


def main(argv=None) -> None:
    from transformers import BartConfig, BartForConditionalGeneration

    from baselines.lightner.answer_space import AnswerSpace
    from baselines.lightner.backbone import parameter_counts_for
    from baselines.lightner.model import LightNERModel
    from baselines.lightner.prompts import LightNERPrompts, PromptShape
    from baselines.lightner.targets import END, FIRST_LABEL
    from baselines.lightner.training import make_optimizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--source-len", type=int, default=40)
    parser.add_argument("--target-len", type=int, default=12)
    parser.add_argument("--prompt-len", type=int, default=10)
    parser.add_argument("--mid-dim", type=int, default=800)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    config = BartConfig(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
                        decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072, vocab_size=50265)
    bart = BartForConditionalGeneration(config)
    plain = BartForConditionalGeneration(config)
    plain.load_state_dict(bart.state_dict())
    plain.requires_grad_(False)
    prompts = LightNERPrompts(PromptShape.from_bart_config(config), args.prompt_len, args.mid_dim)
    model = LightNERModel(bart, prompts, bos_id=0, eos_id=2, dropout=0.3)
    labels = ["person", "location", "organization", "others"]
    model.set_answer_space(AnswerSpace(labels, [(1000 + 3 * i, 1001 + 3 * i) for i in range(4)]))
    optimizer = make_optimizer(model, 1e-4, 0.01)

    batch, src_len, tgt_len = args.batch, args.source_len, args.target_len
    src_ids = torch.randint(5, config.vocab_size, (batch, src_len))
    src_ids[:, 0], src_ids[:, -1] = 0, 2
    src_mask = torch.ones_like(src_ids)
    offset = FIRST_LABEL + len(labels)
    targets = torch.randint(offset + 1, offset + src_len - 1, (batch, tgt_len))  # pointers ...
    targets[:, 0], targets[:, -1] = 0, END
    targets[:, 3::3] = FIRST_LABEL  # ... with a label every third step

    def train_step() -> None:
        model.train()
        loss = model.loss(src_ids, src_mask, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    decoder_ids = torch.randint(5, config.vocab_size, (batch, tgt_len - 1))

    def plain_forward() -> None:
        with torch.no_grad():
            plain.model(input_ids=src_ids, attention_mask=src_mask, decoder_input_ids=decoder_ids)

    def plain_forward_backward() -> None:
        embeds = plain.get_input_embeddings()(src_ids).detach().requires_grad_(True)
        plain.model(inputs_embeds=embeds, attention_mask=src_mask,
                    decoder_input_ids=decoder_ids).last_hidden_state.sum().backward()

    step = best_time(train_step, args.steps)
    forward = best_time(plain_forward, args.steps)
    forward_backward = best_time(plain_forward_backward, args.steps)
    counts = parameter_counts_for(config, args.prompt_len, args.mid_dim, model.answer_space.trainable_count())
    print(f"bart-base-sized random BART, batch {batch} x {src_len} source + {tgt_len} target tokens, "
          f"{args.threads} thread(s), best of {args.steps}:")
    for label, (wall, cpu) in (("LightNER training step (forward + backward + AdamW)", step),
                               ("plain frozen BartModel forward", forward),
                               ("plain frozen BartModel forward + backward to the inputs", forward_backward)):
        print(f"  {label:<58} {wall:6.2f} s wall, {cpu:6.2f} s CPU")
    print(f"  trainable parameters {counts.trainable:,} of {counts.total:,}; {counts.notes}")


if __name__ == "__main__":
    main()
