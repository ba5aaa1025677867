"""CLLMFS recipe sweep on DEV episodes only (never the test queries): how the docs' dev table was made.

    python -m benchmarks.dev_cllmfs_sweep --dev conll --episodes 4 --variant base \
        --variant ratio1:negative_ratio=1.0 --variant paper:preset=paper --out sweeps/cllmfs.jsonl

Dev episodes:
  conll   CoNLL-2003 (CrossNER copy), all 4 types, 5~10-shot: support from train, query = a seeded sample
          of --query-size sentences of the dev split.
  wnut16  packaged WNUT-16 (the default profile's data), 5-way 5~10-shot: the pool is cut in two by a
          fixed rule (even / odd position); support from the first half, query from the second. The test
          part of WNUT-16 is never read.
A variant is `name` or `name:option=value,option=value` (CLLMFS options, parsed like --method-option).
Results are appended to --out (one JSON line per variant x episode) and a variant x episode already
there is not rerun, so an interrupted sweep resumes. A summary (micro F1, first-decision open rate,
fit and predict seconds) is printed per variant.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

BASE_OPTIONS = {"device": "cpu"}


def dev_dataset(which: str, data_dir):
    from ner_fewshot.data.catalog import load_dataset
    from ner_fewshot.data.types import Dataset

    if which == "conll":
        dataset = load_dataset("conll2003", data_dir)
        return Dataset("conll2003-dev", {"support": dataset.split("train"), "query": dataset.split("dev")},
                       dataset.label_set), None
    dataset = load_dataset("wnut16")
    pool = dataset.split("pool")
    return Dataset("wnut16-dev", {"support": pool[0::2], "query": pool[1::2]}, dataset.label_set), 5


def dev_episodes(which: str, n_episodes: int, query_size: int, data_dir, seed: int = 0):
    from benchmarks.plan import build_plan
    from benchmarks.profiles import Profile

    dataset, ways = dev_dataset(which, data_dir)
    profile = Profile(name=f"dev-{which}", description="dev episodes for the CLLMFS sweep", datasets=(dataset.name,),
                      sampler="kshot", shots=(5,), ways=(ways,) if ways else None, episodes=n_episodes, seeds=(seed,),
                      query_size=query_size, support_split="support", query_split="query")
    plan = build_plan(profile, lambda name, data_dir=None: dataset, None)
    return list(plan.episode_set.episodes), plan.episode_set.content_hash


def parse_options(items, method: str) -> dict:
    """['option=value', ...] for `method`, typed and checked exactly as --method-option values are."""
    from ner_fewshot.methods import get_method_class
    from ner_fewshot.methods.option_types import field_types, parse_text

    types = field_types(get_method_class(method).config_class)
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in types:
            raise SystemExit(f"{item!r}: expected option=value with an option of {method}: {sorted(types)}")
        options[key] = parse_text(value, types[key], f"{method}.{key}")
    return options


def parse_variant(text: str, method: str = "cllmfs") -> tuple[str, dict]:
    """'name' or 'name:option=value,option=value'."""
    name, _, rest = text.partition(":")
    return name, parse_options(filter(None, rest.split(",")), method)


def main(argv=None) -> None:
    from ner_fewshot import settings
    from ner_fewshot.evaluation import score_episode
    from ner_fewshot.methods import create_method

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", choices=("conll", "wnut16"), default="conll")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--query-size", type=int, default=25)
    parser.add_argument("--variant", action="append", default=[], help="none: only print the summary of --out")
    parser.add_argument("--against", default=None, help="variant to compare every other with (paired bootstrap)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--method", default="cllmfs", help="another registered method on the same dev episodes "
                                                             "(a reference row, e.g. protobert)")
    parser.add_argument("--also-free", action="store_true",
                        help="also decode each fitted variant freely (same adapters): a '<variant>+free' row")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    episodes, episode_hash = dev_episodes(args.dev, args.episodes, args.query_size, settings.data_dir(args.data_dir))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            record = json.loads(line)
            done[(record["variant"], record["episode_hash"], record["episode_id"])] = record
    for text in args.variant:
        name, options = parse_variant(text, args.method)
        method = None
        for episode in episodes:
            key = (name, episode_hash, episode.id)  # variant names are unique per --out file
            if key in done:
                continue
            if method is None:
                method = create_method(args.method, {**BASE_OPTIONS, **options})
                method.prepare()
            started = time.perf_counter()
            method.fit(episode.support, episode.label_set)
            fitted = time.perf_counter()
            decodings = [(name, method.config)]
            if args.also_free and getattr(method.config, "constrained", False):  # same adapters, free decoding: the ablation row
                decodings.append((f"{name}+free", dataclasses.replace(method.config, constrained=False)))
            for label, config in decodings:
                method.config = config
                if hasattr(method, "generation_stats"):
                    method.generation_stats, method.unmatched_strings = type(method.generation_stats)(), 0
                decoding_started = time.perf_counter()
                predictions = method.predict([dataclasses.replace(s, spans=()) for s in episode.query])
                predicted = time.perf_counter()
                score = score_episode([list(s.spans) for s in episode.query], predictions)
                record = {"variant": label, "method": args.method, "options": options, "dev": args.dev, "episode_hash": episode_hash,
                          "episode_id": episode.id, "n_support": len(episode.support), "n_query": len(episode.query),
                          "score": score.to_dict(), "fit_seconds": round(fitted - started, 2),
                          "predict_seconds": round(predicted - decoding_started, 2), "threads": args.threads,
                          "diagnostics": method.episode_diagnostics()}
                with args.out.open("a") as handle:
                    handle.write(json.dumps(record, default=str) + "\n")
                done[(label, episode_hash, episode.id)] = record
                gen = record["diagnostics"].get("generation", {})
                print(f"{label} {episode.id}: F1 {100 * score.f1:.1f} (pred {score.counts.predicted} gold "
                      f"{score.counts.gold}) answered {gen.get('answer_rate')} fit {record['fit_seconds']}s "
                      f"predict {record['predict_seconds']}s", flush=True)
            method.config = decodings[0][1]
    print(f"\ndev {args.dev}, episode set {episode_hash[:12]}, {len(episodes)} episodes")
    print_summary(args.out, episode_hash, args.against)


def print_summary(path: Path, episode_hash: str, against: str | None) -> None:
    """Every variant of `path` on this episode set: micro F1, answer rate, cost; paired bootstrap vs `against`."""
    from ner_fewshot.evaluation import EpisodeScore, bootstrap_f1_difference, summarize

    by_variant: dict[str, dict[str, dict]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["episode_hash"] == episode_hash:
            by_variant.setdefault(record["variant"], {})[record["episode_id"]] = record
    print(f"\n{path}: episode set {episode_hash[:12]}")
    for name, records in by_variant.items():
        ordered = [records[e] for e in sorted(records)]
        summary = summarize([EpisodeScore.from_dict(r["score"]) for r in ordered])
        gens = [r["diagnostics"]["generation"] for r in ordered if "generation" in r.get("diagnostics", {})]
        answered = sum(g.get("answer_rate", g.get("first_open_rate")) * g["prompts"] for g in gens) / sum(g["prompts"] for g in gens) if gens else None
        line = (f"{name:>20}: {len(ordered)} ep, micro F1 {100 * summary.micro.f1:5.1f} (P {100 * summary.micro.precision:5.1f}"
                f" R {100 * summary.micro.recall:5.1f}; {summary.micro.predicted} pred / {summary.micro.gold} gold), "
                f"per episode {[round(100 * EpisodeScore.from_dict(r['score']).f1, 1) for r in ordered]}"
                + (f", answered {100 * answered:.0f}%" if answered is not None else "")
                + f", fit {sum(r['fit_seconds'] for r in ordered) / len(ordered):.0f}s")
        if against and against in by_variant and name != against:
            shared = sorted(set(records) & set(by_variant[against]))
            delta, low, high = bootstrap_f1_difference(
                [EpisodeScore.from_dict(records[e]["score"]) for e in shared],
                [EpisodeScore.from_dict(by_variant[against][e]["score"]) for e in shared])
            line += f"; vs {against} on {len(shared)} shared: {100 * delta:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"
        print(line)


if __name__ == "__main__":
    main()
