"""Does a checkpoint written by `jcolbert train` load in colbert-ai and PyLate with the same vectors?

    H=${ANCHORS_HOME:-/tmp/jc-anchors}
    .venv/bin/python benchmarks/train_load_parity.py ref OUT            # jcolbert.load_model(OUT/checkpoint): OUT/parity_ref.npz
    $H/colbertai/bin/python benchmarks/train_load_parity.py colbertai OUT   # colbert-ai's Checkpoint(OUT/checkpoint)
    $H/pylate/bin/python benchmarks/train_load_parity.py pylate OUT         # PyLate's models.ColBERT(OUT/pylate)

OUT is a `jcolbert train` output folder (checkpoint/ in colbert-ai's layout, pylate/ in PyLate's). The reference is
jcolbert's float32 vectors of the saved checkpoint (tests/test_train.py checks they equal the in-memory model's);
each other tool prints the largest absolute difference over every query and kept document vector (<= 1e-5
expected). This file imports neither jcolbert in the anchors' venvs nor the anchors in jcolbert's.
"""

from __future__ import annotations

import sys
from pathlib import Path

QUERIES = ["what causes late interaction models to rank well?", "Do statins lower cholesterol in adults?"]
DOCS = [
    "ColBERT is an efficient and effective passage retrieval model, trained with hard negatives.",
    "Statins (HMG-CoA reductase inhibitors) reduce LDL cholesterol; see Table 2, p < 0.001!",
    "Short.",
]


def ref(out: Path) -> None:
    import numpy as np
    import torch

    import jcolbert

    model = jcolbert.load_model(out / "checkpoint", dtype=torch.float32)
    Q = model.encode_queries(QUERIES).numpy()
    D = [d.numpy() for d in model.encode_documents(DOCS)]
    np.savez(out / "parity_ref.npz", Q=Q, **{f"d{i}": d for i, d in enumerate(D)})
    print(f"ref: {Q.shape[0]} queries {Q.shape[1:]}, documents {[d.shape[0] for d in D]} vectors")


def compare(out: Path, name: str, Q, D) -> None:
    import numpy as np

    ref = np.load(out / "parity_ref.npz")
    worst = 0.0
    if Q.shape != ref["Q"].shape:
        sys.exit(f"{name}: query shape {Q.shape} != jcolbert's {ref['Q'].shape}")
    worst = max(worst, float(np.abs(Q - ref["Q"]).max()))
    for i, d in enumerate(D):
        r = ref[f"d{i}"]
        if d.shape != r.shape:
            sys.exit(f"{name}: document {i} has {d.shape} vectors, jcolbert {r.shape}")
        worst = max(worst, float(np.abs(d - r).max()))
    print(f"{name}: max |difference| to jcolbert over {Q.shape[0]} queries and {len(D)} documents = {worst:.3g}")


def colbertai(out: Path) -> None:
    import numpy as np
    import torch
    from colbert.infra import ColBERTConfig
    from colbert.modeling.checkpoint import Checkpoint

    ck = Checkpoint(str(out / "checkpoint"), colbert_config=ColBERTConfig())  # settings from artifact.metadata
    with torch.inference_mode():
        Q = ck.queryFromText(QUERIES).float().numpy()
        D = [d.float().numpy() for d in ck.docFromText(DOCS, keep_dims=False)]
    compare(out, "colbert-ai", Q, [np.asarray(d) for d in D])


def pylate(out: Path) -> None:
    import numpy as np
    from pylate import models

    model = models.ColBERT(model_name_or_path=str(out / "pylate"), device="cpu")
    Q = np.stack(model.encode(QUERIES, is_query=True, convert_to_numpy=True))
    D = model.encode(DOCS, is_query=False, convert_to_numpy=True)
    compare(out, "PyLate", Q, [np.asarray(d) for d in D])


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("ref", "colbertai", "pylate"):
        sys.exit(__doc__)
    {"ref": ref, "colbertai": colbertai, "pylate": pylate}[sys.argv[1]](Path(sys.argv[2]))
