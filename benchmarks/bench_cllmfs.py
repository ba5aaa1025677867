"""CLLMFS speed on real sentences: training tokens/s, and free vs constrained greedy decoding on the same prompts.

    python -m benchmarks.bench_cllmfs [--backbone packaged:SmolLM2-135M-Instruct] [--threads 2]
        [--sentences 24] [--train-steps 3] [--batch 4] [--generation-batch 32] [--fgm] [--data-dir ../shared/data]

Data: CoNLL-2003 (CrossNER copy) from the data dir, 4 types (person, location, organisation, misc).
0. The CPU's fp32 matmul throughput on `--threads` threads: the ceiling every figure below is set against.
1. Training: `--train-steps` LoRA SFT steps with the default recipe (`--fgm` adds FGM) on a 5-shot support
   set; prints tokens/s, CPU-s per step, and the achieved GFLOP/s (4 x parameters x tokens incl. padding:
   forward + backward to the activations of a frozen base) as a share of the matmul peak.
2. Decoding: every (query sentence, type) prompt of `--sentences` test sentences, decoded greedily with the
   same adapters: a prompt pass only (one new token), free, then constrained. Prints prompt tokens/s (and
   GFLOP/s), new tokens/s and the constrained/free CPU per decoding step after the prompt pass (goal <= 1.3).
   Other processes' load shows up in wall times: CPU times (process_time) are printed too.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch


def describe(config) -> str:
    return (f"contrastive {'on' if config.contrastive else 'off'}, FGM {'on' if config.adversarial else 'off'}, "
            f"loss on {config.loss_on}")


def main(argv=None) -> None:
    from ner_fewshot import settings
    from ner_fewshot.backbones import SMOLLM2
    from ner_fewshot.cllmfs.config import CLLMFSConfig
    from ner_fewshot.cllmfs.generation import GenerationStats, generate_answers, merged_lora
    from ner_fewshot.cllmfs.method import CLLMFS
    from ner_fewshot.cllmfs.prompts import definition_of
    from ner_fewshot.data.conll import read_conll
    from ner_fewshot.data.types import EntityType, LabelSet
    from ner_fewshot.episodes import sample_kshot

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default=SMOLLM2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=24)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--generation-batch", type=int, default=32)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--fgm", action="store_true", help="train with FGM on (its cost vs a plain step)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = settings.data_dir(args.data_dir) or Path(__file__).resolve().parents[2] / "shared" / "data"
    folder = data / "crossner" / "conll2003"
    if not (folder / "train.txt").exists():
        raise SystemExit(f"CoNLL-2003 not found under {folder}: pass --data-dir (the shared data folder)")
    labels = LabelSet((EntityType("person", ("person",), "names of people"),
                       EntityType("location", ("location",), "names of places"),
                       EntityType("organisation", ("organisation",), "names of companies and institutions"),
                       EntityType("misc", ("miscellaneous",), "other names such as nationalities and events")))
    pool = read_conll(folder / "train.txt").sentences[:3000]
    test = read_conll(folder / "test.txt").sentences
    episode = sample_kshot(pool, test, labels, k_shot=5, n_episodes=1, seed=0, query_size=args.sentences).episodes[0]

    config = CLLMFSConfig(backbone=args.backbone, train_steps=args.train_steps, batch_size=args.batch,
                          generation_batch_size=args.generation_batch, adversarial=args.fgm)
    method = CLLMFS(config)
    started = time.perf_counter()
    method.prepare()
    print(f"backbone {method.describe_backbone()} loaded in {time.perf_counter() - started:.1f} s; "
          f"threads {args.threads}; {method.parameter_counts()}")
    method.fit(episode.support, episode.label_set)
    log = method.training_log
    peak = matmul_gflops(args.threads)
    n_params = sum(p.numel() for p in method.base_model.parameters())
    # Frozen base: forward (2 flops/param/token) + backward to the activations (2 more); LoRA's own is small.
    train_gflops = 4 * n_params * log.padded_tokens / log.cpu_seconds / 1e9
    print(f"matmul peak {peak:.1f} GFLOP per CPU-second ({args.threads} thread(s)); model {n_params / 1e6:.1f}M "
          f"parameters")
    print(f"training ({describe(config)}): {len(log.losses)} steps of batch {args.batch}, {log.tokens} tokens "
          f"({log.padded_tokens} with padding) in {log.seconds:.1f} s -> {log.tokens_per_second:.1f} tokens/s, "
          f"{log.seconds / len(log.losses):.2f} s/step, {log.cpu_seconds / len(log.losses):.2f} CPU-s/step, "
          f"~{train_gflops:.1f} GFLOP per CPU-second = {100 * train_gflops / peak:.0f}% of the matmul peak")

    prompts = [(s.words, method.encoder.encode_prompt(s.words, t, definition_of(t))) for s in episode.query
               for t in episode.label_set]
    results = {}
    with merged_lora(method.model):
        runs = (("prefill", dict(constrained=False, max_new_tokens=1)), ("free", dict(constrained=False)),
                ("constrained", dict(constrained=True)))
        for name, change in runs:
            stats = GenerationStats()
            generate_answers(method.model, method.encoder, prompts, dataclasses.replace(config, **change),
                             method.device, stats)
            results[name] = stats
            print(f"{name:>11}: {stats.prompts} prompts ({stats.prompt_tokens} prompt tokens computed, the shared "
                  f"instructions once per type), {stats.new_tokens} new tokens in {stats.steps} steps, "
                  f"{stats.seconds:.1f} s ({stats.cpu_seconds:.1f} CPU-s) -> {stats.new_tokens_per_second:.1f} new "
                  f"tokens/s; grammars {stats.grammar_seconds:.2f} s; first decision opened "
                  f"{100 * stats.first_open_rate:.0f}%")
    prefill, free, constrained = results["prefill"], results["free"], results["constrained"]
    prefill_gflops = 2 * n_params * prefill.prompt_tokens / prefill.cpu_seconds / 1e9
    print(f"prompt pass: {prefill.prompt_tokens / prefill.seconds:.0f} prompt tokens/s wall, {prefill_gflops:.1f} GFLOP "
          f"per CPU-second ({100 * prefill_gflops / peak:.0f}% of the matmul peak)")

    def decode_cpu_per_step(stats):  # CPU time after the prompt pass, per batched decoding step
        return (stats.cpu_seconds - prefill.cpu_seconds) / max(stats.steps - prefill.steps, 1)

    print(f"constrained / free: wall time x{constrained.seconds / free.seconds:.2f}; CPU per decoding step (prompt "
          f"pass subtracted) {decode_cpu_per_step(constrained):.3f} s vs {decode_cpu_per_step(free):.3f} s = "
          f"x{decode_cpu_per_step(constrained) / max(decode_cpu_per_step(free), 1e-9):.2f} (goal <= 1.3); grammars "
          f"{100 * constrained.grammar_seconds / constrained.seconds:.1f}% of the constrained run")


def matmul_gflops(threads: int, size: int = 1024, repeats: int = 20) -> float:
    """fp32 matmul GFLOP per CPU-second (all threads' CPU time summed): the ceiling for a transformer's
    throughput per CPU-second. Figures below are per CPU-second too, so a loaded machine does not skew them."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.process_time()  # CPU time: other processes' load does not distort it
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.process_time() - started) / 1e9


if __name__ == "__main__":
    main()
