#!/usr/bin/env bash
# Recall / latency trade-off of the PLAID knobs, jcolbert and colbert-ai side by side (1 thread, same job).
# Needs the indexes of run_index_bench.sh. Prints one JSON line per setting.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benchmarks/anchors_env.sh  # H, A, D, OUT, NICE, EMB, run

# name | jcolbert knobs | colbert-ai flags
while IFS='|' read -r name knobs ca; do
  run .venv/bin/python benchmarks/bench_index.py --emb "$EMB" --dataset "$D" --skip-build --no-exhaustive \
      --threads 1 --knobs "$knobs" --out "$OUT/knobs_jcolbert_$name.json" > /dev/null
  run "$H/colbertai/bin/python" "$A/colbertai_bench.py" --checkpoint "$H/ckpt_minilm" --dataset "$D" --emb "$EMB" \
      --nbits 2 --skip-build --threads 1 $ca --out "$OUT/knobs_colbertai_$name.json" > /dev/null
  python3 - "$name" "$OUT/knobs_jcolbert_$name.json" "$OUT/knobs_colbertai_$name.json" <<'EOF'
import json, sys
name, mine, theirs = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
s = mine["search"]["1"]
print(json.dumps({"setting": name, "knobs": mine["knobs"],
                  "jcolbert": {"p50_ms": s["latency"]["p50_ms"], "p95_ms": s["latency"]["p95_ms"],
                               "recall@10_vs_exact": s["recall@10_vs_exact"], "nDCG@10": s["nDCG@10"]},
                  "colbertai": {"p50_ms": theirs["search"]["threads1"]["p50_ms"], "p95_ms": theirs["search"]["threads1"]["p95_ms"],
                                "recall@10_vs_exact": theirs["recall@10_vs_exact"], "nDCG@10": theirs["vs_qrels"]["nDCG@10"]}}))
EOF
done <<'SETTINGS'
defaults_k10|{}|
ndocs512|{"ndocs": 512}|--ndocs 512
k100_defaults|{"ncells": 2, "centroid_score_threshold": 0.45, "ndocs": 1024}|--ncells 2 --centroid-score-threshold 0.45 --ndocs 1024
k1000_defaults|{"ncells": 4, "centroid_score_threshold": 0.4, "ndocs": 4096}|--ncells 4 --centroid-score-threshold 0.4 --ndocs 4096
SETTINGS
