"""ProtoBERT / NNShot / StructShot: scoring, the word encoder (windows, odd words), meta-training,
save/load, and an end-to-end run with the packaged MiniLM."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from baselines.prototype import distance
from baselines.prototype.encoder import TokenEncoder, WordVectors
from baselines.prototype.config import PrototypeConfig, StructShotConfig
from baselines.prototype.methods import NNShot, ProtoBERT, StructShot, word_labels
from ner_fewshot.data.types import Dataset, EntityType, LabelSet, Sentence, Span
from ner_fewshot.evaluation import score_episode, summarize
from ner_fewshot.methods import MethodContext, create_method

LABELS = LabelSet((EntityType("person", ("person",), "people"), EntityType("location", ("location",), "places")))
PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank"]
PLACES = ["paris", "rome", "oslo", "lima", "cairo", "quito"]
FILLER = ["the", "went", "to", "and", "visited", "from", "with", "lives", "in", "a", "city"]
# ---- a toy corpus: "<person> <person>? went to <place>" patterns ------------------------------


def _sentence(rng: random.Random, source: str) -> Sentence:
    words, spans = [], []
    for _ in range(rng.randint(1, 3)):
        words += rng.sample(FILLER, rng.randint(1, 3))
        kind, pool = rng.choice([("person", PEOPLE), ("location", PLACES)])
        length = rng.randint(1, 2)
        spans.append(Span(len(words), len(words) + length, kind))
        words += rng.sample(pool, length)
    words += rng.sample(FILLER, 1)
    return Sentence(tuple(words), tuple(spans), source)


def _corpus(n: int, seed: int) -> list[Sentence]:
    rng = random.Random(seed)
    return [_sentence(rng, f"toy.txt:{i + 1}") for i in range(n)]


class SeparableEncoder(torch.nn.Module):
    """Hand-made word vectors: one direction per class plus a little word-specific noise."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        centres = torch.eye(3) * 10.0
        self.table = {}
        for cls, words in enumerate([FILLER, PEOPLE, PLACES]):
            for word in words:
                self.table[word] = torch.cat([centres[cls], torch.randn(5, generator=generator)])

    def encode(self, sentences):
        return WordVectors(torch.stack([self.table[w] for words in sentences for w in words]), [len(w) for w in sentences])

    def parameter_count(self) -> int:
        return 0


def _run(method, support, query) -> float:
    method.fit(support, LABELS)
    return summarize([score_episode([q.spans for q in query], method.predict(query))]).micro.f1


@pytest.mark.parametrize("cls", [ProtoBERT, NNShot, StructShot])
def test_separable_vectors_give_perfect_f1_and_shuffled_labels_do_not(cls):
    support, query = _corpus(6, seed=1), _corpus(20, seed=2)
    method = cls()
    method.encoder = SeparableEncoder()
    assert _run(method, support, query) == 1.0
    swap = {"person": "location", "location": "person"}
    shuffled = [s.with_spans(Span(x.start, x.end, swap[x.label]) for x in s.spans) for s in support]
    assert _run(method, shuffled, query) == 0.0


def test_structshot_transition_sources(shared_data, monkeypatch):
    from ner_fewshot.methods.base import MethodUnavailable

    support, query = _corpus(6, seed=1), _corpus(5, seed=2)
    method = StructShot(StructShotConfig(transition_source="no-such-dataset"))
    method.encoder = SeparableEncoder()
    with pytest.raises(MethodUnavailable, match="no-such-dataset"):
        method.prepare()
    monkeypatch.setenv("NER_FEWSHOT_DATA", str(shared_data))
    named = StructShot(StructShotConfig(transition_source="conll2003"))
    named.encoder = SeparableEncoder()
    named.fit(support, LABELS)
    assert named.row_tags()["transitions"] == "conll2003 train" and named._transitions.o_o > 0.8
    default = StructShot()
    default.encoder = SeparableEncoder()
    with pytest.raises(RuntimeError, match="fit"):
        default.predict(query)
    default.fit(support, LABELS)
    assert default.row_tags()["transitions"] == "per-episode support set"
    assert default.predict(query) == named.predict(query)  # separable: the transitions do not matter


def test_distance_module_scores():
    support = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [7.0, 5.0]])
    labels = torch.tensor([0, 0, 2, 2])  # class 1 has no support vector
    queries = torch.tensor([[0.0, 1.0], [6.0, 5.0]])
    prototypes, present = distance.class_prototypes(support, labels, 3)
    assert present.tolist() == [True, False, True]
    assert prototypes[0].tolist() == [0.5, 0.0] and prototypes[2].tolist() == [6.0, 5.0]
    proto = distance.prototype_logits(queries, prototypes, present, "euclidean")
    assert proto[0, 0].item() == pytest.approx(-1.25) and proto[1, 2].item() == pytest.approx(0.0)
    assert torch.isinf(proto[:, 1]).all()
    nearest = distance.nearest_neighbour_logits(queries, support, labels, 3, "euclidean")
    assert nearest[0, 0].item() == pytest.approx(-1.0) and nearest[1, 2].item() == pytest.approx(-1.0)
    assert nearest[0, 2].item() == pytest.approx(-41.0)  # (5, 4) from (5, 5)
    assert distance.nearest_neighbour_logits(queries, support, labels, 3, "dot")[1, 2].item() == pytest.approx(67.0)


def test_word_labels_reject_foreign_types_with_the_source():
    sentence = Sentence(("alice", "went"), (Span(0, 1, "organisation"),), "toy.txt:7")
    with pytest.raises(ValueError, match=r"toy.txt:7.*organisation"):
        word_labels([sentence], ("O", "person"))


def test_configs_are_registered_with_help():
    for name, cls in [("protobert", ProtoBERT), ("nnshot", NNShot), ("structshot", StructShot)]:
        method = create_method(name, {"metric": "dot"})
        assert type(method) is cls and method.config.metric == "dot"
    rows = {row[0]: row for row in StructShotConfig.describe()}
    assert rows["tau"][2] == "auto" and rows["tau"][1] == "str | float" and all(row[3] for row in rows.values())
    with pytest.raises(ValueError, match="subword_pooling"):
        PrototypeConfig(subword_pooling="last")


@pytest.mark.parametrize("given, stored", [("auto", "auto"), ("AUTO", "auto"), (0.318, "0.318"), ("0.434", "0.434"), (1, "1.0")])
def test_tau_option_accepts_auto_or_a_positive_number(given, stored):
    config = StructShotConfig(tau=given)
    assert config.tau == stored
    assert StructShotConfig.from_dict(config.to_dict()).tau == stored  # survives save/load


@pytest.mark.parametrize("bad", [0, -0.3, "0", "hot", "nan", None, True])
def test_tau_option_rejects_anything_else(bad):
    with pytest.raises(ValueError, match=r"StructShotConfig\.tau=.*'auto' or a number > 0"):
        StructShotConfig(tau=bad)


def _mentions(kind: str, n: int) -> list[Sentence]:
    pool = PEOPLE if kind == "person" else PLACES
    return [Sentence(("the", pool[i % len(pool)], "went"), (Span(1, 2, kind),), f"toy.txt:{i + 1}") for i in range(n)]


def test_auto_tau_is_resolved_per_episode_and_shown_in_row_tags():
    method = StructShot()
    method.encoder = SeparableEncoder()
    assert method.row_tags()["tau"] == "auto"
    method.fit(_mentions("person", 1) + _mentions("location", 6), LABELS)  # K = 1: 1~2-shot row
    assert method._tau == 0.32 and method.row_tags()["tau"] == "auto (0.32)"
    query = _corpus(4, seed=2)
    method.predict(query)
    method.fit(_mentions("person", 5) + _mentions("location", 7), LABELS)  # K = 5, N = 2: 5~10 shot, few ways
    assert method._tau == 0.318 and method.row_tags()["tau"] == "auto (0.318, 0.32)"
    fixed = StructShot(StructShotConfig(tau=0.5))
    fixed.encoder = SeparableEncoder()
    fixed.fit(_mentions("person", 5) + _mentions("location", 7), LABELS)
    assert fixed._tau == 0.5 and fixed.row_tags()["tau"] == "0.5"


# A Few-NERD-format train episode file. Hand counts over all support + query sentences of both episodes:
# starts O 2, I 3; O->O 1, O->I 2; I->O 2, I->same 2, I->other 1.
EPISODE_LINES = [
    {"support": {"word": [["Tom", "Hanks", "in", "Paris"], ["it", "rained"]],
                 "label": [["person-actor", "person-actor", "O", "location-GPE"], ["O", "O"]]},
     "query": {"word": [["Rome", "Anna", "left"]], "label": [["location-GPE", "person-actor", "O"]]},
     "types": ["person-actor", "location-GPE"]},
    {"support": {"word": [["to", "New", "York"]], "label": [["O", "location-GPE", "location-GPE"]]},
     "query": {"word": [["Anna"]], "label": [["person-actor"]]},
     "types": ["location-GPE", "person-actor"]},
]


def test_structshot_transitions_from_a_fewnerd_episode_file(tmp_path, monkeypatch):
    from ner_fewshot.methods.base import MethodUnavailable

    relative = "few-nerd/episode-data/inter/train_5_1.jsonl"
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in EPISODE_LINES))
    monkeypatch.delenv("NER_FEWSHOT_DATA", raising=False)  # the data dir comes from the method's context alone
    for value in (relative, str(path)):  # relative to the data dir, or absolute
        method = StructShot(StructShotConfig(transition_source=value))
        method.context = MethodContext(data_dir=tmp_path)
        method.encoder = SeparableEncoder()
        method.prepare()
        t = method._source_transitions
        assert (t.start_o, t.start_i) == pytest.approx((2 / 5, 3 / 5))
        assert (t.o_o, t.o_i) == pytest.approx((1 / 3, 2 / 3))
        assert (t.i_o, t.i_same, t.i_other) == pytest.approx((2 / 5, 2 / 5, 1 / 5))
        assert method.row_tags()["transitions"] == value
    # The file's transitions serve every episode and survive a source dataset given later.
    method.train_source(Dataset("toy", {"train": tuple(_corpus(5, seed=3))}, LABELS))
    method.fit(_corpus(6, seed=1), LABELS)
    assert method._transitions == t and method.row_tags()["transitions"] == str(path)
    missing = StructShot(StructShotConfig(transition_source="few-nerd/episode-data/inter/train_10_5.jsonl"))
    missing.context = MethodContext(data_dir=tmp_path)
    missing.encoder = SeparableEncoder()
    with pytest.raises(MethodUnavailable, match=r"train_10_5\.jsonl.*not found.*data dir"):
        missing.prepare()
    unset = StructShot(StructShotConfig(transition_source=relative))
    unset.encoder = SeparableEncoder()
    with pytest.raises(MethodUnavailable, match="--data-dir"):
        unset.prepare()


def test_meta_training_schedule_starts_at_lr_zero_like_transformers():
    from transformers import get_linear_schedule_with_warmup

    from baselines.prototype.metatrain import MetaTrainSettings, learning_rate_schedule

    def rates(settings, schedule=learning_rate_schedule):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=settings.lr)
        scheduler = schedule(optimizer, settings)
        seen = []
        for _ in range(settings.iterations):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return seen

    linear = MetaTrainSettings(iterations=10, lr=1.0, warmup_fraction=0.3)
    assert rates(linear) == pytest.approx([0, 1 / 3, 2 / 3, 1, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7])
    reference = rates(linear, lambda o, s: get_linear_schedule_with_warmup(o, 3, 10))
    assert rates(linear) == reference
    constant = MetaTrainSettings(iterations=6, lr=1.0, warmup_fraction=0.5, linear_decay=False)
    assert rates(constant) == pytest.approx([0, 1 / 3, 2 / 3, 1, 1, 1])
    assert rates(MetaTrainSettings(iterations=4, lr=1.0, warmup_fraction=0.0)) == pytest.approx([1, 0.75, 0.5, 0.25])


def test_meta_training_first_step_leaves_the_weights_unchanged():
    from baselines.prototype.metatrain import MetaTrainSettings, meta_train

    module = torch.nn.Linear(3, 2)
    snapshots = []

    def loss(episode):
        snapshots.append(module.weight.detach().clone())
        return (module(torch.ones(1, 3)) ** 2).sum()

    meta_train(module, loss, iter(range(100)), MetaTrainSettings(iterations=4, lr=0.1, warmup_fraction=0.5), show_progress=False)
    assert torch.equal(snapshots[0], snapshots[1])  # step 0 ran at lr 0 (weight decay too)
    assert not torch.equal(snapshots[1], snapshots[2])


@pytest.fixture
def one_thread():
    """Tiny-model steps are dominated by thread synchronisation on a busy machine: use one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ---- a tiny real BERT built in the test ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    texts = [" ".join(s.words) for s in _corpus(200, seed=3)] + ["Peter Blackburn", "EU rejects German call to boycott British lamb ."]
    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(texts, vocab_size=120, min_frequency=1, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    trainer.save_model(str(folder))
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=trainer.get_vocab_size(), hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


def test_long_sentences_are_windowed_and_stitched(tiny_bert, one_thread):
    encoder = TokenEncoder.from_pretrained(str(tiny_bert)).eval()
    long = [w for s in _corpus(12, seed=4) for w in s.words]  # far more sub-words than a 16-wide window
    with torch.no_grad():
        whole = encoder.encode([long]).vectors
        encoder_small = TokenEncoder.from_pretrained(str(tiny_bert), window=16).eval()
        rows = encoder_small._plan([long])[0]
        stitched = encoder_small.encode([long]).vectors
    assert len(rows) > 3 and stitched.shape == whole.shape and torch.isfinite(stitched).all()
    # Each word's vector is exactly what its own window alone gives (the stitching map is right) ...
    for row in rows:
        alone = encoder_small._forward([row.ids])[0, torch.from_numpy(row.positions)]
        assert torch.allclose(stitched[torch.from_numpy(row.targets)], alone, atol=1e-5)
    # ... and with a window large enough nothing is split: identical to the unsplit encoding.
    assert torch.allclose(TokenEncoder.from_pretrained(str(tiny_bert), window=64).eval().encode([long]).vectors, whole)
    method = NNShot(PrototypeConfig(backbone=str(tiny_bert), window=16, device="cpu"))
    support = _corpus(6, seed=1)
    method.fit(support, LABELS)
    sentence = Sentence(tuple(long))
    spans = method.predict([sentence])[0]
    # Every word got a label: the predicted spans plus O words tile the sentence.
    assert all(0 <= s.start < s.end <= len(long) for s in spans)
    logits = method.class_scores(method._episode.vectors, method._episode.labels, method._encode([sentence]).vectors, 3)
    assert logits.shape == (len(long), 3)


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_window_plan_covers_every_word_once(tiny_bert, pooling):
    encoder = TokenEncoder.from_pretrained(str(tiny_bert), window=10, pooling=pooling)  # 8 content sub-words
    rng = random.Random(0)
    for _ in range(40):
        counts = [rng.randint(1, 8) for _ in range(rng.randint(1, 30))]
        pieces = [1000 + w for w, n in enumerate(counts) for _ in range(n)]  # a piece's id names its word
        rows = encoder._rows_for(torch.tensor(pieces).numpy(), torch.tensor(counts).numpy(), offset=5)
        owned = sorted(set(t for row in rows for t in row.targets.tolist()))
        assert owned == [5 + w for w in range(len(counts))]
        for row in rows:
            assert len(row.ids) <= 10
            for target, position, weight in zip(row.targets, row.positions, row.weights):
                assert row.ids[position] == 1000 + target - 5
            for target in set(row.targets.tolist()):
                assert sum(w for t, w in zip(row.targets, row.weights) if t == target) == pytest.approx(1.0)


def test_words_without_sub_words_become_unknown_not_dropped(tiny_bert, one_thread):
    encoder = TokenEncoder.from_pretrained(str(tiny_bert), pooling="mean").eval()
    with torch.no_grad():
        odd = encoder.encode([["alice", "\u200b", "went", "\x00"]])
        unk = encoder.encode([["alice", "[UNK]", "went", "[UNK]"]])
    assert odd.lengths == [4] and torch.allclose(odd.vectors, unk.vectors)


def test_meta_training_lowers_loss_and_checkpoints_reload(shared_data, tiny_bert, tmp_path, one_thread):
    from ner_fewshot.data.conll import read_conll
    from ner_fewshot.episodes import sample_fewnerd

    labels = LabelSet.from_json(json.loads((Path(__file__).parents[1] / "ner_fewshot/data/labelsets/conll2003.json").read_text()))
    sentences = read_conll(shared_data / "crossner/conll2003/dev.txt").sentences
    source = Dataset("conll2003-dev", {"train": sentences[:1500], "dev": sentences[1500:2500]}, labels)
    held_out = sample_fewnerd(sentences[2500:], labels, n_way=3, k_shot=1, q_shot=2, n_episodes=3, seed=5).episodes
    config = StructShotConfig(backbone=str(tiny_bert), device="cpu", meta_train_iterations=40, meta_n_way=3, meta_lr=1e-3,
                              meta_dev_every=20, meta_dev_episodes=2, checkpoint_dir=str(tmp_path / "best"))
    method = StructShot(config)
    method.prepare()

    def held_out_loss() -> float:
        method.encoder.eval()
        with torch.no_grad():
            return sum(float(method.episode_loss(e)) for e in held_out) / len(held_out)

    before = held_out_loss()
    global_rng = torch.get_rng_state()
    method.train_source(source, progress=False)
    assert torch.equal(torch.get_rng_state(), global_rng)  # seeded privately: the global RNG is as found
    after = held_out_loss()
    assert after < 0.8 * before  # measured: 49.1 -> 32.4 (random tiny BERT, 40 iterations, lr 0 at step 0)
    assert method.row_tags()["training"].startswith("meta-trained on conll2003-dev (3-way 1~2-shot episodes) (40 iters")
    assert method.row_tags()["transitions"] == "conll2003-dev train"
    assert method.parameter_counts().trainable == method.parameter_counts().total > 0
    episode = held_out[0]
    method.fit(episode.support, episode.label_set)
    expected = method.predict(episode.query)
    # The best checkpoint folder, written during training, reloads to the same predictions ...
    reloaded = StructShot()
    reloaded.load(tmp_path / "best")
    reloaded.fit(episode.support, episode.label_set)
    assert reloaded.predict(episode.query) == expected
    # ... and a fitted method saves its episode state too: no fit needed after load.
    method.save(tmp_path / "fitted")
    again = StructShot()
    again.load(tmp_path / "fitted")
    assert again.predict(episode.query) == expected and again.row_tags() == method.row_tags()


def test_packaged_minilm_end_to_end(shared_data, minilm_path, one_thread):
    from ner_fewshot.data.conll import read_conll
    from ner_fewshot.episodes import sample_fewnerd

    labels = LabelSet.from_json(json.loads((Path(__file__).parents[1] / "ner_fewshot/data/labelsets/crossner-music.json").read_text()))
    sentences = read_conll(shared_data / "crossner/music/dev.txt").sentences
    episode = sample_fewnerd(sentences, labels, n_way=5, k_shot=5, q_shot=2, n_episodes=1, seed=0, max_type_redraws=50).episodes[0]
    for cls in (ProtoBERT, NNShot, StructShot):
        method = cls(cls.config_class(backbone=str(minilm_path), device="cpu"))
        method.prepare()
        method.fit(episode.support, episode.label_set)
        predicted = method.predict(episode.query)
        assert len(predicted) == len(episode.query) and sum(map(len, predicted)) > 0
        assert all(span.label in episode.label_set for spans in predicted for span in spans)
        assert method.row_tags()["training"] == "train-free" and method.parameter_counts().trainable == 0
        assert method.describe_backbone() == "model"
