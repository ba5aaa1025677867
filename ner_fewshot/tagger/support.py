"""The annotated sentences a method is fitted on, and their label set.

A support file is a column file (token and tag per line, any scheme, detected or given) or a JSONL
sentence file (`{"words": [...], "spans": [[start, end, type], ...]}` per line). The label set is
every type the file uses, or what `--labels` names: a packaged label set (`wnut16`), a label-set
.json file, or type names separated by commas.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..data.catalog import available_label_sets, check_labels, generated_label_words, load_label_set
from ..data.conll import DOCSTART, DataFormatError, read_conll, read_jsonl_sentences, read_text_lines
from ..data.tagging import SCHEMES, check_scheme, detect_scheme
from ..data.types import EntityType, LabelSet, Sentence

AUTO = "auto"


@dataclass(frozen=True)
class Support:
    path: Path
    sentences: tuple[Sentence, ...]
    scheme: str  # the column file's tag scheme ('spans' for JSONL)
    repairs: int  # ill-formed tag sequences repaired while reading


def _column_tags(path: Path) -> list[list[str]]:
    sentences, tags = [], []
    for line in read_text_lines(path):
        columns = line.split()
        if not columns or columns[0] == DOCSTART:
            if tags:
                sentences.append(tags)
            tags = []
        elif len(columns) >= 2:
            tags.append(columns[-1])
    return [*sentences, tags] if tags else sentences


def read_support(path: str | Path, scheme: str = AUTO) -> Support:
    """Sentences with gold spans from a column file (scheme detected when `auto`) or a .jsonl file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"support file not found: {path}")
    if path.suffix.lower() in (".jsonl", ".json"):
        return Support(path, read_jsonl_sentences(path), "spans", 0)
    if scheme != AUTO:
        check_scheme(scheme)
    chosen = detect_scheme(_column_tags(path)) if scheme == AUTO else scheme
    conll = read_conll(path, scheme=chosen)
    return Support(path, conll.sentences, chosen, conll.repairs)


def _from_names(names) -> LabelSet:
    return LabelSet(tuple(EntityType(name, generated_label_words(name), name) for name in names))


def resolve_label_set(support: Support, labels: str | None = None) -> tuple[LabelSet, str]:
    """(label set, where it came from); every type the support uses must be in it."""
    if labels is None:
        found = sorted({span.label for s in support.sentences for span in s.spans})
        label_set, origin = _from_names(found), f"the types used in {support.path}"
    elif labels.endswith(".json"):
        try:
            label_set = LabelSet.from_json(json.loads(Path(labels).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise FileNotFoundError(f"label-set file not found: {labels}") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise DataFormatError(f"{labels}: not a label-set file ({error})\n  fix: a JSON list of "
                                  '{"name": ..., "label_words": [...], "definition": ...} objects', path=labels) from None
        origin = labels
    elif labels in available_label_sets():
        label_set, origin = load_label_set(labels), f"the packaged label set {labels!r}"
    else:
        names = [name.strip() for name in labels.split(",") if name.strip()]
        if not names:
            raise ValueError(f"--labels {labels!r} names no type; give e.g. person,location or a packaged "
                             f"label set: {', '.join(available_label_sets())}")
        label_set, origin = _from_names(names), f"--labels {labels}"
    if not label_set.names:
        raise DataFormatError(f"{support.path}: the support has no entity mention, so there is nothing to learn\n"
                              "  fix: annotate at least one mention per type you want tagged", path=support.path)
    check_labels(support.sentences, label_set, origin)
    return label_set, origin


__all__ = ["AUTO", "SCHEMES", "Support", "read_support", "resolve_label_set"]
