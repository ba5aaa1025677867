"""Aggregation of stored results into one table per setting, and its rich rendering.

Every number is recomputed from results.jsonl (the scores stored per episode) with the shared
metric's `summarize`, so a table can always be rebuilt from the files of a run.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ner_fewshot.evaluation import EpisodeScore, Summary, bootstrap_f1_difference, summarize

from .plan import Setting
from .references import references_for
from .results import FAILED, OK, SKIPPED, LoadedResults

BOOTSTRAP_RESAMPLES = 1000
METRIC_NOTE = ("F1 = micro F1 over all episodes (predicted/gold/correct span counts summed over every episode, "
               "exact span match); F1 mean±std = mean and population std of the per-episode F1")


@dataclass
class Comparison:
    against: str
    delta: float  # percentage points, this row minus the best row (micro F1)
    low: float
    high: float
    n_episodes: int


@dataclass
class Row:
    method: str
    backbone: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    trainable_parameters: int | None = None
    total_parameters: int | None = None
    n_ok: int = 0
    n_failed: int = 0
    n_skipped: int = 0
    n_missing: int = 0
    summary: dict[str, Any] | None = None  # Summary.to_dict() of the ok episodes
    precision: float | None = None  # percent
    recall: float | None = None
    f1: float | None = None
    mean_f1: float | None = None
    std_f1: float | None = None
    fit_seconds_per_episode: float | None = None
    predict_sentences_per_second: float | None = None
    peak_rss_mb: float | None = None
    cuda_peak_mb: float | None = None
    status: str = ""  # "" when scored; "skipped: <reason>" / "failed: <reason>" when nothing scored
    errors: list[str] = field(default_factory=list)  # distinct error messages
    warnings: list[str] = field(default_factory=list)  # the method's own per-episode warnings (diagnostics)
    comparison: Comparison | None = None
    references: list[dict[str, Any]] = field(default_factory=list)
    is_best: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SettingTable:
    setting: Setting
    rows: list[Row]
    episode_hash: str
    n_episodes: int

    @property
    def caption(self) -> str:
        s = self.setting
        description = s.protocol.get("description", "")
        return (f"{s.key} ({description}); {self.n_episodes} episodes, episode set sha256 {self.episode_hash[:12]}. "
                f"{METRIC_NOTE}.")

    def notes(self) -> list[str]:
        notes = []
        best = next((r for r in self.rows if r.is_best), None)
        if best is not None and any(r.comparison for r in self.rows):
            notes.append(f"Δ vs best: micro-F1 difference to {best.method} with a {BOOTSTRAP_RESAMPLES}-resample "
                         "paired bootstrap 95% CI over the episodes both methods completed.")
        for row in self.rows:
            for error in row.errors:
                notes.append(f"{row.method}: {error}")
            for warning in row.warnings:
                notes.append(f"{row.method} warning: {warning}")
            for ref in row.references:
                notes.append(f"{row.method} published: {ref['f1']:.2f} ({ref['source']}; {ref['conditions']}; "
                             f"episodes {ref['episode_version']})")
        return notes


def _scores(records: Sequence[Mapping[str, Any]]) -> list[EpisodeScore]:
    return [EpisodeScore.from_dict(r["score"]) for r in records]


def _pct(value: float) -> float:
    return round(100.0 * value, 2)


def _fill_scored(row: Row, ok: Sequence[Mapping[str, Any]]) -> Summary:
    summary = summarize(_scores(ok))
    row.summary = summary.to_dict()
    row.precision, row.recall, row.f1 = _pct(summary.micro.precision), _pct(summary.micro.recall), _pct(summary.micro.f1)
    row.mean_f1, row.std_f1 = _pct(summary.mean_f1), _pct(summary.std_f1)
    row.fit_seconds_per_episode = round(sum(r["fit_seconds"] for r in ok) / len(ok), 3)
    predict_seconds = sum(r["predict_seconds"] for r in ok)
    sentences = sum(r.get("n_query", len(r["predictions"])) for r in ok)
    row.predict_sentences_per_second = round(sentences / predict_seconds, 2) if predict_seconds > 0 else None
    peaks = [r["peak_rss_mb"] for r in ok if r.get("peak_rss_mb") is not None]
    row.peak_rss_mb = max(peaks) if peaks else None
    cuda = [r["cuda_peak_mb"] for r in ok if r.get("cuda_peak_mb") is not None]
    row.cuda_peak_mb = max(cuda) if cuda else None
    return summary


def build_row(method: str, setting: Setting, loaded: LoadedResults, info: Mapping[str, Any]) -> Row:
    records = [loaded.records.get((method, eid)) for eid in setting.episode_ids]
    present = [r for r in records if r is not None]
    ok = [r for r in present if r["status"] == OK]
    row = Row(method=method, backbone=info.get("backbone", ""), tags=dict(info.get("tags", {})),
              trainable_parameters=info.get("trainable_parameters"), total_parameters=info.get("total_parameters"),
              n_ok=len(ok), n_failed=sum(r["status"] == FAILED for r in present),
              n_skipped=sum(r["status"] == SKIPPED for r in present), n_missing=len(records) - len(present))
    row.errors = sorted({f"{r['status']}: {r.get('error')}" for r in present if r["status"] != OK})
    row.warnings = [f"episode {r['episode_id']}: {w}" for r in ok for w in r.get("diagnostics", {}).get("warnings", [])]
    if ok:
        _fill_scored(row, ok)
    elif present:
        first = next(r for r in present if r["status"] != OK)
        row.status = f"{first['status']}: {first.get('error')}"
    else:
        row.status = "not run"
    row.references = [
        {"f1": ref.f1, "std": ref.std, "source": ref.source, "source_key": ref.source_key,
         "conditions": ref.conditions, "episode_version": ref.episode_version, "short": ref.short()}
        for ref in references_for(method, setting.reference_protocol, setting.reference_version)
    ]
    return row


def add_comparisons(rows: Sequence[Row], loaded: LoadedResults, setting: Setting) -> None:
    """Mark the best row (highest micro F1) and give every other scored row a paired bootstrap CI."""
    scored = [r for r in rows if r.f1 is not None]
    if not scored:
        return
    best = max(scored, key=lambda r: (r.f1, r.mean_f1))
    best.is_best = True

    def ok_scores(method: str) -> dict[str, EpisodeScore]:
        out = {}
        for eid in setting.episode_ids:
            record = loaded.records.get((method, eid))
            if record is not None and record["status"] == OK:
                out[eid] = EpisodeScore.from_dict(record["score"])
        return out

    best_scores = ok_scores(best.method)
    for row in scored:
        if row is best:
            continue
        mine = ok_scores(row.method)
        shared = [eid for eid in setting.episode_ids if eid in mine and eid in best_scores]
        if not shared:
            continue
        delta, low, high = bootstrap_f1_difference([mine[e] for e in shared], [best_scores[e] for e in shared],
                                                   n_resamples=BOOTSTRAP_RESAMPLES, seed=0)
        row.comparison = Comparison(best.method, _pct(delta), _pct(low), _pct(high), len(shared))


def build_tables(settings: Sequence[Setting], methods: Sequence[str], loaded: LoadedResults,
                 infos: Mapping[str, Mapping[str, Any]], episode_hash: str) -> list[SettingTable]:
    tables = []
    for setting in settings:
        rows = [build_row(m, setting, loaded, infos.get(m, {})) for m in methods]
        add_comparisons(rows, loaded, setting)
        tables.append(SettingTable(setting, rows, episode_hash, len(setting.episode_ids)))
    return tables


# ---- cell formatting shared by the terminal table and the exports ----------------------------------

COLUMNS = ("method", "backbone", "tags", "params train/total", "P", "R", "F1", "F1 mean±std",
           "fit s/episode", "predict sent/s", "peak RSS MB", "episodes ok/fail/skip", "Δ F1 vs best [95% CI]",
           "published F1")


def _count(value: int | None) -> str:
    if value is None:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def cells(row: Row, *, max_status: int | None = 48) -> dict[str, str]:
    status = row.status
    if max_status and len(status) > max_status:
        status = status[: max_status - 1] + "…"
    scored = row.f1 is not None
    counts = f"{row.n_ok}/{row.n_failed}/{row.n_skipped}" + (f" ({row.n_missing} not run)" if row.n_missing else "")
    comparison = "best" if row.is_best else (
        f"{row.comparison.delta:+.2f} [{row.comparison.low:+.2f}, {row.comparison.high:+.2f}]" if row.comparison else "—")
    return {
        "method": row.method,
        "backbone": row.backbone or "—",
        "tags": ", ".join(f"{k}={v}" for k, v in sorted(row.tags.items())) or "—",
        "params train/total": (f"{_count(row.trainable_parameters)}/{_count(row.total_parameters)}"
                                   if row.total_parameters is not None else "—"),
        "P": _num(row.precision),
        "R": _num(row.recall),
        "F1": _num(row.f1) if scored else status,
        "F1 mean±std": f"{row.mean_f1:.2f}±{row.std_f1:.2f}" if scored else "—",
        "fit s/episode": _num(row.fit_seconds_per_episode),
        "predict sent/s": _num(row.predict_sentences_per_second, 1),
        "peak RSS MB": _num(row.peak_rss_mb, 0),
        "episodes ok/fail/skip": counts,
        "Δ F1 vs best [95% CI]": comparison,
        "published F1": "; ".join(r["short"] for r in row.references) or "—",
    }


# The terminal shows backbone and tags under the method name (exports keep them as columns) and the
# full skip/failure reasons as notes below the table, so that the table fits a normal terminal.
TERMINAL_COLUMNS = tuple(c for c in COLUMNS if c not in {"backbone", "tags"})


def render(table: SettingTable, console: Console) -> None:
    rich_table = Table(title=f"[bold]{table.setting.key}", caption=table.caption, caption_justify="left",
                       show_lines=True, header_style="bold")
    numeric = {"P", "R", "F1", "F1 mean±std", "fit s/episode", "predict sent/s", "peak RSS MB"}
    columns = [c for c in TERMINAL_COLUMNS if c != "published F1" or any(r.references for r in table.rows)]
    for column in columns:
        rich_table.add_column(column, justify="right" if column in numeric else "left", overflow="fold",
                              ratio=3 if column == "method" else None)
    for row in table.rows:
        values = cells(row)
        if row.f1 is None:  # the reason is printed in full as a note below the table
            values["F1"] = row.status.split(":", 1)[0]
        details = " · ".join(v for v in (values["backbone"], values["tags"]) if v != "—")
        values["method"] = escape(row.method) + (f"\n[dim]{escape(details)}[/dim]" if details else "")
        style = "bold" if row.is_best else ("dim" if row.f1 is None else None)
        rich_table.add_row(*(values[c] for c in columns), style=style)
    console.print(rich_table)
    for note in table.notes():
        console.print(f"  • {note}", markup=False, highlight=False)
