"""The Ray side of jcolbert.distributed, on a local Ray cluster the tests start (`ray.init(num_cpus=2)`):
shard actors (same answers as the local backend, the retry rule when an actor dies), distributed encoding
(the same vectors as `encode_documents`). The Ray build and the CLI (test_sharded_ray_cluster.py: a cluster of separate processes). Ray takes seconds to start and its
workers longer: everything here is marked slow."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

import jcolbert
from jcolbert.errors import ShardUnavailableError
from jcolbert.index import Codec
from jcolbert.index.verify import verify
from test_index_data import make_docs, query_from

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
DIM = 32


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def collection() -> list[np.ndarray]:
    return make_docs(240, dim=DIM, seed=31)


@pytest.fixture(scope="module")
def built(tmp_path_factory, collection) -> Path:
    root = tmp_path_factory.mktemp("ray") / "sh"
    codec = Codec.train(np.concatenate(collection[::2]), nbits=2, total_tokens=int(sum(len(d) for d in collection)))
    with jcolbert.ShardedIndex.create(root, dim=DIM, shards=3, codec=codec) as sh:
        sh.add_embeddings([f"d{i}" for i in range(len(collection))], collection)
    return root


def test_ray_backend_answers_like_the_local_one(local_ray, built, collection) -> None:
    Q = np.stack([query_from(collection[i], seed=i) for i in (0, 40, 99, 180)])
    with jcolbert.ShardedIndex.open(built) as local, jcolbert.ShardedIndex.open(built, backend="ray") as remote:
        assert remote.backend == "ray" and len(remote) == len(collection)
        for mode in ("exact", "plaid"):
            a, b = local.search_embeddings(Q, k=10, mode=mode), remote.search_embeddings(Q, k=10, mode=mode)
            assert [[h.id for h in x] for x in a] == [[h.id for h in x] for x in b]
        assert remote.last_search["answered"] == ["shard-0000", "shard-0001", "shard-0002"]
        remote.add_embeddings(["new"], [collection[0]])
        remote.delete(["new", "d3"])
        assert "new" not in remote and len(remote) == len(collection) - 1
        assert remote.compact(recluster=False)["removed"] == 2
        remote.add_embeddings(["d3"], [collection[3]])  # back as it was, for the other tests


def test_a_killed_shard_actor_is_restarted_and_the_search_retried(local_ray, built, collection) -> None:
    queries = [query_from(collection[i], seed=i) for i in range(0, 240, 12)]
    with jcolbert.ShardedIndex.open(built) as local:
        want = [[h.id for h in local.search_embeddings(q, k=5)] for q in queries]
        docs_before = local.stats()["documents"]
    with jcolbert.ShardedIndex.open(built, backend="ray") as sh:
        pid = sh._backend.pids[1]
        got, killer = [], threading.Timer(0.05, os.kill, (pid, signal.SIGKILL))
        killer.start()
        for q in queries:  # the actor dies somewhere in this batch; every search still answers in full
            got.append([h.id for h in sh.search_embeddings(q, k=5)])
        killer.join()
        assert got == want
        assert sh._backend.pids[1] != pid  # restarted by Ray (a new process)
        # down for good: the search names the shard, or answers from the others when partial results are asked
        ray.kill(sh._backend.actors[2], no_restart=True)
        with pytest.raises(ShardUnavailableError, match="shard-0002") as err:
            sh.search_embeddings(queries[0], k=5)
        assert err.value.shard == "shard-0002"
        partial = sh.search_embeddings(queries[0], k=5, partial=True)
        assert partial.answered == ("shard-0000", "shard-0001") and list(partial.failed) == ["shard-0002"]
        assert not partial.complete and all(sh.shard_of(h.id) != 2 for h in partial)
    for i in range(3):  # nothing lost on disk
        report = verify(built / f"shard-{i:04d}")
        assert report["ok"], report
    with jcolbert.ShardedIndex.open(built) as local:
        assert local.stats()["documents"] == docs_before


def test_distributed_encoding_equals_encode_documents(local_ray, data_dir, minilm_available) -> None:
    from jcolbert.distributed.encoding import encode_texts

    lines = (data_dir / "scifact" / "corpus.jsonl").read_text().splitlines()[:24]
    texts = [json.loads(line)["text"] for line in lines]
    got = encode_texts(texts, "minilm", workers=2, batch_size=8, threads=1)
    want = jcolbert.load_model("minilm").encode_documents(texts, batch_size=8)
    assert len(got) == len(want) == 24
    for g, w in zip(got, want, strict=True):
        assert g.shape == tuple(w.shape) and np.allclose(g, w.numpy(), atol=1e-5)
