"""BM25 first stage with `bm25s`: the baseline row of the model card's reranking table, and the candidate
generator that ColBERT reranks.

Settings follow BEIR's BM25 (Elasticsearch defaults: k1 = 1.2, b = 0.75, Lucene's IDF, English stop
words) and, like Elasticsearch's English analyzer, stem: PyStemmer's English (Snowball) stemmer by default.
With these settings SciFact's NDCG@10 is 0.6791, the model card's BM25 figure (0.679); without stemming it
is 0.6625. `stemmer=None` turns stemming off. The settings, stemmer included, are recorded in every
results.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from jcolbert.errors import InputError, require_extra


@dataclass(frozen=True)
class BM25Settings:
    k1: float = 1.2
    b: float = 0.75
    method: str = "lucene"
    stopwords: str | None = "en"
    stemmer: str | None = "english"  # a PyStemmer algorithm name; None: no stemming

    def to_dict(self) -> dict:
        return asdict(self)


def make_stemmer(name: str | None):
    """A PyStemmer stemmer object (bm25s calls its ``stemWords`` on lists of tokens), or None."""
    if not name:
        return None
    stemmer = require_extra("Stemmer", "eval", f"the BM25 stemmer {name!r}")  # the PyStemmer package
    try:
        return stemmer.Stemmer(name)
    except KeyError:
        known = ", ".join(sorted(stemmer.algorithms()))
        raise InputError(f"no stemmer named {name!r}; PyStemmer has: {known}") from None


class BM25:
    """A bm25s index over a fixed list of documents; `search` returns ids and scores, best first."""

    def __init__(self, doc_ids: Sequence[str], texts: Sequence[str], settings: BM25Settings | None = None):
        bm25s = require_extra("bm25s", "eval", "BM25")

        if len(doc_ids) != len(texts):
            raise InputError(f"{len(doc_ids)} document ids for {len(texts)} texts")
        if not doc_ids:
            raise InputError("BM25 needs at least one document")
        self.settings = settings or BM25Settings()
        self.doc_ids = list(doc_ids)
        self._stem = make_stemmer(self.settings.stemmer)
        tokens = bm25s.tokenize(
            list(texts), stopwords=self.settings.stopwords, stemmer=self._stem, show_progress=False
        )
        self._retriever = bm25s.BM25(k1=self.settings.k1, b=self.settings.b, method=self.settings.method)
        self._retriever.index(tokens, show_progress=False)

    def search(self, queries: Sequence[str], k: int = 100) -> list[list[tuple[str, float]]]:
        """Top-`k` documents per query. Documents with score 0 (no query term in common) are not
        returned: BM25 did not retrieve them, and reranking a random tail would only add noise."""
        import bm25s

        if k <= 0:
            raise InputError(f"k must be positive, got {k}")
        if not queries:
            return []
        k = min(k, len(self.doc_ids))
        tokens = bm25s.tokenize(
            list(queries), stopwords=self.settings.stopwords, stemmer=self._stem, show_progress=False
        )
        indices, scores = self._retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        out = []
        for row_idx, row_scores in zip(indices, scores, strict=True):
            out.append(
                [(self.doc_ids[int(i)], float(s)) for i, s in zip(row_idx, row_scores, strict=True) if s > 0]
            )
        return out
