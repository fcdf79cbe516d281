"""Index engine benchmark: jcolbert's PLAID index on the anchors' vectors, next to colbert-ai and fast-plaid.

Engine against engine: jcolbert indexes the same precomputed vectors as the peers (the anchor npz written by
../shared/anchors/encode_reference.py), so encoding is excluded everywhere. One run reports:

* build time by phase (k-means sample, training, compression, IVF) and peak RSS, in a child process with
  2 threads (the anchors' build setting);
* search latency p50/p95, one query at a time, k=10, at 1 and 2 threads (each in a fresh child process with
  OMP/OPENBLAS/MKL threads set), plus peak RSS;
* quality: recall@10 against exact MaxSim over the original vectors (the anchors' exact.py), nDCG@10 against
  the qrels, and the same for jcolbert's exhaustive mode (decompressed vectors) and for exact MaxSim;
* size: bytes on disk and bytes per token, every file of the index folder included;
* ratios to the anchors' result JSONs given with --colbertai / --fastplaid (run them in the same job);
* with --scale F: a synthetic collection F times larger, made from the real vectors (each new document mixes
  the tokens of two real ones, slightly perturbed), to show how build and search costs grow.

    python benchmarks/bench_index.py --emb $H/out/scifact.npz --dataset ../shared/data/scifact \\
        --colbertai $H/out/colbertai_full.json --fastplaid $H/out/fastplaid_full_fs256.json --out bench_index.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ANCHORS = Path(os.environ.get("JCOLBERT_SHARED", REPO.parent / "shared")) / "anchors"


def _anchors():
    sys.path.insert(0, str(ANCHORS))
    import anchor_common
    import exact

    return anchor_common, exact


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[var] = str(threads)
    return env


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Scaled(Sequence):
    """A lazy collection `factor` times the base one: document j >= N mixes half the tokens of two base
    documents (chosen by j) plus small noise, renormalised. Nothing is held in memory but the base vectors."""

    def __init__(self, base: list[np.ndarray], factor: int, noise: float = 0.02):
        self.base, self.factor, self.noise = base, factor, noise

    def __len__(self) -> int:
        return len(self.base) * self.factor

    def __getitem__(self, j: int) -> np.ndarray:
        n = len(self.base)
        if j < n:
            return self.base[j]
        rng = np.random.default_rng(j)
        a, b = self.base[j % n], self.base[int(rng.integers(n))]
        take_a = a[rng.random(len(a)) < 0.5]
        take_b = b[rng.random(len(b)) < 0.5]
        v = np.concatenate([take_a, take_b]).astype(np.float32)
        if len(v) == 0:
            v = a[:1].astype(np.float32)
        v += self.noise * rng.standard_normal(v.shape).astype(np.float32)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float16)


def load_queries(a) -> dict:
    """Only the query side of the npz (search children: their RSS should be the index's, not the input's)."""
    z = np.load(a.emb, allow_pickle=False)
    return {"query_ids": [str(x) for x in z["query_ids"]], "queries": z["query_vectors"]}


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as fh:
        return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


class Materialized(Sequence):
    """A collection stored as one memory-mapped float16 array + lengths (what --scale-cache writes)."""

    def __init__(self, folder: Path):
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        lens = np.load(folder / "lens.npy")
        self.offsets = np.concatenate([[0], np.cumsum(lens)])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, j: int) -> np.ndarray:
        return self.vectors[self.offsets[j]:self.offsets[j + 1]]


def materialize(scaled: Scaled, folder: Path) -> None:
    """Write a Scaled collection once, so builds read vectors instead of generating them (timed apart)."""
    folder.mkdir(parents=True, exist_ok=True)
    lens = np.array([len(scaled[j]) for j in range(len(scaled))], dtype=np.int64)  # generation pass 1
    out = np.lib.format.open_memmap(folder / "vectors.tmp.npy", mode="w+", dtype=np.float16,
                                    shape=(int(lens.sum()), scaled.base[0].shape[1]))
    row = 0
    for j in range(len(scaled)):
        v = scaled[j]
        out[row:row + len(v)] = v
        row += len(v)
    out.flush()
    del out
    np.save(folder / "lens.npy", lens)
    os.replace(folder / "vectors.tmp.npy", folder / "vectors.npy")


def load(a) -> dict:
    _, exact = _anchors()
    e = exact.load_npz(a.emb)
    docs = exact.doc_list(e)
    if a.limit:
        docs = docs[: a.limit]
        e["doc_ids"] = e["doc_ids"][: a.limit]
    return {"doc_ids": e["doc_ids"], "docs": docs, "query_ids": e["query_ids"], "queries": e["query_vectors"]}


def collection(a, data: dict) -> tuple[list[str], Sequence]:
    if a.scale > 1:
        scaled = Scaled(data["docs"], a.scale)
        ids = data["doc_ids"] + [f"syn{j}" for j in range(len(data["docs"]), len(scaled))]
        if a.scale_cache:
            return ids, Materialized(Path(a.scale_cache))
        return ids, scaled
    return data["doc_ids"], data["docs"]


# ----------------------------------------------------------------------------------------------- child: build


def child_build(a) -> dict:
    from jcolbert.index import Index

    data = load(a)
    ids, docs = collection(a, data)
    rss_input = _rss_now_mb()
    started = time.perf_counter()
    index = Index.create(a.index, dim=int(data["queries"].shape[-1]), nbits=a.nbits, overwrite=True, progress=False,
                         rerank=a.rerank or None)
    index.add_embeddings(ids, docs)
    wall = time.perf_counter() - started
    st = index.stats()
    return {"build_s": round(wall, 2), "phases_s": {k: round(v, 2) for k, v in index.last_timings.items()},
            "peak_rss_mb": _rss_mb(), "rss_with_input_loaded_mb": rss_input, "stats": st}


# ----------------------------------------------------------------------------------------------- child: search


def child_search(a) -> dict:
    from jcolbert.index import Index, kernels, plaid

    data = load_queries(a)
    index = Index.open(a.index, progress=False)
    Q = np.ascontiguousarray(data["queries"], dtype=np.float32)
    if a.max_queries:
        Q = Q[: a.max_queries]
    qids = data["query_ids"][: len(Q)]
    knobs = json.loads(a.knobs) if a.knobs else {}
    for q in Q[:5]:  # warm-up: page in the memory maps, first-call overheads
        index.search_embeddings(q, k=a.k, **knobs)
    lat, run = [], {}
    for qid, q in zip(qids, Q, strict=True):
        t = time.perf_counter()
        hits = index.search_embeddings(q, k=a.k, **knobs)
        lat.append(time.perf_counter() - t)
        run[qid] = [(h.id, h.score) for h in hits]
    # where the time goes: the same queries through plaid() with its stage clock (no docstore lookups)
    snap = index._current()
    stages: dict[str, float] = {}
    if snap.codec is not None:
        d = plaid.Knobs.for_k(a.k, exact_tier=any(s.rerank is not None for s in snap.segments))
        kn = plaid.Knobs(knobs.get("ncells", d.ncells), knobs.get("centroid_score_threshold", d.centroid_score_threshold),
                         knobs.get("ndocs", d.ndocs))
        for q in Q:
            t = time.perf_counter()
            prep = kernels.prepare(snap.codec, q[None])
            stages["centroid_scores"] = stages.get("centroid_scores", 0.0) + time.perf_counter() - t
            plaid.plaid(prep, snap.segments, snap.codec, [None] * len(snap.segments), a.k, kn, stages)
        stages = {k: round(v / len(Q) * (1 if k.endswith("_n") else 1000), 3) for k, v in stages.items()}
    return {"latencies_s": lat, "run": run, "peak_rss_mb": _rss_mb(), "threads": a.threads,
            "stage_means_ms": stages}


def child_exhaustive(a) -> dict:
    """jcolbert's exhaustive mode (decompressed vectors), all queries batched: the compression's own cost."""
    from jcolbert.index import Index

    data = load(a)
    index = Index.open(a.index, progress=False)
    Q = np.ascontiguousarray(data["queries"], dtype=np.float32)[: a.max_queries or None]
    t = time.perf_counter()
    out = index.search_embeddings(Q, k=100, mode="exact")
    return {"seconds": time.perf_counter() - t,
            "run": {qid: [(h.id, h.score) for h in hits] for qid, hits in zip(data["query_ids"], out, strict=False)}}


def child_exact_scaled(a) -> dict:
    """Exact MaxSim top-100 over the scaled collection's original vectors (ground truth at scale)."""
    from jcolbert.index.plaid import topk

    data = load(a)
    ids, docs = collection(a, data)
    Q = np.ascontiguousarray(data["queries"], dtype=np.float32)[: a.max_queries or None]
    nq = Q.shape[1]
    flatQ = Q.reshape(-1, Q.shape[-1]).T
    scores = np.empty((len(Q), len(docs)), dtype=np.float32)
    block = 2048
    for lo in range(0, len(docs), block):
        chunk = [np.asarray(docs[j], dtype=np.float32) for j in range(lo, min(lo + block, len(docs)))]
        starts = np.concatenate([[0], np.cumsum([len(c) for c in chunk])[:-1]])
        S = np.maximum.reduceat(np.concatenate(chunk) @ flatQ, starts, axis=0)
        scores[:, lo:lo + len(chunk)] = S.reshape(len(chunk), len(Q), nq).sum(axis=2).T
    top = [topk(s, 100) for s in scores]
    return {"run": {qid: [(ids[j], float(scores[i, j])) for j in top[i]] for i, qid in enumerate(data["query_ids"][: len(Q)])}}


# ----------------------------------------------------------------------------------------------- parent


def spawn(a, mode: str, threads: int, **extra) -> dict:
    out = Path(a.work) / f"{mode}.t{threads}.{os.getpid()}.json"
    cmd = [sys.executable, __file__, "--child", mode, "--emb", a.emb, "--index", a.index, "--out", str(out),
           "--scale-cache", a.scale_cache or "",
           "--threads", str(threads), "--nbits", str(a.nbits), "--k", str(a.k), "--limit", str(a.limit),
           "--scale", str(a.scale), "--max-queries", str(extra.get("max_queries", a.max_queries)),
           "--rerank", a.rerank]
    if a.knobs:
        cmd += ["--knobs", a.knobs]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(threads), text=True, capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"bench_index: child {mode} failed:\n{proc.stderr[-4000:]}")
    res = json.loads(out.read_text())
    out.unlink()
    res["child_wall_s"] = round(time.perf_counter() - t, 1)
    return res


def quality(anchor_common, exact_mod, a, run: dict, data: dict, qrels: dict | None, exact_idx: np.ndarray | None,
            exact_ids: list[str] | None = None) -> dict:
    ranked = {q: [d for d, _ in rows] for q, rows in run.items()}
    out = {}
    if exact_idx is not None:
        qids = [q for q in data["query_ids"] if q in ranked]
        ids = exact_ids or data["doc_ids"]
        out["recall@10_vs_exact"] = exact_mod.recall_vs_exact(ranked, qids, ids, exact_idx[: len(qids)], 10)
    if qrels is not None:
        out.update(anchor_common.qrels_metrics(ranked, qrels, data["doc_ids"], 10))
    return out


def ratio(mine: float | None, theirs: float | None) -> float | None:
    return round(mine / theirs, 3) if mine and theirs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emb", required=True, help="anchor npz (encode_reference.py)")
    ap.add_argument("--dataset", help="BEIR folder for nDCG@10 against qrels/test.tsv")
    ap.add_argument("--nbits", type=int, default=2)
    ap.add_argument("--rerank", default="", help="build with this exact tier (int8, fp16): Index.create(rerank=)")
    ap.add_argument("--sizes-nbits", default="", help="also build at these nbits for the size table, e.g. 1,4")
    ap.add_argument("--threads", default="1,2", help="search thread counts")
    ap.add_argument("--build-threads", type=int, default=2, help="threads of the build (anchors' setting: 2)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--limit", type=int, default=0, help="first N documents only")
    ap.add_argument("--scale", type=int, default=1, help="synthetic collection this many times larger")
    ap.add_argument("--scale-cache", default="", help="folder holding the --scale collection as float16 .npy "
                    "(written on first use, so build timings exclude generating synthetic documents)")
    ap.add_argument("--max-queries", type=int, default=0)
    ap.add_argument("--knobs", default="", help='JSON of search knobs, e.g. {"ndocs": 512}')
    ap.add_argument("--work", default=os.environ.get("JCOLBERT_BENCH_WORK", "/tmp/jcolbert-bench"))
    ap.add_argument("--index", help="index folder (default: under --work)")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--no-exhaustive", action="store_true", help="skip jcolbert's exhaustive-mode quality pass")
    ap.add_argument("--colbertai", help="colbertai_bench.py result JSON(s), comma-separated (build run, then a "
                    "--skip-build search run of this job)")
    ap.add_argument("--fastplaid", help="fastplaid_bench.py result JSON(s), comma-separated")
    ap.add_argument("--out", help="result JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    Path(a.work).mkdir(parents=True, exist_ok=True)
    tag = f"{Path(a.emb).stem}.n{a.limit or 'all'}.x{a.scale}.nbits{a.nbits}" + (f".{a.rerank}" if a.rerank else "")
    a.index = a.index or str(Path(a.work) / f"jcolbert.{tag}")

    if a.child:
        a.threads = int(a.threads)
        res = {"build": child_build, "search": child_search, "exhaustive": child_exhaustive,
               "exact_scaled": child_exact_scaled}[a.child](a)
        Path(a.out).write_text(json.dumps(res))
        return

    anchor_common, exact_mod = _anchors()
    data = load(a)
    if a.scale > 1 and a.scale_cache and not (Path(a.scale_cache) / "vectors.npy").exists():
        t = time.perf_counter()
        print(f"[bench_index] writing the x{a.scale} collection to {a.scale_cache} ...", file=sys.stderr)
        materialize(Scaled(data["docs"], a.scale), Path(a.scale_cache))
        result_gen = round(time.perf_counter() - t, 1)
    else:
        result_gen = None
    qrels = anchor_common.load_qrels(os.path.join(a.dataset, "qrels", "test.tsv")) if a.dataset and a.scale == 1 else None
    result: dict = {"emb": a.emb, "limit": a.limit, "scale": a.scale, "nbits": a.nbits, "k": a.k,
                    "knobs": json.loads(a.knobs) if a.knobs else {}, "index": a.index,
                    "machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()},
                    "scale_cache_written_s": result_gen}
    if not a.skip_build:
        print(f"[bench_index] building {tag} ...", file=sys.stderr)
        result["build"] = spawn(a, "build", a.build_threads)
    stats = json.loads(json.dumps(__import__("jcolbert.index", fromlist=["Index"]).Index.open(a.index).stats()))
    result["size"] = {k: stats[k] for k in ("documents", "tokens", "centroids", "bytes_on_disk", "bytes_per_token",
                                            "bytes_by_file", "rerank", "bytes_per_token_hot", "bytes_per_token_rerank")
                      if k in stats}
    for nb in [int(x) for x in a.sizes_nbits.split(",") if x]:
        b = argparse.Namespace(**{**vars(a), "nbits": nb, "index": a.index + f".sz{nb}"})
        built = spawn(b, "build", a.build_threads)
        result.setdefault("sizes_other_nbits", {})[nb] = {"bytes_per_token": built["stats"]["bytes_per_token"],
                                                          "bytes_on_disk": built["stats"]["bytes_on_disk"],
                                                          "build_s": built["build_s"]}

    # ground truth: exact MaxSim over the original vectors
    exact_idx, exact_ids, exact_run = None, None, None
    if a.scale == 1:
        _, exact_idx = exact_mod.exact_topk_cached(a.emb, k=100) if not a.limit else exact_mod.exact_topk(
            np.concatenate(data["docs"]), [len(d) for d in data["docs"]], data["queries"], k=100)
        exact_ids = data["doc_ids"]
        n_q = a.max_queries or len(data["query_ids"])  # the queries the searches below use
        exact_run = {q: [(data["doc_ids"][j], 0.0) for j in exact_idx[i][:10]] for i, q in enumerate(data["query_ids"][:n_q])}
    else:
        n_q = a.max_queries or 50
        print(f"[bench_index] exact MaxSim over the x{a.scale} collection for {n_q} queries ...", file=sys.stderr)
        cached = Path(a.scale_cache) / f"exact_top100_q{n_q}.json" if a.scale_cache else None
        if cached is not None and cached.exists():
            ex = json.loads(cached.read_text())
        else:
            ex = spawn(a, "exact_scaled", 2, max_queries=n_q)
            if cached is not None:
                cached.write_text(json.dumps(ex))
        ids_scaled = collection(a, data)[0]
        pos = {d: i for i, d in enumerate(ids_scaled)}
        exact_idx = np.array([[pos[d] for d, _ in ex["run"][q][:100]] for q in data["query_ids"][:n_q]])
        exact_ids = ids_scaled
        result["exact_scaled_s"] = ex["child_wall_s"]
        if not a.max_queries:
            a.max_queries = n_q
    if exact_run is not None:
        result["exact_maxsim_quality"] = quality(anchor_common, exact_mod, a, exact_run, data, qrels, exact_idx, exact_ids)

    result["search"] = {}
    for th in [int(x) for x in a.threads.split(",")]:
        print(f"[bench_index] searching at {th} thread(s) ...", file=sys.stderr)
        res = spawn(a, "search", th)
        entry = {"latency": anchor_common.lat_summary(res["latencies_s"]), "peak_rss_mb": res["peak_rss_mb"],
                 "stage_means_ms": res["stage_means_ms"]}
        entry.update(quality(anchor_common, exact_mod, a, res["run"], data, qrels, exact_idx, exact_ids))
        result["search"][str(th)] = entry
        if th == int(a.threads.split(",")[0]):
            anchor_common.write_trec(str(Path(a.work) / f"{tag}.trec"), res["run"], "jcolbert")
    if not a.no_exhaustive and a.scale == 1:
        print("[bench_index] exhaustive mode (decompressed vectors) ...", file=sys.stderr)
        ex = spawn(a, "exhaustive", 2)
        result["exhaustive_decompressed"] = {"seconds_all_queries": round(ex["seconds"], 1),
                                             **quality(anchor_common, exact_mod, a, ex["run"], data, qrels, exact_idx, exact_ids)}

    # ratios to the anchors (same vectors, same queries)
    for name, paths in (("colbertai", a.colbertai), ("fastplaid", a.fastplaid)):
        if not paths:
            continue
        # several JSONs: later ones (e.g. a --skip-build search in this job) override, build figures are kept
        peer: dict = {}
        for path in paths.split(","):
            part = json.loads(Path(path).read_text())
            if not part.get("build_s"):
                part.pop("build_s", None)
            peer.update(part)
        result.setdefault("peers", {})[name] = peer_summary(name, peer)
    result["ratios"] = ratios(result)
    result["machine"]["load_avg_end"] = os.getloadavg()
    text = json.dumps(result, indent=1, default=float)
    if a.out:
        Path(a.out).write_text(text)
    print(text)


def peer_summary(name: str, peer: dict) -> dict:
    """The peer figures we compare with (keys of colbertai_bench.py / fastplaid_bench.py JSON)."""
    build = peer.get("build_s") or {}
    non_encoding = build.get("total")
    if name == "colbertai" and build:
        non_encoding = round(build["total"] - (build.get("encoding") or 0), 2)
    return {
        "engine": peer.get("engine"),
        "search": {th.replace("threads", ""): {"p50_ms": v["p50_ms"], "p95_ms": v["p95_ms"], "n": v["n"]}
                   for th, v in (peer.get("search") or {}).items()},
        "search_config": peer.get("search_config"),
        "recall@10_vs_exact": peer.get("recall@10_vs_exact"),
        "vs_qrels": peer.get("vs_qrels"),
        "build_s": build or None,
        "build_non_encoding_s": non_encoding,
        "bytes_per_token": peer.get("bytes_per_token"),
        "bytes_per_token_without_raw_embeddings": peer.get("bytes_per_token_without_raw_embeddings"),
        "num_centroids": peer.get("num_centroids"),
    }


def ratios(result: dict) -> dict:
    """jcolbert / peer for latency (p50, p95 per thread count), build (non-encoding) and bytes per token."""
    out = {}
    for name, peer in (result.get("peers") or {}).items():
        r = {}
        for th, mine in result.get("search", {}).items():
            theirs = peer["search"].get(th)
            if theirs:
                r[f"p50_threads{th}"] = ratio(mine["latency"]["p50_ms"], theirs["p50_ms"])
                r[f"p95_threads{th}"] = ratio(mine["latency"]["p95_ms"], theirs["p95_ms"])
        if result.get("build") and peer.get("build_non_encoding_s"):
            r["build_non_encoding"] = ratio(result["build"]["build_s"], peer["build_non_encoding_s"])
        r["bytes_per_token"] = ratio(result["size"]["bytes_per_token"], peer.get("bytes_per_token"))
        out[f"jcolbert/{name}"] = r
    return out


if __name__ == "__main__":
    main()
