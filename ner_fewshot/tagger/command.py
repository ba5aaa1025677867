"""`ner-fewshot tag`: fit a registered method on a few annotated sentences (or load one fitted
before) and tag new text. See docs/tagging.md."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..data.conll import DataFormatError
from ..data.tagging import SCHEMES
from ..methods.base import MethodUnavailable
from ..methods.option_types import field_types, parse_text
from ..methods.registry import UnknownMethod, get_method_class
from .inputs import INPUT_FORMATS, STDIN, read_inputs
from .model import SavedTaggerError, Tagger, read_manifest
from .outputs import OUTPUT_FORMATS, check_writable, guess_output_format, render, write_output
from .support import AUTO, read_support, resolve_label_set

DEFAULT_METHOD = "protobert"
PROGRESS_FROM = 100  # sentences; shorter inputs finish before a bar would help


def build_parser(prog: str = "ner-fewshot tag") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Fit a few-shot NER method on a small annotated file (or load one saved before) "
                               "and tag new text.")
    fitted = p.add_argument_group("the fitted method (one of --support / --load)")
    fitted.add_argument("--support", metavar="FILE", help="annotated sentences: a column file (token and tag per line) "
                        "or a .jsonl sentence file")
    fitted.add_argument("--load", metavar="DIR", help="a folder written by --save")
    fitted.add_argument("--method", help=f"registered method (default {DEFAULT_METHOD}); see `ner-fewshot methods`")
    fitted.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a method config option, e.g. backbone=bert-base-uncased (repeatable)")
    fitted.add_argument("--scheme", default=AUTO, choices=(AUTO, *SCHEMES), help="tag scheme of --support (default: detected)")
    fitted.add_argument("--labels", help="label set: a packaged one (e.g. wnut16), a label-set .json file, or "
                        "type names separated by commas (default: the types the support uses)")
    fitted.add_argument("--save", metavar="DIR", help="save the fitted method (with its config and label set) here")
    text = p.add_argument_group("the text to tag")
    text.add_argument("--input", metavar="FILE", help="text to tag; '-' = stdin")
    text.add_argument("--input-format", choices=INPUT_FORMATS,
                      help="raw (a sentence per line), conll (a token per line) or jsonl (default: from the file "
                           "name: .jsonl/.json -> jsonl, .conll/.bio/.iob/.iob2/.tsv -> conll, else raw)")
    text.add_argument("--output", default=STDIN, metavar="FILE", help="where the tags go; '-' = stdout (default)")
    text.add_argument("--format", choices=OUTPUT_FORMATS, help="jsonl (default) or conll (default for .conll/... names)")
    text.add_argument("--batch-size", type=int, default=256, metavar="N", help="sentences per predict call (default 256)")
    text.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _quiet_libraries() -> None:
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def parse_options(items: Sequence[str], config_class) -> dict:
    """['backbone=bert-base-uncased', 'batch_size=64'] -> typed values for `config_class`'s options."""
    types = field_types(config_class)
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--option {item!r}: expected KEY=VALUE, e.g. backbone=bert-base-uncased")
        if key not in types:
            raise ValueError(f"--option {item!r}: {config_class.__name__} has no option {key!r}; valid options: {sorted(types)}")
        options[key] = parse_text(value, types[key], f"--option {key}")
    return options


def _tagger(args) -> Tagger:
    if args.load:
        options = None
        if args.option:  # typed by the config of the method named, or else of the one saved
            name = args.method or read_manifest(args.load)["method"]
            options = parse_options(args.option, get_method_class(name).config_class)
        return Tagger.load(args.load, method_name=args.method, options=options)
    method = args.method or DEFAULT_METHOD
    options = parse_options(args.option, get_method_class(method).config_class)
    support = read_support(args.support, args.scheme)
    label_set, origin = resolve_label_set(support, args.labels)
    info = {"file": str(support.path), "scheme": support.scheme, "repairs": support.repairs, "label_set_origin": origin}
    return Tagger.fit(method, support.sentences, label_set, options, support_info=info)


def run(args) -> int:
    err = sys.stderr
    sentences = read_inputs(args.input, args.input_format) if args.input else []  # bad input fails before any fitting
    output_format = args.format or guess_output_format(args.output)
    check_writable(sentences, output_format)
    tagger = _tagger(args)
    if args.save:
        tagger.save(args.save)
        print(f"saved the fitted {tagger.method.name} ({tagger.method.describe_backbone()}, "
              f"{len(tagger.label_set)} types) to {args.save}", file=err)
    if not sentences:
        return 0
    from tqdm import tqdm

    show = not args.no_progress and len(sentences) >= PROGRESS_FROM
    with tqdm(total=len(sentences), unit="sent", desc="tagging", disable=None if show else True, file=err) as bar:
        spans = tagger.predict([s.to_sentence() for s in sentences], batch_size=args.batch_size, on_batch=bar.update)
    chunks = render(sentences, spans, output_format)
    write_output(args.output, chunks)
    timings = tagger.timings
    rate = timings.predicted_sentences / timings.predict_seconds if timings.predict_seconds else float("inf")
    where = "stdout" if args.output == STDIN else args.output
    print(f"tagged {len(sentences)} sentences ({sum(len(s.tokens) for s in sentences)} tokens, "
          f"{sum(len(p) for p in spans)} spans) with {tagger.method.name} ({tagger.method.describe_backbone()}): "
          f"predict {timings.predict_seconds:.2f} s, {rate:.1f} sentences/s; wrote {output_format} to {where}", file=err)
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "ner-fewshot tag") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if bool(args.support) == bool(args.load):
        parser.error("give exactly one of --support FILE (fit now) and --load DIR (a method saved with --save)")
    if args.load and (args.labels or args.scheme != AUTO):
        parser.error("--labels and --scheme describe a support file; a --load folder already has its label set")
    if not args.input and not args.save:
        parser.error("nothing to do: give --input FILE (text to tag) and/or --save DIR")
    if args.batch_size < 1:
        parser.error(f"--batch-size {args.batch_size}: must be >= 1")
    _quiet_libraries()
    try:
        return run(args)
    except (DataFormatError, FileNotFoundError, FileExistsError, SavedTaggerError, UnknownMethod, MethodUnavailable,
            NotImplementedError, ValueError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(prog="python -m ner_fewshot.tagger.command"))
