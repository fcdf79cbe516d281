"""How much ranking quality can residual compression keep at a given byte budget? (BENCHMARKS.md, Index engine)

Scores each query's exact top-100 documents (from the anchors' exact.py cache) again with reconstructed
vectors, and reports recall@10 against exact MaxSim. Documents outside the exact top-100 almost never reach
a top-10, so this is the ceiling of any search over those codes, PLAID or exhaustive. Compared, all with the
same 16,384-or-fewer spherical centroids (jcolbert's own k-means) and 32 bytes of residual per 128-d token:

* centroid only (what PLAID's approximate stages see);
* jcolbert's PQ codec (32 sub-quantizers x 8 bits), raw and length-normalised (what search scores);
* ColBERTv2's 2-bit buckets (jcolbert residual="quantile");
* faiss OPQ + PQ 32x8 (a rotation learned before product quantization), raw and normalised.

    python benchmarks/codec_fidelity.py --emb /tmp/jc-anchors/out/scifact.npz --queries 100
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emb", required=True, help="anchor npz (encode_reference.py); exact top-100 cached beside it")
    ap.add_argument("--queries", type=int, default=100, help="queries evaluated (evenly spaced)")
    ap.add_argument("--sample", type=int, default=262144, help="vectors the codecs train on")
    ap.add_argument("--faiss", action="store_true", help="also faiss OPQ + PQ (slow: minutes)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from jcolbert.index.codec import Codec, num_centroids_for

    z = np.load(args.emb)
    ex = np.load(args.emb.replace(".npz", ".exact_top100.npz"))
    doclens = z["doclens"].astype(np.int64)
    offs = np.concatenate([[0], np.cumsum(doclens)])
    D = z["doc_vectors"]
    Q = z["query_vectors"].astype(np.float32)
    top100 = ex["idx"]
    qsel = np.linspace(0, len(Q) - 1, args.queries).astype(int)
    docs = np.unique(top100[qsel])
    rows = np.concatenate([np.arange(offs[d], offs[d + 1]) for d in docs])
    X = D[rows].astype(np.float32)
    local = np.concatenate([[0], np.cumsum(doclens[docs])])
    where = {int(d): i for i, d in enumerate(docs)}
    rng = np.random.default_rng(0)
    sample = D[np.sort(rng.choice(len(D), min(args.sample, len(D)), replace=False))].astype(np.float32)
    C = num_centroids_for(len(D))

    def recall(V: np.ndarray) -> float:
        hits = []
        for q in qsel:
            cand = top100[q]
            s = [(V[local[where[int(d)]]:local[where[int(d)] + 1]] @ Q[q].T).max(0).sum() for d in cand]
            hits.append(len(set(cand[np.argsort(-np.asarray(s))[:10]]) & set(top100[q, :10])) / 10)
        return float(np.mean(hits))

    def unit(V: np.ndarray) -> np.ndarray:
        return V / np.linalg.norm(V, axis=1, keepdims=True)

    results: dict[str, float] = {}

    def report(name: str, V: np.ndarray, seconds: float) -> None:
        results[name] = round(recall(V), 4)
        results[name + " +unit length"] = round(recall(unit(V)), 4)
        print(f"{name:38s} recall@10 {results[name]:.3f}  normalised {results[name + ' +unit length']:.3f}"
              f"  ({seconds:.0f} s)", flush=True)

    print(f"{len(qsel)} queries, {len(docs)} documents, {len(X)} tokens, {C} centroids", flush=True)
    for residual in ("pq", "quantile"):
        t = time.time()
        codec = Codec.train(sample, nbits=2, num_centroids=C, seed=0, residual=residual)
        codes, res = codec.compress(X)
        cent = np.take(codec.centroids, codes, axis=0)
        if residual == "pq":
            results["centroid only"] = round(recall(cent), 4)
            print(f"{'centroid only':38s} recall@10 {results['centroid only']:.3f}", flush=True)
        report(f"jcolbert {residual} nbits 2 (32 B)", cent + codec.decode_residuals(res), time.time() - t)
    if args.faiss:
        import faiss

        t = time.time()
        codec = Codec.train(sample, nbits=2, num_centroids=C, seed=0)
        a_s, _ = codec.compress(sample)
        a_x, _ = codec.compress(X)
        rs, rx = sample - codec.centroids[a_s], X - codec.centroids[a_x]
        opq = faiss.OPQMatrix(X.shape[1], 32)
        opq.train(rs[:65536])
        pq = faiss.ProductQuantizer(X.shape[1], 32, 8)
        pq.train(opq.apply(rs))
        rhat = opq.reverse_transform(pq.decode(pq.compute_codes(opq.apply(rx))))
        report("faiss OPQ + PQ 32x8 (32 B)", codec.centroids[a_x] + rhat, time.time() - t)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"emb": args.emb, "queries": len(qsel), "centroids": C, "recall@10_vs_exact": results}, f, indent=1)


if __name__ == "__main__":
    main()
