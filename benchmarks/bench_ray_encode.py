"""Encoding throughput through Ray Data (1 and 2 encoder workers) against one plain process.

    .venv/bin/python benchmarks/bench_ray_encode.py [--docs 400] [--out /tmp/jc-bench/ray_encode.json]

The same documents (the first --docs of SciFact, text only) are encoded by the offline `minilm` model:
  plain    one process, `model.encode_documents` with 2 torch threads (this machine has 2 cores);
  ray-1    `jcolbert.distributed.encoding.encode_texts` with one encoder actor of 2 threads;
  ray-2    two encoder actors of 1 thread each.
Each figure is end-to-end wall time for the whole collection, model loading included (an actor loads its
own model), and the encode-only time of the plain process; tokens/s and the ratio to the plain process
are reported. Ray is started once before the timings (`ray.init(num_cpus=2)`); its start-up is reported
apart. With a GPU, `encode_dataset(..., num_gpus=1)` gives each actor a device (not measured here: this
machine has none).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("JCOLBERT_SHARED", REPO.parent / "shared"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", type=Path, default=Path("/tmp/jc-bench/ray_encode.json"))
    args = ap.parse_args()
    texts = [json.loads(x)["text"] for x in (SHARED / "data/scifact/corpus.jsonl").read_text().splitlines()[:args.docs]]

    import ray
    import torch

    import jcolbert
    from jcolbert.distributed.encoding import encode_texts

    print(f"{len(texts)} documents; load before: {os.getloadavg()}")
    results: dict = {"documents": len(texts), "load_before": os.getloadavg(), "runs": {}}
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    model = jcolbert.load_model("minilm")
    t1 = time.perf_counter()
    ref = model.encode_documents(texts, batch_size=args.batch_size)
    t2 = time.perf_counter()
    tokens = int(sum(len(v) for v in ref))
    results["tokens"] = tokens
    results["runs"]["plain"] = {"seconds": t2 - t0, "encode_only_s": t2 - t1, "tokens_per_s": tokens / (t2 - t0),
                                "encode_only_tokens_per_s": tokens / (t2 - t1)}
    print(f"plain: {t2 - t0:.1f} s end to end ({tokens / (t2 - t0):.0f} tokens/s), encode only {t2 - t1:.1f} s")
    started = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    results["ray_init_s"] = time.perf_counter() - started
    for name, workers, threads in (("ray-1", 1, 2), ("ray-2", 2, 1)):
        t = time.perf_counter()
        got = encode_texts(texts, "minilm", workers=workers, threads=threads, batch_size=args.batch_size)
        dt = time.perf_counter() - t
        assert sum(len(v) for v in got) == tokens
        results["runs"][name] = {"workers": workers, "threads_per_worker": threads, "seconds": dt,
                                 "tokens_per_s": tokens / dt,
                                 "ratio_to_plain": (tokens / dt) / results["runs"]["plain"]["tokens_per_s"]}
        print(f"{name}: {dt:.1f} s ({tokens / dt:.0f} tokens/s), {results['runs'][name]['ratio_to_plain']:.2f}x plain")
    ray.shutdown()
    results["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"load after: {os.getloadavg()}; wrote {args.out}")


if __name__ == "__main__":
    main()
