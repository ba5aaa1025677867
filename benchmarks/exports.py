"""Files written next to the results: table.md, table.csv, table.json, table.tex (booktabs),
references.bib and, when several shot counts ran, f1_vs_shots.png (needs matplotlib)."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from .table import COLUMNS, METRIC_NOTE, SettingTable, cells


def write_markdown(tables: Sequence[SettingTable], path: Path) -> Path:
    lines = []
    for table in tables:
        lines += [f"### {table.setting.key}", "", f"*{table.caption}*", ""]
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
        for row in table.rows:
            values = cells(row, max_status=None)
            lines.append("| " + " | ".join(values[c].replace("|", "\\|") for c in COLUMNS) + " |")
        lines.append("")
        lines += [f"- {note}" for note in table.notes()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


CSV_FIELDS = ("setting", "method", "backbone", "tags", "trainable_parameters", "total_parameters", "precision",
              "recall", "f1_micro", "f1_mean", "f1_std", "fit_seconds_per_episode", "predict_sentences_per_second",
              "peak_rss_mb", "cuda_peak_mb", "episodes_ok", "episodes_failed", "episodes_skipped", "episodes_not_run",
              "status", "delta_f1_vs_best", "delta_ci_low", "delta_ci_high", "best_method", "published_f1",
              "published_source", "episode_hash")


def write_csv(tables: Sequence[SettingTable], path: Path) -> Path:
    """One line per (setting, method), raw numbers (F1 in percent), no formatting."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for table in tables:
            for row in table.rows:
                comparison = row.comparison
                writer.writerow({
                    "setting": table.setting.key, "method": row.method, "backbone": row.backbone,
                    "tags": ";".join(f"{k}={v}" for k, v in sorted(row.tags.items())),
                    "trainable_parameters": row.trainable_parameters, "total_parameters": row.total_parameters,
                    "precision": row.precision, "recall": row.recall, "f1_micro": row.f1, "f1_mean": row.mean_f1,
                    "f1_std": row.std_f1, "fit_seconds_per_episode": row.fit_seconds_per_episode,
                    "predict_sentences_per_second": row.predict_sentences_per_second, "peak_rss_mb": row.peak_rss_mb,
                    "cuda_peak_mb": row.cuda_peak_mb, "episodes_ok": row.n_ok, "episodes_failed": row.n_failed,
                    "episodes_skipped": row.n_skipped, "episodes_not_run": row.n_missing, "status": row.status,
                    "delta_f1_vs_best": comparison.delta if comparison else None,
                    "delta_ci_low": comparison.low if comparison else None,
                    "delta_ci_high": comparison.high if comparison else None,
                    "best_method": comparison.against if comparison else (row.method if row.is_best else None),
                    "published_f1": ";".join(str(r["f1"]) for r in row.references) or None,
                    "published_source": ";".join(r["source"] for r in row.references) or None,
                    "episode_hash": table.episode_hash,
                })
    return path


def write_json(tables: Sequence[SettingTable], path: Path) -> Path:
    data = {
        "metric": METRIC_NOTE,
        "units": "P/R/F1 in percent; seconds; MB",
        "tables": [{"setting": t.setting.key, "dataset": t.setting.dataset, "shots": t.setting.shots,
                    "ways": t.setting.ways, "protocol": t.setting.protocol, "caption": t.caption,
                    "episode_hash": t.episode_hash, "n_episodes": t.n_episodes, "notes": t.notes(),
                    "rows": [r.to_dict() for r in t.rows]} for t in tables],
    }
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return path


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                   "±": r"$\pm$", "Δ": r"$\Delta$", "—": "--", "…": r"\ldots{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


LATEX_COLUMNS = ("method", "backbone", "params train/total", "P", "R", "F1", "F1 mean±std", "fit s/episode",
                 "predict sent/s", "peak RSS MB", "episodes ok/fail/skip", "Δ F1 vs best [95% CI]")


def write_latex(tables: Sequence[SettingTable], path: Path) -> Path:
    """One booktabs table per setting (needs \\usepackage{booktabs}); the best F1 in bold."""
    chunks = []
    for table in tables:
        spec = "l" * 3 + "r" * 7 + "l" * 2
        lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
                 " & ".join(latex_escape(c) for c in LATEX_COLUMNS) + r" \\", r"\midrule"]
        for row in table.rows:
            values = {c: latex_escape(v) for c, v in cells(row).items()}
            if row.is_best:
                values["F1"] = rf"\textbf{{{values['F1']}}}"
            lines.append(" & ".join(values[c] for c in LATEX_COLUMNS) + r" \\")
        label = re.sub(r"[^A-Za-z0-9]+", "-", table.setting.key).strip("-")
        lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(table.caption)}}}",
                  rf"\label{{tab:{label}}}", r"\end{table}", ""]
        chunks.append("\n".join(lines))
    path.write_text("\n".join(chunks), encoding="utf-8")
    return path


def _bibtex_key(entry: str) -> str | None:
    match = re.match(r"\s*@\w+\s*\{\s*([^,\s]+)\s*,", entry)
    return match.group(1) if match else None


def write_bibtex(method_infos: Mapping[str, Mapping[str, Any]], dataset_citations: Mapping[str, str],
                 reference_citations: Sequence[str], path: Path) -> Path:
    """Every method's `citation`, every dataset's, and the sources of published numbers shown; one entry per key."""
    entries: dict[str, str] = {}
    comments = []
    sources = [(f"method {m}", info.get("citation", "")) for m, info in sorted(method_infos.items())]
    sources += [(f"dataset {d}", c) for d, c in sorted(dataset_citations.items())]
    sources += [("published numbers", c) for c in reference_citations]
    for origin, text in sources:
        text = (text or "").strip()
        if not text:
            comments.append(f"% {origin}: no citation (nothing to cite)")
            continue
        key = _bibtex_key(text) or f"anonymous{len(entries)}"
        entries.setdefault(key, f"% {origin}\n{text}")
    path.write_text("\n".join(comments) + "\n\n" + "\n\n".join(entries.values()) + "\n", encoding="utf-8")
    return path


def plot_f1_vs_shots(tables: Sequence[SettingTable], path: Path) -> str:
    """F1 (micro) against K per dataset/ways and method. Returns a message (written or why not)."""
    groups: dict[tuple[str, Any], list[SettingTable]] = {}
    for table in tables:
        if table.setting.shots is not None:
            groups.setdefault((table.setting.dataset, table.setting.ways), []).append(table)
    groups = {k: v for k, v in groups.items() if len({t.setting.shots for t in v}) > 1}
    if not groups:
        return "f1_vs_shots.png not written: only one shot count ran"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "f1_vs_shots.png not written: matplotlib is not installed (pip install 'ner-fewshot[plot]')"
    figure, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4), squeeze=False)
    for axis, ((dataset, ways), group) in zip(axes[0], sorted(groups.items(), key=str)):
        group = sorted(group, key=lambda t: t.setting.shots)
        methods = [r.method for r in group[0].rows]
        for method in methods:
            points = [(t.setting.shots, r.f1) for t in group for r in t.rows if r.method == method and r.f1 is not None]
            if points:
                axis.plot(*zip(*points), marker="o", label=method)
        axis.set_title(f"{dataset}" + (f", {ways}-way" if ways else ""))
        axis.set_xlabel("K (shots)")
        axis.set_ylabel("micro F1 (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return f"wrote {path}"
