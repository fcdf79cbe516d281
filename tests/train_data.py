"""Tiny training inputs for the jcolbert.train tests: a BEIR folder, an n-way JSONL with queries/collection TSVs."""

from __future__ import annotations

import json
from pathlib import Path

DOCS = {
    "d1": "ColBERT scores a query against a document with late interaction over token vectors.",
    "d2": "Late interaction keeps one vector per token and sums the maximum similarities.",
    "d3": "BM25 is a bag of words ranking function with term frequency saturation.",
    "d4": "The inverted index maps each term to the documents that contain it.",
    "d5": "Dropout randomly zeroes activations during training to regularise a network.",
    "d6": "AdamW decouples weight decay from the gradient update of Adam.",
    "d7": "Knowledge distillation trains a student to match a teacher's scores.",
    "d8": "Product quantization compresses vectors into short codes of centroid ids.",
    "d9": "Photosynthesis converts light into chemical energy in plants.",
    "d10": "The mitochondria is the powerhouse of the cell.",
    "d11": "Gradient clipping bounds the norm of the update to avoid exploding gradients.",
    "d12": "A learning rate warm-up increases the step size linearly at the start.",
}
QUERIES = {
    "q1": "how does late interaction score documents",
    "q2": "what is bm25 ranking",
    "q3": "why use dropout when training",
    "q4": "what is distillation from a teacher model",
    "q5": "how are vectors compressed with quantization",
    "q6": "what does gradient clipping do",
    "q7": "energy in plants",
}
TRAIN = {"q1": ["d1", "d2"], "q2": ["d3"], "q3": ["d5"], "q4": ["d7"], "q5": ["d8"], "q6": ["d11"]}
DEV = {"q7": ["d9"], "q1": ["d1"]}


def write_beir(folder: Path, train: dict[str, list[str]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for i, text in DOCS.items():
            f.write(json.dumps({"_id": i, "title": "", "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for i, text in QUERIES.items():
            f.write(json.dumps({"_id": i, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    for split, qrels in (("train", train or TRAIN), ("dev", DEV)):
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, ds in qrels.items() for d in ds]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def write_nway(folder: Path, rows: list[list] | None = None, *, scored: bool = True) -> dict[str, str]:
    """queries.tsv, collection.tsv and examples.jsonl; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "queries.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in QUERIES.items()))
    (folder / "collection.tsv").write_text("".join(f"{d}\t{t}\n" for d, t in DOCS.items()))
    if rows is None:
        others = list(DOCS)
        rows = []
        for j, (q, pos) in enumerate(TRAIN.items()):
            negs = [d for d in others[j:] + others[:j] if d not in pos][:5]
            ids = [pos[0], *negs]
            rows.append([q, *([d, 10.0 - k] for k, d in enumerate(ids))] if scored else [q, *ids])
    (folder / "examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {k: str(folder / f) for k, f in
            (("data", "examples.jsonl"), ("queries", "queries.tsv"), ("collection", "collection.tsv"))}  # fmt: skip
