"""Every Python snippet of the Jina-ColBERT model card runs through `jcolbert.compat`, imports changed only.

The snippets are read from ``../shared/seed/jina-colbert-v1-en-model-card.md`` itself (not copied), so
this test follows the card. They name the hub model ``jinaai/jina-colbert-v1-en``; to run them
unchanged offline, a throw-away Hugging Face cache holds the tiny Jina-ColBERT fixture under that
name and ``HF_HUB_OFFLINE=1`` makes the hub client use it (a subprocess, so the cache location is
read fresh). The reranking snippet's undefined names (``args.reranker``, ``colbert_config``,
``all_queries[i]``, ``all_passages``, ``torch``, ``numpy``, ``colbert_score``) are fixed the obvious
way; the "Creating Vectors" snippet also lacks its ``ColBERTConfig`` import, which is added.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_shared

CARD = ("seed", "jina-colbert-v1-en-model-card.md")
HUB_NAME = "jinaai/jina-colbert-v1-en"

IMPORTS = {
    "from colbert import ": "from jcolbert.compat import ",
    "from colbert.infra import ": "from jcolbert.compat.infra import ",
    "from colbert.modeling.checkpoint import ": "from jcolbert.compat.modeling.checkpoint import ",
}

# The reranking snippet's undefined names, fixed the obvious way.
RERANK_FIXES = {
    "ckpt = Checkpoint(args.reranker, colbert_config=colbert_config)": (
        f'ckpt = Checkpoint("{HUB_NAME}", colbert_config=config)'
    ),
    "Q = ckpt.queryFromText([all_queries[i]])": "Q = ckpt.queryFromText(query)",
    "D = ckpt.docFromText(all_passages, bsize=32)[0]": "D = ckpt.docFromText(documents, bsize=32)[0]",
}
RERANK_IMPORTS = "import numpy\nimport torch\nfrom jcolbert.compat import colbert_score\n"
VECTORS_IMPORT = "from jcolbert.compat.infra import ColBERTConfig\n"


def card_snippets(card: Path) -> dict[str, str]:
    """The card's ```python blocks, keyed by the ### heading above each."""
    text = card.read_text(encoding="utf-8")
    out: dict[str, str] = {}
    heading = ""
    for block in re.finditer(r"^### ([^\n]+)$|^```python\n(.*?)^```", text, flags=re.S | re.M):
        if block.group(1):
            heading = block.group(1).strip()
        else:
            out[heading] = block.group(2)
    return out


def adapted(name: str, code: str) -> str:
    """The snippet with colbert-ai's imports replaced (and the documented fixes)."""
    for old, new in IMPORTS.items():
        code = code.replace(old, new)
    assert "from colbert" not in code and "import colbert" not in code, name
    if name == "Creating Vectors":
        code = VECTORS_IMPORT + code
    if name == "Reranking Using ColBERT":
        for old, new in RERANK_FIXES.items():
            assert old in code, f"the card's reranking snippet changed: {old!r} not found"
            code = code.replace(old, new)
        code = RERANK_IMPORTS + code
    return code


def fake_hub_cache(root: Path, repo_id: str, checkpoint: Path) -> Path:
    """A Hugging Face cache in which ``repo_id`` resolves (offline) to the files of ``checkpoint``."""
    revision = "0" * 40
    repo = root / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for f in checkpoint.iterdir():
        (snapshot / f.name).symlink_to(f.resolve())
    return root


def offline_env(hub_cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_CACHE=str(hub_cache), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1"
    )
    env.pop("HF_HOME", None)
    return env


# Runs each snippet in a fresh namespace as `__main__`, in order, then reports what they computed.
DRIVER = r"""
import json, sys
snippets = json.loads(sys.stdin.read())
report = {}
for name, code in snippets.items():
    ns = {"__name__": "__main__"}
    exec(compile(code, f"<model card: {name}>", "exec"), ns)
    if name == "Indexing":
        report["index_path"] = ns["indexer"].get_index()
    elif name == "Searching":
        pids, ranks, scores = ns["results"]
        report["search"] = {"pids": pids, "ranks": ranks, "scores": scores,
                            "query_maxlen": int(ns["searcher"].encode("q").shape[1]),
                            "top_text": ns["searcher"].collection[pids[0]]}
    elif name == "Creating Vectors":
        report["query_vectors"] = list(ns["query_vectors"].shape)
    elif name == "Reranking Using ColBERT":
        report["rerank"] = {"ranking": [int(i) for i in ns["ranking"]], "scores": ns["scores"],
                            "D": list(ns["D"].shape), "Q": list(ns["Q"].shape)}
print("REPORT " + json.dumps(report))
"""


@pytest.fixture(scope="module")
def card_report(tmp_path_factory, tiny_jina_dir):
    card = require_shared(*CARD)
    snippets = card_snippets(card)
    assert list(snippets) == ["Indexing", "Searching", "Creating Vectors", "Reranking Using ColBERT"]
    work = tmp_path_factory.mktemp("card")
    hub = fake_hub_cache(work / "hub", HUB_NAME, tiny_jina_dir)
    code = {name: adapted(name, body) for name, body in snippets.items()}
    run_dir = work / "run"
    run_dir.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(code),
        capture_output=True,
        text=True,
        cwd=run_dir,
        env=offline_env(hub),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("REPORT "))
    return json.loads(line[len("REPORT ") :]), run_dir


def test_indexing_snippet_builds_the_seven_document_index(card_report):
    report, run_dir = card_report
    # experiment = "" and index_name = "" in the card: colbert-ai's path rule gives <cwd>/experiments/indexes/
    index_path = Path(report["index_path"])
    assert index_path == run_dir / "experiments" / "indexes"
    assert (index_path / "manifest.json").is_file()
    from jcolbert import Index

    with Index.open(index_path) as index:
        assert len(index) == 7
        assert sorted(index.ids(), key=int) == [str(i) for i in range(7)]


def test_searching_snippet_returns_pids_ranks_scores(card_report):
    search = card_report[0]["search"]
    assert sorted(search["pids"]) == list(range(7))  # k=10 > 7 documents: all of them
    assert search["ranks"] == list(range(1, 8))
    assert search["scores"] == sorted(search["scores"], reverse=True)
    assert search["query_maxlen"] == 128  # the snippet's ColBERTConfig(query_maxlen=128) reached the encoder
    assert search["top_text"]  # searcher.collection[pid] gives the passage


def test_creating_vectors_snippet_shape(card_report):
    assert card_report[0]["query_vectors"] == [2, 32, 128]


def test_reranking_snippet_matches_the_reference(card_report, fixtures_dir):
    rerank = card_report[0]["rerank"]
    expected = json.loads((fixtures_dir / "expected" / "tiny-jina-colbert.json").read_text())
    case = next(c for c in expected["cases"] if c["name"] == "rerank")
    from safetensors.torch import load_file

    tensors = load_file(str(fixtures_dir / "expected" / "tiny-jina-colbert.safetensors"))
    assert rerank["Q"] == list(tensors["rerank.Q"].shape)
    assert rerank["D"] == list(tensors["rerank.D_padded"].shape)  # same padding as colbert-ai: [4, 30, 128]
    assert rerank["ranking"] == case["ranking"]
    assert rerank["scores"] == pytest.approx(tensors["rerank.scores_snippet"].tolist(), abs=1e-4)
