"""One engine's half of benchmarks/bench_ragatouille.py; runs inside a venv that has ragatouille.

    python ragatouille_worker.py --engine jcolbert|colbertai --checkpoint CKPT --data DATA.json --out OUT.json

``--engine jcolbert`` calls `jcolbert.compat.install_as_colbert()` first (jcolbert on PYTHONPATH, no
colbert-ai installed); ``colbertai`` runs on the colbert-ai installed in the venv. Then, the same
RAGatouille calls for both: ``RAGPretrainedModel.from_pretrained(CKPT)``, ``index(...)`` of the
documents (timed), one warm-up search (loads the searcher; timed apart), then every query one at a
time, ``search(query, k=10)``, each timed (query encoding included: what a RAGatouille user waits for).
Writes build/load/latency figures and the run ({qid: [[doc_id, score], ...]}) as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=("jcolbert", "colbertai"), required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="JSON: doc_ids, doc_texts, query_ids, query_texts")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default=".", help="folder for RAGatouille's .ragatouille/ indexes")
    ap.add_argument("--max-document-length", type=int, default=256, help="RAGatouille's default")
    args = ap.parse_args()

    if args.engine == "jcolbert":
        from jcolbert.compat import install_as_colbert

        install_as_colbert()
    import colbert
    import torch
    from ragatouille import RAGPretrainedModel

    with open(args.data, encoding="utf-8") as f:
        data = json.load(f)
    os.chdir(args.work)
    result = {"engine": args.engine, "colbert_module": colbert.__name__, "torch_threads": torch.get_num_threads(),
              "n_docs": len(data["doc_ids"]), "n_queries": len(data["query_ids"])}

    t0 = time.perf_counter()
    rag = RAGPretrainedModel.from_pretrained(args.checkpoint, index_root=os.path.join(args.work, ".ragatouille"))
    result["model_load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rag.index(collection=data["doc_texts"], document_ids=data["doc_ids"], index_name="scifact",
              max_document_length=args.max_document_length, split_documents=False)
    result["build_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rag.search(data["query_texts"][0], k=10)
    result["first_search_s"] = time.perf_counter() - t0  # loads the Searcher
    latencies, run = [], {}
    for qid, text in zip(data["query_ids"], data["query_texts"], strict=True):
        t0 = time.perf_counter()
        hits = rag.search(text, k=10)
        latencies.append(time.perf_counter() - t0)
        run[qid] = [[h["document_id"], float(h["score"])] for h in hits]
    result["latencies_s"] = latencies
    result["run"] = run
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    print(f"[{args.engine}] build {result['build_s']:.1f} s, {len(latencies)} queries", file=sys.stderr)


if __name__ == "__main__":
    main()
