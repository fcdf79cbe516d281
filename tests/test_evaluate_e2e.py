"""Full retrieval through the index (plaid and exact) inside `jcolbert evaluate`, all four modes in one call.

Fast: the tiny random-weight Jina fixture on a SciFact slice (paths and bookkeeping only).
Slow: the offline `minilm` model on CISI, where quality is real and the orderings are checked.
"""

from __future__ import annotations

import json

import pytest

from jcolbert.evaluate import EvalSettings, evaluate, write_report
from test_evaluate_report import make_slice


@pytest.fixture(scope="module")
def scifact_slice(data_dir, tmp_path_factory):
    return make_slice(data_dir / "scifact", tmp_path_factory.mktemp("e2e") / "scifact", n_queries=8, n_extra_docs=80)


def test_four_modes_with_tiny_model(scifact_slice, tiny_jina_dir, tmp_path):
    import jcolbert

    model = jcolbert.load_model(str(tiny_jina_dir))
    settings = EvalSettings(modes=("bm25", "rerank", "plaid", "exact"), k=20, rerank_depth=20, doc_maxlens=(96,))
    result = evaluate(scifact_slice, model, settings, index_dir=tmp_path / "idx")
    assert [r.name for r in result.runs] == ["bm25", "bm25+rerank", "plaid", "exact"]
    n_docs = result.dataset.stats()["documents"]
    for r in result.runs:
        assert set(r.run.results) == set(result.dataset.queries)
        assert all(len(v) <= 20 for v in r.run.results.values())
        assert all(row["max_abs_diff_per_query"] <= 1e-6 for row in r.cross_check.values())
    exact = result.run_by_name("exact")
    assert all(len(v) == 20 for v in exact.run.results.values())  # exhaustive: always k results
    assert result.encoding["index@96"]["documents"] == n_docs
    assert (tmp_path / "idx" / "index-96").is_dir()  # kept where asked
    plaid = result.run_by_name("plaid")
    assert {"index_build_s", "search_ms_p50", "search_ms_p95", "encode_documents_s"} <= set(plaid.timings)
    write_report(result, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["mode"] for r in data["runs"]] == ["bm25", "rerank", "plaid", "exact"]
    assert len(data["comparisons"]) == 6 * len(data["runs"][0]["metrics"])  # every pair, every metric


@pytest.mark.slow
def test_minilm_on_cisi_all_modes(data_dir, minilm_available, tmp_path):
    result = evaluate(data_dir / "cisi", "minilm", EvalSettings(modes=("bm25", "rerank", "plaid", "exact")))
    ndcg = {r.name: r.scores.mean["ndcg@10"] for r in result.runs}
    # A real model: every ColBERT run is far above chance, and PLAID stays close to exhaustive search.
    assert all(v > 0.2 for v in ndcg.values()), ndcg
    assert abs(ndcg["plaid"] - ndcg["exact"]) < 0.02, ndcg
    paths = write_report(result, tmp_path)
    assert paths["png"].stat().st_size > 0


def _long_document_set(src, dst, group: int = 12, n_queries: int = 10):
    """A LoCo-like set from real data: consecutive SciFact abstracts glued into ~2,500-word documents; a
    query is relevant to the long document holding its relevant abstract."""
    from jcolbert.evaluate import load_dataset

    ds = load_dataset(src)
    qids = list(ds.queries)[:n_queries]
    wanted = {d for q in qids for d in ds.qrels[q]}
    ids = ds.doc_ids
    owner, docs = {}, []
    for start in range(0, len(ids), group):
        chunk = ids[start : start + group]
        if not wanted & set(chunk) and len(docs) >= 3 * n_queries:
            continue
        long_id = f"long{start // group}"
        docs.append({"_id": long_id, "title": "", "text": " ".join(ds.corpus[d].text_for_encoding for d in chunk)})
        owner.update(dict.fromkeys(chunk, long_id))
    dst.mkdir(parents=True)
    (dst / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (dst / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": ds.queries[q]}) + "\n" for q in qids))
    (dst / "qrels").mkdir()
    rows = {(q, owner[d]) for q in qids for d in ds.qrels[q]}
    (dst / "qrels" / "test.tsv").write_text("".join(f"{q}\t{d}\t1\n" for q, d in sorted(rows)))
    return dst


@pytest.mark.slow
def test_long_documents_512_vs_8192(data_dir, tiny_jina_dir, tmp_path):
    """The LoCo comparison's path: one run per document length through the index, nothing truncated at 8192."""
    import jcolbert

    folder = _long_document_set(data_dir / "scifact", tmp_path / "loco-like")
    model = jcolbert.load_model(str(tiny_jina_dir))
    result = evaluate(folder, model, EvalSettings(modes=("exact",), k=10, doc_maxlens=(512, 8192)))
    assert [r.name for r in result.runs] == ["exact@512", "exact@8192"]
    short, full = result.encoding["documents@512"], result.encoding["documents@8192"]
    assert short["truncated"] == short["documents"] and full["truncated"] == 0
    assert full["tokens"] > 3 * short["tokens"]
    assert [r.doc_maxlen for r in result.runs] == [512, 8192]
