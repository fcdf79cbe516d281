"""What the server tests share: a small real collection, index building with the offline `minilm` model, an app
under FastAPI's TestClient that is ready to answer, and a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

DOCS = [
    {"id": "colbert", "text": "ColBERT scores documents with late interaction: every query token finds its most "
     "similar document token (MaxSim) and the maxima are summed.", "metadata": {"lang": "en", "topic": "ir"}},
    {"id": "plaid", "text": "PLAID prunes candidate documents with centroid interaction before exact scoring.",
     "metadata": {"lang": "en", "topic": "ir"}},
    {"id": "bm25", "text": "BM25 ranks documents by term frequency and inverse document frequency.",
     "metadata": {"lang": "en", "topic": "ir"}},
    {"id": "cats", "text": "Cats sleep most of the day and hunt small animals at night.",
     "metadata": {"lang": "en", "topic": "animals"}},
    {"id": "dogs", "text": "Dogs are loyal companions that need daily walks and play.",
     "metadata": {"lang": "en", "topic": "animals"}},
    {"id": "bread", "text": "Sourdough bread rises slowly with wild yeast and lactic acid bacteria.",
     "metadata": {"lang": "en", "topic": "food"}},
    {"id": "volcano", "text": "A volcano erupts when magma from the mantle reaches the surface of the earth.",
     "metadata": {"lang": "en", "topic": "earth"}},
    {"id": "chat-fr", "text": "Le chat dort sur le canapé toute la journée.", "metadata": {"lang": "fr", "topic": "animals"}},
    {"id": "notes/tides.txt", "text": "Ocean tides are caused by the gravitational pull of the moon and the sun.",
     "metadata": {"lang": "en", "topic": "earth"}},
    {"id": "photosynthesis", "text": "Plants turn sunlight, water and carbon dioxide into sugar by photosynthesis.",
     "metadata": {"lang": "en", "topic": "biology"}},
]


def build_index(path: Path, docs: list[dict[str, Any]] = DOCS, model: Any = "minilm", **create: Any) -> Path:
    import jcolbert

    with jcolbert.Index.create(path, model=model, **create) as index:
        index.add(docs)
    return path


def make_client(paths, **config: Any):
    """A started TestClient (enter it with `with`) for an app over paths; waits for /readyz."""
    from fastapi.testclient import TestClient

    from jcolbert.serve.app import create_app
    from jcolbert.serve.config import ServeConfig

    return _Ready(TestClient(create_app(ServeConfig(paths=tuple(paths), **config))))


class _Ready:
    def __init__(self, client):
        self.client = client

    def __enter__(self):
        client = self.client.__enter__()
        wait_ready(client)
        return client

    def __exit__(self, *exc):
        return self.client.__exit__(*exc)


def wait_ready(client, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        if r.status_code == 200:
            return
        if r.status_code == 503 and "opening indexes" not in r.json()["error"]["message"]:
            raise AssertionError(f"server failed to start: {r.json()}")
        time.sleep(0.05)
    raise AssertionError("server not ready in time")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Uvicorn:
    """The app on uvicorn in a thread of this process, on a free loopback port."""

    def __init__(self, paths, **config):
        import uvicorn

        from jcolbert.serve.app import create_app
        from jcolbert.serve.config import ServeConfig

        self.port = free_port()
        app = create_app(ServeConfig(paths=tuple(paths), port=self.port, **config))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        import httpx

        self.thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not become ready")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)
