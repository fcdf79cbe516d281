"""The real `jcolbert serve` process on a free loopback port, used over HTTP through `jcolbert.RemoteIndex`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from serve_support import DOCS, build_index, free_port

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

KEY = "process-test-key-0123456789"
READ_KEY = "process-read-key-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory, minilm_available):
    home = tmp_path_factory.mktemp("served")
    build_index(home / "docs")
    keys = home.parent / "keys.txt"
    keys.write_text(f"{KEY}\n{READ_KEY}:read\n", encoding="utf-8")
    port = free_port()
    log = home.parent / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JCOLBERT_API_KEYS": ""}
    cmd = [sys.executable, "-m", "jcolbert.cli.main", "serve", str(home), "--port", str(port),
           "--api-key-file", str(keys), "--batch-wait-ms", "3"]
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text(encoding="utf-8")
            try:
                if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "jcolbert serve did not become ready"
            time.sleep(0.2)
        yield url, log, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_remote_index_works_like_a_local_one(served):
    import jcolbert

    url, _, _ = served
    remote = jcolbert.RemoteIndex(url, "docs", api_key=KEY)
    hits = remote.search("how does late interaction score documents?", k=3, return_text=True)
    assert isinstance(hits[0], jcolbert.Hit) and hits[0].id == "colbert" and hits[0].rank == 1
    assert hits[0].text == DOCS[0]["text"] and hits[0].metadata is None
    many = remote.search(["sleeping cats", "volcano magma"], k=2, filter={"lang": "en"}, return_metadata=True)
    assert [r[0].id for r in many] == ["cats", "volcano"] and many[0][0].metadata["topic"] == "animals"
    assert [h.id for h in remote.search("ocean", k=5, filter=["bread", "notes/tides.txt"])][0] == "notes/tides.txt"
    ids = remote.add([{"id": "glacier", "text": "Glaciers carve valleys.", "metadata": {"lang": "en"}},
                      "an unnamed document about rivers"])
    assert ids[0] == "glacier" and len(ids) == 2
    assert remote.get("glacier") == {"id": "glacier", "text": "Glaciers carve valleys.", "metadata": {"lang": "en"}}
    assert len(remote) == len(DOCS) + 2 and remote.stats()["documents"] == len(DOCS) + 2
    assert remote.search("glaciers carving valleys", k=1)[0].id == "glacier"
    with pytest.raises(jcolbert.errors.InputError, match="ghost"):  # like Index.delete: unknown ids raise
        remote.delete(["glacier", "ghost"])
    assert remote.delete(["glacier", "ghost"], missing_ok=True) == 1
    assert remote.delete(ids[1]) == 1
    assert remote.compact()["documents"] == len(DOCS)
    with pytest.raises(jcolbert.errors.InputError, match="already in index"):
        remote.add({"id": "cats", "text": "a clash"})


def test_remote_search_by_vectors_matches_local(served, tmp_path):
    import jcolbert

    url, _, _ = served
    remote = jcolbert.RemoteIndex(url, "docs", api_key=READ_KEY)
    model = jcolbert.load_model("minilm")
    Q = model.encode_queries(["sleeping cats", "volcano magma"])
    by_vectors = remote.search_embeddings(Q, k=2)
    by_text = remote.search(["sleeping cats", "volcano magma"], k=2)
    assert [[h.id for h in r] for r in by_vectors] == [[h.id for h in r] for r in by_text]
    one = remote.search_embeddings(Q[0], k=1)
    assert one[0].id == "cats" and one[0].score == pytest.approx(by_text[0][0].score, rel=1e-5)


def test_remote_errors_carry_status_and_code(served):
    import jcolbert
    from jcolbert.errors import ServiceError, ServiceInputError

    url, _, _ = served
    with pytest.raises(ServiceError) as err:
        jcolbert.RemoteIndex(url, "docs").search("cats")
    assert err.value.status == 401 and err.value.code == "unauthorized"
    with pytest.raises(ServiceError) as err:
        jcolbert.RemoteIndex(url, "docs", api_key=READ_KEY).add("read-only keys cannot write")
    assert err.value.status == 403
    with pytest.raises(ServiceInputError) as err:
        jcolbert.RemoteIndex(url, "nope", api_key=KEY).stats()
    assert err.value.status == 404 and err.value.code == "index_not_found"
    with pytest.raises(jcolbert.errors.InputError, match="callable"):
        jcolbert.RemoteIndex(url, "docs", api_key=KEY).search("x", filter=lambda m: True)
    with pytest.raises(ServiceError) as err:
        jcolbert.RemoteIndex("http://127.0.0.1:9", "docs", timeout=2).stats()
    assert err.value.code == "unreachable"


def test_one_log_line_per_request_and_a_clean_stop(served):
    url, log, proc = served
    httpx.get(url + "/healthz")
    httpx.post(url + "/v1/indexes/docs/search", json={"query": "cats"}, headers={"Authorization": f"Bearer {KEY}"})
    time.sleep(0.3)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any(line.endswith(("ms",)) and "GET /healthz 200 " in line for line in lines)
    assert any("POST /v1/indexes/docs/search 200 " in line for line in lines)
    assert not any("Traceback" in line for line in lines)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
