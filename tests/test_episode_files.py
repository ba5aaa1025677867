"""Hostile episode files, in both formats (ner-fewshot's hashed JSONL and Few-NERD's released JSONL):
empty support or query, words that are not strings, labels that are not strings, wrong encodings.
Each is refused at load time with the file and line, never passed on to crash a method later."""
from __future__ import annotations

import hashlib
import json

import pytest

from ner_fewshot.data.types import EntityType, LabelSet, Sentence, Span
from ner_fewshot.episodes import Episode, EpisodeFileError, EpisodeSet, read_fewnerd_episodes

FEWNERD_EPISODE = {
    "support": {"word": [["Toyota", "Corolla", "sales", "rose"]], "label": [["product-car", "product-car", "O", "O"]]},
    "query": {"word": [["He", "drives", "a", "Ford"]], "label": [["O", "O", "O", "product-car"]]},
    "types": ["product-car"],
}


def fewnerd_file(tmp_path, *edits, name: str = "test_1_1.jsonl", encoding: str = "utf-8", newline: str = "\n"):
    """A released-format file: one good episode, then one episode per edit (a function changing a copy)."""
    records = [FEWNERD_EPISODE]
    for edit in edits:
        record = json.loads(json.dumps(FEWNERD_EPISODE))
        edit(record)
        records.append(record)
    path = tmp_path / name
    path.write_bytes("".join(json.dumps(r) + newline for r in records).encode(encoding))
    return path


def set_item(part: str, key: str, value):
    return lambda record: record[part].__setitem__(key, value)


@pytest.mark.parametrize("part", ["support", "query"])
def test_fewnerd_episode_without_support_or_query_sentences_is_refused(tmp_path, part):
    path = fewnerd_file(tmp_path, lambda r: r.__setitem__(part, {"word": [], "label": []}))
    with pytest.raises(EpisodeFileError, match=rf"test_1_1\.jsonl:2: .*no {part} sentences") as caught:
        read_fewnerd_episodes(path)
    assert caught.value.line == 2


def test_fewnerd_words_that_are_not_strings_are_refused(tmp_path):
    path = fewnerd_file(tmp_path, set_item("query", "word", [[1, None, {}, "x"]]))
    with pytest.raises(EpisodeFileError, match=r"test_1_1\.jsonl:2: query sentence 0, word 0: 1 is of type int, not a string"):
        read_fewnerd_episodes(path)
    path = fewnerd_file(tmp_path, set_item("support", "word", [["Toyota", "", "sales", "rose"]]))
    with pytest.raises(EpisodeFileError, match=r"test_1_1\.jsonl:2: support sentence 0, word 1: .*empty"):
        read_fewnerd_episodes(path)


@pytest.mark.parametrize("label", [1, None, ["O"], {"a": 1}])
def test_fewnerd_labels_that_are_not_strings_are_refused(tmp_path, label):
    path = fewnerd_file(tmp_path, set_item("query", "label", [["O", label, "O", "O"]]))
    with pytest.raises(EpisodeFileError, match=r"test_1_1\.jsonl:2: .*not a string"):
        read_fewnerd_episodes(path)


def test_fewnerd_integer_types_are_refused(tmp_path):
    path = fewnerd_file(tmp_path, lambda r: r.__setitem__("types", [3]))
    with pytest.raises(EpisodeFileError, match=r"test_1_1\.jsonl:2: .*\"types\""):
        read_fewnerd_episodes(path)


@pytest.mark.parametrize("encoding, command", [("utf-16", "iconv -f utf-16 -t utf-8"), ("utf-16-le", "iconv -f utf-16le -t utf-8")])
def test_fewnerd_utf16_file_names_the_file_and_the_utf16_command(tmp_path, encoding, command):
    path = fewnerd_file(tmp_path, encoding=encoding)
    with pytest.raises(EpisodeFileError) as caught:
        read_fewnerd_episodes(path)
    assert str(path) in str(caught.value) and command in str(caught.value) and "latin1" not in str(caught.value)


def test_fewnerd_latin1_file_names_file_line_and_the_latin1_command(tmp_path):
    path = fewnerd_file(tmp_path, set_item("query", "word", [["Zoë", "drives", "a", "Ford"]]))
    # json.dumps escapes non-ASCII; write the raw latin-1 byte instead, as a hand-edited file would
    path.write_bytes(path.read_bytes().replace(b"Zo\\u00eb", b"Zo\xeb"))
    with pytest.raises(EpisodeFileError) as caught:
        read_fewnerd_episodes(path)
    assert f"{path}:2" in str(caught.value) and "iconv -f latin1 -t utf-8" in str(caught.value)


def test_fewnerd_file_with_lone_cr_line_ends_reads_every_episode(tmp_path):
    path = fewnerd_file(tmp_path, lambda r: None, newline="\r")
    assert len(read_fewnerd_episodes(path)) == 2


# ---- ner-fewshot's own episode files ---------------------------------------------------------------

LABELS = LabelSet((EntityType("person", ("person",), "a person"),))


def hashed_file(tmp_path, episode: dict, name: str = "episodes.jsonl"):
    """An episode file whose header hash is right for `episode`, however odd its content: the loader
    must refuse bad content for what it is, not as a hash mismatch."""
    canonical = lambda value: json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # noqa: E731
    protocol = {"sampler": "hand"}
    digest = hashlib.sha256()
    digest.update(canonical(protocol).encode("utf-8") + b"\n")
    without_source = {**episode, "support": [{k: v for k, v in s.items() if k != "source"} for s in episode["support"]],
                      "query": [{k: v for k, v in s.items() if k != "source"} for s in episode["query"]]}
    digest.update(canonical(without_source).encode("utf-8") + b"\n")
    header = {"format": "ner-fewshot-episodes", "version": 1, "sha256": digest.hexdigest(), "protocol": protocol, "n_episodes": 1}
    path = tmp_path / name
    path.write_text(canonical(header) + "\n" + canonical(episode) + "\n", encoding="utf-8")
    return path


def good_episode() -> dict:
    sentence = Sentence(("Ann", "sings"), (Span(0, 1, "person"),), "a.txt:1")
    return Episode("ep-0000", LABELS, (sentence,), (sentence,)).to_json()


def test_hashed_file_helper_matches_the_real_format(tmp_path):
    assert len(EpisodeSet.load(hashed_file(tmp_path, good_episode()))) == 1


@pytest.mark.parametrize("part", ["support", "query"])
def test_episode_without_support_or_query_is_refused_at_load(tmp_path, part):
    episode = good_episode()
    episode[part] = []
    with pytest.raises(EpisodeFileError, match=rf"episodes\.jsonl:2: .*no {part} sentences"):
        EpisodeSet.load(hashed_file(tmp_path, episode))


def test_words_that_are_not_strings_are_refused_at_load(tmp_path):
    episode = good_episode()
    episode["query"][0]["words"] = [1, None]
    with pytest.raises(EpisodeFileError, match=r"episodes\.jsonl:2: .*not a string"):
        EpisodeSet.load(hashed_file(tmp_path, episode))


@pytest.mark.parametrize("span", [[0, 1, 5], [0, 1, None], [0.0, 1, "person"], [True, 1, "person"], ["0", 1, "person"]])
def test_span_fields_of_the_wrong_type_are_refused_at_load(tmp_path, span):
    episode = good_episode()
    episode["support"][0]["spans"] = [span]
    with pytest.raises(EpisodeFileError, match=r"episodes\.jsonl:2: malformed episode"):
        EpisodeSet.load(hashed_file(tmp_path, episode))


def test_utf16_episode_file_names_the_file_and_the_utf16_command(tmp_path):
    path = hashed_file(tmp_path, good_episode())
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(EpisodeFileError) as caught:
        EpisodeSet.load(path)
    assert str(path) in str(caught.value) and "iconv -f utf-16 -t utf-8" in str(caught.value)


def test_latin1_episode_file_names_file_line_and_the_latin1_command(tmp_path):
    path = hashed_file(tmp_path, good_episode())
    path.write_bytes(path.read_bytes().replace(b'"Ann"', b'"\xc5nn"'))
    with pytest.raises(EpisodeFileError) as caught:
        EpisodeSet.load(path)
    assert f"{path}:2" in str(caught.value) and "iconv -f latin1 -t utf-8" in str(caught.value)
