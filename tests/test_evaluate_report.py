"""End-to-end evaluation on a small real collection (a SciFact slice) with the tiny random-weight
Jina-ColBERT fixture: every mode's path is exercised and every output file is checked. Quality numbers
of a random-weight model are meaningless; only shapes, files and bookkeeping are asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jcolbert.evaluate import EvalSettings, evaluate, load_dataset, read_trec, write_report
from jcolbert.evaluate.report import write_summary


def make_slice(src: Path, dst: Path, n_queries: int = 12, n_extra_docs: int = 120) -> Path:
    """A small BEIR folder from a real one: the first judged queries, their judged documents, and a few
    more documents as distractors (the folder name is kept so the model card's figures still apply)."""
    ds = load_dataset(src)
    qids = list(ds.queries)[:n_queries]
    judged = {d for q in qids for d in ds.qrels[q]}
    extra = [d for d in ds.doc_ids if d not in judged][:n_extra_docs]
    keep = [d for d in ds.doc_ids if d in judged or d in set(extra)]
    dst.mkdir(parents=True)
    with open(dst / "corpus.jsonl", "w") as fh:
        for d in keep:
            fh.write(json.dumps({"_id": d, "title": ds.corpus[d].title, "text": ds.corpus[d].text}) + "\n")
    with open(dst / "queries.jsonl", "w") as fh:
        for q in qids:
            fh.write(json.dumps({"_id": q, "text": ds.queries[q]}) + "\n")
    (dst / "qrels").mkdir()
    with open(dst / "qrels" / "test.tsv", "w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q in qids:
            for d, s in ds.qrels[q].items():
                fh.write(f"{q}\t{d}\t{s}\n")
    return dst


@pytest.fixture(scope="module")
def scifact_slice(data_dir, tmp_path_factory) -> Path:
    return make_slice(data_dir / "scifact", tmp_path_factory.mktemp("slice") / "scifact")


@pytest.fixture(scope="module")
def tiny_model(tiny_jina_dir):
    import jcolbert

    return jcolbert.load_model(str(tiny_jina_dir))


def test_bm25_and_rerank_write_all_outputs(scifact_slice, tiny_model, tmp_path):
    settings = EvalSettings(modes=("bm25", "rerank"), k=50, rerank_depth=30, doc_maxlens=(128,))
    result = evaluate(scifact_slice, tiny_model, settings)
    assert [r.name for r in result.runs] == ["bm25", "bm25+rerank"]
    assert result.timings["encode_queries_s"] > 0 and result.encoding["documents@128"]["documents"] <= 12 * 30
    rerank = result.run_by_name("bm25+rerank")
    bm25 = result.run_by_name("bm25")
    for qid, ranked in rerank.run.results.items():  # reranking permutes BM25's candidates, nothing else
        assert {d for d, _ in ranked} == {d for d, _ in bm25.run.results[qid][:30]}
    for r in result.runs:
        for row in r.cross_check.values():
            assert row["max_abs_diff_per_query"] <= 1e-6
    assert bm25.published is not None and bm25.published.value == pytest.approx(0.6789)
    assert rerank.published is None  # the card has no figure for this (random-weight) model

    paths = write_report(result, tmp_path / "out")
    out = tmp_path / "out"
    for name in ("results.json", "run.trec", "results.md", "results.png", "per_query.json",
                 "run.bm25.trec", "run.bm25+rerank.trec"):  # fmt: skip
        assert (out / name).is_file(), name
    data = json.loads((out / "results.json").read_text())
    assert data["dataset"]["name"] == "scifact" and data["dataset"]["queries"] == 12
    assert data["model"]["name"] == str(tiny_model.config.name_or_path)
    assert data["settings"]["modes"] == ["bm25", "rerank"] and data["settings"]["rerank_depth"] == 30
    assert {r["name"] for r in data["runs"]} == {"bm25", "bm25+rerank"}
    run0 = data["runs"][0]
    assert set(run0["metrics"]) == {"ndcg@10", "mrr@10", "recall@10", "recall@50", "map"}
    assert "bm25_index_s" in run0["timings"] and run0["published"]["value"] == pytest.approx(0.6789)
    assert "encode_documents_s" in data["runs"][1]["timings"] and "rerank_ms_p50" in data["runs"][1]["timings"]
    assert {"ranx", "ir_measures", "torch", "bm25s", "python"} <= set(data["versions"])
    assert data["comparisons"] and data["comparisons"][0]["test"] == "paired t-test"
    assert read_trec(out / "run.trec").results == bm25.run.results
    md = (out / "results.md").read_text()
    assert "| bm25 |" in md and "| bm25+rerank |" in md and "0.6789" in md and "Significance" in md
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    per_query = json.loads((out / "per_query.json").read_text())
    assert len(per_query["bm25"]["ndcg@10"]) == 12
    assert paths["trec"] == out / "run.trec"


def test_doc_maxlen_sweep_and_windows(scifact_slice, tiny_model):
    settings = EvalSettings(modes=("rerank",), rerank_depth=10, doc_maxlens=(32, 128), long_documents="split",
                            window_overlap=8)  # fmt: skip
    result = evaluate(scifact_slice, tiny_model, settings)
    assert [r.name for r in result.runs] == ["bm25+rerank@32", "bm25+rerank@128"]
    short, long = result.encoding["documents@32"], result.encoding["documents@128"]
    assert short["truncated"] == 0 and short["encoder_passes"] > long["encoder_passes"] >= short["documents"]
    truncating = evaluate(scifact_slice, tiny_model, EvalSettings(modes=("rerank",), rerank_depth=10, doc_maxlens=(32,)))
    assert truncating.encoding["documents@32"]["truncated"] > 0
    assert truncating.encoding["documents@32"]["tokens"] < short["tokens"]


def test_summary_of_several_datasets(scifact_slice, data_dir, tmp_path):
    results = [evaluate(scifact_slice, None, EvalSettings(modes=("bm25",)))]
    results.append(evaluate(data_dir / "cacm", None, EvalSettings(modes=("bm25",))))
    paths = write_summary(results, tmp_path)
    md = paths["markdown"].read_text()
    assert "| scifact |" in md and "| cacm |" in md and "0.6789" in md
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_identical_ids_rule(data_dir):
    # CACM's query and document ids share a numbering: "auto" must not drop document "1" for query "1".
    auto = evaluate(data_dir / "cacm", None, EvalSettings(modes=("bm25",), k=3204))
    drop = evaluate(data_dir / "cacm", None, EvalSettings(modes=("bm25",), k=3204, identical_ids="drop"))
    assert auto.encoding["identical_ids_dropped"] is False and drop.encoding["identical_ids_dropped"] is True
    n_auto = sum(len(r) for r in auto.runs[0].run.results.values())
    n_drop = sum(len(r) for r in drop.runs[0].run.results.values())
    assert n_drop < n_auto


def test_cli_evaluate_writes_outputs_and_errors_in_one_line(scifact_slice, tiny_jina_dir, tmp_path):
    from jcolbert.cli.main import app

    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(app, ["evaluate", str(scifact_slice), "--model", str(tiny_jina_dir), "--mode", "bm25,rerank",
                              "--rerank-depth", "20", "--doc-maxlen", "96", "--out", str(out), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert {"results.json", "run.trec", "results.md", "results.png"} <= {p.name for p in out.iterdir()}
    assert "NDCG@10" in res.stdout and json.loads((out / "results.json").read_text())["runs"][1]["name"] == "bm25+rerank"
    res = runner.invoke(app, ["evaluate", str(tmp_path / "missing"), "--mode", "bm25", "--out", str(out)])
    assert res.exit_code == 1 and "no such dataset folder" in res.output and len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["evaluate", str(scifact_slice), "--mode", "bm25", "--split", "dev", "--out", str(out)])
    assert res.exit_code == 1 and "qrels/dev.tsv" in res.output
    res = runner.invoke(app, ["evaluate", str(scifact_slice.parent), "--datasets", "scifact", "--mode", "bm25",
                              "--out", str(tmp_path / "multi"), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "multi" / "scifact" / "results.json").is_file() and (tmp_path / "multi" / "summary.md").is_file()


def test_vectors_cache_reuses_identical_vectors(scifact_slice, tiny_model, tmp_path):
    settings = EvalSettings(modes=("rerank",), rerank_depth=10, doc_maxlens=(64,))
    first = evaluate(scifact_slice, tiny_model, settings, vectors_cache=tmp_path / "vc")
    assert "from_cache" not in first.encoding["documents@64"]
    assert first.encoding["documents@64"]["documents"] == len(load_dataset(scifact_slice).corpus)  # whole corpus
    second = evaluate(scifact_slice, tiny_model, settings, vectors_cache=tmp_path / "vc")
    assert second.encoding["documents@64"]["from_cache"] == str(tmp_path / "vc")
    assert second.runs[0].run.results == first.runs[0].run.results
    other = evaluate(scifact_slice, tiny_model, EvalSettings(modes=("rerank",), rerank_depth=10, doc_maxlens=(48,)),
                     vectors_cache=tmp_path / "vc")  # fmt: skip
    assert "from_cache" not in other.encoding["documents@48"]  # another length is another key


def test_published_figures_lookup():
    from jcolbert.evaluate.published import normalize_dataset, normalize_model, primary_metric, published_for

    assert normalize_dataset("SciFact/") == "scifact" and normalize_dataset("dbpedia") == "dbpedia-entity"
    assert normalize_model("jinaai/jina-colbert-v1-en") == "jinaai/jina-colbert-v1-en"
    assert normalize_model("/hf/models--jinaai--jina-colbert-v1-en/snapshots/abc") == "jinaai/jina-colbert-v1-en"
    assert normalize_model("minilm") is None
    assert published_for("scifact", "jinaai/jina-colbert-v1-en", "plaid").value == pytest.approx(0.701)
    assert published_for("scifact", "jinaai/jina-colbert-v1-en", "rerank").value == pytest.approx(0.7095)
    assert published_for("nfcorpus", "colbert-ir/colbertv2.0", "exact").value == pytest.approx(0.337)
    assert published_for("scifact", "minilm", "plaid") is None
    assert published_for("cranfield", None, "bm25") is None
    assert primary_metric("msmarco") == "mrr@10"
    assert published_for("msmarco", "jinaai/jina-colbert-v1-en", "plaid", "mrr@10").value == pytest.approx(0.390)
