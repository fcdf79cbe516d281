"""`compute_threads`: each of the server's worker threads computes on that many threads (torch per thread, numpy's
BLAS per process), and the process gets its own settings back at shutdown."""

from __future__ import annotations

import time

import pytest

from serve_support import build_index, make_client

pytest.importorskip("fastapi")
threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def _worker_threads(client) -> dict[str, int]:
    """torch.get_num_threads() as seen in a search thread, the encoder thread and the index's writer thread."""
    import torch

    server = client.app.state.server
    served = server.registry.lookup("docs")
    search = server.pool.submit(torch.get_num_threads).result(30)
    encode = served.model.batcher._pool.submit(torch.get_num_threads).result(30)
    write = served.writer.submit(lambda _index: torch.get_num_threads(), time.monotonic() + 30).result(30)
    return {"search": search, "encode": encode, "write": write}


@pytest.fixture(scope="module")
def home(tmp_path_factory, minilm_available):
    home = tmp_path_factory.mktemp("threads")
    build_index(home / "docs")
    return home


def test_workers_compute_on_one_thread_by_default_and_blas_comes_back(home):
    import numpy  # noqa: F401 - its BLAS must be loaded for threadpoolctl to see it
    import torch

    before_blas, before_torch = _blas_threads(), torch.get_num_threads()
    with make_client([home]) as client:
        assert client.app.state.server.config.compute_threads == 1
        assert _worker_threads(client) == {"search": 1, "encode": 1, "write": 1}
        assert _blas_threads() == {1}
        r = client.post("/v1/indexes/docs/search", json={"query": "late interaction MaxSim", "k": 3})
        assert r.status_code == 200 and r.json()["hits"][0]["id"] == "colbert"
    assert _blas_threads() == before_blas  # restored at shutdown
    assert torch.get_num_threads() == before_torch  # the caller's thread was never touched


def test_compute_threads_none_leaves_the_process_settings(home):
    import torch

    default = torch.get_num_threads()
    before_blas = _blas_threads()
    with make_client([home], compute_threads=None) as client:
        assert set(_worker_threads(client).values()) == {default}
        assert _blas_threads() == before_blas


@pytest.mark.parametrize("name", ["compute_threads", "search_threads", "max_batch"])
@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2", None])
def test_thread_and_batch_counts_are_validated(home, name, bad):
    from jcolbert.errors import InputError
    from jcolbert.serve.config import ServeConfig

    if name == "compute_threads" and bad is None:
        assert ServeConfig(paths=(home,), compute_threads=None).compute_threads is None  # leave the process alone
        return
    with pytest.raises(InputError, match=f"{name} must be a positive integer"):
        ServeConfig(paths=(home,), **{name: bad})
