# Sourced by the index benchmark scripts: where the anchors live, the common input, and `run` (niced, logged
# with the load average, since the machine is shared). Overridable: ANCHORS_HOME, ANCHORS, DATASET, OUT, NICE.
H=${ANCHORS_HOME:-/tmp/jc-anchors}
A=${ANCHORS:-../shared/anchors}
D=${DATASET:-../shared/data/scifact}
OUT=${OUT:-$H/out}
NICE=${NICE:-10}
EMB=$OUT/scifact.npz
run() { echo "== $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg): $*" >&2; nice -n "$NICE" "$@"; }
