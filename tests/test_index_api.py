"""The public Index API on synthetic vectors: small collections, the switch to PLAID, ids, filters, updates."""

from __future__ import annotations

import numpy as np
import pytest

import jcolbert
from jcolbert.errors import InputError
from jcolbert.index import Hit, Index
from test_index_data import exact_scores, make_docs, query_from

DIM = 32


def new_index(tmp_path, name="idx", **kw) -> Index:
    return Index.create(tmp_path / name, dim=DIM, **kw)


def test_lazy_top_level_exports() -> None:
    assert jcolbert.Index is Index and jcolbert.Hit is Hit


@pytest.mark.parametrize("n", [1, 7, 50])
def test_small_collections_are_exact(tmp_path, n) -> None:
    docs = make_docs(n, dim=DIM, seed=n)
    index = new_index(tmp_path)
    ids = index.add_embeddings(None, docs)
    assert ids == [str(i) for i in range(n)] and len(index) == n
    assert index.stats()["mode"] == "exact" and index.stats()["centroids"] == 0
    Q = query_from(docs[n // 2], seed=1)
    hits = index.search_embeddings(Q, k=5)
    ref = exact_scores(docs, Q)
    assert [h.rank for h in hits] == list(range(1, min(5, n) + 1))
    assert hits[0].id == str(int(ref.argmax()))
    assert np.allclose([h.score for h in hits], np.sort(ref)[::-1][: len(hits)], atol=1e-4)


def test_switches_to_plaid_as_it_grows_and_keeps_finding_documents(tmp_path) -> None:
    docs = make_docs(400, dim=DIM, seed=2)
    index = new_index(tmp_path, exact_threshold=3000)
    index.add_embeddings(None, docs[:60])
    assert index.mode == "exact"
    index.add_embeddings(None, docs[60:])
    st = index.stats()
    assert st["mode"] == "plaid" and st["centroids"] > 0 and st["segments"] == 1 and st["documents"] == 400
    found = 0
    for i in range(0, 400, 40):
        Q = query_from(docs[i], seed=i)
        best = int(exact_scores(docs, Q).argmax())
        found += index.search_embeddings(Q, k=1)[0].id == str(best)
    assert found >= 9
    # later adds go to a new segment, compressed with the existing centroids
    more = make_docs(20, dim=DIM, seed=3)
    new_ids = index.add_embeddings(None, more)
    assert new_ids[0] == "400" and index.stats()["segments"] == 2
    assert index.search_embeddings(query_from(more[5], seed=9), k=1)[0].id == "405"


def test_exact_mode_matches_decompressed_maxsim(tmp_path) -> None:
    docs = make_docs(200, dim=DIM, seed=4)
    index = new_index(tmp_path, exact_threshold=1000)
    index.add_embeddings(None, docs)
    Q = query_from(docs[3], seed=3)
    exact = index.search_embeddings(Q, k=10, mode="exact")
    plaid = index.search_embeddings(Q, k=10, ncells=4, centroid_score_threshold=-1.0, ndocs=1000)
    assert [h.id for h in exact] == [h.id for h in plaid]
    assert np.allclose([h.score for h in exact], [h.score for h in plaid], atol=1e-4)
    # exact mode is MaxSim over codec.decompress() (unit-length reconstructions), to int8 precision
    snap = index._current()
    (seg,) = snap.segments
    V = snap.codec.decompress(np.asarray(seg.codes), np.asarray(seg.residuals))
    ids = index.ids()
    dec = {ids[d]: float((Q @ V[seg.offsets[d]:seg.offsets[d + 1]].T).max(axis=1).sum()) for d in range(seg.num_docs)}
    assert max(abs(h.score - dec[h.id]) for h in exact) < 0.01 * Q.shape[0]
    assert [h.id for h in exact] == sorted(dec, key=dec.get, reverse=True)[:10]
    # the compressed scores stay close to the true ones
    ref = exact_scores(docs, Q)
    assert abs(exact[0].score - ref[int(exact[0].id)]) < 0.05 * Q.shape[0]


def test_batched_queries_and_hit_fields(tmp_path) -> None:
    docs = make_docs(30, dim=DIM, seed=5)
    index = new_index(tmp_path)
    index.add_embeddings([f"d{i}" for i in range(30)], docs, texts=[f"text {i}" for i in range(30)],
                         metadata=[{"i": i, "even": i % 2 == 0} for i in range(30)])
    Qs = np.stack([query_from(docs[i], seed=i) for i in (1, 2, 3)])
    out = index.search_embeddings(Qs, k=4, return_text=True, return_metadata=True)
    assert len(out) == 3 and all(len(h) == 4 for h in out)
    for hits in out:
        assert [h.rank for h in hits] == [1, 2, 3, 4]
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
        assert all(h.text == f"text {h.id[1:]}" and h.metadata["i"] == int(h.id[1:]) for h in hits)
    plain = index.search_embeddings(Qs[0], k=2)
    assert plain[0].text is None and plain[0].metadata is None
    assert index.get("d7") == {"id": "d7", "text": "text 7", "metadata": {"i": 7, "even": False}}
    assert [d["id"] for d in index.get(["d1", "d2"])] == ["d1", "d2"]
    assert "d7" in index and "nope" not in index
    assert index.ids()[:3] == ["d0", "d1", "d2"]


def test_a_batch_of_padded_queries_answers_as_each_query_alone(tmp_path) -> None:
    """Queries of one call are padded to the longest with zero rows; PLAID searches each on its own rows, so a
    short query in a batch gets exactly the hits and scores it gets alone."""
    docs = make_docs(300, dim=DIM, seed=8)
    index = new_index(tmp_path, exact_threshold=1000)
    index.add_embeddings(None, docs)
    assert index.mode == "plaid"
    Qs = np.stack([query_from(docs[i], seed=i) for i in (0, 5, 9, 14)])
    for i, n in enumerate((Qs.shape[1], 3, 7, 1)):
        Qs[i, n:] = 0.0
    together = index.search_embeddings(Qs, k=8)
    for Q, n, hits in zip(Qs, (Qs.shape[1], 3, 7, 1), together, strict=True):
        alone = index.search_embeddings(Q[:n], k=8)
        assert [(h.id, h.score) for h in hits] == [(h.id, h.score) for h in alone]


@pytest.mark.parametrize("plaid", [False, True])
def test_filters_apply_before_top_k(tmp_path, plaid) -> None:
    docs = make_docs(300, dim=DIM, seed=6)
    index = new_index(tmp_path, exact_threshold=1000 if plaid else 10**9)
    index.add_embeddings(None, docs, metadata=[{"group": i % 3, "lang": "en" if i % 2 else "de"} for i in range(300)])
    assert index.mode == ("plaid" if plaid else "exact")
    Q = query_from(docs[0], seed=0)  # doc 0 is in group 0, lang de
    by_meta = index.search_embeddings(Q, k=10, filter={"group": 1})
    assert len(by_meta) == 10 and all(int(h.id) % 3 == 1 for h in by_meta)
    by_pred = index.search_embeddings(Q, k=10, filter=lambda m: m["lang"] == "en" and m["group"] == 2)
    assert len(by_pred) == 10 and all(int(h.id) % 6 == 5 for h in by_pred)
    wanted = ["7", "8", "250", "no-such-id"]
    by_ids = index.search_embeddings(Q, k=10, filter=wanted)
    assert sorted(h.id for h in by_ids) == ["250", "7", "8"]
    # the filtered ranking is the exhaustive ranking restricted to the allowed documents
    exhaustive = index.search_embeddings(Q, k=3, filter={"group": 1}, mode="exact")
    assert [h.id for h in by_meta[:3]] == [h.id for h in exhaustive]
    if not plaid:  # stored exactly: the true MaxSim order
        ref = exact_scores(docs, Q)
        best = sorted((i for i in range(300) if i % 3 == 1), key=lambda i: -ref[i])[:3]
        assert [int(h.id) for h in exhaustive] == best
    assert index.search_embeddings(Q, k=5, filter={"group": 7}) == []


def test_k_larger_than_collection_and_empty_index(tmp_path) -> None:
    index = new_index(tmp_path)
    assert index.search_embeddings(np.ones((4, DIM), np.float32), k=3) == []
    assert index.stats()["documents"] == 0 and len(index) == 0
    index.add_embeddings(None, make_docs(3, dim=DIM))
    hits = index.search_embeddings(query_from(make_docs(3, dim=DIM)[0]), k=10)
    assert len(hits) == 3
    with pytest.raises(InputError, match="k must be a positive integer"):
        index.search_embeddings(np.ones((4, DIM), np.float32), k=0)


@pytest.mark.parametrize("plaid", [False, True])
def test_delete_is_immediate_and_compact_removes(tmp_path, plaid) -> None:
    docs = make_docs(200, dim=DIM, seed=7)
    index = new_index(tmp_path, exact_threshold=1000 if plaid else 10**9)
    index.add_embeddings(None, docs)
    Q = query_from(docs[11], seed=11)
    assert index.search_embeddings(Q, k=1)[0].id == "11"
    assert index.delete(["11", "12"]) == 2
    assert len(index) == 198 and "11" not in index
    after = index.search_embeddings(Q, k=20)
    assert "11" not in {h.id for h in after} and "12" not in {h.id for h in after}
    before_bytes = index.stats()["bytes_on_disk"]
    assert index.stats()["deleted_pending_compaction"] == 2
    result = index.compact()
    assert result["removed"] == 2 and result["documents"] == 198
    assert index.stats()["deleted_pending_compaction"] == 0 and index.stats()["segments"] == 1
    assert index.stats()["bytes_on_disk"] < before_bytes
    again = index.search_embeddings(Q, k=20)
    assert [h.id for h in again] == [h.id for h in after]
    assert np.allclose([h.score for h in again], [h.score for h in after], atol=1e-5)
    # auto ids are never reused after deletes
    assert index.add_embeddings(None, make_docs(1, dim=DIM, seed=8)) == ["200"]
    with pytest.raises(InputError, match="no document with id 'gone'"):
        index.delete(["gone", "3"])
    assert "3" in index
    assert index.delete(["gone"], missing_ok=True) == 0


def test_explicit_ids_may_come_back_after_delete_and_auto_ids_skip_taken(tmp_path) -> None:
    index = new_index(tmp_path)
    docs = make_docs(4, dim=DIM)
    assert index.add_embeddings(["1", "x"], docs[:2]) == ["1", "x"]
    assert index.add_embeddings(None, docs[2:]) == ["0", "2"]  # "1" is taken
    index.delete("x")
    assert index.add_embeddings(["x"], docs[:1]) == ["x"]
    assert index.get("x")["id"] == "x" and len(index) == 4


def test_reopen_and_second_reader_sees_commits(tmp_path) -> None:
    docs = make_docs(120, dim=DIM, seed=9)
    index = new_index(tmp_path, exact_threshold=1500)
    index.add_embeddings(None, docs[:100], texts=[f"t{i}" for i in range(100)])
    reader = Index.open(tmp_path / "idx")
    assert len(reader) == 100 and reader.mode == index.mode == "plaid"
    Q = query_from(docs[110], seed=1)
    index.add_embeddings(None, docs[100:])
    assert reader.search_embeddings(Q, k=1)[0].id == "110"  # picked up the new manifest
    index.delete("110")
    assert reader.search_embeddings(Q, k=1)[0].id != "110"
    assert reader.get("5")["text"] == "t5"
    st = reader.stats()
    assert st["bytes_per_token"] > 0 and st["tokens"] == sum(len(d) for d in docs) - len(docs[110])


def test_recluster_when_the_collection_outgrew_its_centroids(tmp_path) -> None:
    docs = make_docs(600, dim=DIM, seed=10)
    index = new_index(tmp_path, exact_threshold=2000)
    index.add_embeddings(None, docs[:120])
    trained = index.stats()["trained_tokens"]
    assert index.stats()["recluster_recommended"] is False
    index.add_embeddings(None, docs[120:])
    st = index.stats()
    assert st["tokens"] >= 2 * trained and st["recluster_recommended"] and "re-clusters" in st["recluster_reason"]
    out = index.compact()
    assert out["reclustered"] and index.stats()["trained_tokens"] == st["tokens"]
    assert index.stats()["recluster_recommended"] is False
    Q = query_from(docs[500], seed=5)
    assert index.search_embeddings(Q, k=1)[0].id == "500"
    assert index.rebuild()["reclustered"] and len(index) == 600
    assert index.compact(recluster=False)["reclustered"] is False


@pytest.mark.parametrize("residual", ["quantile", "pq"])
@pytest.mark.parametrize("nbits", [1, 2, 4])
def test_nbits_sizes(tmp_path, nbits, residual) -> None:
    docs = make_docs(150, dim=DIM, seed=11)
    index = new_index(tmp_path, nbits=nbits, exact_threshold=1000, residual=residual)
    index.add_embeddings(None, docs)
    st = index.stats()
    assert st["nbits"] == nbits and st["residual"] == residual and st["bytes_by_file"]["residuals.npy"] - 128 <= st["tokens"] * DIM * nbits // 8 + 256
    Q = query_from(docs[42], seed=42)
    assert index.search_embeddings(Q, k=1)[0].id == "42"


def test_readers_keep_working_while_a_writer_commits(tmp_path) -> None:
    """Searches in another thread (own Index object) never fail and never return a half-written state."""
    import threading

    docs = make_docs(260, dim=DIM, seed=12)
    writer = new_index(tmp_path, exact_threshold=1500)
    writer.add_embeddings(None, docs[:100])
    reader = Index.open(tmp_path / "idx")
    errors: list[BaseException] = []
    seen_sizes: set[int] = set()
    stop = threading.Event()
    Q = query_from(docs[50], seed=3)

    def read() -> None:
        try:
            while not stop.is_set():
                hits = reader.search_embeddings(Q, k=5)
                assert len(hits) == 5 and len({h.id for h in hits}) == 5
                seen_sizes.add(len(reader))
        except BaseException as exc:  # noqa: BLE001 (re-raised in the main thread)
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for i in range(100, 260, 40):
            writer.add_embeddings(None, docs[i:i + 40])
            writer.delete([str(i)])
            writer.compact(recluster=i == 180)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[0]
    assert len(reader) == len(writer) == 256 and len(seen_sizes) >= 1


@pytest.mark.parametrize("plaid", [False, True])
def test_delete_everything_then_compact_and_add_again(tmp_path, plaid) -> None:
    index = new_index(tmp_path, exact_threshold=500 if plaid else 10**9)
    ids = index.add_embeddings(None, make_docs(60, dim=DIM))
    assert index.delete(ids) == 60 and len(index) == 0
    Q = query_from(make_docs(1, dim=DIM)[0])
    assert index.search_embeddings(Q, k=3) == []
    assert index.compact()["removed"] == 60 and index.stats()["segments"] == 0
    assert index.search_embeddings(Q, k=3) == []
    assert index.add_embeddings(None, make_docs(3, dim=DIM)) == ["60", "61", "62"]
    assert len(Index.open(index.path)) == 3 and index.mode == ("plaid" if plaid else "exact")
