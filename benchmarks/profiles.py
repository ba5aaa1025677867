"""Named benchmark protocols. The offline default's sizes live here, in DEFAULT, and nowhere else.

A profile says which datasets, how episodes are made (the sampler), the N-way / K-shot grid, how many
episodes per seed, the query size, the seeds, and which methods run (with per-method options the
protocol needs). Command-line flags override single fields (see compare.py).

Samplers:
  * "kshot"         K-shot per type: support drawn from `support_split`, query from `query_split`
                    (`sample_kshot`); with `ways`, each episode first draws N of the types.
  * "fewnerd"       Few-NERD N-way K~2K-shot: support from `support_split`, query (Q~2Q per type)
                    from `query_split`, only sentences whose types are all among the N.
  * "fixed"         released support files, one episode per file (`fixed_support`), e.g. LightNER's
                    10/20/50-shot files; the query is the whole test split unless --query-size.
  * "fewnerd-files" Few-NERD's released episode files under <data dir>/few-nerd/episode-data/.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ner_fewshot.evaluation import SENTENCE_SCORING, SPAN_SCORINGS

# Table order of the built-in methods; installed plugins follow, by name.
BUILT_IN_ORDER = ("string-match", "protobert", "nnshot", "structshot", "lightner", "cllmfs")
SAMPLERS = ("kshot", "fewnerd", "fixed", "fewnerd-files")
SELECTIONS = ("none", "query")
AUTHORS_PROTOCOL = ("authors' protocol: entity-free sentences dropped, best epoch chosen on the test queries "
                    "(optimistic; for reproducing published numbers only)")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    datasets: tuple[str, ...]
    sampler: str
    shots: tuple[int, ...]
    ways: tuple[int, ...] | None = None  # None: every type of the dataset in every episode
    episodes: int | None = 3  # per seed and setting; None = all (released files)
    seeds: tuple[int, ...] = (0,)
    query_size: int | None = None  # "kshot"/"fixed": query sentences per episode; "fewnerd": Q per type
    support_split: str = "train"  # "fixed": a template such as "{shots}-shot"
    query_split: str = "test"
    methods: tuple[str, ...] | None = None  # None: every registered method, installed plugins included
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reference_version: str = "v6"  # which published Few-NERD numbers apply (fewnerd-files only)
    source_dataset: str | None = None  # given to every method's train_source() once (None: no source training)
    # "none": methods fit on the support set alone. "query": methods that keep checkpoints pick the one
    # scoring best on the episode's query, i.e. the test set (the LightNER code's protocol): optimistic,
    # offered only to reproduce published numbers and always labelled in the caption.
    selection: str = "none"
    drop_entity_free: bool = False  # drop sentences without entities from support and query (LightNER code)
    # "sentence": spans matched per query sentence. "fewnerd-episode": Few-NERD's code's scoring (an episode's
    # query sentences concatenated before span extraction), for comparison with its numbers; tagged in every row.
    span_scoring: str = SENTENCE_SCORING

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"profile {self.name!r}: selection {self.selection!r} is not one of {list(SELECTIONS)}")
        if self.span_scoring not in SPAN_SCORINGS:
            raise ValueError(f"profile {self.name!r}: span_scoring {self.span_scoring!r} is not one of {list(SPAN_SCORINGS)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"profile {self.name!r}: sampler {self.sampler!r} is not one of {list(SAMPLERS)}")

    def with_overrides(self, **changes: Any) -> "Profile":
        """A copy with the given fields replaced (None values are ignored: flag not given)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# The embedded offline default: packaged WNUT-16 tweets (support from `pool`, query from `test`),
# 5-way 5~10-shot per type, 5 episodes, 50 query sentences each, every method. Sized so that the whole
# run finishes in under 15 minutes on an idle 2-core CPU: CLLMFS (40 LoRA steps, then constrained
# generation for every (query sentence, type) pair) is by far the costliest, ~92 s of fit and ~0.8 s per
# query sentence per episode; the other methods take seconds. Measured wall times are in
# docs/benchmarks.md. Shrink episodes / query size / ways here, never the method rigour.
DEFAULT = Profile(
    name="default",
    description="Offline default: packaged WNUT-16 tweets, 5-way 5~10-shot per type (types drawn per episode), "
                "support from pool, query a seeded sample of 50 test sentences",
    datasets=("wnut16",),
    sampler="kshot",
    ways=(5,),
    shots=(5,),
    episodes=5,
    seeds=(0,),
    query_size=50,
    support_split="pool",
    query_split="test",
)

# LightNER's own settings: CoNLL-03 in-domain uses lr 2e-5 and decodes at most 10 + 0.6 x source length;
# the cross-domain setting first trains the prompts on CoNLL-03 (train_source), then on each target file.
LIGHTNER_LOWRESOURCE = Profile(
    name="lightner-lowresource",
    description="LightNER low-resource CoNLL-03: fixed in-domain train file (100 LOC/MISC mentions) -> full test",
    datasets=("conll2003-lightner",),
    sampler="fixed",
    shots=(),
    episodes=None,
    support_split="indomain-train",
    method_options={"lightner": {"learning_rate": 2e-5, "max_len_ratio": 0.6}},
)
LIGHTNER_CROSSDOMAIN = Profile(
    name="lightner-crossdomain",
    description="LightNER cross-domain: every method first gets CoNLL-03 (train_source: LightNER trains its prompts "
                "there, StructShot takes its transitions), then the authors' released 10/20/50-shot files of "
                "MIT Movie, MIT Restaurant and ATIS as fixed support -> full test",
    datasets=("mit-movie", "mit-restaurant", "atis"),
    sampler="fixed",
    shots=(10, 20, 50),
    episodes=None,
    support_split="{shots}-shot",
    source_dataset="conll2003-lightner",
)


def _authors_twin(base: Profile) -> Profile:
    """The same setting under the LightNER code's own protocol, for reproducing its published numbers."""
    lightner_options = {**base.method_options.get("lightner", {}), "protocol": "authors"}
    return replace(base, name=f"{base.name}-authors", description=f"{base.description} -- {AUTHORS_PROTOCOL}",
                   methods=("string-match", "lightner"),
                   method_options={**base.method_options, "lightner": lightner_options},
                   selection="query", drop_entity_free=True)


PROFILES: dict[str, Profile] = {p.name: p for p in (
    DEFAULT,
    LIGHTNER_LOWRESOURCE,
    LIGHTNER_CROSSDOMAIN,
    *[_authors_twin(base) for base in (LIGHTNER_LOWRESOURCE, LIGHTNER_CROSSDOMAIN)],
    *[
        Profile(
            name=f"fewnerd-{mode}{'' if version == 'v6' else '-' + version}",
            description=f"Few-NERD {mode.upper()} released test episodes ({version}), 5/10-way 1~2/5~10-shot; "
                        "needs few-nerd/episode-data/ under the data dir",
            datasets=(f"few-nerd-{mode}",),
            sampler="fewnerd-files",
            ways=(5, 10),
            shots=(1, 5),
            episodes=None,
            reference_version=version,
            methods=("string-match", "protobert", "nnshot", "structshot"),
            # StructShot's abstract transitions are counted on the mode's train episodes, as in the reference
            # (which uses the train file of each N/K; these seven probabilities barely depend on N and K).
            method_options={"structshot": {"transition_source": f"few-nerd/episode-data/{mode}/train_5_1.jsonl"}},
        )
        for mode in ("inter", "intra") for version in ("v6", "v5")
    ],
    Profile(
        name="crossner-kshot",
        description="5-way K-shot per type on the CrossNER domains (support from train, query from test). "
                    "5-way because K~2K over all 9-14 types is impossible there: CrossNER sentences carry many "
                    "entities, so no support set keeps every type under 2K mentions",
        datasets=("crossner-ai", "crossner-literature", "crossner-music", "crossner-politics"),
        sampler="kshot",
        ways=(5,),
        shots=(1, 5),
        episodes=5,
        query_size=100,
    ),
    Profile(
        name="wnut17-kshot",
        description="K-shot per type on WNUT-17 (support from train, query from test)",
        datasets=("wnut17",),
        sampler="kshot",
        shots=(1, 5),
        episodes=5,
        query_size=200,
    ),
)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; profiles: {sorted(PROFILES)}") from None


FEWNERD_DATASETS = ("few-nerd-inter", "few-nerd-intra")  # released episode files, not catalog datasets


def ordered_methods(names) -> tuple[str, ...]:
    """Built-ins in their table order, then every other (plugin) method by name."""
    rank = {name: i for i, name in enumerate(BUILT_IN_ORDER)}
    return tuple(sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n)))


def profile_for_datasets(datasets: tuple[str, ...], base: Profile) -> Profile:
    """`--datasets`: the base profile's protocol on other datasets (support split resolved per
    dataset in plan.py). Few-NERD episode files always use their own mode's protocol, and a Few-NERD
    file profile cannot sample episodes from other datasets. Raises ValueError with the fix."""
    if datasets == base.datasets:
        return base
    fewnerd = [d for d in datasets if d in FEWNERD_DATASETS]
    if fewnerd and len(fewnerd) < len(datasets):
        raise ValueError(f"Few-NERD episode files ({list(FEWNERD_DATASETS)}) cannot be mixed with sampled "
                         "datasets in one run; run them separately")
    if fewnerd:
        if len(set(fewnerd)) > 1:
            raise ValueError(f"{fewnerd}: each Few-NERD mode has its own protocol (StructShot's transitions come "
                             "from that mode's train episodes); run them separately")
        mode = fewnerd[0].rsplit("-", 1)[1]
        version = base.reference_version if base.sampler == "fewnerd-files" else "v6"
        own = PROFILES[f"fewnerd-{mode}" + ("" if version == "v6" else f"-{version}")]
        return replace(own, name=own.name if base.sampler == "fewnerd-files" else "few-nerd", datasets=datasets)
    if base.sampler == "fewnerd-files":
        raise ValueError(f"profile {base.name!r} reads Few-NERD's released episode files and cannot sample episodes "
                         f"from {list(datasets)}; choose a sampling profile instead, e.g. --profile default or "
                         "--profile wnut17-kshot")
    return replace(base, name=f"{base.name}-custom", datasets=datasets)
