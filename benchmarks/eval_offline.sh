#!/usr/bin/env bash
# Offline evaluation figures for BENCHMARKS.md "## Evaluation" (issue 5): the offline `minilm` model on
# SciFact test (BM25 alone, BM25 top-100 + ColBERT rerank, ColBERT PLAID, ColBERT exact) and on the
# classic collections (Cranfield, CISI, CACM), all through the one `jcolbert evaluate` command.
#
#   bash benchmarks/eval_offline.sh [OUT_DIR]        (default OUT_DIR: bench_out/eval)
#
# Runs niced: encoding SciFact with minilm takes 10+ minutes on a loaded 2-core machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SHARED=${JCOLBERT_SHARED:-../shared}
OUT=${1:-bench_out/eval}
JC=(nice -n 10 .venv/bin/jcolbert)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# --vectors-cache keeps the document vectors: a rerun (other knobs, other modes) skips encoding, and the
# results then report the encoding time measured when the vectors were made.
"${JC[@]}" evaluate "$SHARED/data/scifact" --model minilm --mode bm25,rerank,plaid,exact \
  --vectors-cache "$OUT/vectors/scifact" --out "$OUT/scifact-minilm"
"${JC[@]}" evaluate "$SHARED/data" --datasets cranfield,cisi,cacm --model minilm --mode bm25,rerank,plaid,exact \
  --vectors-cache "$OUT/vectors" --out "$OUT/classic-minilm"
.venv/bin/python benchmarks/eval_table.py "$OUT/scifact-minilm" "$OUT/classic-minilm"/*/
