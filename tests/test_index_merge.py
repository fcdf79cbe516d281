"""Segment merging: many small adds (a server's writer adding a document a second) must not leave a segment per
commit. The trailing segments of one size tier are merged once MERGE_FACTOR of them pile up, in the same commit
as the add, without changing any answer: same documents, same scores, deleted documents stay deleted."""

from __future__ import annotations

import numpy as np

from jcolbert.index import Index
from jcolbert.index.write import MERGE_FACTOR, size_tier
from test_index_data import make_docs, query_from


def _plaid_index(path, docs, **create):
    index = Index.create(path, dim=32, exact_threshold=200, **create)
    index.add_embeddings([f"d{i}" for i in range(len(docs))], docs)
    assert index.mode == "plaid" and index.stats()["segments"] == 1
    return index


def _scores(index, queries, k):
    out = []
    for Q in queries:
        hits = index.search_embeddings(Q, k=k, mode="exact")
        out.append({h.id: round(h.score, 4) for h in hits})
    return out


def test_size_tiers() -> None:
    assert [size_tier(t) for t in (0, 1, MERGE_FACTOR - 1, MERGE_FACTOR, MERGE_FACTOR**2 - 1, MERGE_FACTOR**2)] \
        == [0, 0, 0, 1, 1, 2]


def test_one_document_at_a_time_keeps_few_segments_and_the_same_answers(tmp_path) -> None:
    docs = make_docs(80, dim=32, seed=7)
    index = _plaid_index(tmp_path / "idx", docs[:40])
    counts, merged = [], []
    for i in range(40, 80):
        index.add_embeddings([f"d{i}"], [docs[i]])
        counts.append(index.stats()["segments"])
        merged.append("merge_s" in index.last_timings)
    assert max(counts) <= 2 * MERGE_FACTOR  # without merging: 41 segments by the end
    assert counts[MERGE_FACTOR - 2] == MERGE_FACTOR and not any(merged[:MERGE_FACTOR - 1])
    assert merged[MERGE_FACTOR - 1] and counts[MERGE_FACTOR - 1] < MERGE_FACTOR  # merged in the add's commit
    assert len(index) == 80 and sorted(index.ids()) == sorted(f"d{i}" for i in range(80))
    # the same documents added at once with the same codec (never merged): exhaustive search over the stored
    # compressed vectors gives the same scores
    reference = Index.create(tmp_path / "ref", dim=32, codec=index.codec)
    reference.add_embeddings([f"d{i}" for i in range(80)], docs)
    queries = [query_from(docs[j], seed=j) for j in (3, 45, 61, 79)]
    assert _scores(index, queries, k=10) == _scores(reference, queries, k=10)
    assert Index.open(tmp_path / "idx").stats()["segments"] == counts[-1]


def test_deleted_documents_stay_deleted_through_a_merge(tmp_path) -> None:
    docs = make_docs(60, dim=32, seed=8)
    index = _plaid_index(tmp_path / "idx", docs[:40])
    for i in range(40, 60):
        index.add_embeddings([f"d{i}"], [docs[i]])
        if i % 3 == 0:
            index.delete([f"d{i}"])
    gone = {f"d{i}" for i in range(40, 60) if i % 3 == 0}
    assert index.stats()["segments"] <= 2 * MERGE_FACTOR  # 21 without merging
    assert len(index) == 60 - len(gone)
    assert not gone & set(index.ids())
    for i in (41, 44, 59):
        assert index.get(f"d{i}")["id"] == f"d{i}"
    hits = index.search_embeddings(query_from(docs[42], seed=1), k=60, mode="exact")
    assert not gone & {h.id for h in hits} and len(hits) == 60 - len(gone)
    reopened = Index.open(tmp_path / "idx")
    assert sorted(reopened.ids()) == sorted(index.ids())


def test_merged_segments_keep_the_exact_tier(tmp_path) -> None:
    docs = make_docs(60, dim=32, seed=9)
    index = _plaid_index(tmp_path / "idx", docs[:40], rerank="fp16")
    for i in range(40, 60):
        index.add_embeddings([f"d{i}"], [docs[i]])
    assert index.stats()["segments"] <= 2 * MERGE_FACTOR  # 21 without merging
    Q = query_from(docs[50], seed=2)
    hits = index.search_embeddings(Q, k=5)
    assert hits[0].id == "d50"
    # the final scores are MaxSim over the fp16 copies, for merged documents as for the others
    expected = float((docs[50].astype(np.float16).astype(np.float32) @ Q.T).max(axis=0).sum())
    assert abs(hits[0].score - expected) < 1e-2


def test_a_big_segment_is_not_rewritten_by_small_adds(tmp_path) -> None:
    docs = make_docs(70, dim=32, seed=10)
    index = _plaid_index(tmp_path / "idx", docs[:50])
    first = index._snap.manifest.segments[0].dir
    for i in range(50, 70):
        index.add_embeddings([f"d{i}"], [docs[i]])
    assert index._snap.manifest.segments[0].dir == first  # the build's segment is a higher tier: left alone
