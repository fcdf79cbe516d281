"""One query's latency: what `warm_up` fills before the first query, query padding that is never paid for
(a model without [MASK] augmentation; all-zero trailing query rows), and the CLI's `--rerank`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import jcolbert
from jcolbert.cli.main import app
from jcolbert.index import Index, query
from test_index_data import make_docs, query_from

DIM = 32


def _plaid_index(path, **kw) -> Index:
    index = Index.create(path, dim=DIM, exact_threshold=1000, progress=False, **kw)
    index.add_embeddings(None, make_docs(120, dim=DIM, seed=2))
    return index


def test_warm_open_fills_what_the_first_query_would(tmp_path) -> None:
    _plaid_index(tmp_path / "ix")
    cold = Index.open(tmp_path / "ix")
    snap = cold._current()
    assert all(s._inv_norms is None for s in snap.segments) and "_c8" not in snap.codec.__dict__
    warm = Index.open(tmp_path / "ix", warm=True)
    snap = warm._current()
    assert all(s._inv_norms is not None and not np.isnan(s._inv_norms).any() for s in snap.segments)
    assert "_c8" in snap.codec.__dict__
    q = query_from(make_docs(120, dim=DIM, seed=2)[7])
    assert [h.id for h in warm.search_embeddings(q)] == [h.id for h in cold.search_embeddings(q)]
    assert warm.warm_up() >= 0


def test_warm_up_of_an_empty_or_exact_index(tmp_path) -> None:
    empty = Index.create(tmp_path / "e", dim=DIM)
    assert empty.warm_up() >= 0
    exact = Index.create(tmp_path / "x", dim=DIM)
    exact.add_embeddings(None, make_docs(5, dim=DIM))
    assert Index.open(tmp_path / "x", warm=True).mode == "exact"


def test_trailing_zero_query_rows_are_dropped_with_the_same_scores(tmp_path) -> None:
    index = _plaid_index(tmp_path / "ix")
    q = query_from(make_docs(120, dim=DIM, seed=2)[40])
    padded = np.concatenate([q, np.zeros((24, DIM), np.float32)])
    assert query.trim_padding(padded[None]).shape == (1, len(q), DIM)
    both = np.stack([padded, np.concatenate([q[:3], np.zeros((29, DIM), np.float32)])])
    assert query.trim_padding(both).shape[1] == len(q)  # the longest query decides
    assert query.trim_padding(np.zeros((1, 4, DIM), np.float32)).shape[1] == 1
    for knobs in ({"mode": "exact"}, {}):
        a = index.search_embeddings(padded, k=5, **knobs)
        b = index.search_embeddings(q, k=5, **knobs)
        assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b]


def test_minilm_queries_are_encoded_at_their_own_length(minilm_available) -> None:
    """Same vectors as encoding every query_maxlen position (what the encoder did before), zeros after [SEP]."""
    model = jcolbert.load_model("minilm", dtype=torch.float32)
    assert not model.config.query_augmentation
    texts = ["short query", "a somewhat longer query about late interaction retrieval models"]
    batch = model.tokenizer.tokenize_queries(texts)
    trimmed = model._trim(batch)
    assert trimmed.input_ids.shape[1] == int(batch.attention_mask.sum(1).max()) < model.config.query_maxlen
    full = model.embed(batch)
    got = model.encode_queries(texts)
    assert got.shape == full.shape
    torch.testing.assert_close(got, full, atol=2e-5, rtol=0)
    assert (got[0, int(batch.attention_mask[0].sum()):] == 0).all()


def test_colbert_queries_keep_query_maxlen(tiny_jina_dir) -> None:
    model = jcolbert.load_model(str(tiny_jina_dir), dtype=torch.float32)
    assert model.config.query_augmentation
    batch = model.tokenizer.tokenize_queries(["short"])
    assert model._trim(batch) is batch


def test_cli_index_rerank(tmp_path, tiny_jina_dir) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document number {i} about topic {i % 7}"}) + "\n"
                            for i in range(40)))
    runner = CliRunner()
    r = runner.invoke(app, ["index", str(tmp_path / "ix"), str(docs), "--model", str(tiny_jina_dir), "--rerank",
                            "int8", "--json", "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["stats"]["rerank"] == "int8" and Index.open(tmp_path / "ix").rerank == "int8"
    r = runner.invoke(app, ["index", str(tmp_path / "bad"), str(docs), "--model", str(tiny_jina_dir), "--rerank", "x"])
    assert r.exit_code != 0 and "--rerank x: choose int8 or fp16" in r.output


@pytest.mark.parametrize("kind", ["int8", "fp16"])
def test_search_reads_the_tier_for_final_candidates_only(tmp_path, kind) -> None:
    """A rerank index answers with the codes hot: the tier's rows read by a PLAID search are those of the
    final candidates (counted through the mapped array)."""
    index = _plaid_index(tmp_path / "ix", rerank=kind)
    seg = index._current().segments[0]
    seen = []
    real = seg.rerank.scores

    def counting(Q, rows):
        seen.append(np.unique(rows))
        return real(Q, rows)

    seg.rerank.scores = counting
    q = query_from(make_docs(120, dim=DIM, seed=2)[11])
    index.search_embeddings(q, k=3, ndocs=8)
    rows = np.concatenate(seen)
    assert 0 < len(rows) < seg.num_tokens // 4


def test_int8_products_are_the_same_on_both_paths(monkeypatch) -> None:
    """Without VNNI/AMX the int8 GEMM runs as float32 (kernels.native_int8): the same integers as torch's."""
    from jcolbert.index import kernels

    rng = np.random.default_rng(0)
    a = rng.integers(-127, 128, (300, 384)).astype(np.int8)
    b = rng.integers(-127, 128, (40, 384)).astype(np.int8)
    monkeypatch.setattr(kernels, "native_int8", lambda: True)
    torch_path = kernels.int8_matmul(a, b.T)
    monkeypatch.setattr(kernels, "native_int8", lambda: False)
    assert np.array_equal(kernels.int8_matmul(a, b.T), torch_path)
    assert np.array_equal(kernels.int8_matmul(a, b.T, a.astype(np.float32)), torch_path)
