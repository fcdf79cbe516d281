"""Open and first-search time of an index, in fresh processes: what issue 10's checks at open may cost.

Each repetition is a new Python process (imports excluded from the figures) that times `Index.open(path)`
(manifest, every array checked and mapped, document store opened and counted) and then the first
`search_embeddings` (cold: it also fills the per-segment inverse-norm memo), then a second search (warm).
Run it against two code trees on indexes built from the same vectors, alternating A B A B so load drifts
hit both alike; report medians and their ratio.

    python benchmarks/bench_open.py build --emb $H/out/scifact.npz --index /tmp/idx_new
    PYTHONPATH=/path/to/old/src python benchmarks/bench_open.py build --emb ... --index /tmp/idx_old
    python benchmarks/bench_open.py compare --emb ... --a /path/to/old/src:/tmp/idx_old \\
        --b src:/tmp/idx_new --repeat 9 --out open_compare.json
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

import numpy as np


def build(a) -> None:
    from jcolbert.index import Index

    data = np.load(a.emb, allow_pickle=False)
    lens = data["doclens"]
    V = data["doc_vectors"]
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    docs = [V[s:s + n] for s, n in zip(starts, lens, strict=True)]
    index = Index.create(a.index, dim=V.shape[1], nbits=2, overwrite=True, progress=False)
    index.add_embeddings(list(data["doc_ids"]), docs, texts=[f"document {i}" for i in data["doc_ids"]])
    print(json.dumps(index.stats()["bytes_on_disk"]))


def child(a) -> None:
    from jcolbert.index import Index

    Q = np.load(a.emb, allow_pickle=False)["query_vectors"]
    t0 = time.perf_counter()
    index = Index.open(a.index)
    t1 = time.perf_counter()
    index.search_embeddings(Q[0], k=10, return_text=True)
    t2 = time.perf_counter()
    index.search_embeddings(Q[1], k=10, return_text=True)
    t3 = time.perf_counter()
    print(json.dumps({"open_s": t1 - t0, "first_search_s": t2 - t1, "second_search_s": t3 - t2}))


def run_child(src: str, index: str, emb: str) -> dict:
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "child", "--emb", emb, "--index", index], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(a) -> None:
    sides = {"a": a.a.split(":", 1), "b": a.b.split(":", 1)}
    runs: dict[str, list[dict]] = {"a": [], "b": []}
    loads = [os.getloadavg()[0]]
    for _ in range(a.repeat):
        for side, (src, index) in sides.items():
            runs[side].append(run_child(str(Path(src).resolve()), index, a.emb))
        loads.append(os.getloadavg()[0])
    med = {side: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for side, rs in runs.items()}
    result = {"a": {"src": sides["a"][0], "index": sides["a"][1], "median_s": med["a"]},
              "b": {"src": sides["b"][0], "index": sides["b"][1], "median_s": med["b"]},
              "ratio_b_over_a": {k: round(med["b"][k] / med["a"][k], 3) for k in med["a"]},
              "repeat": a.repeat, "load_average_1min": [round(x, 2) for x in loads], "runs": runs}
    text = json.dumps(result, indent=1)
    if a.out:
        Path(a.out).write_text(text)
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("build", "child", "compare"))
    ap.add_argument("--emb", required=True)
    ap.add_argument("--index")
    ap.add_argument("--a", help="SRC:INDEX of the baseline")
    ap.add_argument("--b", help="SRC:INDEX of the candidate")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out")
    a = ap.parse_args()
    {"build": build, "child": child, "compare": compare}[a.mode](a)


if __name__ == "__main__":
    main()
