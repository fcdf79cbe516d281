"""Ranked result lists ("runs") and the TREC run file format.

Why a canonical order: trec_eval (and so pytrec_eval and ir-measures) ignores the rank column of a run
file and re-sorts each query's results by score, breaking ties by document id in *descending* string order.
A run that we rank differently among equal scores would then be evaluated on another ranking than the one
we returned. So every `Run` here is sorted by (score desc, doc id desc) once, at construction, and that is
the ranking written to `run.trec` and evaluated by every library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jcolbert.errors import InputError


def _canonical(results: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    seen: dict[str, float] = {}
    for doc_id, score in results:
        doc_id = str(doc_id)
        score = float(score)
        if doc_id not in seen or score > seen[doc_id]:  # a document listed twice keeps its best score
            seen[doc_id] = score
    # Two stable sorts: doc id descending, then score descending -> trec_eval's order.
    ordered = sorted(seen.items(), key=lambda item: item[0], reverse=True)
    ordered.sort(key=lambda item: item[1], reverse=True)
    return ordered


@dataclass
class Run:
    """A named ranking for each query: `results[qid]` is `[(doc_id, score), ...]`, best first."""

    name: str
    results: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.results = {str(q): _canonical(r) for q, r in self.results.items()}

    @classmethod
    def from_mapping(cls, name: str, scores: Mapping[str, Mapping[str, float]]) -> Run:
        return cls(name, {q: list(d.items()) for q, d in scores.items()})

    def set(self, qid: str, results: Iterable[tuple[str, float]]) -> None:
        self.results[str(qid)] = _canonical(results)

    def depth(self) -> int:
        return max((len(r) for r in self.results.values()), default=0)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {q: dict(r) for q, r in self.results.items()}

    def without_identical_ids(self) -> Run:
        """Drop results whose document id equals the query id (BEIR's `ignore_identical_ids`): in
        ArguAna and Quora a query is itself in the corpus and would trivially be found."""
        return Run(self.name, {q: [(d, s) for d, s in r if d != q] for q, r in self.results.items()})

    def restricted_to(self, qids: Iterable[str]) -> Run:
        """This run over exactly `qids`: missing queries get an empty list (they score 0)."""
        return Run(self.name, {q: self.results.get(q, []) for q in qids})


def write_trec(run: Run, path: str | Path, tag: str | None = None) -> Path:
    """Write `qid Q0 docid rank score tag`, one line per result, in the canonical order."""
    path = Path(path)
    tag = (tag or run.name).replace(" ", "_") or "jcolbert"
    with open(path, "w", encoding="utf-8") as fh:
        for qid, results in run.results.items():
            for rank, (doc_id, score) in enumerate(results, start=1):
                # repr() round-trips the float exactly: rounding could create ties that re-sort the run.
                fh.write(f"{qid} Q0 {doc_id} {rank} {score!r} {tag}\n")
    return path


def read_trec(path: str | Path, name: str | None = None) -> Run:
    """Read a TREC run file (6 whitespace-separated columns); the rank column is ignored, as trec_eval does."""
    path = Path(path)
    scores: dict[str, dict[str, float]] = {}
    tag = None
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 6:
                raise InputError(f"{path}:{lineno}: a TREC run line has 6 columns, got {len(parts)}")
            qid, _, doc_id, _, score, tag = parts
            try:
                value = float(score)
            except ValueError as exc:
                raise InputError(f"{path}:{lineno}: score {score!r} is not a number") from exc
            per_query = scores.setdefault(qid, {})
            per_query[doc_id] = max(value, per_query.get(doc_id, value))
    return Run.from_mapping(name or tag or path.stem, scores)
