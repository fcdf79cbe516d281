"""Index-level compat: ``nbits=8``, `IndexUpdater`, ``ColBERTConfig.load_from_index`` and the errors
(points 5, 6 and 7 of issue 15).

colbert-ai's behaviour: its codec takes nbits 1, 2, 4 or 8; ``IndexUpdater(config, searcher,
checkpoint)`` has ``add(passages) -> new pids`` (numbered after every pid the index ever held),
``remove(pids)`` (no renumbering; unknown pids are refused) and ``persist_to_disk()``; an index's
``metadata.json`` holds the config it was built with, which ``load_from_index`` returns.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from jcolbert import Index
from jcolbert.compat import (
    ColBERTConfig,
    CompatError,
    Indexer,
    IndexNotFoundError,
    IndexUpdater,
    Run,
    RunConfig,
    Searcher,
)
from jcolbert.compat.indexer import NbitsWarning
from jcolbert.errors import IndexFormatError, InputError

PASSAGES = [
    "ColBERT is an efficient and effective passage retrieval model.",
    "Jina-ColBERT supports 8k context length.",
    "JinaBERT uses the symmetric bidirectional variant of ALiBi.",
    "PLAID prunes candidates with centroid interaction.",
    "Residual compression stores a centroid id plus a few bits per dimension.",
    "Late interaction scores every query token against every document token.",
]


def build(tiny_bert_dir, name="ix", passages=PASSAGES, **config):
    with Run().context(RunConfig(experiment="ix")):
        return Indexer(checkpoint=str(tiny_bert_dir), config=ColBERTConfig(**config)).index(name, passages)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_nbits_8_builds_a_4_bit_index_with_a_warning(in_tmp, tiny_bert_dir):
    with pytest.warns(NbitsWarning, match="nbits=8"):
        path = build(tiny_bert_dir, "eight", nbits=8)
    with Index.open(path) as index:
        assert index.nbits == 4
    meta = json.loads(Path(path, "metadata.json").read_text())
    assert meta["config"]["nbits"] == 4 and meta["jcolbert"]["nbits_requested"] == 8
    with Run().context(RunConfig(experiment="ix")):
        pids, ranks, scores = Searcher(index="eight").search("centroid pruning", k=3)
    assert len(pids) == len(ranks) == len(scores) == 3 and ranks == [1, 2, 3]


def test_nbits_outside_1_2_4_8_is_refused(in_tmp, tiny_bert_dir):
    with pytest.raises(CompatError, match="nbits must be 1, 2, 4 or 8, not 3"):
        build(tiny_bert_dir, "three", nbits=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 1, 2 and 4 are taken as they are, silently
        build(tiny_bert_dir, "two", nbits=2)


def test_load_from_index_reports_the_build_settings(in_tmp, tiny_bert_dir):
    path = build(tiny_bert_dir, "settings", doc_maxlen=48, nbits=2)
    config = ColBERTConfig.load_from_index(path)
    assert config.doc_maxlen == 48 and config.nbits == 2 and config.query_maxlen == 32
    assert config.experiment == "ix" and config.index_name == "settings"
    assert config.checkpoint == str(tiny_bert_dir) and config.collection == PASSAGES
    assert config.root == str(in_tmp / "experiments")
    assert config.assigned["doc_maxlen"]  # every recorded setting counts as assigned, as in colbert-ai


def test_load_from_index_of_a_plain_jcolbert_index(tmp_path, tiny_bert_dir):
    with Index.create(tmp_path / "plain", model=str(tiny_bert_dir), nbits=1) as index:
        index.add([{"id": "0", "text": PASSAGES[0]}])
    config = ColBERTConfig.load_from_index(tmp_path / "plain")
    assert config.nbits == 1 and config.doc_maxlen == 180 and config.dim == 128
    assert config.checkpoint == str(tiny_bert_dir)


def test_missing_index_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no index at"):
        ColBERTConfig.load_from_index(tmp_path / "nothing")
    with pytest.raises(IndexNotFoundError):
        Searcher(index="nothing", index_root=str(tmp_path))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.json").write_text("[1, 2]")
    with pytest.raises(IndexFormatError, match=r"metadata\.json: expected a JSON object"):
        ColBERTConfig.load_from_index(broken)


def test_existing_index_is_refused_as_colbert_ai_asserts(in_tmp, tiny_bert_dir):
    build(tiny_bert_dir, "again")
    for kind in (CompatError, AssertionError, InputError):
        with pytest.raises(kind, match="an index already exists"):
            build(tiny_bert_dir, "again")


def test_overwrite_keeps_files_of_other_tools(in_tmp, tiny_bert_dir):
    path = Path(build(tiny_bert_dir, "keep"))
    (path / "collection.json").write_text('["x"]')  # what RAGatouille keeps beside an index
    meta = json.loads((path / "metadata.json").read_text())
    with Run().context(RunConfig(experiment="ix")):
        indexer = Indexer(checkpoint=str(tiny_bert_dir))
        indexer.index("keep", PASSAGES[:3], overwrite=True)
    assert (path / "collection.json").read_text() == '["x"]'
    assert not list(path.glob(".jcolbert-new-*"))
    with Index.open(path) as index:
        assert len(index) == 3
    assert json.loads((path / "metadata.json").read_text())["num_embeddings"] < meta["num_embeddings"]


@pytest.fixture
def searcher(in_tmp, tiny_bert_dir):
    build(tiny_bert_dir, "upd", doc_maxlen=32)
    with Run().context(RunConfig(experiment="ix")):
        yield Searcher(index="upd")


def test_index_updater_add_remove_persist(searcher, tiny_bert_dir):
    config = ColBERTConfig(doc_maxlen=32)
    updater = IndexUpdater(config=config, searcher=searcher, checkpoint=str(tiny_bert_dir))
    new = ["A brand new passage about quantization tables.", "Another added passage on MaxSim."]
    pids = updater.add(new)
    assert pids == [6, 7]
    assert searcher.search(new[0], k=1)[0] == [6]  # the searcher sees added passages at once
    updater.remove([1, 6])
    found = searcher.search(new[0], k=8)[0]
    assert 6 not in found and 1 not in found and 7 in found and len(found) == 6
    updater.persist_to_disk()
    again = IndexUpdater(config=config, searcher=searcher, checkpoint=str(tiny_bert_dir)).add(["one more"])
    assert again == [8]  # fresh pids after every pid ever used, removed ones included
    with Run().context(RunConfig(experiment="ix")):
        reloaded = Searcher(index="upd")
    assert sorted(reloaded.search("passage", k=10)[0]) == [0, 2, 3, 4, 5, 7, 8]
    meta = json.loads(Path(searcher.index, "metadata.json").read_text())
    assert meta["jcolbert"]["next_pid"] == 9 and meta["config"]["doc_maxlen"] == 32


def test_index_updater_refuses_unknown_pids_and_adding_without_checkpoint(searcher):
    updater = IndexUpdater(config=ColBERTConfig(), searcher=searcher)
    with pytest.raises(CompatError, match="cannot remove pids") as caught:
        updater.remove([2, 99])
    assert isinstance(caught.value, ValueError)  # colbert-ai raises ValueError("Invalid PIDs", ...)
    assert 2 in searcher.search(PASSAGES[2], k=6)[0]  # nothing was removed
    with pytest.raises(CompatError, match="cannot add passages"):
        updater.add(["text"])


def test_persist_keeps_foreign_metadata_keys(searcher, tiny_bert_dir):
    meta_path = Path(searcher.index, "metadata.json")
    meta = json.loads(meta_path.read_text())
    meta["RAGatouille"] = {"index_config": {"index_type": "PLAID"}}
    meta_path.write_text(json.dumps(meta))
    updater = IndexUpdater(config=ColBERTConfig(), searcher=searcher, checkpoint=str(tiny_bert_dir))
    updater.add(["added"])
    updater.persist_to_disk()
    saved = json.loads(meta_path.read_text())
    assert saved["RAGatouille"] == {"index_config": {"index_type": "PLAID"}}
    assert saved["num_embeddings"] > meta["num_embeddings"]


def test_colbert_ai_index_folder_is_reported(tmp_path):
    folder = tmp_path / "colbertai"
    folder.mkdir()
    (folder / "metadata.json").write_text(json.dumps({"config": {"nbits": 2, "checkpoint": "x"}}))
    (folder / "0.codes.pt").write_bytes(b"")
    assert ColBERTConfig.load_from_index(folder).nbits == 2  # readable, as in colbert-ai
    with pytest.raises(IndexFormatError, match="holds a colbert-ai index"):
        Searcher(index="colbertai", index_root=str(tmp_path))
