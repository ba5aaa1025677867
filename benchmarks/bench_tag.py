"""Speed of `ner-fewshot tag` against the method's own predict(), on the same tweets, back to back.

    python -m benchmarks.bench_tag [--method protobert] [--sentences 1000] [--repeats 3]

The tag pipeline (read a raw-text file and tokenise it, predict in batches of --batch-size, render
JSONL, write it to a temporary file and rename) is timed against one `predict()` call on the same
sentences (what bench_prototype measures and the benchmark table reports). Start-up (imports, model
load, fit) is excluded from both. Timings are interleaved, best of --repeats, and the load average is
printed: the machine may be shared. Goal: tag throughput >= 90% of predict throughput.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from ner_fewshot.data.catalog import load_dataset
from ner_fewshot.tagger import Tagger, read_inputs
from ner_fewshot.tagger.outputs import render, write_atomically


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="protobert")
    parser.add_argument("--sentences", type=int, default=1000, help="tweets of the packaged WNUT-16 file, in file order")
    parser.add_argument("--support", type=int, default=20, help="support sentences (the first pool sentences with mentions)")
    parser.add_argument("--batch-size", type=int, default=256, help="the tag command's sentences per predict call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    dataset = load_dataset("wnut16")
    support = [s for s in dataset.split("pool") if s.spans][: args.support]
    label_set = dataset.label_set.subset(sorted({span.label for s in support for span in s.spans}))
    tagger = Tagger.fit(args.method, support, label_set, {"device": "cpu"})
    with tempfile.TemporaryDirectory() as folder:
        text_file, out_file = Path(folder) / "tweets.txt", Path(folder) / "tagged.jsonl"
        text_file.write_text("".join(" ".join(s.words) + "\n" for s in dataset.split("all")[: args.sentences]), encoding="utf-8")
        sentences = [s.to_sentence() for s in read_inputs(str(text_file))]

        def predict_once() -> None:
            tagger.method.predict(sentences)

        def tag_once() -> None:
            inputs = read_inputs(str(text_file))
            spans = tagger.predict([s.to_sentence() for s in inputs], batch_size=args.batch_size)
            write_atomically(out_file, render(inputs, spans, "jsonl"))

        predict_once()  # warm-up
        timings = {"predict": [], "tag": []}
        cpu = {"predict": [], "tag": []}  # process CPU time: less sensitive to other processes than the wall clock
        for _ in range(args.repeats):
            for name, run in (("predict", predict_once), ("tag", tag_once)):
                clock, cpu_clock = time.perf_counter(), time.process_time()
                run()
                timings[name].append(time.perf_counter() - clock)
                cpu[name].append(time.process_time() - cpu_clock)
    rates = {name: len(sentences) / min(values) for name, values in timings.items()}
    print(f"{len(sentences)} WNUT-16 tweets ({sum(len(s) for s in sentences)} tokens), {args.method} "
          f"({tagger.method.describe_backbone()}), {len(support)} support sentences, {torch.get_num_threads()} thread(s), "
          f"best of {args.repeats}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, rate in rates.items():
        print(f"  {name:8s} {min(timings[name]):7.2f} s wall  {rate:7.1f} sentences/s   {min(cpu[name]):7.2f} s CPU")
    print(f"  tag / predict throughput: {rates['tag'] / rates['predict']:.1%} wall clock, "
          f"{min(cpu['predict']) / min(cpu['tag']):.1%} CPU time (goal >= 90%)")


if __name__ == "__main__":
    main()
