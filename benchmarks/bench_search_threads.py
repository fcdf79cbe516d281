"""What one search and one query encoding cost inside a server: threads per search, and batches of queries.

    .venv/bin/python benchmarks/bench_search_threads.py --index /tmp/jc-bench/idx1000

In one process, on an index with a model (`minilm`), for the first --n SciFact queries:
(1) the search stage alone (`Index.search_embeddings` on each query's own vectors), one query after another and
    from 2 threads side by side, with numpy's BLAS on its default threads and on 1 thread (threadpoolctl);
(2) the search stage per query when queries come alone or in padded batches of 4 and 8 (1 BLAS thread);
(3) query encoding per query alone and in batches of 4, 8 and 16 (1 torch thread).
These are the measurements behind `jcolbert serve --compute-threads` and its search batcher (BENCHMARKS.md,
"Serving"). Best of --repeat passes; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def best(fn, repeat: int) -> float:
    out = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True, help="an index folder with a model (minilm)")
    ap.add_argument("--queries", type=Path, default=ROOT.parent / "shared/data/scifact/queries.jsonl")
    ap.add_argument("--n", type=int, default=64, help="queries")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    import jcolbert
    from jcolbert.index.query import trim_padding
    from jcolbert.serve.arrays import stack_queries

    torch.set_num_threads(1)
    with open(args.queries, encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()][:args.n]
    index = jcolbert.Index.open(args.index, readonly=True)
    index.warm_up()
    model = index.model
    Qs = [trim_padding(np.asarray(model.encode_queries([t]), dtype=np.float32))[0] for t in texts]
    n = len(Qs)

    def serial() -> None:
        for Q in Qs:
            index.search_embeddings(Q, args.k)

    def side_by_side() -> None:
        def one(i: int) -> None:
            torch.set_num_threads(1)
            index.search_embeddings(Qs[i], args.k)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(one, range(n)))

    def batches(size: int):
        groups = [stack_queries(Qs[i:i + size]) for i in range(0, n, size)]
        return lambda: [index.search_embeddings(G, args.k) for G in groups]

    out: dict = {"index": str(args.index), "queries": n, "k": args.k, "stats": {
        key: index.stats()[key] for key in ("documents", "tokens", "segments", "centroids")}}
    serial()  # warm
    blas = {}
    for label, limit in (("default", None), ("1", 1)):
        with threadpool_limits(limits=limit, user_api="blas"):
            blas[label] = {"serial_ms_per_query": round(best(serial, args.repeat) / n * 1000, 1),
                           "two_threads_queries_per_s": round(n / best(side_by_side, args.repeat), 1)}
    out["blas_threads"] = blas
    with threadpool_limits(limits=1, user_api="blas"):
        out["search_ms_per_query"] = {f"batch {b}": round(best(batches(b), args.repeat) / n * 1000, 1)
                                      for b in (1, 4, 8)}
    model.encode_queries(texts[:4])
    out["encode_ms_per_query"] = {
        f"batch {b}": round(best(lambda b=b: [model.encode_queries(texts[i:i + b], batch_size=b)
                                             for i in range(0, n, b)], args.repeat) / n * 1000, 1)
        for b in (1, 4, 8, 16)}
    index.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
