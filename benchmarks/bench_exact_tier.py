"""The exact tier (Index.create(rerank=)) on real vectors: recall@10 against exact MaxSim over the original
vectors, search p50/p95 (one query at a time, k=10, default knobs) and bytes per token (hot and rerank), for
no tier, int8 and fp16, side by side in one process (queries interleaved across the indexes).

    python benchmarks/bench_exact_tier.py --model minilm --limit 400 --queries 60 --out exact_tier.json

Documents: the first --limit SciFact documents (title + text, at most --max-length tokens), encoded once with
--model (cached as an npz under --work); queries: the first --queries test queries. The engine-against-
colbert-ai comparison on the anchors' checkpoint is benchmarks/run_exact_tier.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("JCOLBERT_SHARED", REPO.parent / "shared"))


def encode(a) -> dict:
    cache = Path(a.work) / f"{Path(a.model).name}.n{a.limit}.q{a.queries}.l{a.max_length}.npz"
    if cache.exists():
        z = np.load(cache)
        return {k: z[k] for k in z.files}
    import jcolbert

    folder = Path(a.dataset)
    docs = []
    with open(folder / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            docs.append(f"{d.get('title', '')} {d['text']}")
            if len(docs) == a.limit:
                break
    wanted = {line.split("\t")[0] for line in (folder / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    texts = [q["text"] for q in map(json.loads, (folder / "queries.jsonl").read_text().splitlines())
             if q["_id"] in wanted][: a.queries]
    model = jcolbert.load_model(a.model)
    vectors = [v.numpy() for v in model.encode_documents(docs, batch_size=32, max_length=a.max_length)]
    out = {"flat": np.concatenate(vectors), "lens": np.array([len(v) for v in vectors]),
           "Q": model.encode_queries(texts).numpy()}
    np.savez(cache, **out)
    return out


STAGE_SETTINGS = [(256, 1, 0.5, 64), (256, 1, 0.5, 256), (256, 2, 0.5, 64), (256, 2, 0.45, 128)]


def stage_recall(ix, Q: np.ndarray, exact: list[set[str]]) -> dict:
    """Share of the exact top 10 still present after each PLAID stage (plaid.py's stages, walked by hand) and
    after the final scoring, for (ndocs, ncells, centroid_score_threshold, survivors) settings."""
    from jcolbert.index import kernels, plaid, query

    snap = ix._current()
    seg, codec = snap.segments[0], snap.codec
    out = {}
    for ndocs, ncells, cst, depth in STAGE_SETTINGS:
        rec: dict[str, list[float]] = {"candidates": [], "pruned": [], "survivors": [], "final": []}
        for qi in range(len(Q)):
            truth = {int(x) for x in exact[qi]}
            q = query.trim_padding(Q[qi][None])[0]
            prep = kernels.prepare(codec, q[None])
            csT = np.ascontiguousarray(prep.cs[:-1].T)
            cells = np.unique(np.argpartition(-csT, ncells - 1, axis=1)[:, :ncells].ravel())
            keep = csT.max(axis=0) >= cst
            keep[cells] = True
            table = plaid._int8_table(prep.cs[:-1])
            mask = np.zeros(seg.num_docs, bool)
            mask[plaid._ivf_docs(seg, cells)] = True
            rec["candidates"].append(len(truth & set(np.flatnonzero(mask).tolist())) / 10)
            d1, s1 = plaid._approx_kept(seg, mask, np.flatnonzero(keep), table, prep.nq)
            top1 = np.sort(d1[plaid.topk(s1.astype(np.float32), ndocs)])
            rec["pruned"].append(len(truth & set(top1.tolist())) / 10)
            top2 = np.sort(top1[plaid.topk(plaid._approx(seg, top1, table, prep.nq).astype(np.float32), depth)])
            rec["survivors"].append(len(truth & set(top2.tolist())) / 10)
            final = top2[plaid.topk(plaid.score_docs(seg, top2, codec, q[None], prep)[0], 10)]
            rec["final"].append(len(truth & set(final.tolist())) / 10)
        out[f"ndocs{ndocs}_ncells{ncells}_cst{cst}_survivors{depth}"] = \
            {k: round(float(np.mean(v)), 4) for k, v in rec.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--dataset", default=str(SHARED / "data" / "scifact"))
    ap.add_argument("--limit", type=int, default=400)
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--max-length", type=int, default=300)
    ap.add_argument("--kinds", default="none,int8,fp16")
    ap.add_argument("--work", default="/tmp/jcolbert-exact-tier")
    ap.add_argument("--stages", action="store_true", help="also the recall after each PLAID stage (int8 index)")
    ap.add_argument("--out")
    a = ap.parse_args()
    Path(a.work).mkdir(parents=True, exist_ok=True)
    from jcolbert.index import Index

    data = encode(a)
    flat, lens, Q = data["flat"], data["lens"], data["Q"]
    vectors = np.split(flat, np.cumsum(lens)[:-1])
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    S = np.maximum.reduceat(flat @ Q.reshape(-1, Q.shape[-1]).T, starts, axis=0)
    scores = S.reshape(len(lens), len(Q), -1).sum(axis=2).T
    exact = [{str(j) for j in np.argsort(-scores[q], kind="stable")[:10]} for q in range(len(Q))]
    result: dict = {"model": a.model, "documents": len(lens), "tokens": int(lens.sum()), "queries": len(Q),
                    "load_start": os.getloadavg(), "indexes": {}}
    indexes = {}
    for kind in a.kinds.split(","):
        path = Path(a.work) / f"ix.{Path(a.model).name}.n{a.limit}.{kind}"
        if not (path / "manifest.json").exists():
            t = time.perf_counter()
            ix = Index.create(path, dim=flat.shape[1], rerank=None if kind == "none" else kind, overwrite=True,
                              progress=False)
            ix.add_embeddings([str(i) for i in range(len(vectors))], vectors)
            result["indexes"][kind] = {"build_s": round(time.perf_counter() - t, 1)}
        indexes[kind] = Index.open(path, warm=True)
        st = indexes[kind].stats()
        result["indexes"].setdefault(kind, {}).update(
            {k: st[k] for k in ("bytes_per_token", "bytes_per_token_hot", "bytes_per_token_rerank", "centroids")})
    lat: dict[str, list[float]] = {k: [] for k in indexes}
    rec: dict[str, list[float]] = {k: [] for k in indexes}
    for qi, q in enumerate(Q):
        for kind, ix in indexes.items():
            t = time.perf_counter()
            hits = ix.search_embeddings(q, k=10)
            lat[kind].append((time.perf_counter() - t) * 1000)
            rec[kind].append(len({h.id for h in hits} & exact[qi]) / 10)
    for kind in indexes:
        result["indexes"][kind].update({"recall@10_vs_exact": round(float(np.mean(rec[kind])), 4),
                                        "p50_ms": round(float(np.percentile(lat[kind], 50)), 2),
                                        "p95_ms": round(float(np.percentile(lat[kind], 95)), 2)})
    if a.stages and "int8" in indexes:
        result["stage_recall_int8"] = stage_recall(indexes["int8"], Q, exact)
    result["load_end"] = os.getloadavg()
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
