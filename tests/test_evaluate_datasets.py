"""Dataset loading: BEIR and MS MARCO layouts, gz files, and bad input (named files, counted ids, empty splits)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from jcolbert.errors import InputError
from jcolbert.evaluate.datasets import DatasetError, load_dataset


def _write_beir(root: Path, *, corpus=None, queries=None, qrels="q1\td1\t1\nq2\td2\t2\n", split="test", gz=False):
    root.mkdir(parents=True, exist_ok=True)
    corpus = corpus if corpus is not None else [
        {"_id": "d1", "title": "Alpha", "text": "first document"},
        {"_id": "d2", "title": "", "text": "second document"},
        {"_id": "d3", "title": "Gamma", "text": "third"},
    ]
    queries = queries if queries is not None else [{"_id": "q1", "text": "alpha?"}, {"_id": "q2", "text": "second?"}]

    def dump(name, rows):
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)

    dump("corpus.jsonl", corpus)
    dump("queries.jsonl", queries)
    if qrels is not None:
        (root / "qrels").mkdir(exist_ok=True)
        (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\r\n" + qrels.replace("\n", "\r\n"))
    return root


def test_beir_layout_loads_with_crlf_header_and_titles(tmp_path):
    ds = load_dataset(_write_beir(tmp_path / "toy"))
    assert ds.name == "toy" and ds.layout == "beir" and ds.split == "test"
    assert ds.doc_ids == ["d1", "d2", "d3"]
    assert ds.doc_texts(["d1", "d2"]) == ["Alpha first document", "second document"]
    assert ds.queries == {"q1": "alpha?", "q2": "second?"}
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}
    assert ds.issues.messages() == []


def test_gzipped_files_load(tmp_path):
    ds = load_dataset(_write_beir(tmp_path / "gz", gz=True))
    assert len(ds.corpus) == 3 and set(ds.queries) == {"q1", "q2"}


def test_missing_file_is_named(tmp_path):
    root = _write_beir(tmp_path / "x")
    (root / "queries.jsonl").unlink()
    with pytest.raises(DatasetError, match=r"queries\.jsonl"):
        load_dataset(root)
    root = _write_beir(tmp_path / "y")
    with pytest.raises(DatasetError, match=r"qrels/dev\.tsv.*splits found: test"):
        load_dataset(root, split="dev")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"corpus\.jsonl"):
        load_dataset(tmp_path / "empty")


def test_dataset_error_is_an_input_error(tmp_path):
    assert issubclass(DatasetError, InputError)


def test_unknown_ids_are_counted_not_fatal(tmp_path):
    qrels = "q1\td1\t1\nq1\tghost-doc\t1\nq9\td2\t1\nq2\td2\t0\n"
    ds = load_dataset(_write_beir(tmp_path / "bad", qrels=qrels))
    assert ds.issues.qrels_unknown_docs == 1  # kept: counts against recall, as in trec_eval
    assert ds.qrels["q1"] == {"d1": 1, "ghost-doc": 1}
    assert ds.issues.qrels_unknown_queries == 1  # q9 has no text: dropped
    assert ds.issues.queries_without_relevant == 1  # q2 judged only non-relevant
    assert list(ds.queries) == ["q1"]
    messages = " ".join(ds.issues.messages())
    assert "ghost-doc" in messages and "q9" in messages and "q2" in messages


def test_empty_split_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="empty.*holds no judgment"):
        load_dataset(_write_beir(tmp_path / "e", qrels=""))
    with pytest.raises(DatasetError, match="no query left to evaluate"):
        load_dataset(_write_beir(tmp_path / "u", qrels="zz\td1\t1\n"))


def test_malformed_lines_name_file_and_line(tmp_path):
    root = _write_beir(tmp_path / "m", qrels="q1\td1\n")
    with pytest.raises(DatasetError, match=r"test\.tsv:2: expected 3 columns"):
        load_dataset(root)
    root = _write_beir(tmp_path / "n")
    (root / "corpus.jsonl").write_text('{"_id": "d1", "text": "ok"}\n{not json\n')
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:2: not valid JSON"):
        load_dataset(root)
    root = _write_beir(tmp_path / "o")
    (root / "queries.jsonl").write_text('{"text": "no id"}\n')
    with pytest.raises(DatasetError, match=r"queries\.jsonl:1: missing field '_id'"):
        load_dataset(root)


def test_msmarco_tsv_layout(tmp_path):
    root = tmp_path / "msmarco"
    root.mkdir()
    (root / "collection.tsv").write_text("0\tthe first passage\n1\tthe second passage\n")
    (root / "queries.dev.small.tsv").write_text("100\twhich passage\n101\tunjudged\n")
    (root / "qrels.dev.small.tsv").write_text("100\t0\t1\t1\n")
    ds = load_dataset(root, split="dev")
    assert ds.layout == "msmarco"
    assert ds.doc_texts() == ["the first passage", "the second passage"]
    assert ds.queries == {"100": "which passage"} and ds.qrels == {"100": {"1": 1}}
    with pytest.raises(DatasetError, match=r"queries\.eval\.tsv"):
        load_dataset(root, split="eval")


def test_shared_collections_load_with_published_counts(data_dir):
    expected = {"scifact": (5183, 300, 339), "cranfield": (1400, 225, 1612), "cisi": (1460, 76, 3114), "cacm": (3204, 52, 796)}
    for name, (docs, queries, judgments) in expected.items():
        ds = load_dataset(data_dir / name)
        stats = ds.stats()
        assert (stats["documents"], stats["queries"], stats["judgments"]) == (docs, queries, judgments), name
        assert ds.issues.messages() == [], name
