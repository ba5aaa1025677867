"""From a profile to the one episode set every method gets.

A *setting* is one table: a dataset under one protocol point (N-way, K-shot, or one support file).
All settings' episodes go into a single EpisodeSet (ids "<setting>/s<seed>/<episode>") saved as
<output>/episodes.jsonl; its content hash identifies the whole run and is printed in every caption.
Everything here runs before any method does, so a bad request fails fast (PlanError -> exit 2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ner_fewshot.data.types import Dataset, LabelSet
from ner_fewshot.episodes import Episode, EpisodeSet, ImpossibleEpisode, fixed_support, read_fewnerd_episodes, sample_fewnerd, sample_kshot

from .profiles import FEWNERD_DATASETS, Profile

MAX_TYPE_DRAWS = 20  # N-way K-shot: draws of N types before giving up on an episode


class PlanError(ValueError):
    """The request cannot be turned into episodes (unknown dataset, impossible shots, missing file)."""


@dataclass
class Setting:
    key: str  # e.g. "wnut16/5-way/5~10-shot"
    dataset: str
    shots: int | None
    ways: int | None
    protocol: dict[str, Any]  # how the episodes were made (sampler protocols, splits, seeds)
    reference_protocol: str | None = None  # matches benchmarks/references/*.json entries
    reference_version: str = "v6"
    episode_ids: list[str] = field(default_factory=list)


@dataclass
class Plan:
    profile: Profile
    settings: list[Setting]
    episode_set: EpisodeSet
    citations: dict[str, str]  # dataset name -> BibTeX
    data_repairs: dict[str, dict[str, int]] = field(default_factory=dict)  # dataset -> file -> tag repairs

    @property
    def setting_of(self) -> dict[str, str]:
        return {eid: s.key for s in self.settings for eid in s.episode_ids}


def repairs_by_file(dataset: Dataset, data_dir: Path | None) -> dict[str, int]:
    """How many ill-formed tag sequences were repaired in each file read (files under the data folder
    shown relative to it)."""
    shown = {}
    for file, count in dataset.repairs.items():
        try:
            file = str(Path(file).resolve().relative_to(data_dir.resolve())) if data_dir else file
        except ValueError:
            pass  # outside the data folder (a packaged file): keep the full path
        shown[file] = count
    return shown


def repair_report(data_repairs: dict[str, dict[str, int]]) -> list[str]:
    """One console line per dataset: its files and their repair counts, flagged when any is above 0."""
    lines = []
    for name, files in data_repairs.items():
        counts = ", ".join(f"{file} {count}" for file, count in files.items())
        flag = "[yellow]warning:[/] " if any(files.values()) else ""
        hint = " (ill-formed tag sequences were repaired: check the tag scheme)" if flag else ""
        lines.append(f"{flag}tag repairs while reading {name}: {counts or 'no files'}{hint}")
    return lines


def _support_split(dataset: Dataset, wanted: str) -> str:
    """The profile's support split; datasets without it fall back to `pool`, then `train` (recorded)."""
    for name in (wanted, "pool", "train"):
        if name in dataset.splits:
            return name
    raise PlanError(f"dataset {dataset.name!r} has no split {wanted!r} (nor pool/train) to draw support from; "
                    f"it has {sorted(dataset.splits)}")


def _prefixed(episodes: Sequence[Episode], prefix: str) -> list[Episode]:
    return [Episode(f"{prefix}/{e.id}", e.label_set, e.support, e.query) for e in episodes]


def _nway_kshot(dataset: Dataset, support: str, query: str, ways: int, shots: int, profile: Profile,
                seed: int) -> tuple[list[Episode], dict[str, Any]]:
    """N-way K-shot per type: each episode draws N types (numpy default_rng([seed, 2, i])), then its
    support is sample_kshot's episode i on those types (other types become O in support and query)."""
    label_set = dataset.label_set
    if ways > len(label_set):
        raise ImpossibleEpisode(f"{ways}-way but {dataset.name} has only {len(label_set)} types {list(label_set.names)}")
    episodes, draws = [], []
    for index in range(profile.episodes or 1):
        rng = np.random.default_rng([seed, 2, index])
        for attempt in range(MAX_TYPE_DRAWS):
            picked = sorted(rng.choice(len(label_set), size=ways, replace=False).tolist())
            subset = LabelSet(tuple(label_set.types[i] for i in picked))
            try:
                sampled = sample_kshot(dataset.split(support), dataset.split(query), subset, k_shot=shots,
                                       n_episodes=1, first_episode=index, seed=seed,
                                       query_size=profile.query_size, dataset=dataset.name)
                break
            except ImpossibleEpisode as error:
                last_error = error
        else:
            raise ImpossibleEpisode(f"episode {index} (seed {seed}): no draw of {ways} types out of "
                                    f"{MAX_TYPE_DRAWS} could be filled; last: {last_error}")
        episodes.append(sampled.episodes[0])  # episode i depends only on (seed, i) and its types
        draws.append({"episode": index, "types": list(subset.names), "type_draws": attempt + 1})
    return episodes, {"sampler": "nway-kshot", "type_rng": "numpy default_rng([seed, 2, episode_index])",
                      "kshot_protocol": sampled.protocol, "types_per_episode": draws}


def _sampled_setting(dataset: Dataset, profile: Profile, ways: int | None, shots: int) -> tuple[Setting, list[Episode]]:
    support = _support_split(dataset, profile.support_split)
    query = profile.query_split
    if query not in dataset.splits:
        raise PlanError(f"dataset {dataset.name!r} has no split {query!r} for the query; it has {sorted(dataset.splits)}")
    ways_text = f"{ways}-way" if ways else "all-types"
    key = f"{dataset.name}/{ways_text}/{shots}~{2 * shots}-shot"
    episodes, per_seed = [], []
    for seed in profile.seeds:
        if profile.sampler == "fewnerd":
            if support != query:
                raise PlanError(f"the fewnerd sampler draws support and query from one split; profile "
                                f"{profile.name!r} asks for {support!r} and {query!r} (use the kshot sampler)")
            sampled = sample_fewnerd(dataset.split(support), dataset.label_set, n_way=ways or len(dataset.label_set),
                                     k_shot=shots, q_shot=profile.query_size or shots, n_episodes=profile.episodes or 1,
                                     seed=seed, dataset=dataset.name)
            drawn, protocol = list(sampled.episodes), sampled.protocol
        elif profile.sampler != "kshot":
            raise PlanError(f"profile {profile.name!r}: the {profile.sampler!r} sampler cannot draw episodes from "
                            f"dataset {dataset.name!r}")
        elif ways:
            drawn, protocol = _nway_kshot(dataset, support, query, ways, shots, profile, seed)
        else:
            sampled = sample_kshot(dataset.split(support), dataset.split(query), dataset.label_set, k_shot=shots,
                                   n_episodes=profile.episodes or 1, seed=seed, query_size=profile.query_size,
                                   dataset=dataset.name)
            drawn, protocol = list(sampled.episodes), sampled.protocol
        episodes += _prefixed(drawn, f"{key}/s{seed}")
        per_seed.append({"seed": seed, **protocol})
    description = (f"{ways_text} {shots}~{2 * shots}-shot per type, support from {support}, query from {query}"
                   + (f" ({profile.query_size} sentences)" if profile.query_size and profile.sampler != "fewnerd" else ""))
    protocol = {"key": key, "description": description, "support_split": support, "query_split": query,
                "episodes_per_seed": profile.episodes, "seeds": list(profile.seeds), "per_seed": per_seed}
    return Setting(key, dataset.name, shots, ways, protocol), episodes


def _fixed_settings(dataset: Dataset, profile: Profile) -> list[tuple[Setting, list[Episode]]]:
    if len(profile.seeds) > 1:
        raise PlanError("fixed support files involve no sampling, so several --seeds would repeat identical "
                        "episodes; vary a method's own seed instead (--method-option METHOD.seed=N)")
    out = []
    for shots in profile.shots or (None,):
        split = profile.support_split.format(shots=shots)
        if split not in dataset.splits:
            raise PlanError(f"dataset {dataset.name!r} has no support file split {split!r}; it has {sorted(dataset.splits)}")
        test = dataset.split(profile.query_split)
        if profile.query_size is not None:
            if profile.query_size > len(test):
                raise PlanError(f"--query-size {profile.query_size} but {dataset.name} test has only {len(test)} sentences")
            keep = np.sort(np.random.default_rng([profile.seeds[0], 1]).choice(len(test), profile.query_size, replace=False))
            test = tuple(test[i] for i in keep.tolist())
        sampled = fixed_support({split: dataset.split(split)}, test, dataset.label_set, dataset=dataset.name)
        key = f"{dataset.name}/{split}"
        query_text = "whole test split" if profile.query_size is None else f"{profile.query_size} test sentences"
        protocol = {"key": key, "description": f"fixed support file {split} -> {query_text}", **sampled.protocol}
        out.append((Setting(key, dataset.name, shots, None, protocol), _prefixed(sampled.episodes, key)))
    return out


def _fewnerd_settings(name: str, profile: Profile, data_dir: Path | None) -> list[tuple[Setting, list[Episode]]]:
    mode = name.rsplit("-", 1)[1]
    if data_dir is None:
        raise PlanError(f"{name} reads Few-NERD's released episode files: pass --data-dir (or set NER_FEWSHOT_DATA) "
                        f"to a folder holding few-nerd/episode-data/{mode}/test_<ways>_<shots>.jsonl")
    out = []
    for ways in profile.ways or (5,):
        for shots in profile.shots:
            path = data_dir / "few-nerd" / "episode-data" / mode / f"test_{ways}_{shots}.jsonl"
            if not path.exists():
                raise PlanError(f"Few-NERD episode file not found: {path} (download the released episode data "
                                "and unpack it under <data dir>/few-nerd/episode-data/)")
            loaded = read_fewnerd_episodes(path)
            episodes = list(getattr(loaded, "episodes", loaded))
            complete = profile.episodes is None or profile.episodes >= len(episodes)
            episodes = episodes[: profile.episodes] if profile.episodes else episodes
            key = f"few-nerd-{mode}/{ways}-way/{shots}~{2 * shots}-shot"
            reference = key if complete else None  # published numbers cover the whole test file only
            protocol = {"key": key, "file": str(path.relative_to(data_dir)), "episodes_used": len(episodes),
                        "description": f"released {mode.upper()} test episodes "
                                       f"({'all' if complete else f'first {len(episodes)}'})"}
            setting = Setting(key, name, shots, ways, protocol, reference, profile.reference_version)
            out.append((setting, _prefixed(episodes, key)))
    return out


def _without_entity_free(episode: Episode) -> Episode:
    return Episode(episode.id, episode.label_set, tuple(s for s in episode.support if s.spans),
                   tuple(s for s in episode.query if s.spans))


def _label_entity_free_dropped(setting: Setting) -> Setting:
    setting.protocol = {**setting.protocol, "entity_free_sentences": "dropped from support and query",
                        "description": setting.protocol.get("description", "") + ", entity-free sentences dropped"}
    return setting


def build_plan(profile: Profile, load_dataset: Callable[..., Dataset], data_dir: Path | None) -> Plan:
    """Every setting's episodes, generated once. Raises PlanError with the reason on any bad request."""
    pairs: list[tuple[Setting, list[Episode]]] = []
    citations: dict[str, str] = {}
    data_repairs: dict[str, dict[str, int]] = {}
    try:
        for name in profile.datasets:
            if name in FEWNERD_DATASETS:
                pairs += _fewnerd_settings(name, profile, data_dir)
                continue
            dataset = load_dataset(name, data_dir=data_dir)
            citations[name] = dataset.citation
            data_repairs[name] = repairs_by_file(dataset, data_dir)
            if profile.sampler == "fixed":
                pairs += _fixed_settings(dataset, profile)
            else:
                for ways in profile.ways or (None,):
                    for shots in profile.shots:
                        pairs.append(_sampled_setting(dataset, profile, ways, shots))
    except PlanError:
        raise
    except ValueError as error:  # ImpossibleEpisode, the data layer's format errors, sampler argument checks
        raise PlanError(f"cannot build the episodes of profile {profile.name!r}: {error}") from error
    if profile.drop_entity_free:
        pairs = [(_label_entity_free_dropped(setting), [_without_entity_free(e) for e in drawn]) for setting, drawn in pairs]
    if profile.selection == "query":
        for setting, _ in pairs:  # the caption must say that the test set chose the checkpoint
            setting.protocol = {**setting.protocol, "checkpoint_selection": "best on the test queries",
                                "description": setting.protocol.get("description", "")
                                + ", checkpoint chosen on the test queries (authors' protocol)"}
    episodes: list[Episode] = []
    for setting, drawn in pairs:
        setting.episode_ids = [e.id for e in drawn]
        episodes += drawn
    protocol = {"profile": profile.name, "selection": profile.selection, "settings": [s.protocol for s in (p[0] for p in pairs)]}
    return Plan(profile, [p[0] for p in pairs], EpisodeSet(tuple(episodes), protocol), citations, data_repairs)


def load_plan_episodes(plan: Plan, path: Path) -> EpisodeSet:
    """Save the plan's episodes, then re-read them: every method gets the object that is on disk."""
    plan.episode_set.save(path)
    return EpisodeSet.load(path)
