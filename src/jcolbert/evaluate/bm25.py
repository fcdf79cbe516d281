"""BM25 first stage with `bm25s`: the baseline row of the model card's reranking table, and the candidate
generator that ColBERT reranks.

Settings follow BEIR's BM25 (Elasticsearch defaults: k1 = 1.2, b = 0.75, Lucene's IDF, English stop
words). Elasticsearch also stems with its English analyzer; stemming here needs the optional `PyStemmer`
package and is off unless asked for (`stemmer="english"`), so the setting is explicit in every result file
rather than depending on what happens to be installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from jcolbert.errors import InputError


@dataclass(frozen=True)
class BM25Settings:
    k1: float = 1.2
    b: float = 0.75
    method: str = "lucene"
    stopwords: str | None = "en"
    stemmer: str | None = None  # e.g. "english" (needs PyStemmer)

    def to_dict(self) -> dict:
        return asdict(self)


def _make_stemmer(name: str | None):
    if not name:
        return None
    try:
        import Stemmer  # PyStemmer
    except ImportError as exc:
        raise InputError(
            f"BM25 stemmer {name!r} needs the PyStemmer package (pip install PyStemmer); "
            f"or run without a stemmer"
        ) from exc
    try:
        return Stemmer.Stemmer(name).stemWord
    except KeyError as exc:
        raise InputError(f"PyStemmer has no stemmer named {name!r}") from exc


class BM25:
    """A bm25s index over a fixed list of documents; `search` returns ids and scores, best first."""

    def __init__(self, doc_ids: Sequence[str], texts: Sequence[str], settings: BM25Settings | None = None):
        import bm25s

        if len(doc_ids) != len(texts):
            raise InputError(f"{len(doc_ids)} document ids for {len(texts)} texts")
        if not doc_ids:
            raise InputError("BM25 needs at least one document")
        self.settings = settings or BM25Settings()
        self.doc_ids = list(doc_ids)
        self._stem = _make_stemmer(self.settings.stemmer)
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
