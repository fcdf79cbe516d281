"""Hard negatives for a BEIR training split (`jcolbert mine`), written as an n-way JSONL the trainer reads.

For every (query, relevant passage) pair of the qrels split, one line: the positive first, then the top `depth`
results of a first stage that are not judged relevant for that query (judged non-relevant passages stay: they
are the hardest negatives), best first:

    ["q1", "d7", "d3", "d9", ...]                              without a teacher
    ["q1", ["d7", 21.4], ["d3", 19.8], ["d9", 17.2], ...]      with teacher scores (ColBERTv2's distillation format)

First stages: BM25 over the corpus (jcolbert.evaluate.bm25, bm25s with English stemming) or a jcolbert index of
the same corpus (`Index.search`). Teacher: any jcolbert model (e.g. a larger ColBERT at full precision); each group
is scored by exact MaxSim of the teacher's query and document vectors (jcolbert.scoring.maxsim), so distillation
works without a cross-encoder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jcolbert.errors import InputError, TrainingDataError
from jcolbert.train.data import BeirTrainSet

Progress = Callable[[str], None]


def bm25_search(beir: BeirTrainSet, qids: list[str], depth: int) -> list[list[str]]:
    from jcolbert.evaluate.bm25 import BM25

    ids = list(beir.corpus)
    bm25 = BM25(ids, [beir.corpus[i] for i in ids])
    return [[doc for doc, _ in hits] for hits in bm25.search([beir.queries[q] for q in qids], k=depth)]


def index_search(index_path: str | Path, beir: BeirTrainSet, qids: list[str], depth: int) -> list[list[str]]:
    from jcolbert.index import Index

    with Index.open(index_path, readonly=True) as index:
        results = index.search([beir.queries[q] for q in qids], k=depth)
    unknown = {h.id for hits in results for h in hits} - set(beir.corpus)
    if unknown:
        raise TrainingDataError(f"{index_path}: the index holds ids that are not in {beir.folder}'s corpus, "
                                f"e.g. {sorted(unknown)[:3]}")  # fmt: skip
    return [[h.id for h in hits] for hits in results]


def teacher_scores(teacher: Any, beir: BeirTrainSet, groups: list[tuple[str, list[str]]],
                   batch_size: int = 32, say: Progress | None = None) -> list[list[float]]:  # fmt: skip
    """Exact MaxSim of the teacher for every (qid, pids) group; each passage is encoded once."""
    from jcolbert.scoring.maxsim import maxsim

    needed = sorted({p for _, pids in groups for p in pids})
    if say:
        say(f"teacher: encoding {len(needed)} passages and {len(groups)} queries")
    vectors = dict(zip(needed, teacher.encode_documents([beir.corpus[p] for p in needed], batch_size=batch_size),
                       strict=True))  # fmt: skip
    qids = sorted({q for q, _ in groups})
    Q = dict(zip(qids, teacher.encode_queries([beir.queries[q] for q in qids], batch_size=batch_size), strict=True))
    return [maxsim(Q[q], [vectors[p] for p in pids]).tolist() for q, pids in groups]


def mine(beir: BeirTrainSet, out: str | Path, *, depth: int = 100, index: str | Path | None = None,
         teacher: Any = None, overwrite: bool = False, say: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Write the n-way JSONL (module docstring) atomically; returns counts for the report."""
    if depth < 1:
        raise InputError(f"depth must be positive, got {depth}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out}: already exists; pass overwrite=True (--overwrite) to replace it")
    qids = sorted(beir.positives)
    if say:
        say(f"mining {depth} candidates for {len(qids)} queries with " + (f"index {index}" if index else "BM25"))
    ranked = index_search(index, beir, qids, depth) if index else bm25_search(beir, qids, depth)
    groups: list[tuple[str, list[str]]] = []
    short = 0
    for qid, hits in zip(qids, ranked, strict=True):
        negatives = [d for d in hits if d not in beir.positives[qid]]
        if not negatives:
            short += 1
            continue
        for pos in sorted(beir.positives[qid]):
            groups.append((qid, [pos, *negatives]))
    if not groups:
        raise TrainingDataError(f"{beir.folder}: no query got a negative from the first stage")
    scores = teacher_scores(teacher, beir, groups, say=say) if teacher is not None else None
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as f:
        for j, (qid, pids) in enumerate(groups):
            row: list[Any] = [qid, *pids] if scores is None else [qid, *([p, s] for p, s in zip(pids, scores[j], strict=True))]
            f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    return {"lines": len(groups), "queries": len(qids) - short, "queries_without_negative": short,
            "negatives_per_line_min": min(len(p) - 1 for _, p in groups), "teacher": scores is not None}  # fmt: skip
