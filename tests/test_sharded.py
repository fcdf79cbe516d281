"""ShardedIndex on the local backend (threads): one codec for all shards, exact search equal to one index,
routing by a stable hash, add / delete / compact / reopen, and folders that must be refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import jcolbert
from jcolbert.distributed import manifest as mf
from jcolbert.distributed import routing
from jcolbert.errors import IndexFormatError, IndexReadOnlyError, InputError
from jcolbert.index import Codec, Index
from test_index_data import make_docs, query_from

DIM = 32


@pytest.fixture(scope="module")
def collection() -> list[np.ndarray]:
    return make_docs(360, dim=DIM, seed=21)


@pytest.fixture(scope="module")
def codec(collection) -> Codec:
    return Codec.train(np.concatenate(collection[::3]), nbits=2, total_tokens=int(sum(len(d) for d in collection)))


def ids_of(n: int) -> list[str]:
    return [f"doc-{i}" for i in range(n)]


def shard_ids(root) -> list[set[str]]:
    """The ids each shard folder holds, read with a plain Index (no sharded code involved)."""
    out = []
    for entry in mf.read(root).shards:
        with Index.open(root / entry.dir, readonly=True) as shard:
            out.append(set(shard.ids()))
    return out


def test_import_jcolbert_stays_free_of_torch_and_ray() -> None:
    code = ("import sys, jcolbert, jcolbert.distributed; jcolbert.ShardedIndex; "
            "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_routing_is_a_stable_hash() -> None:
    # blake2b of the id, fixed across processes and Python versions (never the salted built-in hash)
    assert [routing.shard_of(x, 8) for x in ("a", "doc-1", "Ünïcode")] == [
        routing.shard_of(x, 8) for x in ("a", "doc-1", "Ünïcode")]
    code = "from jcolbert.distributed.routing import shard_of; print([shard_of(f'd{i}', 7) for i in range(50)])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == str([routing.shard_of(f"d{i}", 7) for i in range(50)])
    counts = np.bincount([routing.shard_of(f"d{i}", 4) for i in range(4000)], minlength=4)
    assert counts.min() > 850  # spread evenly


@pytest.mark.parametrize("shards", [1, 3, 5])
def test_exact_search_over_shards_equals_one_index(tmp_path, collection, codec, shards) -> None:
    ids = ids_of(len(collection))
    sh = jcolbert.ShardedIndex.create(tmp_path / "sh", dim=DIM, shards=shards, codec=codec)
    sh.add_embeddings(ids, collection, metadata=[{"n": i} for i in range(len(ids))])
    one = Index.create(tmp_path / "one", dim=DIM, codec=codec)
    one.add_embeddings(ids, collection, metadata=[{"n": i} for i in range(len(ids))])
    assert sh.mode == one.mode == "plaid" and len(sh) == len(one)
    Q = np.stack([query_from(collection[i], seed=i) for i in (3, 50, 77, 200, 301)])
    for mode in ("exact", "plaid"):
        got, want = sh.search_embeddings(Q, k=10, mode=mode), one.search_embeddings(Q, k=10, mode=mode)
        for g, w in zip(got, want, strict=True):
            if mode == "exact":  # exhaustive: exactly the unsharded answer
                assert [h.id for h in g] == [h.id for h in w]
                assert np.allclose([h.score for h in g], [h.score for h in w], atol=1e-5)
            assert [h.rank for h in g] == list(range(1, 11))
    hits = sh.search_embeddings(Q[0], k=3, filter={"n": [3, 4, 5]}, return_metadata=True, mode="exact")
    assert hits[0].id == "doc-3" and {h.metadata["n"] for h in hits} <= {3, 4, 5}
    held = shard_ids(sh.path)
    assert sum(len(s) for s in held) == len(ids) and set().union(*held) == set(ids)
    for i, s in enumerate(held):  # each id in exactly the shard its hash names
        assert all(routing.shard_of(x, shards) == i for x in s)


def test_one_codec_trained_for_all_shards_when_the_threshold_is_crossed(tmp_path, collection) -> None:
    sh = jcolbert.ShardedIndex.create(tmp_path / "sh", dim=DIM, shards=4, exact_threshold=3000)
    ids = sh.add_embeddings(None, collection[:60])  # below the threshold: exact, no codec anywhere
    assert ids == [str(i) for i in range(60)] and sh.mode == "exact" and sh.codec is None
    sh.add_embeddings(None, collection[60:])
    assert sh.mode == "plaid" and sh.stats()["centroids"] == sh.codec.num_centroids
    fingerprints = {mf.codec_fingerprint(Index.open(sh.path / e.dir).__enter__()._current().manifest.codec)
                    for e in mf.read(sh.path).shards}
    assert fingerprints == {mf.read(sh.path).codec.fingerprint}  # every shard: the same codec
    ids = [x for s in shard_ids(sh.path) for x in s]
    assert len(ids) == len(set(ids)) == len(collection)  # auto ids unique across shards
    stats = sh.stats()
    assert stats["documents"] == len(collection) and stats["shards"] == 4 and not stats["recluster_recommended"]
    assert sum(p["documents"] for p in stats["per_shard"]) == len(collection)
    assert [e.documents for e in mf.read(sh.path).shards] == [p["documents"] for p in stats["per_shard"]]


def test_add_delete_compact_reopen_same_answers(tmp_path, collection, codec) -> None:
    ids = ids_of(len(collection))
    sh = jcolbert.ShardedIndex.create(tmp_path / "sh", dim=DIM, shards=3, codec=codec)
    sh.add_embeddings(ids[:200], collection[:200], texts=[f"text {i}" for i in range(200)], commit_every=64)
    sh.add_embeddings(ids[200:], collection[200:])
    with pytest.raises(InputError, match="already in the index"):
        sh.add_embeddings(["doc-5"], collection[:1])
    with pytest.raises(InputError, match="nope"):
        sh.delete(["doc-1", "nope"])
    assert len(sh) == len(collection) and "doc-1" in sh  # nothing deleted
    assert sh.delete(["doc-1", "doc-2", "doc-300"]) == 3 and "doc-1" not in sh
    assert sh.delete(["doc-1", "gone"], missing_ok=True) == 0
    assert sh.get("doc-7") == {"id": "doc-7", "text": "text 7", "metadata": None}
    Q = np.stack([query_from(collection[i], seed=i) for i in (1, 9, 300, 301)])
    before = sh.search_embeddings(Q, k=8)
    assert all(h.id not in {"doc-1", "doc-2", "doc-300"} for hits in before for h in hits)
    done = sh.compact(recluster=False)
    assert done == {"documents": len(collection) - 3, "removed": 3, "reclustered": False}
    assert sh.stats()["deleted_pending_compaction"] == 0
    sh.close()
    again = jcolbert.ShardedIndex.open(tmp_path / "sh", readonly=True)
    after = again.search_embeddings(Q, k=8)
    assert [[h.id for h in x] for x in after] == [[h.id for h in x] for x in before]
    assert sorted(again.ids()) == sorted(set(ids) - {"doc-1", "doc-2", "doc-300"})
    with pytest.raises(IndexReadOnlyError):
        again.delete(["doc-3"])
    held = shard_ids(tmp_path / "sh")
    assert sum(len(s) for s in held) == len(set().union(*held))  # never in two shards


def test_recluster_retrains_one_shared_codec(tmp_path, collection) -> None:
    sh = jcolbert.ShardedIndex.create(tmp_path / "sh", dim=DIM, shards=2, exact_threshold=500)
    sh.add_embeddings(None, collection[:30])
    first = mf.read(sh.path).codec
    sh.add_embeddings(None, collection[30:])
    assert sh.stats()["recluster_recommended"]
    assert sh.compact()["reclustered"]
    second = mf.read(sh.path).codec
    assert second.fingerprint != first.fingerprint and not (sh.path / first.dir).exists()
    jcolbert.ShardedIndex.open(sh.path).close()  # every shard adopted the new codec


def test_text_documents_with_a_model(tmp_path, minilm_available) -> None:
    docs = [{"id": f"t{i}", "text": t} for i, t in enumerate(
        ["ColBERT scores with MaxSim", "the cat sat on the mat", "Ray runs actors on a cluster",
         "late interaction retrieval", "a sharded index spreads documents", "bananas are yellow"])]
    sh = jcolbert.ShardedIndex.create(tmp_path / "sh", model="minilm", shards=3)
    assert sh.add(docs) == [d["id"] for d in docs]
    assert sh.add(["an untitled note"]) == ["0"]
    hits = sh.search("which fruit is yellow?", k=2, return_text=True)
    assert hits[0].id == "t5" and hits[0].text == "bananas are yellow"
    assert sh.stats()["model"] == "minilm"


def test_bad_folders_are_refused_naming_the_shard(tmp_path, collection, codec) -> None:
    root = tmp_path / "sh"
    jcolbert.ShardedIndex.create(root, dim=DIM, shards=3, codec=codec).add_embeddings(
        ids_of(60), collection[:60])
    # a shard with a different codec
    other = Codec.train(np.concatenate(collection[1::3]), nbits=2, num_centroids=64)
    shutil.rmtree(root / "shard-0001")
    Index.create(root / "shard-0001", dim=DIM, codec=other, exact_threshold=mf.MAX_COUNT).close()
    with pytest.raises(IndexFormatError, match="shard-0001 uses a different codec"):
        jcolbert.ShardedIndex.open(root)
    shutil.rmtree(root / "shard-0001")
    Index.create(root / "shard-0001", dim=DIM, codec=codec, exact_threshold=mf.MAX_COUNT).close()
    jcolbert.ShardedIndex.open(root).close()  # the same codec again: accepted (an empty shard)
    # a missing shard folder
    shutil.rmtree(root / "shard-0002")
    with pytest.raises(IndexFormatError, match="shard shard-0002 is missing"):
        jcolbert.ShardedIndex.open(root)
    # a shard folder replaced by a link
    (root / "shard-0002").symlink_to(root / "shard-0000")
    with pytest.raises(IndexFormatError, match="shard-0002 is not a folder"):
        jcolbert.ShardedIndex.open(root)
    # an edited manifest: checksum; a path smuggled in as a shard name
    doc = json.loads((root / mf.SHARDS_MANIFEST).read_text())
    doc["shards"][0]["documents"] = 1
    (root / mf.SHARDS_MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(IndexFormatError, match="checksum"):
        jcolbert.ShardedIndex.open(root)
    doc["shards"][0]["dir"] = "../elsewhere"
    body = {k: v for k, v in doc.items() if k != "checksum"}
    from jcolbert.index.manifest import checksum

    (root / mf.SHARDS_MANIFEST).write_text(json.dumps({**body, "checksum": checksum(body)}))
    with pytest.raises(IndexFormatError, match="not a valid name"):
        jcolbert.ShardedIndex.open(root)


def test_shards_of_different_models_are_refused(tmp_path, minilm_available) -> None:
    root = tmp_path / "sh"
    jcolbert.ShardedIndex.create(root, model="minilm", shards=2).close()
    shutil.rmtree(root / "shard-0001")
    Index.create(root / "shard-0001", dim=384, exact_threshold=mf.MAX_COUNT).close()
    with pytest.raises(IndexFormatError, match="shard-0001 was built with model None"):
        jcolbert.ShardedIndex.open(root)


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(InputError, match="shards must be"):
        jcolbert.ShardedIndex.create(tmp_path / "a", dim=DIM, shards=0)
    with pytest.raises(InputError, match="backend must be"):
        jcolbert.ShardedIndex.create(tmp_path / "b", dim=DIM, shards=2, backend="mpi")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("x")
    with pytest.raises(InputError, match="not an empty folder"):
        jcolbert.ShardedIndex.create(tmp_path / "c", dim=DIM, shards=2)
    sh = jcolbert.ShardedIndex.create(tmp_path / "d", dim=DIM, shards=2)
    with pytest.raises(InputError, match="query vectors must be"):
        sh.search_embeddings(np.zeros((4, DIM + 1), np.float32))
    with pytest.raises(InputError, match="precomputed vectors"):
        sh.search("text")


@pytest.mark.slow
def test_plaid_over_four_shards_recalls_the_unsharded_top10(tmp_path, data_dir, minilm_available) -> None:
    lines = (data_dir / "scifact" / "corpus.jsonl").read_text().splitlines()[:240]
    docs = [json.loads(x) for x in lines]
    queries = [json.loads(x)["text"] for x in (data_dir / "scifact" / "queries.jsonl").read_text().splitlines()[:30]]
    model = jcolbert.load_model("minilm")
    texts = [d["title"] + " " + d["text"] for d in docs]
    vectors = [v.numpy() for v in model.encode_documents(texts, batch_size=32, max_length=128)]
    Q = model.encode_queries(queries).numpy()
    codec = Codec.train(np.concatenate(vectors[::2]), nbits=2, total_tokens=int(sum(len(v) for v in vectors)))
    ids = [str(d["_id"]) for d in docs]
    one = Index.create(tmp_path / "one", dim=model.config.dim, codec=codec)
    one.add_embeddings(ids, vectors)
    jcolbert.ShardedIndex.create(tmp_path / "sh", dim=model.config.dim, shards=4, codec=codec).add_embeddings(ids, vectors)
    with jcolbert.ShardedIndex.open(tmp_path / "sh") as sh:  # the Ray backend's answers: test_sharded_ray.py
        got, want = sh.search_embeddings(Q, k=10), one.search_embeddings(Q, k=10)
        exact_sh, exact_one = sh.search_embeddings(Q[:10], k=10, mode="exact"), one.search_embeddings(Q[:10], k=10, mode="exact")
    recall = np.mean([len({h.id for h in g} & {h.id for h in w}) / 10 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.99, recall
    assert [[h.id for h in x] for x in exact_sh] == [[h.id for h in x] for x in exact_one]


def test_serve_a_sharded_folder(tmp_path, minilm_available) -> None:
    from serve_support import DOCS, make_client

    home = tmp_path / "home"
    with jcolbert.ShardedIndex.create(home / "big", model="minilm", shards=3) as sh:
        sh.add(DOCS)
        expected = sh.search("which animals hunt at night?", k=3)
    with make_client([home], model="minilm") as client:
        assert client.get("/v1/indexes").json()["indexes"] == ["big"]
        r = client.post("/v1/indexes/big/search", json={"query": "which animals hunt at night?", "k": 3})
        assert r.status_code == 200, r.text
        assert [h["id"] for h in r.json()["hits"]] == [h.id for h in expected] and expected[0].id == "cats"
        info = client.get("/v1/indexes/big").json()
        assert info["sharded"] is True and info["shards"] == 3 and info["documents"] == len(DOCS)
        r = client.post("/v1/indexes/big/documents", json={"documents": [{"id": "owl", "text": "Owls hunt mice at night."}]})
        assert r.status_code == 200, r.text
    with jcolbert.ShardedIndex.open(home / "big") as sh:
        assert "owl" in sh and len(sh) == len(DOCS) + 1


def test_cli_index_search_info_delete_on_a_sharded_folder(tmp_path, minilm_available) -> None:
    from typer.testing import CliRunner

    from jcolbert.cli.main import app
    from serve_support import DOCS

    def jc(*args):
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, f"{result.stdout}\n{result.stderr}"
        return result.stdout

    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("\n".join(json.dumps(d) for d in DOCS[:6]) + "\n")
    more = tmp_path / "more.jsonl"
    more.write_text("\n".join(json.dumps(d) for d in DOCS) + "\n")
    out = tmp_path / "big"
    summary = json.loads(jc("index", out, corpus, "--shards", "3", "--model", "minilm", "--json"))
    assert summary["created"] and summary["added"] == 6 and summary["stats"]["shards"] == 3
    summary = json.loads(jc("index", out, more, "--json"))  # resumable: the 6 already in are skipped
    assert summary["added"] == len(DOCS) - 6 and summary["skipped_existing"] == 6
    bad = CliRunner().invoke(app, ["index", str(out), str(more), "--shards", "2"])
    assert bad.exit_code != 0 and "3 shard(s), not 2" in (bad.stdout + bad.stderr)
    hits = json.loads(jc("search", out, "which animals hunt at night?", "--json", "-k", "2"))["hits"]
    assert hits[0]["id"] == "cats"
    info = json.loads(jc("info", out, "--json"))
    assert info["sharded"] and info["documents"] == len(DOCS) and len(info["per_shard"]) == 3
    assert "per_shard" in jc("info", out)
    jc("delete", out, "cats")
    assert json.loads(jc("compact", out, "--json"))["after"]["documents"] == len(DOCS) - 1
