"""Sharded search on SciFact: 1, 2, 4, 8 shards against one index, local (threads) and Ray (actors) backends.

    .venv/bin/python benchmarks/bench_shards.py [--docs 2000] [--queries 300] [--doc-maxlen 180] [--shards 1 2 4 8]
                                                [--backends local ray] [--out /tmp/jc-bench/shards.json]

The documents (the first --docs of SciFact's corpus, title + text, cut at --doc-maxlen tokens) and queries
are encoded once with the
offline `minilm` model and cached under /tmp/jc-bench/ (the encoding is not what is measured here). One
codec is trained on a sample of the whole collection; the unsharded index and every sharded index adopt
it, so scores are comparable. For each layout and backend, each query is searched alone (k=10, PLAID
defaults), one after another: p50 / p95 latency, and recall@10 against the unsharded index's top-10.
Fan-out + merge overhead: a 1-shard sharded index against the plain index holding the same documents
(what the scatter, the gather and the merge add per query), and the time spent merging itself.
Ray runs locally (`ray.init(num_cpus=2)`), one actor per shard; this machine has 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("JCOLBERT_SHARED", REPO.parent / "shared"))
CACHE = Path("/tmp/jc-bench")


def encoded(docs: int, queries: int, doc_maxlen: int = 180) -> tuple[list[str], list[np.ndarray], np.ndarray, float]:
    """SciFact vectors (cached): ids, document vectors, query vectors, documents encoded per second."""
    cache = CACHE / f"scifact-minilm-{docs}-{queries}-{doc_maxlen}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        flat, lens = z["flat"], z["lens"]  # each z[...] reads the array again: once
        bounds = np.concatenate([[0], np.cumsum(lens)])
        vecs = [flat[bounds[i]:bounds[i + 1]] for i in range(len(lens))]
        return [str(x) for x in z["ids"]], vecs, z["Q"], float(z["docs_per_s"])
    import jcolbert

    rows = [json.loads(x) for x in (SHARED / "data/scifact/corpus.jsonl").read_text().splitlines()[:docs]]
    qs = [json.loads(x)["text"] for x in (SHARED / "data/scifact/queries.jsonl").read_text().splitlines()[:queries]]
    model = jcolbert.load_model("minilm")
    started = time.perf_counter()
    vecs = [v.numpy() for v in model.encode_documents([r["title"] + " " + r["text"] for r in rows], batch_size=32,
                                                  max_length=doc_maxlen)]
    rate = len(rows) / (time.perf_counter() - started)
    Q = model.encode_queries(qs).numpy()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, flat=np.concatenate(vecs), lens=np.array([len(v) for v in vecs]), Q=Q,
             ids=np.array([str(r["_id"]) for r in rows]), docs_per_s=rate)
    return [str(r["_id"]) for r in rows], vecs, Q, rate


def timed_searches(index, Q: np.ndarray, k: int = 10) -> tuple[list[list[str]], list[float], list[float]]:
    hits, lat, merge = [], [], []
    for q in Q[:5]:  # warm-up: page in the segments, start the actors' code paths
        index.search_embeddings(q, k=k)
    for q in Q:
        t = time.perf_counter()
        got = index.search_embeddings(q, k=k)
        lat.append((time.perf_counter() - t) * 1000)
        merge.append(getattr(index, "last_search", {}).get("merge_s", 0.0) * 1000)
        hits.append([h.id for h in got])
    return hits, lat, merge


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--doc-maxlen", type=int, default=180, help="tokens kept per document (ColBERTv2's 180)")
    ap.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--backends", nargs="+", default=["local", "ray"])
    ap.add_argument("--out", type=Path, default=CACHE / "shards.json")
    args = ap.parse_args()

    import jcolbert
    from jcolbert.index import Codec, Index

    ids, vecs, Q, rate = encoded(args.docs, args.queries, args.doc_maxlen)
    tokens = int(sum(len(v) for v in vecs))
    print(f"{len(ids)} documents, {tokens} tokens, {len(Q)} queries (encoded at {rate:.1f} docs/s); "
          f"load: {os.getloadavg()}")
    codec = Codec.train(np.concatenate(vecs[::2]), nbits=2, total_tokens=tokens)
    work = Path(tempfile.mkdtemp(prefix="jc-shards-"))
    one = Index.create(work / "one", dim=Q.shape[-1], codec=codec)
    one.add_embeddings(ids, vecs)
    base_hits, base_lat, _ = timed_searches(one, Q)
    results = {"documents": len(ids), "tokens": tokens, "queries": len(Q), "centroids": codec.num_centroids,
               "load_before": os.getloadavg(),
               "unsharded": {"p50_ms": pct(base_lat, 50), "p95_ms": pct(base_lat, 95)}, "runs": []}
    print(f"unsharded: p50 {pct(base_lat, 50):.2f} ms, p95 {pct(base_lat, 95):.2f} ms")
    for n in args.shards:
        root = work / f"sh{n}"
        jcolbert.ShardedIndex.create(root, dim=Q.shape[-1], shards=n, codec=codec).add_embeddings(ids, vecs)
        for backend in args.backends:
            if backend == "ray":
                import ray

                if not ray.is_initialized():
                    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
            with jcolbert.ShardedIndex.open(root, backend=backend) as sh:
                hits, lat, merge = timed_searches(sh, Q)
            recall = statistics.mean(len(set(h) & set(b)) / max(1, len(b)) for h, b in zip(hits, base_hits, strict=True))
            row = {"shards": n, "backend": backend, "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95),
                   "recall_at_10_vs_unsharded": recall, "merge_ms_mean": statistics.mean(merge),
                   "overhead_ms_p50_vs_unsharded": pct(lat, 50) - pct(base_lat, 50)}
            results["runs"].append(row)
            print(f"{n} shard(s), {backend:5s}: p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms, "
                  f"recall@10 {recall:.4f}, merge {row['merge_ms_mean']:.3f} ms, "
                  f"+{row['overhead_ms_p50_vs_unsharded']:.2f} ms p50 vs unsharded")
    results["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
