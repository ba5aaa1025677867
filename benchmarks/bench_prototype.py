"""Speed of the prototype baselines' predict() against the bare encoder forward, on the same sentences.

    python -m benchmarks.bench_prototype [--sentences 200] [--backbone packaged:all-MiniLM-L6-v2]

"Bare forward" = what any encoder-based tagger must at least do: the HF tokenizer on pre-split words
(special tokens, padding per batch), and the model forward, in batches of the same size sorted by
sub-word length, under inference mode. Each method's predict() adds word alignment, windows, the sum of the last
layers, scoring against the support and decoding. Each timing is the best of `--repeats` runs,
interleaved, so that load from other processes shows up as little as possible. Goal (ProtoBERT and
NNShot): predict <= 1.25 x bare forward.
"""
from __future__ import annotations

import argparse
import time

import torch

from baselines.prototype.methods import NNShot, ProtoBERT, StructShot
from ner_fewshot import backbones
from ner_fewshot.data.catalog import load_dataset


def bare_forward(encoder, sentences, batch_size: int) -> None:
    tokenizer, model = encoder.tokenizer, encoder.model
    encoded = tokenizer([list(s.words) for s in sentences], is_split_into_words=True, truncation=True)
    ids = sorted(encoded["input_ids"], key=len)  # sorted by sub-word length, as predict() does
    with torch.inference_mode():
        for begin in range(0, len(ids), batch_size):
            batch = tokenizer.pad({"input_ids": ids[begin : begin + batch_size]}, return_tensors="pt").to(encoder.device)
            model(**batch)


def best_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--support", type=int, default=20, help="support sentences the methods are fitted on")
    parser.add_argument("--backbone", default=backbones.MINILM)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    dataset = load_dataset("wnut16")
    test, pool = dataset.split("test"), dataset.split("pool")
    sentences = test[: args.sentences]
    support = [s for s in pool if s.spans][: args.support]
    label_set = dataset.label_set.subset(sorted({span.label for s in support for span in s.spans}))

    methods = []
    encoder = None
    for cls in (ProtoBERT, NNShot, StructShot):
        method = cls(cls.config_class(backbone=args.backbone, batch_size=args.batch_size, device=args.device))
        method.encoder = encoder  # one encoder for all three: same weights, same cache state
        method.prepare()
        encoder = method.encoder
        method.fit(support, label_set)
        methods.append(method)

    words = sum(len(s) for s in sentences)
    print(f"{len(sentences)} WNUT-16 test sentences ({words} words), {len(support)} support sentences, "
          f"{len(label_set)} types, backbone {backbones.describe(args.backbone)}, batch {args.batch_size}, "
          f"{args.threads} thread(s), best of {args.repeats}")
    bare_forward(encoder, sentences, args.batch_size)  # warm-up
    timings = {"bare forward": [], **{m.name: [] for m in methods}}
    for _ in range(args.repeats):  # interleaved: each round times everything once
        timings["bare forward"].append(best_time(lambda: bare_forward(encoder, sentences, args.batch_size), 1))
        for method in methods:
            timings[method.name].append(best_time(lambda: method.predict(sentences), 1))
    bare = min(timings["bare forward"])
    for name, values in timings.items():
        seconds = min(values)
        print(f"  {name:13s} {seconds:7.3f} s  {len(sentences) / seconds:7.1f} sentences/s  {seconds / bare:5.2f} x bare forward")


if __name__ == "__main__":
    main()
