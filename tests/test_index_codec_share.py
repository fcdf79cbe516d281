"""Codec training as an explicit step: one codec trained on a sample of a whole collection, saved as a
folder of its own, adopted by several indexes (shards) that then search the same centroid space."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jcolbert.errors import IndexFormatError, InputError
from jcolbert.index import Codec, Index
from test_index_data import exact_scores, make_docs, query_from

DIM = 32


@pytest.fixture(scope="module")
def collection() -> list[np.ndarray]:
    return make_docs(240, dim=DIM, seed=11)


@pytest.fixture(scope="module")
def shared(tmp_path_factory, collection) -> tuple[Codec, object]:
    sample = np.concatenate(collection[::3])  # a sample of the whole collection
    codec = Codec.train(sample, nbits=2, total_tokens=int(sum(len(d) for d in collection)))
    folder = codec.save(tmp_path_factory.mktemp("codec") / "shared")
    return codec, folder


def test_codec_train_is_standalone_and_leaves_the_sample_alone(collection) -> None:
    sample = np.concatenate(collection[:50])
    before = sample.copy()
    codec = Codec.train(sample, nbits=2, num_centroids=32, niter=4)
    assert np.array_equal(sample, before) and codec.num_centroids == 32 and codec.dim == DIM
    codec_list = Codec.train(collection[:50], nbits=2, num_centroids=32, niter=4)
    assert np.array_equal(codec_list.centroids, codec.centroids)
    for bad, message in (([], "non-empty"), (np.zeros((5, 31)), "divide dim"),
                         (np.full((20, DIM), np.nan), "NaN")):
        with pytest.raises(InputError, match=message):
            Codec.train(bad, nbits=4 if message == "divide dim" else 2)


def test_shards_adopt_one_codec_and_search_like_one_index(tmp_path, collection, shared) -> None:
    codec, folder = shared
    shards = [Index.create(tmp_path / f"shard{i}", dim=DIM, codec=folder if i else codec) for i in range(2)]
    for i, shard in enumerate(shards):
        assert shard.mode == "plaid" and shard.stats()["trained_tokens"] == codec.info["trained_tokens"]
        assert np.array_equal(shard.codec.centroids, codec.centroids)
        half = collection[i::2]
        shard.add_embeddings([f"d{j}" for j in range(i, len(collection), 2)], half)
        assert shard.mode == "plaid" and not shard.stats()["recluster_recommended"]
    whole = Index.create(tmp_path / "whole", dim=DIM, codec=codec)
    whole.add_embeddings([f"d{j}" for j in range(len(collection))], collection)
    Q = query_from(collection[17], seed=3)
    merged = sorted((h for s in shards for h in s.search_embeddings(Q, k=5, mode="exact")), key=lambda h: -h.score)
    single = whole.search_embeddings(Q, k=5, mode="exact")
    assert [h.id for h in merged[:5]] == [h.id for h in single]  # same codes: same scores across shards
    assert np.allclose([h.score for h in merged[:5]], [h.score for h in single], atol=1e-5)
    assert single[0].id == f"d{int(np.argmax(exact_scores(collection, Q)))}"
    # an index's codec can be loaded from the index folder itself
    assert np.array_equal(Codec.load(whole.path).centroids, codec.centroids)


def test_train_codec_on_an_exact_index_and_on_an_empty_one(tmp_path, collection) -> None:
    index = Index.create(tmp_path / "idx", dim=DIM)
    index.add_embeddings(None, collection[:30])
    assert index.mode == "exact"
    Q = query_from(collection[4], seed=1)
    codec = index.train_codec(np.concatenate(collection), num_centroids=64)
    assert index.mode == "plaid" and index.codec.num_centroids == 64 == codec.num_centroids
    assert index.search_embeddings(Q, k=1)[0].id == "4" and len(index) == 30
    empty = Index.create(tmp_path / "empty", dim=DIM)
    with pytest.raises(InputError, match="is empty: pass a sample"):
        empty.train_codec()
    empty.train_codec(np.concatenate(collection[:60]))
    assert empty.mode == "plaid" and empty.stats()["segments"] == 0
    empty.add_embeddings(None, collection[:10])
    assert empty.stats()["segments"] == 1 and empty.mode == "plaid"


def test_codec_mismatches_and_damaged_codec_folders(tmp_path, shared) -> None:
    codec, folder = shared
    with pytest.raises(InputError, match="32-dimensional vectors, the index for 64"):
        Index.create(tmp_path / "a", dim=64, codec=codec)
    with pytest.raises(InputError, match="neither a codec folder"):
        Codec.load(tmp_path)
    damaged = tmp_path / "damaged"
    codec.save(damaged)
    doc = json.loads((damaged / "codec.json").read_text())
    doc["codec"]["num_centroids"] += 1
    (damaged / "codec.json").write_text(json.dumps(doc))
    with pytest.raises(IndexFormatError, match="fails its checksum"):
        Codec.load(damaged)
    flipped = tmp_path / "flipped"
    codec.save(flipped)
    raw = bytearray((flipped / "cutoffs.npy").read_bytes())
    raw[-1] ^= 0x40
    (flipped / "cutoffs.npy").write_bytes(bytes(raw))
    with pytest.raises(IndexFormatError, match="cutoffs.npy fails its checksum"):
        Codec.load(flipped)
    with pytest.raises(InputError, match="not an empty folder"):
        codec.save(flipped)
