"""Pick the settings of the offline `minilm` model by measuring them: nDCG@10 on SciFact (BEIR test split).

    .venv/bin/python benchmarks/minilm_settings.py --dataset ../shared/data/scifact --cache /tmp/jc-minilm

The model is all-MiniLM-L6-v2's raw last-layer token vectors, L2-normalised (no projection). Each row of the
grid is one combination of marker tokens, [MASK] query augmentation (and whether queries attend to the masks),
query_maxlen and doc_maxlen. Retrieval is exact MaxSim of every test query against ALL corpus documents (no
index, no candidate pruning), so only the encoder settings differ between rows. Document text is
`title + " " + text`, whitespace-normalised (as ../shared/anchors does). Document vectors are cached as fp16
under --cache, keyed by the document-side settings; scores are computed in fp32.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from ranx import Qrels, Run, evaluate

import jcolbert

# (label, document-side settings, query-side settings). Marker tokens are used on both sides or neither.
NO_MARKERS = {"query_marker": None, "doc_marker": None}
MARKERS = {"query_marker": "[unused0]", "doc_marker": "[unused1]"}
GRID = [
    ("raw, q32 d256", {**NO_MARKERS, "doc_maxlen": 256}, {"query_augmentation": False, "query_maxlen": 32}),
    ("raw, q64 d256", {**NO_MARKERS, "doc_maxlen": 256}, {"query_augmentation": False, "query_maxlen": 64}),
    ("[MASK]-aug q32 d256", {**NO_MARKERS, "doc_maxlen": 256}, {"query_augmentation": True, "query_maxlen": 32}),
    (
        "[MASK]-aug attended q32 d256",
        {**NO_MARKERS, "doc_maxlen": 256},
        {"query_augmentation": True, "attend_to_mask_tokens": True, "query_maxlen": 32},
    ),
    ("markers, q32 d256", {**MARKERS, "doc_maxlen": 256}, {"query_augmentation": False, "query_maxlen": 32}),
    ("markers + [MASK]-aug q32 d256", {**MARKERS, "doc_maxlen": 256}, {"query_augmentation": True, "query_maxlen": 32}),
    ("raw, q32 d512", {**NO_MARKERS, "doc_maxlen": 512}, {"query_augmentation": False, "query_maxlen": 32}),
    ("raw, q64 d512", {**NO_MARKERS, "doc_maxlen": 512}, {"query_augmentation": False, "query_maxlen": 64}),
]


def load_beir(folder: Path, limit: int | None) -> tuple[list[str], list[str], list[str], list[str], dict]:
    doc_ids, docs = [], []
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            doc_ids.append(str(d["_id"]))
            docs.append(" ".join(f"{d.get('title', '')} {d.get('text', '')}".split()))
            if limit and len(docs) >= limit:
                break
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / "test.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, did, score = line.strip().split("\t")
            qrels.setdefault(qid, {})[did] = int(score)
    queries = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            queries[str(q["_id"])] = q["text"]
    known = set(doc_ids)
    qrels = {q: {d: s for d, s in rel.items() if d in known} for q, rel in qrels.items()}
    qrels = {q: rel for q, rel in qrels.items() if rel}
    qids = [q for q in qrels if q in queries]
    return doc_ids, docs, qids, [queries[q] for q in qids], qrels


def doc_vectors(model, docs: list[str], cache: Path, key: str) -> tuple[torch.Tensor, torch.Tensor, float]:
    vec_file, len_file = cache / f"{key}.vectors.npy", cache / f"{key}.doclens.npy"
    if vec_file.exists() and len_file.exists():
        return torch.from_numpy(np.load(vec_file)), torch.from_numpy(np.load(len_file)), float("nan")
    t = time.perf_counter()
    D = model.encode_documents(docs, batch_size=32, show_progress=True)
    seconds = time.perf_counter() - t
    flat = torch.cat(list(D)).to(torch.float16)
    lens = torch.tensor([len(d) for d in D], dtype=torch.int64)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(vec_file, flat.numpy())
    np.save(len_file, lens.numpy())
    return flat, lens, seconds


def exact_maxsim(Q: torch.Tensor, flat: torch.Tensor, lens: torch.Tensor, block: int = 4096) -> torch.Tensor:
    """Scores [n_queries, n_docs]: exact MaxSim of every query against every document.

    All-zero query rows (padding when [MASK] augmentation is off) would add exactly 0, so they are dropped
    before the matmul; the remaining rows of all queries are scored in one pass and summed per query.
    """
    nq, qlen, dim = Q.shape
    rows = Q.reshape(nq * qlen, dim)
    live = rows.abs().sum(1) > 0
    Qt = rows[live].T.contiguous()
    owner = torch.arange(nq).repeat_interleave(qlen)[live]
    starts = torch.cat([torch.zeros(1, dtype=torch.int64), lens.cumsum(0)])
    scores = torch.empty((nq, len(lens)))
    d0 = 0
    while d0 < len(lens):
        d1 = d0 + 1
        while d1 < len(lens) and starts[d1 + 1] - starts[d0] <= block:
            d1 += 1
        sims = flat[starts[d0] : starts[d1]].to(torch.float32) @ Qt  # [tokens, live query rows]
        seg = torch.repeat_interleave(torch.arange(d1 - d0), lens[d0:d1])
        best = torch.full((d1 - d0, sims.shape[1]), float("-inf"))
        best.scatter_reduce_(0, seg[:, None].expand_as(sims), sims, reduce="amax")
        per_query = torch.zeros((nq, d1 - d0))
        per_query.index_add_(0, owner, best.T)
        scores[:, d0:d1] = per_query
        d0 = d1
    return scores


def ndcg10(scores: torch.Tensor, qids: list[str], doc_ids: list[str], qrels: dict) -> float:
    top = scores.topk(100, dim=1)
    run = {
        q: {doc_ids[j]: float(s) for s, j in zip(top.values[i].tolist(), top.indices[i].tolist(), strict=True)}
        for i, q in enumerate(qids)
    }
    return float(evaluate(Qrels(qrels), Run(run), "ndcg@10"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jc-minilm"))
    ap.add_argument("--limit", type=int, default=0, help="first N documents only (0 = all)")
    ap.add_argument("--only", nargs="*", help="labels of the grid rows to run (default: all)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    a = ap.parse_args()
    doc_ids, docs, qids, qtexts, qrels = load_beir(a.dataset, a.limit or None)
    print(f"{len(docs)} docs, {len(qids)} test queries with judgements, torch threads {torch.get_num_threads()}")
    results = []
    for label, doc_settings, query_settings in GRID:
        if a.only and label not in a.only:
            continue
        model = jcolbert.load_model("minilm", **doc_settings, **query_settings)
        key = "minilm-" + "-".join(f"{k}={doc_settings[k]}" for k in sorted(doc_settings)) + f"-n{len(docs)}"
        flat, lens, enc_s = doc_vectors(model, docs, a.cache, key.replace("[", "").replace("]", ""))
        Q = model.encode_queries(qtexts)
        t = time.perf_counter()
        score = ndcg10(exact_maxsim(Q, flat, lens), qids, doc_ids, qrels)
        row = {
            "setting": label,
            **{k: v for k, v in {**doc_settings, **query_settings}.items()},
            "ndcg@10": round(score, 4),
            "doc_vectors": int(lens.sum()),
            "doc_encode_s": round(enc_s, 1),
            "score_s": round(time.perf_counter() - t, 1),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    print("\n| setting | nDCG@10 | doc vectors |\n|---|---|---|")
    for r in results:
        print(f"| {r['setting']} | {r['ndcg@10']:.4f} | {r['doc_vectors']:,} |")
    if a.out:
        a.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
