#!/usr/bin/env bash
# The index-engine comparison in one job (BENCHMARKS.md, "Index engine"): the peers and jcolbert on the same
# vectors, one after the other, under the same conditions. Run from the repository root:
#
#   bash benchmarks/run_index_bench.sh            # SciFact: peers + jcolbert (sizes at nbits 1/2/4) + x20 scaling
#
# Needs ../shared/anchors set up (setup.sh, make_minilm_checkpoint.py, encode_reference.py -> $H/out/scifact.npz)
# and colbert-ai's index of that npz (BUILD_COLBERTAI=1 builds it first: ~45+ min, most of it encoding twice).
# Knobs: ANCHORS_HOME (H), OUT, NICE (default 10: the box is shared), SCALE (default 20, 0 to skip),
# FASTPLAID (default 1; 0 reuses $OUT/fastplaid_fs256.json from an earlier run: its build takes ~20 min).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benchmarks/anchors_env.sh  # H, A, D, OUT, NICE, EMB, run
SCALE=${SCALE:-20}

if [ "${BUILD_COLBERTAI:-0}" = 1 ]; then
  run "$H/colbertai/bin/python" "$A/colbertai_bench.py" --checkpoint "$H/ckpt_minilm" --dataset "$D" --emb "$EMB" \
      --nbits 2 --out "$OUT/colbertai_full.json"
fi
# colbert-ai search (its build figures come from colbertai_full.json), then jcolbert right after, so both see
# the same machine; then fast-plaid; then jcolbert's searches once more with both peers' JSONs for the ratios.
run "$H/colbertai/bin/python" "$A/colbertai_bench.py" --checkpoint "$H/ckpt_minilm" --dataset "$D" --emb "$EMB" \
    --nbits 2 --skip-build --out "$OUT/colbertai_search.json"
run .venv/bin/python benchmarks/bench_index.py --emb "$EMB" --dataset "$D" --sizes-nbits 1,4 \
    --colbertai "$OUT/colbertai_full.json,$OUT/colbertai_search.json" --out "$OUT/jcolbert_index.json"
# fast-plaid: build from the same vectors, search at its cheaper operating point (README: n_full_scores 256)
[ "${FASTPLAID:-1}" = 0 ] || run "$H/pylate/bin/python" "$A/fastplaid_bench.py" --emb "$EMB" --dataset "$D" --nbits 2 --n-full-scores 256 \
    --out "$OUT/fastplaid_fs256.json"
run .venv/bin/python benchmarks/bench_index.py --emb "$EMB" --dataset "$D" --skip-build --no-exhaustive \
    --colbertai "$OUT/colbertai_full.json,$OUT/colbertai_search.json" --fastplaid "$OUT/fastplaid_fs256.json" \
    --out "$OUT/jcolbert_index_vs_fastplaid.json"
# 2 threads again with OMP_WAIT_POLICY=PASSIVE for both PLAID engines (OpenMP threads sleep instead of spinning:
# on a busy machine spinning costs more than the second thread gains)
OMP_WAIT_POLICY=PASSIVE run "$H/colbertai/bin/python" "$A/colbertai_bench.py" --checkpoint "$H/ckpt_minilm" \
    --dataset "$D" --emb "$EMB" --nbits 2 --skip-build --threads 2 --out "$OUT/colbertai_search_passive.json"
OMP_WAIT_POLICY=PASSIVE run .venv/bin/python benchmarks/bench_index.py --emb "$EMB" --dataset "$D" --skip-build \
    --threads 2 --no-exhaustive --colbertai "$OUT/colbertai_full.json,$OUT/colbertai_search_passive.json" \
    --out "$OUT/jcolbert_index_passive.json"
if [ "$SCALE" -gt 1 ]; then
  run .venv/bin/python benchmarks/bench_index.py --emb "$EMB" --scale "$SCALE" --max-queries 50 --no-exhaustive \
      --out "$OUT/jcolbert_index_x$SCALE.json"
fi
echo "== $(date +%T) done: $OUT/jcolbert_index.json $OUT/jcolbert_index_x$SCALE.json" >&2
