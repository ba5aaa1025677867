"""CLLMFS speed on real sentences: training tokens/s, and free vs constrained greedy decoding on the same prompts.

    python -m benchmarks.bench_cllmfs [--backbone packaged:SmolLM2-135M-Instruct] [--threads 2]
        [--sentences 24] [--train-steps 3] [--batch 8] [--generation-batch 32] [--data-dir ../shared/data]

Data: CoNLL-2003 (CrossNER copy) from the data dir, 4 types (person, location, organisation, misc).
1. Training: `--train-steps` LoRA SFT steps (all three additions on, defaults otherwise) on a 5-shot support
   set; prints training tokens/s (prompt + answer tokens processed per second, FGM's second pass included).
2. Decoding: every (query sentence, type) prompt of `--sentences` test sentences, decoded greedily twice with
   the same adapters: free, then constrained. Prints new tokens/s, wall time, the constrained/free time ratio
   and the ratio per generated token (the goal is <= 1.3), plus the processor's own time. The two runs can
   produce very different numbers of tokens (a barely trained model rambles when free), so the fair
   overhead figures are the CPU time per decoding step after the prompt pass (a third run with one new
   token measures the prompt pass) and the time spent building the grammars and inside the processor. Other processes' load shows up in wall times: CPU
   times (process_time) are printed too.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch


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
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--generation-batch", type=int, default=32)
    parser.add_argument("--data-dir", default=None)
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

    config = CLLMFSConfig(backbone=args.backbone, max_steps=args.train_steps, batch_size=args.batch,
                          generation_batch_size=args.generation_batch)
    method = CLLMFS(config)
    started = time.perf_counter()
    method.prepare()
    print(f"backbone {method.describe_backbone()} loaded in {time.perf_counter() - started:.1f} s; "
          f"threads {args.threads}; {method.parameter_counts()}")
    method.fit(episode.support, episode.label_set)
    log = method.training_log
    print(f"training: {len(log.losses)} steps of batch {args.batch}, {log.tokens} tokens in {log.seconds:.1f} s "
          f"-> {log.tokens_per_second:.1f} tokens/s ({log.seconds / len(log.losses):.1f} s/step, "
          f"{log.cpu_seconds / len(log.losses):.1f} CPU-s/step; contrastive + FGM on)")

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
            print(f"{name:>11}: {stats.prompts} prompts ({stats.prompt_tokens} prompt tokens), {stats.new_tokens} new "
                  f"tokens in {stats.steps} steps, {stats.seconds:.1f} s ({stats.cpu_seconds:.1f} CPU-s) -> "
                  f"{stats.new_tokens_per_second:.1f} new tokens/s; processor {stats.processor_seconds:.2f} s, "
                  f"grammars {stats.grammar_seconds:.2f} s")
    prefill, free, constrained = results["prefill"], results["free"], results["constrained"]

    def decode_cpu_per_step(stats):  # CPU time after the prompt pass, per batched decoding step
        return (stats.cpu_seconds - prefill.cpu_seconds) / max(stats.steps - prefill.steps, 1)

    per_token = (constrained.seconds / max(constrained.new_tokens, 1)) / (free.seconds / max(free.new_tokens, 1))
    overhead = constrained.grammar_seconds + constrained.processor_seconds
    print(f"constrained / free: wall time x{constrained.seconds / free.seconds:.2f}, per new token x{per_token:.2f}; "
          f"CPU per decoding step (prompt pass subtracted) {decode_cpu_per_step(constrained):.3f} s vs "
          f"{decode_cpu_per_step(free):.3f} s = x{decode_cpu_per_step(constrained) / decode_cpu_per_step(free):.2f} "
          f"(goal <= 1.3)")
    print(f"constrained decoding's own work (grammars + processor) = {overhead:.2f} s = "
          f"{100 * overhead / constrained.seconds:.1f}% of its run (the free run's processor only tracks log-probs: "
          f"{free.processor_seconds:.2f} s)")


if __name__ == "__main__":
    main()
