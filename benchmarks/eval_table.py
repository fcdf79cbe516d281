"""Print the Markdown rows of BENCHMARKS.md's "## Evaluation" table from `jcolbert evaluate` output folders.

    python benchmarks/eval_table.py bench_out/eval/scifact-minilm bench_out/eval/classic-minilm/*/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(folder: Path) -> list[str]:
    data = json.loads((folder / "results.json").read_text())
    ds = data["dataset"]
    out = []
    for run in data["runs"]:
        m, t = run["metrics"], run["timings"]
        pub = run["published"]["value"] if run["published"] else None
        engine_s = t.get("bm25_search_s", 0.0) if run["mode"] == "bm25" else t.get("rerank_s", t.get("search_s", 0.0))
        p50 = t.get("search_ms_p50", t.get("rerank_ms_p50", t.get("bm25_ms_per_query")))
        p95 = t.get("search_ms_p95", t.get("rerank_ms_p95"))
        latency = f"{p50:.1f} / {p95:.0f}" if p95 is not None else f"{p50:.1f} (mean)"
        out.append(
            f"| {ds['name']} ({ds['queries']} q) | {run['name']} | {m['ndcg@10']:.4f} | "
            f"{m.get('recall@100', float('nan')):.4f} | {pub if pub is not None else '-'} | "
            f"{t.get('encode_documents_s', 0.0):.0f} | {t.get('index_build_s', 0.0):.0f} | {engine_s:.1f} | "
            f"{latency} |"
        )
    return out


def main(argv: list[str]) -> None:
    print(
        "| dataset | run | NDCG@10 | Recall@100 | card figure | encode docs (s) | index build (s) | "
        "search/rerank total (s) | per query p50 / p95 (ms) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for arg in argv:
        for row in rows(Path(arg)):
            print(row)


if __name__ == "__main__":
    main(sys.argv[1:])
