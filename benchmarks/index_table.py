"""Markdown tables for BENCHMARKS.md ("Index engine") from bench_index.py's result JSONs.

    python benchmarks/index_table.py $H/out/jcolbert_index.json [--passive X.json] [--scaled X20.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def f(x, nd=1):
    if x is None:
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def lat(entry) -> str:
    if not entry:
        return "-"
    e = entry.get("latency", entry)
    return f"{f(e['p50_ms'])} / {f(e['p95_ms'])}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    ap.add_argument("--passive", help="bench_index.py JSON of the OMP_WAIT_POLICY=PASSIVE 2-thread pass")
    ap.add_argument("--scaled", help="bench_index.py JSON of the --scale run")
    a = ap.parse_args()
    r = json.loads(Path(a.result).read_text())
    peers = r.get("peers", {})
    ca, fp = peers.get("colbertai", {}), peers.get("fastplaid", {})
    s1, s2 = r["search"].get("1", {}), r["search"].get("2", {})
    build = r.get("build", {})
    print("| engine (setting) | p50 / p95 ms, 1 thread | p50 / p95 ms, 2 threads | recall@10 vs exact | nDCG@10 | "
          "build, no encoding (s) | bytes/token | centroids |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| jcolbert (k=10 defaults: ncells 1, threshold 0.5, ndocs 256) | **{lat(s1)}** | {lat(s2)} | "
          f"{f(s1.get('recall@10_vs_exact'), 3)} | {f(s1.get('nDCG@10'), 4)} | {f(build.get('build_s'))} | "
          f"{f(r['size']['bytes_per_token'], 2)} | {r['size']['centroids']} |")
    if ca:
        print(f"| colbert-ai 0.2.22 ({_cfg(ca)}) | {lat(ca['search'].get('1'))} | {lat(ca['search'].get('2'))} | "
              f"{f(ca.get('recall@10_vs_exact'), 3)} | {f((ca.get('vs_qrels') or {}).get('nDCG@10'), 4)} | "
              f"{f(ca.get('build_non_encoding_s'))} | {f(ca.get('bytes_per_token'), 2)} | {ca.get('num_centroids')} |")
    if fp:
        print(f"| fast-plaid ({_cfg(fp)}) | {lat(fp['search'].get('1'))} | {lat(fp['search'].get('2'))} | "
              f"{f(fp.get('recall@10_vs_exact'), 3)} | {f((fp.get('vs_qrels') or {}).get('nDCG@10'), 4)} | "
              f"{f(fp.get('build_non_encoding_s'))} | {f(fp.get('bytes_per_token'), 2)} | {fp.get('num_centroids')} |")
    ex = r.get("exhaustive_decompressed")
    if ex:
        print(f"| jcolbert exhaustive (mode=\"exact\", same compressed vectors) | - | - | "
              f"{f(ex.get('recall@10_vs_exact'), 3)} | {f(ex.get('nDCG@10'), 4)} | - | - | - |")
    em = r.get("exact_maxsim_quality")
    if em:
        print(f"| exact MaxSim, original fp16 vectors | - | - | 1.000 | {f(em.get('nDCG@10'), 4)} | - | - | - |")
    print()
    print("Ratios jcolbert / peer (same job):", json.dumps(r.get("ratios", {})))
    print()
    print("Stage means, ms (1 thread):", json.dumps(s1.get("stage_means_ms", {})))
    print("Stage means, ms (2 threads):", json.dumps(s2.get("stage_means_ms", {})))
    print("Build phases, s:", json.dumps(build.get("phases_s", {})), "peak RSS MB", build.get("peak_rss_mb"),
          "(input vectors loaded:", build.get("rss_with_input_loaded_mb"), ")")
    print("Search peak RSS MB:", s1.get("peak_rss_mb"), s2.get("peak_rss_mb"))
    print("Sizes:", json.dumps(r["size"]["bytes_by_file"]))
    print("Other nbits:", json.dumps(r.get("sizes_other_nbits", {})))
    print("Load average start/end:", r["machine"].get("load_avg_start"), r["machine"].get("load_avg_end"))
    if a.passive:
        p = json.loads(Path(a.passive).read_text())
        pc = p.get("peers", {}).get("colbertai", {})
        print("\nOMP_WAIT_POLICY=PASSIVE, 2 threads: jcolbert", lat(p["search"].get("2")), "colbert-ai",
              lat(pc.get("search", {}).get("2")), "ratios", json.dumps(p.get("ratios", {})))
    if a.scaled:
        x = json.loads(Path(a.scaled).read_text())
        xs = x["search"]
        print(f"\nScaling x{x['scale']}: documents {x['size']['documents']}, tokens {x['size']['tokens']}, centroids "
              f"{x['size']['centroids']}, bytes/token {x['size']['bytes_per_token']}, build {x['build']['build_s']} s "
              f"{json.dumps(x['build']['phases_s'])}, peak RSS {x['build']['peak_rss_mb']} MB; search "
              + "; ".join(f"{th} thr {lat(v)} recall@10 vs exact {v.get('recall@10_vs_exact')} stages "
                          f"{json.dumps(v.get('stage_means_ms'))}" for th, v in xs.items()))


def _cfg(peer: dict) -> str:
    cfg = peer.get("search_config") or {}
    return ", ".join(f"{k} {v}" for k, v in cfg.items() if k != "k")


if __name__ == "__main__":
    main()
