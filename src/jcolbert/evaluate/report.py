"""Write an evaluation to OUT_DIR: results.json, run.trec (+ one file per run), results.md, results.png.

Why these four: JSON for machines and later comparison (every setting, metric, timing and version that
produced the figure), a TREC run file so any other tool (trec_eval, ir-measures, ranx) can re-score it,
Markdown for a human or a pull request, and a chart to see the comparison at a glance -- with the model
card's published figure beside ours when the (dataset, model, mode) is one the card reports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jcolbert.errors import require_extra
from jcolbert.evaluate.runner import EvaluationResult, RunResult
from jcolbert.evaluate.runs import write_trec

RESULTS_JSON = "results.json"
RUN_TREC = "run.trec"
RESULTS_MD = "results.md"
RESULTS_PNG = "results.png"
PER_QUERY_JSON = "per_query.json"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@+" else "_" for c in name)


def _round(x: float, digits: int = 6) -> float:
    return round(float(x), digits) if math.isfinite(float(x)) else float("nan")


def result_to_dict(result: EvaluationResult) -> dict[str, Any]:
    ds = result.dataset
    return {
        "dataset": {
            "name": ds.name,
            "path": str(ds.path),
            "split": ds.split,
            "layout": ds.layout,
            "files": ds.files,
            **ds.stats(),
            "issues": ds.issues.to_dict(),
        },
        "model": {"name": result.model_name, "config": result.model_config},
        "settings": result.settings.to_dict(),
        "runs": [
            {
                "name": r.name,
                "mode": r.mode,
                "doc_maxlen": r.doc_maxlen,
                "run_file": f"run.{_safe(r.name)}.trec",
                "queries": r.scores.n_queries,
                "metrics": {m: _round(v) for m, v in r.scores.mean.items()},
                "timings": {t: _round(v, 4) for t, v in r.timings.items()},
                "published": (
                    {"label": r.published.label, "metric": r.published.metric, "value": r.published.value,
                     "table": r.published.table}
                    if r.published else None
                ),
                "metric_cross_check": r.cross_check,
                "notes": r.notes,
            }
            for r in result.runs
        ],  # fmt: skip
        "comparisons": result.comparisons,
        "timings": {t: _round(v, 4) for t, v in result.timings.items()},
        "encoding": result.encoding,
        "versions": result.versions,
        "per_query_file": PER_QUERY_JSON,
    }


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def markdown_table(result: EvaluationResult) -> str:
    ds = result.dataset
    metrics = list(result.runs[0].scores.mean) if result.runs else []
    lines = [
        f"# Evaluation: {ds.name} ({ds.split})",
        "",
        f"- dataset: `{ds.path}` ({ds.layout} layout), {len(ds.corpus)} documents, {len(ds.queries)} judged queries",
        f"- model: `{result.model_name or '-'}`",
        f"- settings: k={result.settings.k}, rerank depth={result.settings.rerank_depth}, "
        f"nbits={result.settings.nbits}, doc_maxlen={list(result.settings.doc_maxlens)}, "
        f"long documents={result.settings.long_documents}",
        "",
        "| run | " + " | ".join(m.upper().replace("RECALL", "Recall").replace("NDCG", "NDCG") for m in metrics)
        + " | published (card) | stages total (s) |",
        "| --- | " + " | ".join("---:" for _ in metrics) + " | ---: | ---: |",
    ]
    for r in result.runs:
        pub = f"{_fmt(r.published.value)} ({r.published.label})" if r.published else "-"
        lines.append(
            f"| {r.name} | " + " | ".join(_fmt(r.scores.mean[m]) for m in metrics)
            + f" | {pub} | {_run_seconds(r):.1f} |"
        )
    lines += [
        "",
        "## Timings",
        "",
        "Stages shared by several runs (BM25, encoding) are listed, and counted in the total, for each run that",
        "uses them. `*_ms_p50/p95` are per-query latencies; query encoding is not part of search latency.",
        "",
        "| run | timing | value |",
        "| --- | --- | ---: |",
    ]
    for r in result.runs:
        for t, v in r.timings.items():
            lines.append(f"| {r.name} | {t} | {v:.3f} |")
    sig = [c for c in result.comparisons if c["metric"] == "ndcg@10"]
    if sig:
        lines += [
            "",
            f"## Significance (NDCG@10, {sig[0]['test']}, p < {sig[0]['max_p']})",
            "",
            "| run a | run b | mean a | mean b | p-value | significant |",
            "| --- | --- | ---: | ---: | ---: | :---: |",
        ]
        for c in sig:
            lines.append(
                f"| {c['a']} | {c['b']} | {_fmt(c['mean_a'])} | {_fmt(c['mean_b'])} | {c['p_value']:.4g} | "
                f"{'yes' if c['significant'] else 'no'} |"
            )
    issues = ds.issues.messages()
    if issues or result.encoding.get("empty_documents"):
        lines += ["", "## Data issues", ""]
        lines += [f"- {m}" for m in issues]
        if result.encoding.get("empty_documents"):
            lines.append(f"- {result.encoding['empty_documents']} document(s) without text, left out of ColBERT runs")
    lines.append("")
    return "\n".join(lines)


def _run_seconds(r: RunResult) -> float:
    """End-to-end seconds of a run: its own stages (shared stages counted in each run that uses them)."""
    keys = ("bm25_index_s", "bm25_search_s", "encode_queries_s", "encode_documents_s", "index_build_s",
            "search_s", "rerank_s")  # fmt: skip
    return sum(r.timings.get(k, 0.0) for k in keys)


def plot_results(result: EvaluationResult, path: str | Path, metric: str | None = None) -> Path:
    """Bar chart of `metric` per run, with the card's published figure beside each run that has one."""
    from jcolbert.evaluate.published import primary_metric

    metric = metric or primary_metric(result.dataset.name)
    return plot_bars(
        title=f"{result.dataset.name} ({result.dataset.split}) - {metric.upper()}"
        + (f" - {result.model_name}" if result.model_name else ""),
        labels=[r.name for r in result.runs],
        ours=[r.scores.mean.get(metric, float("nan")) for r in result.runs],
        published=[r.published.value if r.published and r.published.metric == metric else None for r in result.runs],
        path=path,
        ylabel=metric.upper(),
    )


def plot_bars(
    *,
    title: str,
    labels: Sequence[str],
    ours: Sequence[float],
    published: Sequence[float | None],
    path: str | Path,
    ylabel: str,
) -> Path:
    # The object-oriented API with the Agg canvas: no pyplot global state, no display needed.
    require_extra("matplotlib", "eval", "results.png")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    n = len(labels)
    fig = Figure(figsize=(max(4.0, 1.3 * n + 2), 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    any_pub = any(p is not None for p in published)
    width = 0.38 if any_pub else 0.6
    xs = list(range(n))
    offs = -width / 2 if any_pub else 0.0
    bars = ax.bar([x + offs for x in xs], ours, width, label="measured (jcolbert)", color="#3b75af")
    for bar, v in zip(bars, ours, strict=True):
        ax.annotate(f"{v:.3f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    if any_pub:
        px = [x + width / 2 for x, p in zip(xs, published, strict=True) if p is not None]
        pv = [p for p in published if p is not None]
        pbars = ax.bar(px, pv, width, label="published (model card)", color="#e5a24a", hatch="//")
        for bar, v in zip(pbars, pv, strict=True):
            ax.annotate(f"{v:.3f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=20 if n > 4 else 0, ha="right" if n > 4 else "center", fontsize=9)
    ax.set_ylabel(ylabel)
    top = max([v for v in ours if math.isfinite(v)] + [p for p in published if p is not None] + [0.1])
    ax.set_ylim(0, top * 1.25)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_report(result: EvaluationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every output file of one evaluation into `out_dir`; returns {kind: path}.

    ``run.trec`` holds the first run (the first mode asked for); each run also gets ``run.<name>.trec``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for i, r in enumerate(result.runs):
        p = write_trec(r.run, out / f"run.{_safe(r.name)}.trec", tag=_safe(r.name))
        paths[f"run:{r.name}"] = p
        if i == 0:
            paths["trec"] = write_trec(r.run, out / RUN_TREC, tag=_safe(r.name))
    per_query = {r.name: r.scores.per_query for r in result.runs}
    (out / PER_QUERY_JSON).write_text(json.dumps(per_query, indent=1, sort_keys=True), encoding="utf-8")
    paths["per_query"] = out / PER_QUERY_JSON
    data = result_to_dict(result)
    (out / RESULTS_JSON).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    paths["json"] = out / RESULTS_JSON
    (out / RESULTS_MD).write_text(markdown_table(result), encoding="utf-8")
    paths["markdown"] = out / RESULTS_MD
    if result.runs:
        paths["png"] = plot_results(result, out / RESULTS_PNG)
    return paths


def write_summary(results: Sequence[EvaluationResult], out_dir: str | Path, metric: str = "ndcg@10") -> dict[str, Path]:
    """For a multi-dataset recipe: one row per dataset, one column per run, published figures beside."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_names: list[str] = []
    for res in results:
        for r in res.runs:
            if r.name not in run_names:
                run_names.append(r.name)
    header = "| dataset | " + " | ".join(f"{n} | {n} (card)" for n in run_names) + " |"
    lines = [f"# Summary: {metric.upper()}", "", header, "| --- |" + " ---: | ---: |" * len(run_names)]
    rows: list[dict[str, Any]] = []
    for res in results:
        cells, row = [], {"dataset": res.dataset.name}
        for n in run_names:
            r = next((x for x in res.runs if x.name == n), None)
            v = r.scores.mean.get(metric) if r else None
            p = r.published.value if r and r.published else None
            cells += [_fmt(v) if v is not None else "-", _fmt(p) if p is not None else "-"]
            row[n] = {"measured": v, "published": p}
        rows.append(row)
        lines.append(f"| {res.dataset.name} | " + " | ".join(cells) + " |")
    if len(results) > 1:
        # Averages over the datasets every run covers (the card's "Average" rows, LoCo's average).
        cells = []
        for n in run_names:
            vals = [row[n]["measured"] for row in rows if n in row and row[n]["measured"] is not None]
            pubs = [row[n]["published"] for row in rows if n in row and row[n]["published"] is not None]
            full = len(vals) == len(rows)
            cells.append(_fmt(sum(vals) / len(vals)) if vals and full else "-")
            cells.append(_fmt(sum(pubs) / len(pubs)) if pubs and len(pubs) == len(rows) else "-")
        lines.append("| **average** | " + " | ".join(cells) + " |")
    lines.append("")
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({"metric": metric, "rows": rows}, indent=2), encoding="utf-8")
    paths = {"markdown": out / "summary.md", "json": out / "summary.json"}
    if results and run_names:
        first = run_names[0]
        labels, ours, pub = [], [], []
        for res in results:
            r = next((x for x in res.runs if x.name == first), None)
            if r is not None:
                labels.append(res.dataset.name)
                ours.append(r.scores.mean.get(metric, float("nan")))
                pub.append(r.published.value if r.published else None)
        paths["png"] = plot_bars(
            title=f"{first}: {metric.upper()} by dataset", labels=labels, ours=ours, published=pub,
            path=out / "summary.png", ylabel=metric.upper(),
        )  # fmt: skip
    return paths
