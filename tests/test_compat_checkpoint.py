"""`Checkpoint.bert`, live tokenizer lengths, and `Searcher.checkpoint` / ``searcher.config``: points 3
and 4 of issue 15.

colbert-ai's behaviour: ``Checkpoint.bert`` is the backbone (``.config.max_position_embeddings``);
``query_tokenizer.query_maxlen`` / ``doc_tokenizer.doc_maxlen`` are plain attributes read at every
encode, so changing them changes the next ``queryFromText`` / ``docFromText``; `Searcher.encode` copies
``searcher.config.query_maxlen`` onto its checkpoint's query tokenizer before encoding.
"""

from __future__ import annotations

import pytest
import torch

import jcolbert
from jcolbert.compat import Checkpoint, ColBERTConfig, Indexer, Run, RunConfig, Searcher
from jcolbert.errors import InputError

PASSAGES = [
    "ColBERT is an efficient and effective passage retrieval model. " * 4,
    "Jina-ColBERT supports 8k context length, far beyond BERT's 512 positions.",
    "JinaBERT uses the symmetric bidirectional variant of ALiBi.",
    "PLAID prunes candidates with centroid interaction before exact scoring.",
    "Residual compression stores each vector as a centroid id plus a few bits.",
]
LONG_QUERY = " ".join(f"word{i}" for i in range(60))


@pytest.fixture(scope="module")
def bert_ckpt(tiny_bert_dir):
    return Checkpoint(str(tiny_bert_dir))


def test_bert_exposes_the_backbone_config(bert_ckpt, tiny_jina_dir):
    assert bert_ckpt.bert.config.max_position_embeddings == 512  # tiny-bert-colbert's config.json
    assert isinstance(bert_ckpt.bert, torch.nn.Module)
    assert Checkpoint(str(tiny_jina_dir)).bert.config.max_position_embeddings == 8192


def test_bert_for_a_backbone_without_hf_config(minilm_available):
    ckpt = Checkpoint("minilm")  # jcolbert's lean BERT: the view supplies the config fields
    assert ckpt.bert.config.max_position_embeddings == 512 and ckpt.bert.config.hidden_size == 384
    ids = torch.tensor([[101, 2023, 102]])
    out = ckpt.bert(ids, torch.ones_like(ids))
    assert out.shape == (1, 3, 384)


def test_tokenizer_lengths_start_at_the_config(tiny_bert_dir, bert_ckpt):
    assert bert_ckpt.query_tokenizer.query_maxlen == 32 and bert_ckpt.doc_tokenizer.doc_maxlen == 180
    ckpt = Checkpoint(str(tiny_bert_dir), colbert_config=ColBERTConfig(query_maxlen=40, doc_maxlen=16))
    assert ckpt.query_tokenizer.query_maxlen == 40 and ckpt.doc_tokenizer.doc_maxlen == 16
    assert ckpt.colbert_config.query_maxlen == 40


def test_changing_query_maxlen_takes_effect(tiny_bert_dir, bert_ckpt):
    assert bert_ckpt.queryFromText([LONG_QUERY]).shape == (1, 32, 128)
    bert_ckpt.query_tokenizer.query_maxlen = 47
    try:
        Q = bert_ckpt.queryFromText([LONG_QUERY, "short"], bsize=1)
        assert Q.shape == (2, 47, 128)
        ids, mask = bert_ckpt.query_tokenizer.tensorize([LONG_QUERY])
        assert ids.shape == (1, 47) and int(mask.sum()) == 47  # 60 words: text fills all 47 positions
        reference = jcolbert.load_model(str(tiny_bert_dir), query_maxlen=47, dtype=torch.float32).encode_queries([LONG_QUERY, "short"])
        assert torch.allclose(Q, reference, atol=1e-6)
    finally:
        bert_ckpt.query_tokenizer.query_maxlen = 32
    assert bert_ckpt.queryFromText(["short"]).shape == (1, 32, 128)


def test_changing_doc_maxlen_takes_effect(tiny_bert_dir, bert_ckpt):
    full = bert_ckpt.docFromText(PASSAGES[:1], keep_dims=False)[0]
    bert_ckpt.doc_tokenizer.doc_maxlen = 12
    try:
        cut = bert_ckpt.docFromText(PASSAGES[:2], keep_dims=False)
        padded = bert_ckpt.docFromText(PASSAGES[:2], bsize=2)[0]
        ids, _ = bert_ckpt.doc_tokenizer.tensorize(PASSAGES[:2])
    finally:
        bert_ckpt.doc_tokenizer.doc_maxlen = 180
    assert full.shape[0] > 12 and cut[0].shape[0] <= 12 and padded.shape[1] == 12 and ids.shape[1] == 12
    reference = jcolbert.load_model(str(tiny_bert_dir), doc_maxlen=12, dtype=torch.float32).encode_documents(PASSAGES[:2])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(cut, reference, strict=True))


def test_too_long_a_query_is_a_clear_error(bert_ckpt):
    bert_ckpt.query_tokenizer.query_maxlen = 600
    try:
        with pytest.raises(InputError, match="query_maxlen=600 exceeds"):
            bert_ckpt.queryFromText(["q"])
    finally:
        bert_ckpt.query_tokenizer.query_maxlen = 32


def test_doc_tokenizer_tensorize_with_bsize_sorts_and_reverses(bert_ckpt):
    batches, reverse = bert_ckpt.doc_tokenizer.tensorize(PASSAGES, bsize=2)
    assert len(batches) == 3 and sorted(reverse.tolist()) == list(range(len(PASSAGES)))
    lengths = [int(m.sum(-1)[i]) for ids, m in batches for i in range(len(ids))]
    assert lengths == sorted(lengths)  # shortest first, as colbert-ai batches documents
    whole, mask = bert_ckpt.doc_tokenizer.tensorize(PASSAGES)
    flat = [row for ids, _ in batches for row in ids.tolist()]
    for k, original in enumerate(reverse.tolist()):
        n = int(mask[k].sum())
        assert flat[original][:n] == whole[k, :n].tolist()


@pytest.fixture
def searcher(tmp_path, monkeypatch, tiny_bert_dir):
    monkeypatch.chdir(tmp_path)
    with Run().context(RunConfig(experiment="ck")):
        Indexer(checkpoint=str(tiny_bert_dir), config=ColBERTConfig(doc_maxlen=64)).index("ck", PASSAGES)
        yield Searcher(index="ck")


def test_searcher_checkpoint_is_a_checkpoint(searcher, tiny_bert_dir):
    assert isinstance(searcher.checkpoint, Checkpoint)
    assert searcher.checkpoint.name == str(tiny_bert_dir)
    assert searcher.checkpoint.bert.config.max_position_embeddings == 512


def test_searcher_config_query_maxlen_takes_effect(searcher, tiny_bert_dir):
    assert searcher.encode(LONG_QUERY).shape == (1, 32, 128)
    searcher.config.query_maxlen = 47
    Q = searcher.encode(LONG_QUERY)
    assert Q.shape == (1, 47, 128)
    assert searcher.checkpoint.query_tokenizer.query_maxlen == 47  # copied over, as colbert-ai does
    reference = jcolbert.load_model(str(tiny_bert_dir), query_maxlen=47, dtype=torch.float32).encode_queries([LONG_QUERY])
    assert torch.allclose(Q, reference, atol=1e-6)
    pids, _, scores = searcher.search(LONG_QUERY, k=3)
    expected = searcher.dense_search(reference, k=3)
    assert pids == expected[0] and scores == pytest.approx(expected[2], abs=1e-5)


def test_ragatouille_style_length_changes(searcher):
    """RAGatouille sets both the config and the checkpoint's tokenizer before each search."""
    searcher.config.query_maxlen = 64
    searcher.checkpoint.query_tokenizer.query_maxlen = 64
    assert searcher.encode(["a", "b"]).shape == (2, 64, 128)
    pids, ranks, _ = searcher.search(PASSAGES[2], k=2)
    assert pids[0] == 2 and ranks == [1, 2]
