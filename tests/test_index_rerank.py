"""The exact tier (`Index.create(..., rerank="int8" | "fp16")`, index/rerank.py).

Ground truth: the final ranking of a rerank index is MaxSim over the rerank vectors it stores, read back here
straight from the segment files with numpy (not through the engine). Every kind of write keeps that true
(add, the exact->compressed switch, delete, compaction with and without re-clustering, a new codec, codec
adoption) and keeps the stored vectors close to the originals. Damaged rerank files are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jcolbert.errors import IndexFormatError, InputError
from jcolbert.index import Codec, Index
from jcolbert.index.manifest import MANIFEST
from jcolbert.index.verify import verify
from test_index_data import make_docs, query_from

DIM = 32
WIDE = {"ncells": 10_000, "centroid_score_threshold": -1.0, "ndocs": 100_000}  # PLAID that sees every document


def stored_vectors(path: Path) -> dict[str, np.ndarray]:
    """id -> the rerank vectors the index stores for it (dequantized), read from the files with numpy."""
    m = json.loads((path / MANIFEST).read_text())
    kind = m["settings"]["rerank"]
    import sqlite3

    con = sqlite3.connect(path / "docs.sqlite")
    ids = dict(con.execute("SELECT num, id FROM docs"))
    con.close()
    out = {}
    for seg in m["segments"]:
        folder = path / seg["dir"]
        nums = np.load(folder / "doc_nums.npy")
        lens = np.load(folder / "doclens.npy")
        values = np.load(folder / "rerank.npy").astype(np.float32)
        if kind == "int8":
            values *= np.load(folder / "rerank_scale.npy")[:, None]
        dead = set(np.load(folder / seg["deleted"]["file"]).tolist()) if seg.get("deleted") else set()
        starts = np.concatenate([[0], np.cumsum(lens)])
        for i, num in enumerate(nums):
            if i not in dead:
                out[ids[int(num)]] = values[starts[i]:starts[i + 1]]
    return out


def brute_force(vectors: dict[str, np.ndarray], Q: np.ndarray, k: int) -> list[tuple[str, float]]:
    scored = sorted(((float((v @ Q.T).max(axis=0).sum()), i) for i, v in vectors.items()), key=lambda x: -x[0])
    return [(i, s) for s, i in scored[:k]]


def check_ground_truth(index: Index, queries: list[np.ndarray], k: int = 10) -> None:
    """Exhaustive and wide PLAID search rank exactly as MaxSim over the stored rerank vectors; default PLAID's
    scores are those MaxSims."""
    vectors = stored_vectors(index.path)
    assert len(vectors) == len(index)
    for Q in queries:
        want = brute_force(vectors, Q, k)
        for knobs in ({"mode": "exact"}, WIDE):
            hits = index.search_embeddings(Q, k=k, **knobs)
            assert [h.id for h in hits] == [i for i, _ in want]
            np.testing.assert_allclose([h.score for h in hits], [s for _, s in want], rtol=1e-5, atol=1e-5)
        for h in index.search_embeddings(Q, k=k):
            assert h.score == pytest.approx(float((vectors[h.id] @ Q.T).max(axis=0).sum()), abs=1e-5)


def check_close(index: Index, originals: dict[str, np.ndarray], kind: str) -> None:
    """The stored vectors are the originals up to int8 (half a step of each token's scale) or fp16 rounding."""
    stored = stored_vectors(index.path)
    for doc_id, v in originals.items():
        if doc_id in stored:
            err = np.abs(stored[doc_id] - v).max(axis=1)
            bound = np.abs(v).max(axis=1) / 127 * 0.5 + 1e-6 if kind == "int8" else np.abs(v).max(axis=1) * 2**-11
            assert (err <= bound).all(), doc_id


@pytest.mark.parametrize("kind", ["int8", "fp16"])
def test_every_write_keeps_the_ranking_maxsim_over_the_stored_vectors(tmp_path, kind) -> None:
    docs = make_docs(160, dim=DIM, seed=3)
    originals = {f"d{i}": d for i, d in enumerate(docs)}
    queries = [query_from(docs[i], seed=i) for i in (2, 77, 150)]
    index = Index.create(tmp_path / "ix", dim=DIM, exact_threshold=1500, rerank=kind, progress=False)
    index.add_embeddings([f"d{i}" for i in range(20)], docs[:20])
    assert index.mode == "exact" and index.stats()["bytes_per_token_rerank"] == 0  # exact: float32 is the tier
    index.add_embeddings([f"d{i}" for i in range(20, 120)], docs[20:120])  # the switch
    assert index.mode == "plaid" and index.rerank == kind
    check_ground_truth(index, queries)
    check_close(index, originals, kind)
    index.add_embeddings([f"d{i}" for i in range(120, 160)], docs[120:])  # a second compressed segment
    index.delete(["d2", "d5", "d130"])
    check_ground_truth(index, queries)
    before = stored_vectors(index.path)
    assert index.compact(recluster=False)["removed"] == 3
    after = stored_vectors(index.path)
    assert set(after) == set(before) and all(np.array_equal(after[x], before[x]) for x in after)  # copied as is
    check_ground_truth(index, queries)
    assert index.compact(recluster=True)["reclustered"]
    again = stored_vectors(index.path)
    assert all(np.allclose(again[x], before[x], rtol=1e-6, atol=1e-7) for x in again)  # recompressed: no drift
    check_ground_truth(index, queries)
    index.train_codec()  # a new codec, trained on the rerank vectors
    check_ground_truth(index, queries)
    check_close(index, originals, kind)
    assert verify(index.path)["ok"]
    reopened = Index.open(index.path)
    assert reopened.rerank == kind and [h.id for h in reopened.search_embeddings(queries[0])] == \
        [h.id for h in index.search_embeddings(queries[0])]


def test_text_add_and_codec_adoption(tmp_path) -> None:
    docs = make_docs(150, dim=DIM, seed=8)
    codec = Codec.train(np.concatenate(docs), nbits=2, num_centroids=32)
    index = Index.create(tmp_path / "shard", dim=DIM, codec=codec, rerank="int8", progress=False)
    assert index.mode == "plaid"
    index.add_embeddings(None, docs[:50], commit_every=20)
    index.add_embeddings(None, docs[50:])
    check_ground_truth(index, [query_from(docs[i], seed=i) for i in (0, 99)])
    check_close(index, {str(i): d for i, d in enumerate(docs)}, "int8")


def test_stats_report_hot_and_total_bytes_per_token(tmp_path) -> None:
    docs = make_docs(120, dim=DIM, seed=1)
    sizes = {}
    for kind in (None, "int8", "fp16"):
        index = Index.create(tmp_path / str(kind), dim=DIM, exact_threshold=1000, rerank=kind, progress=False)
        index.add_embeddings(None, docs)
        st = index.stats()
        assert st["rerank"] == kind and st["mode"] == "plaid"
        assert st["format_version"] == (4 if kind else 3)  # an index without the tier stays readable by older versions
        sizes[kind] = st
    per_token = {"int8": DIM + 4, "fp16": 2 * DIM}
    for kind, want in per_token.items():
        got = sizes[kind]["bytes_per_token_rerank"]
        assert want <= got <= want + 512 / sizes[kind]["stored_tokens"] + 0.01  # plus the .npy headers
        assert sizes[kind]["bytes_per_token_hot"] == pytest.approx(sizes[None]["bytes_per_token_hot"], rel=0.02)
        assert sizes[kind]["bytes_per_token"] > sizes[None]["bytes_per_token"] + want - 1
    assert sizes[None]["bytes_per_token_rerank"] == 0


def test_bad_rerank_option(tmp_path) -> None:
    with pytest.raises(InputError, match="rerank must be 'int8', 'fp16' or None"):
        Index.create(tmp_path / "x", dim=DIM, rerank="bf16")


def _rerank_index(path: Path, kind: str = "int8") -> Index:
    index = Index.create(path, dim=DIM, exact_threshold=1000, rerank=kind, progress=False)
    index.add_embeddings(None, make_docs(120, dim=DIM, seed=4))
    return index


def _segment(path: Path) -> Path:
    m = json.loads((path / MANIFEST).read_text())
    return path / m["segments"][0]["dir"]


def test_corrupted_rerank_array_is_caught(tmp_path) -> None:
    path = tmp_path / "ix"
    _rerank_index(path)
    f = _segment(path) / "rerank.npy"
    data = bytearray(f.read_bytes())
    data[-7] ^= 0x40
    f.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match=r"rerank\.npy fails its checksum"):
        Index.open(path)
    report = verify(path)
    assert not report["ok"] and any("rerank.npy" in p for p in report["problems"])


def test_truncated_or_missing_rerank_files_are_caught(tmp_path) -> None:
    path = tmp_path / "ix"
    _rerank_index(path)
    scale = _segment(path) / "rerank_scale.npy"
    scale.write_bytes(scale.read_bytes()[:-4])
    with pytest.raises(IndexFormatError, match=r"rerank_scale\.npy is \d+ bytes but the manifest recorded"):
        Index.open(path, verify=False)
    scale.unlink()
    with pytest.raises(IndexFormatError, match=r"rerank_scale\.npy is missing"):
        Index.open(path)


def test_crafted_rerank_arrays_are_refused(tmp_path) -> None:
    """Files that pass their (re-signed) manifest records but hold bad values or other tokens' vectors."""
    from index_folders import edit_manifest
    from jcolbert.index import storage

    path = tmp_path / "ix"
    index = _rerank_index(path)
    seg = _segment(path)
    name = seg.name

    def rewrite(file: str, array: np.ndarray) -> None:
        (seg / file).unlink()
        entry = storage.write_array(seg / file, array)

        def change(doc):
            for s in doc["segments"]:
                if s["dir"] == name:
                    s["files"][file] = entry.to_dict()
        edit_manifest(path, change)

    scale = np.load(seg / "rerank_scale.npy")
    values = np.load(seg / "rerank.npy")
    bad = scale.copy()
    bad[3] = np.nan
    rewrite("rerank_scale.npy", bad)
    with pytest.raises(IndexFormatError, match=r"rerank_scale\.npy holds NaN"):
        Index.open(path)
    rewrite("rerank_scale.npy", scale)
    assert Index.open(path).search_embeddings(query_from(make_docs(1, dim=DIM, seed=4)[0]), k=3)
    rewrite("rerank.npy", values[::-1].copy())  # other tokens' vectors: only the deep check can tell
    assert len(Index.open(path)) == len(index)
    report = verify(path)
    assert not report["ok"] and any("rerank vectors disagree" in p for p in report["problems"])


def test_manifest_records_of_the_tier_are_checked(tmp_path) -> None:
    from index_folders import edit_manifest

    path = tmp_path / "ix"
    _rerank_index(path)

    def drop(doc):
        del doc["segments"][0]["files"]["rerank_scale.npy"]
    edit_manifest(path, drop)
    with pytest.raises(IndexFormatError, match=r"missing key\(s\) 'rerank_scale\.npy'"):
        Index.open(path)

    plain = tmp_path / "plain"
    index = Index.create(plain, dim=DIM, exact_threshold=1000, progress=False)
    index.add_embeddings(None, make_docs(120, dim=DIM, seed=4))

    def claim(doc):
        doc["settings"]["rerank"] = "int8"
    edit_manifest(plain, claim)  # format 3 has no exact tier
    with pytest.raises(IndexFormatError, match=r"settings: unknown key\(s\) 'rerank'"):
        Index.open(plain)

    def claim4(doc):
        doc["format_version"] = 4
    edit_manifest(plain, claim4)  # format 4 without the files of the tier
    with pytest.raises(IndexFormatError, match=r"missing key\(s\) 'rerank.npy', 'rerank_scale.npy'"):
        Index.open(plain)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_int8_tier_agrees_with_exact_maxsim_on_real_vectors(tmp_path, data_dir, minilm_available) -> None:
    """minilm on 400 SciFact documents (384-d, real token vectors, at most 300 tokens) and 60 test queries: PLAID with the int8
    tier returns the exact-MaxSim top 10 over the original vectors (recall@10 >= 0.99); without it, less."""
    import jcolbert

    folder = data_dir / "scifact"
    docs = []
    with open(folder / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            docs.append((d["_id"], f"{d.get('title', '')} {d['text']}"))
            if len(docs) == 400:
                break
    wanted = {line.split("\t")[0] for line in (folder / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    texts = [q["text"] for q in map(json.loads, (folder / "queries.jsonl").read_text().splitlines())
             if q["_id"] in wanted][:60]
    model = jcolbert.load_model("minilm")
    vectors = [v.numpy() for v in model.encode_documents([t for _, t in docs], batch_size=32, max_length=300)]
    Q = model.encode_queries(texts).numpy()
    ids = [i for i, _ in docs]
    starts = np.concatenate([[0], np.cumsum([len(v) for v in vectors])[:-1]])
    S = np.maximum.reduceat(np.concatenate(vectors) @ Q.reshape(-1, Q.shape[-1]).T, starts, axis=0)
    scores = S.reshape(len(vectors), len(Q), -1).sum(axis=2).T  # [queries, docs]: exact MaxSim
    exact = {qi: {ids[j] for j in np.argsort(-scores[qi], kind="stable")[:10]} for qi in range(len(Q))}
    recall = {}
    for kind in ("int8", None):
        index = Index.create(tmp_path / str(kind), model=model, rerank=kind, progress=False)
        index.add_embeddings(ids, vectors)
        assert index.mode == "plaid"
        hits = index.search_embeddings(Q, k=10)
        recall[kind] = float(np.mean([len({h.id for h in hs} & exact[qi]) / 10 for qi, hs in enumerate(hits)]))
    assert recall["int8"] >= 0.99, recall
    assert recall[None] < recall["int8"], recall


def test_fp16_tier_with_nan_is_an_error_when_read(tmp_path) -> None:
    """Opening never reads the whole float16 tier; a NaN met by a search is an IndexFormatError naming it."""
    from index_folders import edit_manifest
    from jcolbert.index import storage

    path = tmp_path / "ix"
    _rerank_index(path, "fp16")
    seg = _segment(path)
    values = np.load(seg / "rerank.npy").copy()
    values[:] = np.nan
    (seg / "rerank.npy").unlink()
    entry = storage.write_array(seg / "rerank.npy", values)

    def change(doc):
        doc["segments"][0]["files"]["rerank.npy"] = entry.to_dict()
    edit_manifest(path, change)
    index = Index.open(path)
    with pytest.raises(IndexFormatError, match=r"rerank\.npy holds NaN or infinite values"):
        index.search_embeddings(query_from(make_docs(1, dim=DIM, seed=4)[0]), k=3)
