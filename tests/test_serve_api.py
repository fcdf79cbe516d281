"""The HTTP API through FastAPI's TestClient: every endpoint, its answers, and every error status and limit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from serve_support import DOCS, build_index, make_client

pytest.importorskip("fastapi")

LIMITS = dict(max_documents=5, max_queries=3, max_k=50, max_query_chars=200, max_body_bytes=1024 * 1024)


@pytest.fixture(scope="module")
def home(tmp_path_factory, minilm_available):
    import jcolbert

    home = tmp_path_factory.mktemp("home")
    # float32 throughout (index and server), so an explanation re-encodes exactly the stored vectors; under
    # dtype="auto" (bf16 on AMX CPUs) a document encoded alone and in a batch differ by bf16 rounding
    build_index(home / "docs", model=jcolbert.load_model("minilm", dtype="float32"))
    return home


@pytest.fixture(scope="module")
def client(home):
    from jcolbert.serve.config import Limits

    with make_client([home], limits=Limits(**LIMITS), model="minilm", dtype="float32") as c:
        yield c


@pytest.fixture(scope="module")
def local(home):
    import jcolbert

    with jcolbert.Index.open(home / "docs", readonly=True) as index:
        yield index


def error(r, status: int, code: str | None = None) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]["message"]


def new_index(client, name: str, docs=None) -> str:
    r = client.post("/v1/indexes", json={"name": name})
    assert r.status_code == 201, r.text
    if docs:
        assert client.post(f"/v1/indexes/{name}/documents", json={"documents": docs}).status_code == 200
    return name


# ----------------------------------------------------------------------------------------------- service


def test_health_ready_and_index_listing(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and "docs" in ready["indexes"] and "minilm" in ready["models"]
    assert "docs" in client.get("/v1/indexes").json()["indexes"]
    stats = client.get("/v1/indexes/docs").json()
    assert stats["name"] == "docs" and stats["documents"] >= len(DOCS) and stats["model"] == "minilm"
    assert "path" not in stats  # the server's file system stays private
    error(client.get("/v1/indexes/nope"), 404, "index_not_found")
    error(client.get("/v1/indexes/..%2Fdocs"), 404)


def test_page_docs_and_openapi_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text and "http" not in page.text.split("<body>")[1].replace("http-equiv", "")
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/indexes/{name}/search", "/v1/indexes/{name}/documents", "/v1/rerank", "/v1/encode",
                 "/api/search", "/v1/indexes/{name}/compact", "/v1/indexes"):
        assert path in paths


def test_unknown_route_wrong_method_and_bad_json_are_json_errors(client):
    assert "no route GET /v2/nothing" in error(client.get("/v2/nothing"), 404, "not_found")
    error(client.put("/v1/indexes/docs/search", json={}), 405, "method_not_allowed")
    r = client.post("/v1/indexes/docs/search", content=b'{"query": "x", ', headers={"content-type": "application/json"})
    assert "not valid JSON" in error(r, 422, "invalid_json")
    assert "query" in error(client.post("/v1/indexes/docs/search", json={"k": 3}), 422, "invalid_request")
    assert "ncell" in error(client.post("/v1/indexes/docs/search", json={"query": "x", "ncell": 2}), 422)
    error(client.post("/v1/indexes/docs/search", json={"query": "x", "mode": "fast"}), 422)
    error(client.post("/v1/indexes/docs/search", json={"query": "x", "queries": ["y"]}), 422)


# ----------------------------------------------------------------------------------------------- search


def test_search_answers_what_the_library_answers(client, local):
    query = "how does late interaction with MaxSim score documents?"
    r = client.post("/v1/indexes/docs/search", json={"query": query, "k": 3})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert [set(h) for h in hits] == [{"id", "score", "rank"}] * 3  # text / metadata only when asked for
    expected = local.search(query, k=3)
    assert [h["id"] for h in hits] == [e.id for e in expected] and hits[0]["id"] == "colbert"
    assert [h["rank"] for h in hits] == [1, 2, 3]
    np.testing.assert_allclose([h["score"] for h in hits], [e.score for e in expected], rtol=1e-5)

    r = client.post("/v1/indexes/docs/search", json={"query": query, "k": 1, "return_text": True,
                                                      "return_metadata": True, "mode": "exact"})
    hit = r.json()["hits"][0]
    assert hit["text"] == DOCS[0]["text"] and hit["metadata"] == DOCS[0]["metadata"]


def test_search_many_queries_answers_results_in_order(client):
    r = client.post("/v1/indexes/docs/search", json={"queries": ["sleeping cats", "volcano magma"], "k": 2})
    results = r.json()["results"]
    assert [res["hits"][0]["id"] for res in results] == ["cats", "volcano"]


def test_filters_by_metadata_and_by_ids(client):
    r = client.post("/v1/indexes/docs/search", json={"query": "animals", "k": 10, "filter": {"topic": "animals"},
                                                      "return_metadata": True})
    hits = r.json()["hits"]
    assert {h["id"] for h in hits} == {"cats", "dogs", "chat-fr"}
    for spec in ({"ids": ["bread", "notes/tides.txt"]}, ["bread", "notes/tides.txt"]):
        r = client.post("/v1/indexes/docs/search", json={"query": "ocean", "k": 10, "filter": spec})
        assert [h["id"] for h in r.json()["hits"]] == ["notes/tides.txt", "bread"]
    r = client.post("/v1/indexes/docs/search", json={"query": "x", "k": 10, "filter": {"topic": ["food", "earth"]}})
    assert {h["id"] for h in r.json()["hits"]} == {"bread", "volcano", "notes/tides.txt"}  # any of the values
    r = client.post("/v1/indexes/docs/search", json={"query": "x", "k": 10, "filter": {"topic": "ir", "ids": ["bm25",
                                                                                                         "cats"]}})
    assert [h["id"] for h in r.json()["hits"]] == ["bm25"]  # ids and metadata together
    assert "topic" in error(client.post("/v1/indexes/docs/search", json={"query": "x", "filter": {"topic": {"a": 1}}}),
                            400, "bad_request")
    error(client.post("/v1/indexes/docs/search", json={"query": "x", "filter": {"ids": [1, 2]}}), 400)


def test_query_vectors_as_json_lists_and_base64(client):
    enc = client.post("/v1/encode", json={"texts": ["sleeping cats"], "kind": "query"}).json()
    Q = enc["vectors"][0]
    assert len(Q[0]) == enc["dim"] == 384
    by_text = client.post("/v1/indexes/docs/search", json={"query": "sleeping cats", "k": 3}).json()["hits"]
    by_vectors = client.post("/v1/indexes/docs/search", json={"query_vectors": Q, "k": 3}).json()["hits"]
    assert [h["id"] for h in by_vectors] == [h["id"] for h in by_text]
    np.testing.assert_allclose([h["score"] for h in by_vectors], [h["score"] for h in by_text], rtol=1e-5)
    b64 = client.post("/v1/encode", json={"texts": ["sleeping cats", "dogs"], "format": "float16_base64"}).json()
    r = client.post("/v1/indexes/docs/search", json={"queries_vectors": b64["vectors"], "k": 1})
    assert [res["hits"][0]["id"] for res in r.json()["results"]] == ["cats", "dogs"]
    assert "384" in error(client.post("/v1/indexes/docs/search", json={"query_vectors": [[0.1, 0.2]]}), 422)
    bad = dict(b64["vectors"][0], shape=[3, 3])
    error(client.post("/v1/indexes/docs/search", json={"query_vectors": bad}), 422)
    error(client.post("/v1/indexes/docs/search", json={"query_vectors": [[0.1] * 384, [0.2]]}), 422)


def test_explain_takes_the_score_apart_exactly(client):
    query = "late interaction MaxSim"
    r = client.post("/v1/indexes/docs/search", json={"query": query, "k": 2, "explain": True})
    hits = r.json()["hits"]
    assert "text" not in hits[0]  # used for the explanation, not returned unless asked for
    for hit in hits:
        ex = hit["explanation"]
        total = math.fsum(m["contribution"] for m in ex["matches"])
        assert ex["score"] == pytest.approx(total, abs=1e-5)
        assert ex["score"] == pytest.approx(hit["score"], abs=1e-4)  # exact-mode index: the very same vectors
    text = DOCS[0]["text"]
    words = {text[m["doc_span"][0]:m["doc_span"][1]].lower() for m in hits[0]["explanation"]["matches"]
             if m.get("doc_span")}
    assert {"late", "interaction"} <= words
    q_tokens = [m["query_token"] for m in hits[0]["explanation"]["matches"]]
    assert q_tokens[0] == "[CLS]" and "late" in q_tokens


# ----------------------------------------------------------------------------------------------- limits


def test_limits_on_k_queries_characters_and_body(client):
    assert "50" in error(client.post("/v1/indexes/docs/search", json={"query": "x", "k": 51}), 422)
    error(client.post("/v1/indexes/docs/search", json={"query": "x", "k": 0}), 422)
    assert "3" in error(client.post("/v1/indexes/docs/search", json={"queries": ["a", "b", "c", "d"]}), 413, "too_large")
    error(client.post("/v1/indexes/docs/search", json={"query": "x" * 201}), 413, "too_large")
    error(client.post("/v1/indexes/docs/search", json={"query": "   "}), 422)
    assert "explain" in error(client.post("/v1/indexes/docs/search", json={"queries": ["a", "b", "c"], "k": 40,
                                                                          "explain": True}), 413, "too_large")
    big = {"query": "x", "filter": {"ids": ["a" * 100] * 12000}}
    assert "1048576" in error(client.post("/v1/indexes/docs/search", json=big), 413, "too_large")

    def chunks():  # no Content-Length: the size is counted as the body arrives
        yield b'{"query": "x", "filter": {"ids": ['
        for _ in range(20000):
            yield b'"' + b"a" * 60 + b'",'
        yield b'"b"]}}'

    error(client.post("/v1/indexes/docs/search", content=chunks(), headers={"content-type": "application/json"}),
          413, "too_large")
    docs = [{"id": f"x{i}", "text": "t"} for i in range(6)]
    error(client.post("/v1/indexes/docs/documents", json={"documents": docs}), 413, "too_large")


def test_too_many_requests_in_flight_is_429(client):
    server = client.app.state.server
    server.inflight += server.limits.max_inflight  # as if that many requests were being answered
    try:
        error(client.post("/v1/indexes/docs/search", json={"query": "x"}), 429, "too_many_requests")
        assert client.get("/healthz").status_code == 200  # the service routes still answer
    finally:
        server.inflight -= server.limits.max_inflight


def test_time_limit_is_504(home):
    from jcolbert.serve.config import Limits

    with make_client([home], limits=Limits(timeout_s=0.001)) as c:
        error(c.post("/v1/indexes/docs/search", json={"query": "late interaction", "explain": True}), 504, "timeout")


# ----------------------------------------------------------------------------------------------- writes


def test_add_get_search_delete_compact(client):
    name = new_index(client, "writes", DOCS[:3])
    r = client.post(f"/v1/indexes/{name}/documents", json={"documents": [
        {"id": "glacier", "text": "Glaciers carve valleys as the ice slowly moves downhill.", "metadata": {"n": 1}},
        {"text": "An auto-named document about rivers."}]})
    assert r.status_code == 200
    ids = r.json()["ids"]
    assert ids[0] == "glacier" and r.json()["documents"] == 5
    hit = client.post(f"/v1/indexes/{name}/search", json={"query": "ice valleys", "k": 1}).json()["hits"][0]
    assert hit["id"] == "glacier"
    doc = client.get(f"/v1/indexes/{name}/documents/glacier").json()
    assert doc == {"id": "glacier", "text": "Glaciers carve valleys as the ice slowly moves downhill.", "metadata": {"n": 1}}
    error(client.get(f"/v1/indexes/{name}/documents/nope"), 404, "document_not_found")
    r = client.request("DELETE", f"/v1/indexes/{name}/documents", json={"ids": ["glacier", ids[1]]})
    assert r.json() == {"deleted": 2, "documents": 3}
    hits = client.post(f"/v1/indexes/{name}/search", json={"query": "ice valleys", "k": 10}).json()["hits"]
    assert "glacier" not in {h["id"] for h in hits}
    r = client.post(f"/v1/indexes/{name}/compact", json={"recluster": False})
    assert r.json() == {"documents": 3, "removed": 2, "reclustered": False}
    assert client.post(f"/v1/indexes/{name}/compact").status_code == 200  # the body is optional


def test_document_ids_with_slashes(client):
    assert client.get("/v1/indexes/docs/documents/notes/tides.txt").json()["id"] == "notes/tides.txt"


def test_a_bad_add_writes_nothing(client):
    name = new_index(client, "badadds", DOCS[:2])
    before = client.get(f"/v1/indexes/{name}").json()
    ok = {"id": "fresh", "text": "a perfectly good document"}
    cases = [
        ({"documents": [ok, {"id": "colbert", "text": "clashes with a stored id"}]}, 409),
        ({"documents": [ok, {"id": "fresh", "text": "same id twice in one request"}]}, 422),
        ({"documents": [ok, {"id": "blank", "text": "   "}]}, 422),
        ({"documents": [ok, {"id": "", "text": "empty id"}]}, 422),
        ({"documents": [ok, {"text": "no id", "extra": 1}]}, 422),
        ({"documents": []}, 422),
    ]
    for body, status in cases:
        error(client.post(f"/v1/indexes/{name}/documents", json=body), status)
    nan = b'{"documents": [{"id": "fresh", "text": "ok"}, {"id": "n", "text": "t", "metadata": {"v": NaN}}]}'
    assert "NaN" in error(client.post(f"/v1/indexes/{name}/documents", content=nan,
                                      headers={"content-type": "application/json"}), 422)
    after = client.get(f"/v1/indexes/{name}").json()
    assert after["generation"] == before["generation"] and after["documents"] == before["documents"]
    error(client.get(f"/v1/indexes/{name}/documents/fresh"), 404)


def test_delete_unknown_ids(client):
    name = new_index(client, "deletes", DOCS[:3])
    msg = error(client.request("DELETE", f"/v1/indexes/{name}/documents", json={"ids": ["colbert", "ghost"]}),
                404, "document_not_found")
    assert "ghost" in msg and client.get(f"/v1/indexes/{name}").json()["documents"] == 3
    r = client.request("DELETE", f"/v1/indexes/{name}/documents", json={"ids": ["colbert", "ghost"], "missing_ok": True})
    assert r.json() == {"deleted": 1, "documents": 2}
    error(client.request("DELETE", f"/v1/indexes/{name}/documents", json={"ids": []}), 422)


def test_create_index_rules(client, home):
    r = client.post("/v1/indexes", json={"name": "created", "nbits": 4})
    assert r.status_code == 201 and r.json()["nbits"] == 4 and r.json()["documents"] == 0
    assert (home / "created" / "manifest.json").is_file()
    assert "created" in client.get("/v1/indexes").json()["indexes"]
    error(client.post("/v1/indexes", json={"name": "created"}), 409, "index_exists")
    error(client.post("/v1/indexes", json={"name": "../escape"}), 422, "invalid_name")
    error(client.post("/v1/indexes", json={"name": "x", "nbits": 3}), 422)
    r = client.post("/v1/indexes", json={"name": "tiered", "rerank": "int8"})
    assert r.status_code == 201 and r.json()["rerank"] == "int8" and r.json()["format_version"] == 4
    error(client.post("/v1/indexes", json={"name": "y", "rerank": "bf16"}), 422)


def test_create_needs_a_folder_of_indexes(home):
    with make_client([home / "docs"]) as c:  # an index folder only: nowhere to create
        error(c.post("/v1/indexes", json={"name": "other"}), 409, "no_home")
        assert c.get("/v1/indexes").json() == {"indexes": ["docs"]}


def test_index_locked_by_another_writer_is_409(home, client):
    from jcolbert.index import storage

    name = new_index(client, "locked", DOCS[:1])
    with make_client([home], lock_timeout_s=0.2) as c, storage.WriterLock(home / name, 0):
        r = c.post(f"/v1/indexes/{name}/documents", json={"documents": [{"id": "z", "text": "blocked"}]})
        error(r, 409, "index_locked")
    assert client.get(f"/v1/indexes/{name}").json()["documents"] == 1


def test_broken_index_is_503_and_not_ready(tmp_path, minilm_available):
    build_index(tmp_path / "good", DOCS[:2])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json", encoding="utf-8")
    from fastapi.testclient import TestClient

    from jcolbert.serve.app import create_app
    from jcolbert.serve.config import ServeConfig
    from serve_support import wait_ready

    with TestClient(create_app(ServeConfig(paths=(tmp_path,)))) as c:
        with pytest.raises(AssertionError, match="broken"):
            wait_ready(c)
        assert "broken" in error(c.get("/readyz"), 503, "not_ready")
        error(c.post("/v1/indexes/broken/search", json={"query": "x"}), 503, "index_unavailable")
        assert c.post("/v1/indexes/good/search", json={"query": "x"}).status_code == 200


# ----------------------------------------------------------------------------------------------- rerank, encode


def test_rerank_texts_and_ids(client):
    r = client.post("/v1/rerank", json={"query": "sleeping cats", "documents": ["bread rises", "cats sleep all day"]})
    results = r.json()["results"]
    assert [x["index"] for x in results] == [1, 0] and results[0]["score"] > results[1]["score"]
    r = client.post("/v1/rerank", json={"query": "volcano", "index": "docs", "ids": ["bread", "volcano"], "k": 1})
    assert r.json()["results"] == [{"rank": 1, "score": pytest.approx(r.json()["results"][0]["score"]),
                                    "index": 1, "id": "volcano"}]
    error(client.post("/v1/rerank", json={"query": "x", "index": "docs", "ids": ["ghost"]}), 404)
    error(client.post("/v1/rerank", json={"query": "x", "documents": ["a"], "ids": ["a"], "index": "docs"}), 422)
    error(client.post("/v1/rerank", json={"query": "x", "ids": ["a"]}), 422)
    error(client.post("/v1/rerank", json={"query": "x", "documents": ["a"] * 6}), 413)


def test_encode_queries_and_documents(client):
    q = client.post("/v1/encode", json={"texts": ["cats"], "kind": "query"}).json()
    d = client.post("/v1/encode", json={"texts": ["Cats sleep.", "Dogs walk far."], "kind": "document"}).json()
    assert q["model"] == "minilm" and len(d["vectors"]) == 2 and len(d["vectors"][0][0]) == 384
    h = client.post("/v1/encode", json={"texts": ["Cats sleep."], "kind": "document", "format": "float16_base64",
                                        "index": "docs"}).json()["vectors"][0]
    import base64

    half = np.frombuffer(base64.b64decode(h["data"]), dtype="<f2").reshape(h["shape"])
    np.testing.assert_allclose(half.astype(np.float32), np.asarray(d["vectors"][0]), atol=2e-3)
    error(client.post("/v1/encode", json={"texts": ["a", "b", "c", "d"]}), 413)
    error(client.post("/v1/encode", json={"texts": []}), 422)


# ----------------------------------------------------------------------------------------------- colbert-ai route, metrics


def test_colbert_ai_demo_route(client):
    r = client.get("/api/search", params={"query": "sleeping cats", "k": 3, "index": "docs"})
    body = r.json()
    assert body["query"] == "sleeping cats" and len(body["topk"]) == 3
    assert set(body["topk"][0]) == {"text", "pid", "rank", "score", "prob"}
    assert body["topk"][0]["pid"] == "cats" and body["topk"][0]["text"].startswith("Cats")
    assert sum(t["prob"] for t in body["topk"]) == pytest.approx(1.0)
    scores = [t["score"] for t in body["topk"]]
    assert scores == sorted(scores, reverse=True)
    assert "index=NAME" in error(client.get("/api/search", params={"query": "x"}), 400)  # several indexes here
    error(client.get("/api/search"), 422)


def test_colbert_ai_demo_route_single_index_numeric_pids(tmp_path, minilm_available):
    build_index(tmp_path / "nums", [{"id": str(i), "text": d["text"]} for i, d in enumerate(DOCS)])
    with make_client([tmp_path / "nums"]) as c:
        topk = c.get("/api/search", params={"query": "sleeping cats", "k": 500}).json()["topk"]
        assert len(topk) == len(DOCS) and topk[0]["pid"] == 3 and isinstance(topk[0]["pid"], int)


def test_metrics(client):
    client.post("/v1/indexes/docs/search", json={"query": "cats"})
    text = client.get("/metrics").text
    assert 'jcolbert_requests_total{method="POST",route="/v1/indexes/{name}/search",status="200"}' in text
    assert 'jcolbert_request_seconds_bucket{le="0.005",method="POST",route="/v1/indexes/{name}/search"' in text
    assert f'jcolbert_index_documents{{index="docs"}} {float(len(DOCS))}' in text
    assert 'jcolbert_write_queue_depth{index="docs"} 0.0' in text
    assert 'jcolbert_encode_queue_depth{model="minilm"}' in text
    assert "jcolbert_encode_batch_queries_count" in text
    assert json.dumps(text).count("Traceback") == 0
