"""`jcolbert.compat` beyond the model card: colbert-ai's folders, config merging, return shapes, options."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from jcolbert.compat import Checkpoint, ColBERTConfig, Indexer, Run, RunConfig, Searcher, colbert_score
from jcolbert.errors import InputError

PASSAGES = [
    "ColBERT is an efficient and effective passage retrieval model.",
    "Jina-ColBERT supports 8k context length.",
    "JinaBERT uses the symmetric bidirectional variant of ALiBi.",
    "Jina is an easier way to build neural search systems.",
    "PLAID prunes candidates with centroid interaction.",
]


@pytest.fixture
def built(tmp_path, monkeypatch, tiny_jina_dir):
    """An index 'demo' built the colbert-ai way in experiments/exp/indexes/demo under tmp_path."""
    monkeypatch.chdir(tmp_path)
    with Run().context(RunConfig(experiment="exp")):
        path = Indexer(checkpoint=str(tiny_jina_dir), config=ColBERTConfig(doc_maxlen=128, nbits=2)).index(
            name="demo", collection=PASSAGES
        )
    return path


def test_run_context_stack_is_scoped():
    assert Run().experiment == "default"
    with Run().context(RunConfig(experiment="outer", nranks=2)):
        assert Run().experiment == "outer"
        with Run().context(RunConfig(experiment="inner")):
            assert Run().experiment == "inner" and Run().nranks == 2  # inherited
        assert Run().experiment == "outer"
    assert Run().experiment == "default"
    seen = []
    with Run().context(RunConfig(experiment="main-thread")):
        worker = threading.Thread(target=lambda: seen.append(Run().experiment))
        worker.start()
        worker.join()
    assert seen == ["default"]  # contexts do not leak across threads


def test_config_merging_follows_colbert_ai(tiny_jina_dir):
    base = ColBERTConfig.load_from_checkpoint(str(tiny_jina_dir))
    assert base.doc_maxlen == 512 and base.checkpoint == str(tiny_jina_dir)
    merged = ColBERTConfig.from_existing(base, ColBERTConfig(doc_maxlen=64), RunConfig(experiment="x"))
    assert merged.doc_maxlen == 64 and merged.query_maxlen == 32 and merged.experiment == "x"
    assert ColBERTConfig(query_maxlen=8).assigned == {"query_maxlen": True}
    assert ColBERTConfig().index_root_.endswith("experiments/default/indexes/")
    with pytest.raises(TypeError):
        ColBERTConfig(not_a_setting=1)


def test_indexer_writes_where_colbert_ai_does(built, tmp_path):
    assert built == str(tmp_path / "experiments" / "exp" / "indexes" / "demo")
    saved = json.loads((tmp_path / "experiments/exp/indexes/demo/metadata.json").read_text())
    config = saved["config"]  # colbert-ai's layout: {"config": {...}, "num_embeddings": ..., ...}
    assert config["doc_maxlen"] == 128 and config["nbits"] == 2 and config["index_name"] == "demo"
    assert config["experiment"] == "exp" and config["collection"] == PASSAGES
    assert saved["num_embeddings"] > 0 and saved["avg_doclen"] == saved["num_embeddings"] / len(PASSAGES)


def test_searcher_shapes_collection_and_options(built, tiny_jina_dir):
    with Run().context(RunConfig(experiment="exp")):
        searcher = Searcher(index="demo")
    assert isinstance(searcher.checkpoint, Checkpoint) and searcher.checkpoint.name == str(tiny_jina_dir)
    assert searcher.config.doc_maxlen == 128  # the indexing config came back from the index
    pids, ranks, scores = searcher.search("long context", k=3)
    assert len(pids) == 3 and ranks == [1, 2, 3] and scores == sorted(scores, reverse=True)
    assert all(isinstance(p, int) for p in pids)
    assert searcher.collection[pids[0]] == PASSAGES[pids[0]]

    only = searcher.search("long context", k=3, pids=[1, 3])[0]
    assert sorted(only) == [1, 3]
    evens = searcher.search("long context", k=5, filter_fn=lambda p: p[p % 2 == 0])[0]
    assert sorted(evens) == [0, 2, 4]

    ranking = searcher.search_all({"q1": "ALiBi", "q2": "PLAID"}, k=2)
    assert set(ranking.todict()) == {"q1", "q2"}
    assert [row[2] for row in ranking.tolist()] == [1, 2, 1, 2]


def test_searcher_query_maxlen_from_config(built):
    with Run().context(RunConfig(experiment="exp")):
        searcher = Searcher(index="demo", config=ColBERTConfig(query_maxlen=64))
    assert searcher.encode("a query").shape == (1, 64, 128)


def test_overwrite_modes(built, tiny_jina_dir):
    with Run().context(RunConfig(experiment="exp")):
        indexer = Indexer(checkpoint=str(tiny_jina_dir))
        with pytest.raises(InputError, match="an index already exists"):
            indexer.index(name="demo", collection=PASSAGES)
        assert indexer.index(name="demo", collection=["ignored"], overwrite="reuse") == built
        indexer.index(
            name="demo", collection=PASSAGES + ["A sixth passage about MaxSim."], overwrite="resume"
        )
        assert len(Searcher(index="demo").collection) == 6
        indexer.index(name="demo", collection=PASSAGES[:2], overwrite=True)
        assert len(Searcher(index="demo").collection) == 2
        with pytest.raises(InputError, match="overwrite must be one of"):
            indexer.index(name="demo", collection=PASSAGES, overwrite="sometimes")


def test_collection_from_a_tsv_path(tmp_path, monkeypatch, tiny_jina_dir):
    monkeypatch.chdir(tmp_path)
    tsv = tmp_path / "collection.tsv"
    tsv.write_text("0\tfirst passage\n1\tsecond passage\ttitle\n", encoding="utf-8")
    Indexer(checkpoint=str(tiny_jina_dir)).index(name="tsv", collection=str(tsv))
    searcher = Searcher(index="tsv")
    assert searcher.collection[1] == "title | second passage"
    bad = tmp_path / "bad.tsv"
    bad.write_text("0\tfirst\n5\tskipped ahead\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.tsv line 2: pid '5' should be 1"):
        Indexer(checkpoint=str(tiny_jina_dir)).index(name="bad", collection=str(bad))


def test_checkpoint_return_shapes(tiny_jina_dir):
    ckpt = Checkpoint(str(tiny_jina_dir), colbert_config=ColBERTConfig(query_maxlen=32, doc_maxlen=64))
    docs = PASSAGES[:3]
    Q = ckpt.queryFromText(["one query", "another"], bsize=1)
    assert Q.shape == (2, 32, 128)
    padded = ckpt.docFromText(docs)
    assert isinstance(padded, torch.Tensor) and padded.dim() == 3
    (padded_b,) = ckpt.docFromText(docs, bsize=2)
    assert torch.allclose(padded, padded_b, atol=1e-5)
    kept = ckpt.docFromText(docs, keep_dims=False)
    (kept_b,) = ckpt.docFromText(docs, bsize=2, keep_dims=False)
    assert [k.shape for k in kept] == [k.shape for k in kept_b]
    flat, doclens = ckpt.docFromText(docs, bsize=2, keep_dims="flatten")
    assert flat.shape == (sum(doclens), 128) and doclens == [k.shape[0] for k in kept]
    # padded rows are zero exactly where a token is not kept
    assert int((padded.norm(dim=-1) > 0).sum()) == sum(doclens)
    scores = colbert_score(Q[:1], padded, torch.ones(padded.shape[:2], dtype=torch.long))
    assert scores.shape == (3,)
    with pytest.raises(InputError, match="keep_dims"):
        ckpt.docFromText(docs, keep_dims="sometimes")


@pytest.mark.slow
def test_minilm_through_compat_finds_the_right_passage(tmp_path, monkeypatch, minilm_available):
    monkeypatch.chdir(tmp_path)
    Indexer(checkpoint="minilm").index(name="m", collection=PASSAGES)
    pids, _, _ = Searcher(index="m").search("Which model handles 8k context?", k=1)
    assert pids == [1]
