"""`python -m benchmarks.compare`: every method on the same episodes, one table per setting.

With no arguments it runs the embedded offline default (profiles.DEFAULT). See docs/benchmarks.md.
Bad arguments (unknown method, dataset or profile; impossible shots) exit with code 2 before any
method runs, listing the valid choices.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from rich.console import Console

from ner_fewshot import settings
from ner_fewshot.episodes import EpisodeSet
from ner_fewshot.evaluation import SPAN_SCORINGS
from ner_fewshot.methods import DuplicateMethod, MethodContext, available_methods, get_method_class

from . import distributed, exports, shards
from .manifest import write_manifest
from .options import MethodOptionError, flatten, int_list, merge_options, name_list, parse_method_options
from .output_dir import OutputDirError, OutputLock, prepare_output_dir
from .plan import PlanError, build_plan, repair_report, repairs_by_file
from .profiles import DEFAULT, FEWNERD_DATASETS, PROFILES, Profile, ordered_methods, profile_for_datasets
from .progress import RunProgress
from .references import all_references
from .results import ResultStore
from .run_state import ResumeMismatch, check_resume, read_state, write_state
from .results import RunKey
from .runner import EpisodeContext, MethodInfoStore, MethodRequest, config_dict, run_all, run_key
from .table import build_tables, render


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description="Run few-shot NER methods on identical episodes and print a comparison table. "
                    "With no arguments: the offline default profile (packaged WNUT-16, every method).")
    p.add_argument("--profile", default=DEFAULT.name, help=f"named protocol (default {DEFAULT.name}); see --list-profiles")
    p.add_argument("--datasets", nargs="+", metavar="NAME", help="datasets (comma or space separated) under the profile's protocol")
    p.add_argument("--methods", nargs="+", metavar="NAME", help="methods to run (default: the profile's); see --list-methods")
    p.add_argument("--shots", nargs="+", type=int_list, metavar="K", help="K of K~2K shots per type, e.g. 1,5")
    p.add_argument("--ways", nargs="+", type=int_list, metavar="N", help="N types per episode, e.g. 5,10")
    p.add_argument("--episodes", type=int, metavar="E", help="episodes per seed and setting")
    p.add_argument("--seeds", nargs="+", type=int_list, metavar="S", help="sampling seeds, e.g. 0,1,2")
    p.add_argument("--query-size", type=int, metavar="Q",
                   help="query sentences per episode (kshot/fixed samplers) or Q per type (fewnerd sampler)")
    p.add_argument("--source-dataset", metavar="NAME",
                   help="dataset given once to every method's train_source() (meta-training / transfer); default none")
    p.add_argument("--span-scoring", choices=SPAN_SCORINGS,
                   help="'sentence' (default): spans matched per query sentence; 'fewnerd-episode': Few-NERD's code's "
                        "scoring, query sentences of an episode concatenated before span extraction (tagged in every row)")
    p.add_argument("--method-option", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="a method config option, e.g. protobert.backbone=bert-base-uncased (repeatable)")
    p.add_argument("--data-dir", help=f"data folder for load_dataset (default ${settings.DATA_ENV})")
    p.add_argument("--device", help="device for every method: auto, cpu, cuda, cuda:1 (default: each method's config)")
    p.add_argument("--output-dir", type=Path, help="where results go (default runs/<profile>-<hash>)")
    p.add_argument("--resume", action="store_true", help="keep finished (method, episode) results and run only the rest")
    p.add_argument("--no-progress", action="store_true", help="no live progress bars (logs only)")
    distributed.add_arguments(p)
    p.add_argument("--list-methods", action="store_true", help="list methods with their config options and exit")
    p.add_argument("--list-datasets", action="store_true", help="list datasets and exit")
    p.add_argument("--list-profiles", action="store_true", help="list named protocols and exit")
    return p


def _catalog():
    from ner_fewshot.data import catalog  # imported late: --list-methods works without the data layer

    return catalog


def _config_class_or_none(name: str):
    try:
        return get_method_class(name).config_class
    except Exception:  # unloadable plugin: reported as skipped by the runner
        return None


def list_methods(console: Console) -> None:
    for name in available_methods():
        try:
            cls = get_method_class(name)
        except Exception as error:
            console.print(f"[bold]{name}[/]  [red]unavailable: {type(error).__name__}: {error}[/]")
            continue
        console.print(f"[bold]{name}[/]  {cls.summary}")
        for option, kind, default, help_text in cls.config_class.describe():
            console.print(f"    {option} ({kind}, default {default!r}): {help_text}", markup=False, highlight=False)


def list_datasets(console: Console, data_dir: Path | None) -> None:
    catalog = _catalog()
    for name in catalog.available_datasets():
        try:
            info = catalog.dataset_info(name)
            text = f"{getattr(info, 'description', info)}; splits {sorted(getattr(info, 'files', {}))}"
        except Exception as error:
            text = f"({type(error).__name__}: {error})"
        console.print(f"[bold]{name}[/]  {text}", highlight=False)
    for name in FEWNERD_DATASETS:
        mode = name.rsplit("-", 1)[1]
        console.print(f"[bold]{name}[/]  Few-NERD released episode files: <data dir>/few-nerd/episode-data/{mode}/"
                      "test_<5|10>_<1|5>.jsonl", highlight=False)


def list_profiles(console: Console) -> None:
    for profile in PROFILES.values():
        console.print(f"[bold]{profile.name}[/]  {profile.description}", highlight=False)
        console.print(f"    datasets {list(profile.datasets)}, sampler {profile.sampler}, ways {profile.ways}, "
                      f"shots {list(profile.shots)}, episodes {profile.episodes}, seeds {list(profile.seeds)}, "
                      f"query size {profile.query_size}, methods "
                      f"{list(profile.methods) if profile.methods is not None else 'every registered method'}",
                      highlight=False)


def _fewnerd_citation(catalog) -> str:
    try:
        return catalog.dataset_info("few-nerd").citation
    except Exception:  # a catalog without the entry: the reference file's BibTeX still covers the paper
        return ""


def _run_hash(episode_hash: str, configs: dict) -> str:
    text = episode_hash + json.dumps(configs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _quiet_library_progress_bars() -> None:
    """transformers' per-load tqdm bars would break the live display; our own progress covers loads."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    # peft 0.21 calls a property transformers 5 deprecated; the warning is theirs, not the user's to act on.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def _fail(parser: argparse.ArgumentParser, message: str):
    parser.error(message)  # usage line + message, exit 2: a user error, found before any work


def _validated_request(args, parser: argparse.ArgumentParser) -> tuple[Profile, list[MethodRequest], dict]:
    """The profile with the flags applied, one request per method and each method's full config.
    Every user error exits 2 here, before any data is read or any method runs."""
    if args.profile not in PROFILES:
        _fail(parser, f"unknown profile {args.profile!r}; valid profiles: {', '.join(sorted(PROFILES))}")
    profile = PROFILES[args.profile]
    try:
        datasets = name_list(args.datasets, "--datasets")
        methods = name_list(args.methods, "--methods")
        shots, ways, seeds = (flatten(args.shots, "--shots"), flatten(args.ways, "--ways"),
                              flatten(args.seeds, "--seeds"))
    except ValueError as error:
        _fail(parser, str(error))
    if datasets:
        known = sorted(set(_catalog().available_datasets()) | set(FEWNERD_DATASETS))
        unknown = [d for d in datasets if d not in known]
        if unknown:
            _fail(parser, f"unknown dataset(s) {unknown}; valid datasets: {', '.join(known)}")
        try:
            profile = profile_for_datasets(datasets, profile)
        except ValueError as error:
            _fail(parser, str(error))
    for flag, values in (("--shots", shots), ("--ways", ways), ("--seeds", seeds)):
        if values is not None and any(v < (0 if flag == "--seeds" else 1) for v in values):
            _fail(parser, f"{flag} {list(values)}: impossible value (shots and ways must be >= 1, seeds >= 0)")
    for flag, value in (("--episodes", args.episodes), ("--query-size", args.query_size)):
        if value is not None and value < 1:
            _fail(parser, f"{flag} {value}: must be >= 1")
    profile = profile.with_overrides(shots=shots, ways=ways, seeds=seeds, episodes=args.episodes,
                                     query_size=args.query_size, methods=methods, source_dataset=args.source_dataset,
                                     span_scoring=args.span_scoring)
    try:
        known_methods = available_methods()
    except DuplicateMethod as error:  # two installed packages claim one name: the user's environment to fix
        _fail(parser, str(error))
    if profile.methods is None:  # the profile does not name its methods: every registered one runs
        profile = dataclasses.replace(profile, methods=ordered_methods(known_methods))
    unknown = [m for m in profile.methods if m not in known_methods]
    if unknown:
        _fail(parser, f"unknown method(s) {unknown}; valid methods: {', '.join(known_methods)}")
    if args.device:
        try:
            settings.check_device(args.device)
        except ValueError as error:
            _fail(parser, f"--device: {error}")
    try:
        cli_options = parse_method_options(args.method_option, profile.methods, _config_class_or_none)
    except MethodOptionError as error:
        _fail(parser, str(error))
    device_layer = {m: {"device": args.device} for m in profile.methods} if args.device else {}
    options = merge_options(profile.method_options, device_layer, cli_options)
    requests = [MethodRequest(m, options.get(m, {})) for m in profile.methods]
    try:
        configs = {r.name: config_dict(r) for r in requests}
        for name, config in configs.items():
            if isinstance(config.get("device"), str):
                settings.check_device(config["device"])
    except (TypeError, ValueError) as error:
        _fail(parser, f"bad method option: {error}")
    return profile, requests, configs


def _build_plan(profile: Profile, data_dir: Path | None, parser: argparse.ArgumentParser):
    """(plan, source dataset or None); a bad dataset, file or protocol request exits 2."""
    from ner_fewshot.data.catalog import UnknownDataset

    catalog = _catalog()
    try:
        plan = build_plan(profile, catalog.load_dataset, data_dir)
        if any(d in FEWNERD_DATASETS for d in profile.datasets):
            plan.citations["few-nerd"] = _fewnerd_citation(catalog)
        source = None
        if profile.source_dataset:
            try:
                source = catalog.load_dataset(profile.source_dataset, data_dir=data_dir)
            except ValueError as error:  # the data layer's bad-input errors
                raise PlanError(f"--source-dataset {profile.source_dataset}: {error}") from error
            plan.data_repairs.setdefault(source.name, repairs_by_file(source, data_dir))
    except PlanError as error:
        _fail(parser, str(error))
    except (UnknownDataset, OSError) as error:  # names the dataset or file and the fix
        _fail(parser, f"{type(error).__name__}: {error}")
    return plan, source


def _error_line(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    # Piped or redirected output gets a wide console: an 80-column table of 14 columns is unreadable.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    _quiet_library_progress_bars()
    data_dir = settings.data_dir(args.data_dir)
    if args.list_methods or args.list_datasets or args.list_profiles:
        if args.list_profiles:
            list_profiles(console)
        if args.list_methods:
            try:
                list_methods(console)
            except DuplicateMethod as error:
                _fail(parser, str(error))
        if args.list_datasets:
            list_datasets(console, data_dir)
        return 0

    try:
        world = distributed.detect_world()
    except distributed.DistributedError as error:
        _fail(parser, str(error))
    if not args.dist_timeout > 0:
        _fail(parser, f"--dist-timeout {args.dist_timeout}: must be > 0 seconds")
    profile, requests, configs = _validated_request(args, parser)
    problem = distributed.device_problem(world, configs)
    if problem:
        _fail(parser, problem)
    plan, source = _build_plan(profile, data_dir, parser)
    episode_hash = plan.episode_set.content_hash
    output_dir = args.output_dir or Path("runs") / f"{profile.name}-{_run_hash(episode_hash + str(profile.source_dataset) + profile.span_scoring, configs)}"
    try:
        # Under torchrun: join the other ranks and check that they all built this same run.
        with distributed.Session.start(world, args.dist_timeout) as session:
            session.agree(distributed.run_identity(episode_hash, configs, profile.source_dataset, args.resume,
                                                   profile.span_scoring))
            # Rank 0 alone locks the folder and keeps its bookkeeping; the others follow its verdict.
            lock, code = _lock_output(output_dir) if world.main else (None, None)
            try:
                code = session.from_main(code)
                if code is not None:
                    return code
                return _run(args, argv, console, session, profile, requests, configs, plan, source, output_dir,
                            data_dir, started, clock)
            finally:
                if lock is not None:
                    lock.release()
    except distributed.DistributedError as error:
        prefix = f"[rank {world.rank}] " if world.distributed else ""
        print(f"error: {prefix}{error}", file=sys.stderr, flush=True)
        return 2 if isinstance(error, distributed.RunMismatch) else 1


def _lock_output(output_dir: Path) -> tuple[OutputLock | None, int | None]:
    """(the folder's lock, held until this process ends, crash or not; None) or (None, exit code)."""
    try:
        prepare_output_dir(output_dir)
        return OutputLock(output_dir).acquire(), None
    except OutputDirError as error:
        return None, _error_line(str(error))


def _prepare_output(args, console: Console, profile: Profile, configs: dict, plan, key: RunKey,
                    output_dir: Path) -> int | None:
    """Resume checks or a fresh start, the one episode file and run.json (rank 0 only); an exit code to
    stop with, or None. Results that a distributed run left in shards/ (it died before its merge) are
    folded into results.jsonl first, so that a resume sees them whatever the number of ranks."""
    episode_hash = plan.episode_set.content_hash
    damage = MethodInfoStore(output_dir / "methods.json").set_aside_if_damaged()
    if damage:
        console.print(f"{damage}: set aside as methods.damaged.json; backbone and parameter counts are rebuilt for "
                      "the methods this run prepares (rows of methods already done show none)", highlight=False)
    leftover = shards.merge_shards(output_dir, profile.methods, [e.id for e in plan.episode_set.episodes])
    if leftover.records:
        console.print(f"Merged {leftover.records} result(s) left by an earlier distributed run in "
                      f"{output_dir / shards.SHARD_DIR}", highlight=False)
    for line in leftover.damaged:
        console.print(f"{line} (damaged): its work will be redone", highlight=False)
    store = ResultStore(output_dir / "results.jsonl")
    state = None
    if args.resume:
        try:
            state = read_state(output_dir)
            if state is not None:
                check_resume(state, episode_hash, configs, output_dir, profile.source_dataset, profile.span_scoring)
        except ResumeMismatch as error:
            return _error_line(str(error))
        if state is None and store.load().records:
            return _error_line(f"cannot resume {output_dir}: it has results but no {output_dir / 'run.json'}, so "
                               "nothing says which episodes and configs they belong to. Drop --resume to start afresh.")
    else:
        previous = store.reset()
        (output_dir / "methods.json").unlink(missing_ok=True)
        if previous is not None:
            console.print(f"Starting afresh in {output_dir}; earlier results moved to {previous.name} "
                          "(use --resume to continue a run).", highlight=False)
    plan.episode_set.save(output_dir / "episodes.jsonl")  # every rank reads it back (_episodes_on_disk)
    write_state(output_dir, episode_hash, configs, dataclasses.asdict(profile), state)
    if args.resume:
        loaded = store.load(key)
        for line in loaded.damaged:
            console.print(f"results.jsonl line {line.line_number} is damaged ({line.reason}): its work will be redone",
                          highlight=False)
        if loaded.foreign:
            console.print(f"results.jsonl holds {loaded.foreign} record(s) of other episodes or method configs: "
                          "kept in the file, not used", highlight=False)
    return None


def _episodes_on_disk(output_dir: Path, episode_hash: str, world: distributed.World) -> EpisodeSet:
    """The file rank 0 wrote: every method, on every rank, gets exactly what is on disk."""
    path = output_dir / "episodes.jsonl"
    try:
        episode_set = EpisodeSet.load(path)
    except (OSError, ValueError) as error:
        if not world.distributed:
            raise
        raise distributed.DistributedError(
            f"rank {world.rank} cannot read {path} ({type(error).__name__}: {error}): under torchrun --output-dir must "
            "be one folder that every rank sees (a shared file system across machines)") from None
    if episode_set.content_hash != episode_hash:
        raise distributed.DistributedError(f"rank {world.rank}: {path} holds episode set {episode_set.short_hash}, not "
                                           f"{episode_hash[:12]}: is --output-dir shared by every rank?")
    return episode_set


def _merge_after_run(console: Console, output_dir: Path, profile: Profile, episode_set: EpisodeSet, key: RunKey,
                     assignment: shards.Assignment, reports: list[dict]) -> None:
    merged = shards.merge_shards(output_dir, profile.methods, [e.id for e in episode_set.episodes])
    for line in merged.damaged:
        console.print(f"{line} (damaged): rerun with --resume to redo its work", highlight=False)
    missing = shards.missing_jobs(assignment, ResultStore(output_dir / "results.jsonl").load(key))
    for rank, count in missing.items():
        console.print(f"[red]warning:[/] rank {rank} reported done but {count} of its results are not in "
                      f"{output_dir / shards.SHARD_DIR}: is the output folder shared by every machine?", highlight=False)
    console.print("Ranks (busy s / jobs): " + ", ".join(f"{r['rank']}: {r['busy_seconds']:.1f} / {r['jobs']}"
                                                      for r in reports), highlight=False)


def _distributed_summary(world: distributed.World, reports: list[dict]) -> dict:
    busy = [r["busy_seconds"] for r in reports]
    return {"world_size": world.size, "backend": distributed.BACKEND,
            "assignment": "longest expected job first to the least-loaded rank (expected cost: method weight x "
                          "support sentences x query sentences)",
            "busy_seconds_max": max(busy), "busy_seconds_min": min(busy), "ranks": reports}


def _run(args, argv, console: Console, session: distributed.Session, profile: Profile, requests: list[MethodRequest],
         configs: dict, plan, source, output_dir: Path, data_dir: Path | None, started: datetime, clock: float) -> int:
    world = session.world
    episode_hash = plan.episode_set.content_hash
    key = run_key(requests, episode_hash)
    code = _prepare_output(args, console, profile, configs, plan, key, output_dir) if world.main else None
    code = session.from_main(code)
    if code is not None:
        return code
    episode_set = _episodes_on_disk(output_dir, episode_hash, world)
    if world.main:
        ranks = f", {world.size} ranks" if world.distributed else ""
        console.print(f"[bold]ner-fewshot benchmark[/]  profile {profile.name}, {len(plan.settings)} setting(s), "
                      f"{len(episode_set)} episodes, episode set sha256 {episode_set.short_hash}{ranks}, "
                      f"output {output_dir}", highlight=False)
        for line in repair_report(plan.data_repairs):
            console.print(line, highlight=False)
    context = EpisodeContext(plan.setting_of, episode_hash, profile.selection, MethodContext(data_dir=data_dir),
                             profile.span_scoring)
    store = ResultStore(output_dir / "results.jsonl")
    assignment = None
    with RunProgress(Console(stderr=True), enabled=not args.no_progress and world.main) as progress:
        busy = time.perf_counter()
        if world.distributed:  # this rank's share of the jobs, into its own shard
            assignment = shards.assign_jobs(profile.methods, episode_set.episodes, store.load(key).done, world.size)
            shards.run_share(requests, episode_set.episodes, assignment.shares[world.rank], context, output_dir,
                             world.rank, progress, source)
        else:
            run_all(requests, episode_set.episodes, context, output_dir, progress, source)
        busy = time.perf_counter() - busy
    share = assignment.shares[world.rank] if assignment else None
    reports = session.finish(
        {"busy_seconds": round(busy, 3), "jobs": len(share) if share is not None else None,
         "expected_cost": round(assignment.expected[world.rank], 1) if assignment else None},
        on_wait=lambda pending: console.print(f"rank 0 is done; waiting for rank(s) {pending}", highlight=False))
    if not world.main:
        return 0
    if world.distributed:
        _merge_after_run(console, output_dir, profile, episode_set, key, assignment, reports)

    # ---- table and exports: this run's records only -------------------------------------------------
    loaded = store.load(key)
    infos = MethodInfoStore(output_dir / "methods.json").load()
    tables = build_tables(plan.settings, profile.methods, loaded, infos, episode_hash)
    for table in tables:
        render(table, console)
    shown = {ref["source_key"] for t in tables for r in t.rows for ref in r.references}
    reference_bibs = sorted({ref.citation for ref in all_references() if ref.source_key in shown})
    exports.write_markdown(tables, output_dir / "table.md")
    exports.write_csv(tables, output_dir / "table.csv")
    exports.write_json(tables, output_dir / "table.json")
    exports.write_latex(tables, output_dir / "table.tex")
    exports.write_bibtex({m: infos.get(m, {}) for m in profile.methods}, plan.citations, reference_bibs,
                         output_dir / "references.bib")
    console.print(exports.plot_f1_vs_shots(tables, output_dir / "f1_vs_shots.png"), highlight=False)
    wall = time.perf_counter() - clock
    write_manifest(output_dir / "manifest.json", argv=argv, profile=dataclasses.asdict(profile), seeds=profile.seeds,
                   episode_hash=episode_hash, method_configs=configs, data_dir=str(data_dir) if data_dir else None,
                   data_repairs=plan.data_repairs, started=started, wall_seconds=wall,
                   distributed=_distributed_summary(world, reports) if world.distributed else None)
    console.print(f"Wrote {output_dir}/: results.jsonl, episodes.jsonl, table.md/.csv/.json/.tex, references.bib, "
                  f"manifest.json. Wall time {wall:.1f} s.", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
