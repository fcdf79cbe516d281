"""One query's whole latency in a warm process, stage by stage: tokenizer, encoder at batch 1, centroid scores,
PLAID stages, id lookup, and `Index.search` end to end; plus what the first query of a fresh process pays.

    python benchmarks/bench_query_latency.py --model minilm --dataset ../shared/data/scifact --limit 500
    python benchmarks/bench_query_latency.py --model ../shared/fixtures/tiny-jina-colbert --limit 500

An index of the first --limit SciFact documents is built once per model (under --work, 2 threads). Then, for
each thread count, a fresh child process (OMP/MKL/OPENBLAS threads and torch.set_num_threads set):

* first query: `Index.open` then one `search` (model load, codec tables, norms, imports: all paid by it), and
  again in the same process with `Index.open(warm=True)` (the time of `warm_up()` reported on its own);
* every test query (--queries of them), each stage timed separately, p50 / p95 in ms. "before" is the engine
  as it was: the encoder runs all query_maxlen positions and search gets the padded [query_maxlen, dim]
  matrix; "after" is today's path: a query without [MASK] augmentation (minilm) is encoded and searched with
  its own tokens only (ColBERT checkpoints with augmentation keep query_maxlen, so both columns agree);
  Also "before": int8 GEMMs through torch._int_mm on every CPU; "after": float32 on CPUs without VNNI/AMX
  (kernels.native_int8), the same integers;
* `Index.search` end to end (the "after" path), for the total a caller sees.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("JCOLBERT_SHARED", REPO.parent / "shared"))
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def read_beir(folder: Path, limit: int, n_queries: int) -> tuple[list[dict], list[str]]:
    docs = []
    with open(folder / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            docs.append({"id": d["_id"], "text": " ".join(f"{d.get('title', '')} {d['text']}".split())})
            if len(docs) == limit:
                break
    wanted = {line.split("\t")[0] for line in (folder / "qrels" / "test.tsv").read_text("utf-8").splitlines()[1:]}
    queries = []
    with open(folder / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            if q["_id"] in wanted:
                queries.append(q["text"])
    return docs, queries[:n_queries]


def child_build(a) -> dict:
    import jcolbert
    from jcolbert.index import Index

    docs, _ = read_beir(Path(a.dataset), a.limit, 0)
    model = jcolbert.load_model(a.model)
    t = time.perf_counter()
    index = Index.create(a.index, model=model, overwrite=True, progress=False, rerank=a.rerank or None)
    index.add(docs)
    st = index.stats()
    return {"build_s": round(time.perf_counter() - t, 1), "documents": st["documents"], "tokens": st["tokens"],
            "mode": st["mode"], "centroids": st["centroids"], "dim": st["dim"], "precision": model.precision}


def _clock() -> float:
    return time.perf_counter() * 1000.0


def child_measure(a) -> dict:
    import torch

    torch.set_num_threads(int(a.threads))
    from jcolbert.index import Index, kernels, plaid, query

    _, texts = read_beir(Path(a.dataset), 0, a.queries)
    out: dict = {"threads": int(a.threads), "native_int8": kernels.native_int8()}
    t = _clock()
    index = Index.open(a.index)
    index.search(texts[0], k=a.k)
    out["first_query_cold_ms"] = round(_clock() - t, 1)
    index.close()
    t = _clock()
    index = Index.open(a.index, warm=True)
    out["open_warm_ms"] = round(_clock() - t, 1)
    t = _clock()
    index.search(texts[1], k=a.k)
    out["first_query_after_warm_up_ms"] = round(_clock() - t, 1)

    model, snap = index.model, index._current()
    segs, codec = snap.segments, snap.codec
    knobs = plaid.Knobs.for_k(a.k, exact_tier=any(s.rerank is not None for s in segs))
    stages: dict[str, list[float]] = {}

    def note(name: str, ms: float) -> None:
        stages.setdefault(name, []).append(ms)

    detected = kernels.native_int8

    def engine(Q: np.ndarray, tag: str) -> list:
        # before: torch._int_mm for every int8 GEMM, whatever the CPU; after: float32 without VNNI/AMX
        kernels.native_int8 = (lambda: True) if tag == "before:" else detected
        t = _clock()
        prep = kernels.prepare(codec, Q[None])
        note(f"{tag}centroid_scores", _clock() - t)
        times: dict[str, float] = {}
        res = plaid.plaid(prep, segs, codec, [None] * len(segs), a.k, knobs, times)
        for stage in ("candidates", "pruned", "unpruned", "exact"):
            note(f"{tag}plaid_{stage}", times.get(stage, 0.0) * 1000)
        return [res]

    for _ in range(2):  # warm both paths
        for text in texts[:3]:
            index.search(text, k=a.k)
    for text in texts:
        t = _clock()
        pieces = model.tokenizer.wordpieces([text])
        batch = model.tokenizer.queries_from_pieces(pieces)
        note("tokenizer", _clock() - t)
        t = _clock()
        full = model.embed(batch)[0].numpy()
        note("before:encoder", _clock() - t)
        t = _clock()
        trimmed = model.embed(model._trim(batch))[0].numpy()
        note("after:encoder", _clock() - t)
        note("query_rows_before", float(full.shape[0]))
        note("query_rows_after", float(query.trim_padding(trimmed[None]).shape[1]))
        if codec is not None:
            engine(np.ascontiguousarray(full), "before:")
            res = engine(np.ascontiguousarray(query.trim_padding(trimmed[None])[0]), "after:")
            t = _clock()
            query.to_hits(segs, index._docs, res, False, False)
            note("id_lookup", _clock() - t)
        t = _clock()
        index.search(text, k=a.k)
        note("search_end_to_end", _clock() - t)
    summary = {}
    for name, values in stages.items():
        v = np.asarray(values)
        summary[name] = {"p50": round(float(np.percentile(v, 50)), 3), "p95": round(float(np.percentile(v, 95)), 3)}
    for tag in ("before:", "after:"):
        parts = ["tokenizer", f"{tag}encoder", f"{tag}centroid_scores"] + \
            [f"{tag}plaid_{s}" for s in ("candidates", "pruned", "unpruned", "exact")] + ["id_lookup"]
        per_query = np.sum([stages[p] for p in parts if p in stages], axis=0)
        summary[f"{tag}sum_of_stages"] = {"p50": round(float(np.percentile(per_query, 50)), 3),
                                          "p95": round(float(np.percentile(per_query, 95)), 3)}
    out["stages_ms"] = summary
    return out


def spawn(a, mode: str, threads: int) -> dict:
    res_path = Path(a.work) / f"{mode}.{threads}.{os.getpid()}.json"
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS})
    cmd = [sys.executable, __file__, "--child", mode, "--model", a.model, "--dataset", a.dataset, "--limit",
           str(a.limit), "--queries", str(a.queries), "--k", str(a.k), "--index", a.index, "--threads", str(threads),
           "--out", str(res_path), "--rerank", a.rerank]
    proc = subprocess.run(cmd, env=env, text=True, capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"bench_query_latency: child {mode} failed:\n{proc.stderr[-4000:]}")
    res = json.loads(res_path.read_text())
    res_path.unlink()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--dataset", default=str(SHARED / "data" / "scifact"))
    ap.add_argument("--limit", type=int, default=500, help="documents indexed")
    ap.add_argument("--queries", type=int, default=100, help="test queries timed")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rerank", default="", help="build the index with this exact tier (int8, fp16)")
    ap.add_argument("--work", default="/tmp/jcolbert-latency")
    ap.add_argument("--index", default="")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--out", help="result JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        res = child_build(a) if a.child == "build" else child_measure(a)
        Path(a.out).write_text(json.dumps(res))
        return
    Path(a.work).mkdir(parents=True, exist_ok=True)
    name = Path(a.model).name + f".n{a.limit}" + (f".{a.rerank}" if a.rerank else "")
    a.index = a.index or str(Path(a.work) / name)
    result: dict = {"model": a.model, "limit": a.limit, "queries": a.queries, "k": a.k,
                    "load": Path("/proc/loadavg").read_text().split()[:3]}
    if a.rebuild or not Path(a.index, "manifest.json").exists():
        result["build"] = spawn(a, "build", 2)
    result["runs"] = [spawn(a, "measure", int(t)) for t in a.threads.split(",")]
    result["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
