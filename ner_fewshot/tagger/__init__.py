"""Tag your own text: fit a registered method on a few annotated sentences, tag raw, CoNLL or JSONL
input, and save / load the fitted method (`ner-fewshot tag`, docs/tagging.md)."""
from .inputs import TextSentence, read_inputs
from .model import Tagger, read_manifest
from .outputs import record
from .support import read_support, resolve_label_set
from .tokenize import tokenize

__all__ = ["Tagger", "TextSentence", "read_inputs", "read_manifest", "read_support", "record", "resolve_label_set", "tokenize"]
