"""Text in, hits out: Index.add / Index.search with a real encoder (the tiny random-weight Jina-ColBERT)."""

from __future__ import annotations

import numpy as np
import pytest

import jcolbert
from jcolbert.errors import InputError
from jcolbert.index import Index

# the 7 documents of the jina-colbert-v1-en model card (the reference fails on them: "add more documents")
CARD_DOCS = [
    "ColBERT is a fast and accurate retrieval model, enabling scalable BERT-based search over large text collections in tens of milliseconds.",
    "Jina-ColBERT is a ColBERT-style model but based on JinaBERT so it can support both 8k context length.",
    "JinaBERT is a BERT architecture that supports the symmetric bidirectional variant of ALiBi to allow longer sequence length.",
    "Jina-ColBERT model is trained on MSMARCO passage ranking dataset, following a very similar training procedure with ColBERTv2.",
    "Jina-ColBERT achieves the competitive retrieval performance with ColBERTv2.",
    "Jina is an easier way to build neural search systems.",
    "You can use Jina-ColBERT to build neural search systems with ease.",
]


@pytest.fixture(scope="module")
def tiny_model(tiny_jina_dir):
    return jcolbert.load_model(str(tiny_jina_dir))


def test_model_card_collection_builds_and_searches(tmp_path, tiny_jina_dir, tiny_model) -> None:
    index = Index.create(tmp_path / "card", model=tiny_model)
    ids = index.add(CARD_DOCS[:5] + [{"id": "jina", "text": CARD_DOCS[5], "metadata": {"topic": "jina"}},
                                     {"id": "ease", "text": CARD_DOCS[6]}])
    assert ids == ["0", "1", "2", "3", "4", "jina", "ease"] and len(index) == 7
    hits = index.search("neural search systems", k=3, return_text=True, return_metadata=True)
    assert len(hits) == 3 and [h.rank for h in hits] == [1, 2, 3]
    assert all(h.text in CARD_DOCS for h in hits)
    # the stored vectors are exactly the encoder's: the exhaustive score of a hit equals MaxSim recomputed here
    Q = tiny_model.encode_queries(["neural search systems"])[0].numpy()
    D = tiny_model.encode_documents([hits[0].text])[0].numpy()
    assert np.isclose(hits[0].score, (D @ Q.T).max(axis=0).sum(), atol=1e-4)
    # one document alone also works
    one = Index.create(tmp_path / "one", model=tiny_model)
    one.add("a single document")
    assert [h.id for h in one.search("single", k=10)] == ["0"]
    batch = index.search(["jina", "colbert"], k=2)
    assert len(batch) == 2 and all(len(h) == 2 for h in batch)


def test_open_without_model_arguments_loads_the_recorded_model_lazily(tmp_path, tiny_jina_dir) -> None:
    Index.create(tmp_path / "idx", model=str(tiny_jina_dir)).add(CARD_DOCS)
    index = Index.open(tmp_path / "idx")
    assert index._model is None  # nothing loaded to open or to search by vectors
    assert len(index.search_embeddings(np.ones((4, 128), np.float32), k=2)) == 2
    hits = index.search("ALiBi sequence length", k=2)
    assert index._model is not None and len(hits) == 2
    assert index.stats()["model"] == str(tiny_jina_dir)


def test_a_model_with_other_vectors_is_refused(tmp_path, tiny_jina_dir, tiny_bert_dir, tiny_model) -> None:
    Index.create(tmp_path / "idx", model=tiny_model).add(CARD_DOCS[:2])
    other = jcolbert.load_model(str(tiny_bert_dir))
    with pytest.raises(InputError, match="does not match the one index"):
        Index.open(tmp_path / "idx", model=other)
    same = Index.open(tmp_path / "idx", model=tiny_model)
    assert same.search("ColBERT", k=1)[0].id in {"0", "1"}
    vectors_only = Index.create(tmp_path / "vec", dim=64)
    with pytest.raises(InputError, match="produces 128-dimensional vectors but index"):
        Index.open(vectors_only.path, model=tiny_model)


@pytest.mark.slow
def test_text_collection_grows_into_plaid(tmp_path, tiny_model, data_dir) -> None:
    """Cranfield abstracts through the tiny encoder: exact storage first, PLAID once past the threshold."""
    import json

    lines = (data_dir / "cranfield" / "corpus.jsonl").read_text().splitlines()[:300]
    docs = [{"id": d["_id"], "text": (d.get("title", "") + " " + d["text"]).strip()} for d in map(json.loads, lines)]
    docs = [d for d in docs if d["text"]]
    index = Index.create(tmp_path / "cran", model=tiny_model, exact_threshold=8000, chunk_size=64)
    index.add(docs[:20])
    assert index.mode == "exact"
    index.add(docs[20:])
    assert index.mode == "plaid" and len(index) == len(docs)
    hits = index.search(docs[150]["text"][:200], k=5)
    exact = index.search(docs[150]["text"][:200], k=5, mode="exact")
    assert hits[0].id == exact[0].id
