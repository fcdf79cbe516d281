"""Index.add as the library's one build loop: progress per encoder call, timings, commits every N documents,
streaming (lazy) input, and one codec trained on a sample of the whole input of a one-shot build."""

from __future__ import annotations

import numpy as np
import pytest

import jcolbert
from jcolbert.errors import InputError
from jcolbert.index import Index
from test_index_data import make_docs

WORDS = ["late", "interaction", "retrieval", "token", "vectors", "index", "search", "query", "document", "centroid", "residual", "compression", "segment", "manifest", "codec", "cluster", "score", "maxsim", "rank", "model", "encoder", "batch", "stream", "commit"]


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(8, 20)))) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny_model(tiny_jina_dir):
    return jcolbert.load_model(str(tiny_jina_dir))


def test_progress_timings_and_counts(tmp_path, tiny_model) -> None:
    index = Index.create(tmp_path / "idx", model=tiny_model, exact_threshold=10**9)
    calls = []
    ids = index.add(texts(45), batch_size=4, progress=lambda done, total: calls.append((done, total)))
    assert len(ids) == 45 == len(index)
    # one call per encoder call of 4 * batch_size documents, each with the running count and the total
    assert calls == [(16, 45), (32, 45), (45, 45)]
    assert {"encode_s", "write_exact_s", "commit_s", "total_s"} <= set(index.last_timings)
    assert index.last_add["documents"] == 45 and index.last_add["commits"] == 1
    assert index.last_add["tokens"] == index.stats()["tokens"] > 45


def test_a_generator_is_consumed_lazily(tmp_path, tiny_model) -> None:
    index = Index.create(tmp_path / "idx", model=tiny_model, exact_threshold=10**9, chunk_size=8)
    pulled = []

    def docs():
        for i, t in enumerate(texts(40)):
            pulled.append(i)
            yield {"id": f"g{i}", "text": t}

    seen = []
    index.add(docs(), batch_size=2, progress=lambda done, total: seen.append((done, len(pulled), total)))
    assert seen[0] == (8, 8, None)  # the first chunk was encoded before the rest of the input was read
    assert seen[-1] == (40, 40, None) and len(index) == 40


def test_one_shot_build_with_commits_trains_on_the_whole_input(tmp_path, tiny_model) -> None:
    docs = texts(40, seed=1)
    index = Index.create(tmp_path / "idx", model=tiny_model, exact_threshold=200, chunk_size=8)
    index.add(docs, commit_every=10)
    st = index.stats()
    assert st["mode"] == "plaid" and st["documents"] == 40
    assert st["trained_tokens"] == st["tokens"]  # the codec saw the whole collection, not its first batch
    assert st["recluster_recommended"] is False
    assert index.last_add["commits"] == 4 and {"train_s", "sample_s"} <= set(index.last_timings)
    # the same collection added in one call gives the same codec training set
    again = Index.create(tmp_path / "one", model=tiny_model, exact_threshold=200, chunk_size=8)
    again.add(docs)
    assert again.stats()["trained_tokens"] == st["trained_tokens"] and again.last_add["commits"] == 1


def test_an_interrupted_build_keeps_its_commits_and_resumes(tmp_path, tiny_model) -> None:
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts(36, seed=2))]
    index = Index.create(tmp_path / "idx", model=tiny_model, exact_threshold=200, chunk_size=5)

    def stop(done: int, total: int | None) -> None:
        if done >= 35:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index.add(docs, commit_every=10, batch_size=1, progress=stop)
    committed = index.ids()
    assert committed == [f"d{i}" for i in range(30)]  # three windows of ten; the fourth never committed
    st = index.stats()
    assert st["mode"] == "exact" and st["recluster_recommended"]  # above its threshold, waiting for the switch
    with pytest.raises(InputError, match="already in the index: 'd0'"):
        index.add(docs, commit_every=10)  # a resumed build skips what is in (the CLI does)
    index.add([d for d in docs if d["id"] not in set(committed)], commit_every=10)
    st = index.stats()
    assert st["mode"] == "plaid" and st["documents"] == 36 and st["trained_tokens"] == st["tokens"]


def test_with_a_codec_every_window_is_committed_compressed(tmp_path) -> None:
    index = Index.create(tmp_path / "idx", dim=32, exact_threshold=300)
    docs = make_docs(40, dim=32, seed=3)
    index.add_embeddings(None, docs[:20], commit_every=10)
    index.add_embeddings(None, docs[20:], commit_every=10)
    assert index.mode == "plaid"
    with pytest.raises(KeyboardInterrupt):
        index.add_embeddings(None, make_docs(30, dim=32, seed=4), commit_every=10,
                             progress=lambda done, total: _raise_after(done, 20))
    assert index.mode == "plaid" and len(index) == 60  # with a codec, every window is committed compressed


def _raise_after(done: int, n: int) -> None:
    if done > n:
        raise KeyboardInterrupt


def test_exact_index_left_above_its_threshold_is_compressed_by_compact(tmp_path) -> None:
    index = Index.create(tmp_path / "idx", dim=32, exact_threshold=300)
    with pytest.raises(KeyboardInterrupt):
        index.add_embeddings(None, make_docs(40, dim=32, seed=5), commit_every=10,
                             progress=lambda done, total: _raise_after(done, 30))
    assert index.mode == "exact" and len(index) == 30 and index.stats()["recluster_recommended"]
    assert index.compact()["reclustered"] is True
    st = index.stats()
    assert st["mode"] == "plaid" and st["trained_tokens"] == st["tokens"] and len(index) == 30


def test_add_embeddings_reports_progress_per_chunk(tmp_path) -> None:
    index = Index.create(tmp_path / "idx", dim=32, chunk_size=16)
    calls = []
    index.add_embeddings(None, make_docs(40, dim=32), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(16, 40), (32, 40), (40, 40)]
