"""README's "Serving" section runs: its curl commands and its Python block, against a served `my_index`."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from serve_support import Uvicorn, build_index
from test_cli_readme import blocks

pytest.importorskip("fastapi")

DOCS = [
    {"id": "colbert", "text": "ColBERT scores with late interaction: MaxSim over token vectors.", "metadata": {"lang": "en"}},
    {"id": "bm25", "text": "BM25 counts words.", "metadata": {"lang": "en"}},
    {"id": "d1", "text": "Spät-Interaktion vergleicht jedes Token.", "metadata": {"lang": "de"}},
]


def test_readme_serving_examples_run(tmp_path, minilm_available):
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    build_index(tmp_path / "my_index", DOCS)
    bash = blocks("Serving", "bash")
    assert [line.split("#")[0].split() for line in bash[0].strip().splitlines()][0][:3] == ["jcolbert", "serve", "my_index"]
    with Uvicorn([tmp_path / "my_index"]) as server:
        base = server.url.removeprefix("http://")
        text = bash[1].replace("\\\n", " ").replace("localhost:8000", base)
        answers = []
        for line in text.splitlines():
            command = line.split(" # ")[0].strip()
            if not command.startswith("curl"):
                continue
            out = subprocess.run(["bash", "-c", command + " -f"], capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, (command, out.stdout, out.stderr)
            answers.append(json.loads(out.stdout))
        assert answers[0]["hits"][0]["id"] == "colbert" and "text" in answers[0]["hits"][0]
        assert len(answers[1]["results"]) == 2
        assert answers[2]["ids"] == ["d9"] and answers[3]["deleted"] == 1
        assert answers[4]["topk"][0]["pid"] == "colbert"

        python = blocks("Serving", "python")[0].replace("http://127.0.0.1:8000", server.url)
        exec(compile(python, "README.md (Serving)", "exec"), {})
        assert httpx_get(server.url + "/v1/indexes/my_index")["documents"] == 4


def httpx_get(url: str) -> dict:
    import httpx

    return httpx.get(url).json()
