"""API keys: no key / wrong key / read-only key on every write route, public reads, the constant-time check,
key files and the refuse-to-start rule."""

from __future__ import annotations

import pytest

from serve_support import DOCS, auth, build_index, make_client

pytest.importorskip("fastapi")

WRITER = "w-0123456789abcdef0123"
READER = "r-0123456789abcdef0123"
WRONG = "x-0123456789abcdef0123"

WRITE_ROUTES = [
    ("POST", "/v1/indexes", {"name": "fresh"}),
    ("POST", "/v1/indexes/docs/documents", {"documents": [{"id": "k1", "text": "keys keep writers out"}]}),
    ("DELETE", "/v1/indexes/docs/documents", {"ids": ["cats"]}),
    ("POST", "/v1/indexes/docs/compact", {}),
]
READ_ROUTES = [
    ("GET", "/v1/indexes", None),
    ("GET", "/v1/indexes/docs", None),
    ("POST", "/v1/indexes/docs/search", {"query": "cats"}),
    ("GET", "/v1/indexes/docs/documents/dogs", None),
    ("POST", "/v1/rerank", {"query": "cats", "documents": ["cats sleep"]}),
    ("POST", "/v1/encode", {"texts": ["cats"]}),
    ("GET", "/api/search?query=cats&index=docs", None),
    ("GET", "/metrics", None),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory, minilm_available):
    home = tmp_path_factory.mktemp("authhome")
    build_index(home / "docs", DOCS[:5])
    return home


def keys(*specs: str):
    from jcolbert.serve.auth import ApiKeys

    return ApiKeys.parse(list(specs), "test")


def code(r) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else ""


def test_every_write_route_needs_a_read_write_key(home):
    with make_client([home], keys=keys(WRITER, READER + ":read")) as c:
        for method, path, body in WRITE_ROUTES:
            assert code(c.request(method, path, json=body)) == (401, "unauthorized"), path
            assert code(c.request(method, path, json=body, headers=auth(WRONG))) == (401, "unauthorized"), path
            assert code(c.request(method, path, json=body, headers={"Authorization": WRITER})) == (401, "unauthorized")
            assert code(c.request(method, path, json=body, headers=auth(READER))) == (403, "forbidden"), path
        assert c.get("/v1/indexes/docs", headers=auth(READER)).json()["documents"] == 5  # nothing was written
        assert "fresh" not in c.get("/v1/indexes", headers=auth(READER)).json()["indexes"]
        for method, path, body in WRITE_ROUTES:
            assert c.request(method, path, json=body, headers=auth(WRITER)).status_code in (200, 201), path


def test_reads_need_a_key_unless_public(home):
    with make_client([home], keys=keys(WRITER, READER + ":read")) as c:
        for method, path, body in READ_ROUTES:
            assert code(c.request(method, path, json=body)) == (401, "unauthorized"), path
            assert code(c.request(method, path, json=body, headers=auth(WRONG))) == (401, "unauthorized"), path
            assert c.request(method, path, json=body, headers=auth(READER)).status_code == 200, path
            assert c.request(method, path, json=body, headers=auth(WRITER)).status_code == 200, path
        for path in ("/healthz", "/readyz", "/", "/static/app.js", "/docs", "/openapi.json"):
            assert c.get(path).status_code == 200, path
    with make_client([home], keys=keys(WRITER), public_read=True) as c:
        for method, path, body in READ_ROUTES:
            assert c.request(method, path, json=body).status_code == 200, path
        assert code(c.post("/v1/indexes/docs/compact")) == (401, "unauthorized")


def test_every_key_is_compared_every_time(monkeypatch):
    from jcolbert.serve import auth as auth_module

    calls = []
    real = auth_module.hmac.compare_digest

    def counting(a, b):
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", counting)
    k = keys(WRITER, READER + ":read", WRONG)
    for presented, role in ((WRITER, "write"), (READER, "read"), ("y" * 20, None)):
        calls.clear()
        assert k.role_of(presented) == role
        assert len(calls) == 3  # no early exit on the first match (or mismatch)


def test_key_sources_and_their_errors(tmp_path):
    from jcolbert.errors import InputError
    from jcolbert.serve.auth import ApiKeys

    f = tmp_path / "keys.txt"
    f.write_text(f"# operators\n{WRITER}\n\n{READER}:read\n", encoding="utf-8")
    loaded = ApiKeys.load(f, env={"JCOLBERT_API_KEYS": f"{WRONG}:read"})
    assert loaded.role_of(WRITER) == "write" and loaded.role_of(READER) == "read" and loaded.role_of(WRONG) == "read"
    assert not ApiKeys.load(None, env={})
    with pytest.raises(InputError, match="entry 1"):
        ApiKeys.parse(["short"], "test")
    with pytest.raises(InputError, match="role"):
        ApiKeys.parse([WRITER + ":admin"], "test")
    (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(InputError, match="no keys"):
        ApiKeys.load(tmp_path / "empty.txt", env={})
    with pytest.raises(InputError, match="cannot be read"):
        ApiKeys.load(tmp_path / "missing.txt", env={})


def test_refuses_to_start_on_a_public_host_without_keys(tmp_path):
    from jcolbert.errors import InputError
    from jcolbert.serve.config import ServeConfig, is_loopback

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.5"):
        assert is_loopback(host)
        ServeConfig(paths=(tmp_path,), host=host).check_start()
    for host in ("0.0.0.0", "192.168.1.20", "::", "example.org"):
        with pytest.raises(InputError, match="without API keys"):
            ServeConfig(paths=(tmp_path,), host=host).check_start()
        ServeConfig(paths=(tmp_path,), host=host, keys=keys(WRITER)).check_start()
        ServeConfig(paths=(tmp_path,), host=host, insecure=True).check_start()


def test_cli_refuses_to_start_without_keys(tmp_path):
    from typer.testing import CliRunner

    from jcolbert.cli.main import app

    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0"], env={"JCOLBERT_API_KEYS": ""})
    assert result.exit_code == 1
    assert "without API keys" in result.output and "--insecure" in result.output
