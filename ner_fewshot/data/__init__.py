"""The data layer: shared types, tag schemes, column-file readers, label sets and the dataset registry."""
from .types import Dataset, EntityType, LabelSet, Sentence, Span
from .tagging import SCHEMES, TagError, spans_to_tags, tags_to_spans
from .conll import (
    ConllFile,
    DataFormatError,
    read_conll,
    read_jsonl_sentences,
    write_conll,
    write_jsonl_sentences,
)
from .catalog import (
    DatasetInfo,
    DatasetNotFound,
    UnknownDataset,
    available_datasets,
    available_label_sets,
    dataset_info,
    load_dataset,
    load_dataset_from_files,
    load_label_set,
)

__all__ = [
    "Dataset", "EntityType", "LabelSet", "Sentence", "Span",
    "SCHEMES", "TagError", "spans_to_tags", "tags_to_spans",
    "ConllFile", "DataFormatError", "read_conll", "read_jsonl_sentences", "write_conll", "write_jsonl_sentences",
    "DatasetInfo", "DatasetNotFound", "UnknownDataset", "available_datasets", "available_label_sets",
    "dataset_info", "load_dataset", "load_dataset_from_files", "load_label_set",
]
