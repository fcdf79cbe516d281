"""One query's whole latency, query string to hits (query encoding included), jcolbert vs colbert-ai.

Both engines search the same collection built from the same checkpoint (the anchors' MiniLM ColBERT checkpoint):
jcolbert an index made by `jcolbert index ... --model CKPT`, colbert-ai the index that
../shared/anchors/colbertai_bench.py built from the same text (same --limit). Every test query of the dataset is
searched one at a time, k results, in a warm process (5 warm-up queries first), at each thread count; each
(engine, threads) pair runs in a fresh child process with OMP/MKL threads and torch threads set, the engines
alternated per thread count (ABBA), so drift on a shared machine hits both alike.

Per query the child times the whole call (jcolbert `Index.search(text, k)`, colbert-ai `Searcher.search(text, k)`),
and separately, over the same queries, the query encoding alone and the search from encoded vectors alone
(jcolbert `search_embeddings`, colbert-ai `dense_search`), so the report shows where the time goes.

    .venv/bin/python benchmarks/bench_query_e2e.py --jcolbert-index /tmp/jc-bench/idx_ckpt1000 \\
        --colbertai-root /tmp/jc-anchors/work/colbertai --colbertai-index scifact.n1000.nbits2 \\
        --dataset ../shared/data/scifact --threads 1 2 --out /tmp/jc-bench/query_e2e.json
    # jcolbert alone (e.g. a minilm index at k=10 and k=100):
    .venv/bin/python benchmarks/bench_query_e2e.py --jcolbert-index IDX --ks 10 100 --dataset ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("JCOLBERT_SHARED", REPO.parent / "shared"))
ANCHORS = SHARED / "anchors"
ANCHORS_HOME = Path(os.environ.get("ANCHORS_HOME", "/tmp/jc-anchors"))


def summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1000 * s for s in seconds)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, max(0, round(p / 100 * len(ms)) - 1))]

    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(pct(95), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def queries(dataset: Path, limit: int) -> list[str]:
    sys.path.insert(0, str(ANCHORS))
    from anchor_common import load_beir

    _, _, _, texts, _ = load_beir(str(dataset), 1)
    return texts[:limit] if limit else texts


# -- children (fresh processes) ---------------------------------------------------------------------------------
def child_jcolbert(a: argparse.Namespace) -> dict:
    import torch

    import jcolbert

    torch.set_num_threads(a.threads[0])
    texts = queries(a.dataset, a.max_queries)
    idx = jcolbert.Index.open(a.index, readonly=True)
    for q in texts[:5]:
        idx.search(q, k=a.k)  # warm-up: loads the model, maps the index files
    total, encode, search, hits = [], [], [], []
    for q in texts:
        t = time.perf_counter()
        res = idx.search(q, k=a.k)
        total.append(time.perf_counter() - t)
        hits.append([h.id for h in res])
    model = idx.model
    for q in texts:
        t = time.perf_counter()
        Q = model.encode_queries([q], show_progress=False)
        encode.append(time.perf_counter() - t)
        Q = Q[0] if hasattr(Q, "__getitem__") else Q
        t = time.perf_counter()
        idx.search_embeddings(Q, k=a.k)
        search.append(time.perf_counter() - t)
    return {
        "engine": "jcolbert",
        "precision": model.config.dtype,
        "k": a.k,
        "threads": a.threads[0],
        "end_to_end": summary(total),
        "query_encoding": summary(encode),
        "search_only": summary(search),
        "hits": hits,
    }


def child_colbertai(a: argparse.Namespace) -> dict:
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(sys.prefix, "torch_ext"))
    import torch
    from colbert import Searcher
    from colbert.infra import ColBERTConfig, Run, RunConfig

    torch.set_num_threads(a.threads[0])
    texts = queries(a.dataset, a.max_queries)
    sys.path.insert(0, str(ANCHORS))
    from anchor_common import load_beir

    doc_ids = load_beir(str(a.dataset), a.limit or None)[0]
    root = str(a.colbertai_root)
    with Run().context(
        RunConfig(nranks=1, experiment=a.dataset.name, root=root, avoid_fork_if_possible=True)
    ):
        searcher = Searcher(index=a.index, config=ColBERTConfig(root=root))
    for q in texts[:5]:
        searcher.search(q, k=a.k)
    total, encode, search, hits = [], [], [], []
    for q in texts:
        t = time.perf_counter()
        pids, _, _ = searcher.search(q, k=a.k)
        total.append(time.perf_counter() - t)
        hits.append([doc_ids[p] for p in pids])
    for q in texts:
        t = time.perf_counter()
        Q = searcher.encode(q)
        encode.append(time.perf_counter() - t)
        t = time.perf_counter()
        searcher.dense_search(Q, k=a.k)
        search.append(time.perf_counter() - t)
    return {
        "engine": "colbert-ai",
        "k": a.k,
        "threads": a.threads[0],
        "end_to_end": summary(total),
        "query_encoding": summary(encode),
        "search_only": summary(search),
        "hits": hits,
    }


# -- parent -----------------------------------------------------------------------------------------------------
def run_child(python: str, args: list[str], threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[var] = str(threads)
    env.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out = subprocess.run([python, __file__, *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"child failed: {' '.join(args)}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def overlap(a: list[list[str]], b: list[list[str]], k: int) -> float:
    return statistics.fmean(len(set(x[:k]) & set(y[:k])) / k for x, y in zip(a, b, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jcolbert-index", type=Path)
    ap.add_argument("--colbertai-root", type=Path, default=ANCHORS_HOME / "work" / "colbertai")
    ap.add_argument(
        "--colbertai-index", help="index name under ROOT/<dataset>/indexes (colbertai_bench.py's)"
    )
    ap.add_argument("--dataset", type=Path, default=SHARED / "data" / "scifact")
    ap.add_argument("--limit", type=int, default=0, help="documents the colbert-ai index holds (its --limit)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ks", type=int, nargs="+", default=[10])
    ap.add_argument("--max-queries", type=int, default=0, help="first N test queries (0: all)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", choices=["jcolbert", "colbert-ai"])
    ap.add_argument("--index")
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()
    if a.child:
        child = child_jcolbert if a.child == "jcolbert" else child_colbertai
        print(json.dumps(child(a)))
        return

    engines = {}
    if a.jcolbert_index:
        engines["jcolbert"] = (sys.executable, str(a.jcolbert_index))
    if a.colbertai_index:
        python = ANCHORS_HOME / "colbertai" / "bin" / "python"
        if not python.exists():
            sys.exit(f"needs {python}: run ../shared/anchors/setup.sh")
        engines["colbert-ai"] = (str(python), a.colbertai_index)
    if not engines:
        sys.exit("give --jcolbert-index and/or --colbertai-index")
    common = [
        "--dataset",
        str(a.dataset),
        "--limit",
        str(a.limit),
        "--max-queries",
        str(a.max_queries),
        "--colbertai-root",
        str(a.colbertai_root),
    ]
    results = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%d %H:%M"),
        "loadavg_start": os.getloadavg(),
        "runs": [],
    }
    n = 0
    for k in a.ks:
        for threads in a.threads:
            names = list(engines) if n % 2 == 0 else list(reversed(engines))
            n += 1
            row = {}
            for name in names:
                python, index = engines[name]
                args = ["--child", name, "--index", index, "--k", str(k), "--threads", str(threads), *common]
                row[name] = run_child(python, args, threads)
                row[name]["loadavg"] = os.getloadavg()[0]
            entry = {"k": k, "threads": threads}
            for name, res in row.items():
                entry[name] = {key: res[key] for key in res if key != "hits"}
            if len(row) == 2:
                ours, ref = row["jcolbert"], row["colbert-ai"]
                entry["ratio_p50"] = ours["end_to_end"]["p50_ms"] / ref["end_to_end"]["p50_ms"]
                entry["ratio_p95"] = ours["end_to_end"]["p95_ms"] / ref["end_to_end"]["p95_ms"]
                entry["top_k_overlap"] = overlap(ours["hits"], ref["hits"], k)
            results["runs"].append(entry)
            print(json.dumps(entry), flush=True)
    results["loadavg_end"] = os.getloadavg()
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
