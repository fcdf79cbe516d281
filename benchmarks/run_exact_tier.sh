#!/usr/bin/env bash
# The exact tier against colbert-ai's PLAID (issue 14), one job, same vectors and queries:
#  1. colbert-ai builds its index of the first $LIMIT SciFact documents from text with the anchors' MiniLM
#     checkpoint, captures its own document vectors as the anchor npz (--save-emb), and times Searcher
#     search (encoding excluded) at 1 and 2 threads; recall@10 against exact MaxSim over those vectors;
#  2. jcolbert indexes the same npz with rerank="int8" and is timed the same way (bench_index.py), with
#     recall@10 against the same exact MaxSim, bytes per token (hot and rerank), and the ratios to step 1.
#   LIMIT=500 bash benchmarks/run_exact_tier.sh      (needs $ANCHORS_HOME/colbertai: ../shared/anchors/setup.sh)
#   SKIP_BUILD=1 CWORK=$ANCHORS_HOME/work/colbertai LIMIT=1000 bash benchmarks/run_exact_tier.sh
#       (search an existing colbert-ai index; its vectors re-encoded by encode_reference.py, bit-identical)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benchmarks/anchors_env.sh
LIMIT=${LIMIT:-500}
PYA=$H/colbertai/bin/python
[ -x "$PYA" ] || { echo "run_exact_tier: needs the colbert-ai venv at $PYA (bash $A/setup.sh)" >&2; exit 2; }
mkdir -p "$OUT"
[ -f "$H/ckpt_minilm/config.json" ] || run "$PYA" "$A/make_minilm_checkpoint.py" "$H/ckpt_minilm"
NPZ=$OUT/tier_scifact$LIMIT.npz
CWORK=${CWORK:-$H/work/tier}
if [ "${SKIP_BUILD:-0}" = 1 ]; then  # reuse a colbert-ai index already built in $CWORK for this LIMIT
    [ -f "$NPZ" ] || run "$PYA" "$A/encode_reference.py" --checkpoint "$H/ckpt_minilm" --dataset "$D" \
        --limit "$LIMIT" --out "$NPZ"
    run "$PYA" "$A/colbertai_bench.py" --checkpoint "$H/ckpt_minilm" --dataset "$D" --limit "$LIMIT" --nbits 2 \
        --work "$CWORK" --skip-build --emb "$NPZ" --out "$OUT/tier_colbertai_$LIMIT.json"
else
    run "$PYA" "$A/colbertai_bench.py" --checkpoint "$H/ckpt_minilm" --dataset "$D" --limit "$LIMIT" --nbits 2 \
        --work "$CWORK" --save-emb "$NPZ" --out "$OUT/tier_colbertai_$LIMIT.json"
fi
run .venv/bin/python benchmarks/bench_index.py --emb "$NPZ" --dataset "$D" --nbits 2 --rerank int8 \
    --colbertai "$OUT/tier_colbertai_$LIMIT.json" --work "$H/work/tier_jcolbert" --out "$OUT/tier_jcolbert_$LIMIT.json"
