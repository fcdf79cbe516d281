"""`jcolbert.compat.data` (colbert-ai's ``colbert.data``) and `Run().open`: points 1 and 2 of issue 15.

Behaviour follows colbert-ai 0.2.22: collections and queries from TSV files, lists and dicts; a
`Ranking` from a dict or flat rows with ``flat_ranking``; ``Ranking.save`` writing under the run's
folder with a ``.meta`` file beside it; `Run().open` refusing to overwrite unless the run allows it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jcolbert.compat import ColBERTConfig, Indexer, Run, RunConfig, Searcher
from jcolbert.compat.data import Collection, Queries, Ranking
from jcolbert.compat.errors import CompatError
from jcolbert.errors import InputError

PASSAGES = [
    "ColBERT is an efficient and effective passage retrieval model.",
    "Jina-ColBERT supports 8k context length.",
    "JinaBERT uses the symmetric bidirectional variant of ALiBi.",
    "PLAID prunes candidates with centroid interaction.",
]


def test_compat_errors_are_both_input_errors_and_assertion_errors():
    with pytest.raises(AssertionError):
        Collection.cast(42)
    with pytest.raises(InputError, match="not int"):
        Collection.cast(42)


def test_collection_from_tsv_list_and_itself(tmp_path):
    tsv = tmp_path / "collection.tsv"
    tsv.write_text("0\tfirst passage\n1\tsecond passage\tA Title\n2\tthird\n", encoding="utf-8")
    from_file = Collection(path=str(tsv))
    assert len(from_file) == 3 and from_file[1] == "A Title | second passage"
    assert list(from_file) == ["first passage", "A Title | second passage", "third"]
    assert from_file.provenance() == str(tsv) and from_file.toDict() == {"provenance": str(tsv)}
    assert Collection.cast(str(tsv)).data == from_file.data
    assert Collection.cast(from_file) is from_file
    assert Collection.cast(PASSAGES).data == PASSAGES


def test_collection_tsv_rules(tmp_path):
    header = tmp_path / "header.tsv"
    header.write_text("id\ttext\ttitle\n1\tbody\tT\n", encoding="utf-8")
    assert Collection.cast(str(header)).data == ["title | text", "T | body"]  # colbert-ai keeps line 0
    skipped = tmp_path / "skipped.tsv"
    skipped.write_text("0\tfirst\n5\tskipped ahead\n", encoding="utf-8")
    with pytest.raises(CompatError, match=r"skipped\.tsv line 2: pid '5' should be 1"):
        Collection.cast(str(skipped))
    no_tab = tmp_path / "notab.tsv"
    no_tab.write_text("0 first\n", encoding="utf-8")
    with pytest.raises(CompatError, match=r"notab\.tsv line 1: expected pid<TAB>passage"):
        Collection.cast(str(no_tab))


def test_indexing_a_collection_object(tmp_path, monkeypatch, tiny_bert_dir):
    monkeypatch.chdir(tmp_path)
    collection = Collection(data=list(PASSAGES))
    with Run().context(RunConfig(experiment="c")):
        Indexer(checkpoint=str(tiny_bert_dir), config=ColBERTConfig(doc_maxlen=32)).index("c", collection)
        searcher = Searcher(index="c")
    assert len(searcher.collection) == len(PASSAGES) and searcher.collection[2] == PASSAGES[2]
    pids, ranks, _ = searcher.search(PASSAGES[3], k=2)
    assert len(pids) == 2 and ranks == [1, 2]


def test_queries_from_tsv_dict_list_and_jsonl(tmp_path):
    tsv = tmp_path / "queries.tsv"
    tsv.write_text("3\twhat is colbert\n7\tlong context\textra column\n", encoding="utf-8")
    queries = Queries(path=str(tsv))
    assert len(queries) == 2 and queries[7] == "long context"
    assert list(queries) == [(3, "what is colbert"), (7, "long context")]  # iteration yields (qid, text)
    assert list(queries.keys()) == [3, 7] and list(queries.values())[0] == "what is colbert"
    assert Queries.cast({"a": "x", "b": {"question": "y", "answers": ["z"]}}).qas() == {
        "b": {"question": "y", "answers": ["z"]}
    }
    assert Queries.cast(["first", "second"]).data == {0: "first", 1: "second"}
    jsonl = tmp_path / "qas.json"
    jsonl.write_text('{"qid": 1, "question": "q one", "answers": ["a"]}\n', encoding="utf-8")
    assert Queries.cast(str(jsonl)).data == {1: "q one"}
    repeated = tmp_path / "repeated.tsv"
    repeated.write_text("1\tq\n1\tq again\n", encoding="utf-8")
    with pytest.raises(CompatError, match=r"repeated\.tsv line 2: query id 1 is repeated"):
        Queries(path=str(repeated))
    with pytest.raises(CompatError):
        Queries.cast(3.5)


def test_run_open_writes_under_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Run().context(RunConfig(root=str(tmp_path / "exp"), experiment="e", name="run1")):
        folder = Run().path_
        assert folder == os.path.join(str(tmp_path / "exp"), "e", Run().config.script_name_, "run1")
        with Run().open("notes.txt", "w") as f:
            f.write("hello")
        assert Path(folder, "notes.txt").read_text() == "hello"
        with Run().open("notes.txt") as f:
            assert f.read() == "hello"
        with pytest.raises(CompatError, match="already exists"):
            Run().open("notes.txt", "w")
        with Run().context(RunConfig(overwrite=True)), Run().open("notes.txt", "w") as f:
            f.write("again")
        assert Path(folder, "notes.txt").read_text() == "again"


def test_ranking_from_dict_and_flat_rows():
    ranking = Ranking(data={"q1": [(4, 1, 9.5), (2, 2, 8.0)], "q2": [(1, 1, 3.0)]})
    assert ranking.flat_ranking == [("q1", 4, 1, 9.5), ("q1", 2, 2, 8.0), ("q2", 1, 1, 3.0)]
    assert ranking.tolist() == ranking.flat_ranking and set(ranking.todict()) == {"q1", "q2"}
    flat = Ranking(data=[(1, 10, 1, 2.5), (1, 11, 2, 1.5), (2, 12, 1, 0.5)])
    assert flat.todict() == {1: [[10, 1, 2.5], [11, 2, 1.5]], 2: [[12, 1, 0.5]]}
    assert Ranking.cast(flat) is flat


def test_ranking_save_uses_the_run_folder_and_writes_meta(tmp_path):
    ranking = Ranking(data={1: [(10, 1, 2.5), (11, 2, 1.5)]})
    with Run().context(RunConfig(root=str(tmp_path), experiment="rank", name="r")):
        written = ranking.save("out.ranking.tsv")
        expected = os.path.join(Run().path_, "out.ranking.tsv")
        assert written == expected
        assert Path(expected).read_text() == "1\t10\t1\t2.5\n1\t11\t2\t1.5\n"
        meta = json.loads(Path(expected + ".meta").read_text())
        assert set(meta) == {"metadata", "provenance"} and "hostname" in meta["metadata"]
        again = Ranking(path=written)  # colbert-ai's numericize: ints and floats come back as numbers
        assert again.tolist() == [[1, 10, 1, 2.5], [1, 11, 2, 1.5]]
        with pytest.raises(CompatError, match="already exists"):
            ranking.save("out.ranking.tsv")
        with pytest.raises(CompatError, match=r"saved as \.tsv"):
            ranking.save("out.ranking.json")


def test_search_all_returns_a_savable_ranking(tmp_path, monkeypatch, tiny_bert_dir):
    monkeypatch.chdir(tmp_path)
    tsv = tmp_path / "queries.tsv"
    tsv.write_text("5\tpassage retrieval\n9\tcentroid pruning\n", encoding="utf-8")
    with Run().context(RunConfig(experiment="sa", name="x")):
        Indexer(checkpoint=str(tiny_bert_dir)).index("sa", PASSAGES)
        ranking = Searcher(index="sa").search_all(Queries(str(tsv)), k=3)
        assert list(ranking.todict()) == [5, 9]
        assert [row[0] for row in ranking.flat_ranking] == [5, 5, 5, 9, 9, 9]
        provenance = ranking.provenance()
        assert provenance.source == "Searcher::search_all" and provenance.k == 3
        assert provenance.queries == str(tsv)
        path = ranking.save("sa.ranking.tsv")
    assert Path(path).is_file() and Path(path + ".meta").is_file()
    assert json.loads(Path(path + ".meta").read_text())["provenance"]["source"] == "Searcher::search_all"
