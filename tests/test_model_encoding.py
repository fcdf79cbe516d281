"""Encoding behaviour beyond parity: bad input, long documents, batching, attention masks, dtypes, minilm."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import jcolbert
from jcolbert.errors import InputError
from jcolbert.model.attention import AlibiBias, alibi_slopes

CARD_DOCS = [
    "ColBERT is an efficient and effective passage retrieval model.",
    "Jina-ColBERT is a ColBERT-style model but based on JinaBERT so it can support both 8k context length.",
    "JinaBERT is a BERT architecture that supports the symmetric bidirectional variant of ALiBi to allow longer sequence length.",
    "Jina is an easier way to build neural search systems.",
    "You can use Jina-ColBERT to build neural search systems with ease.",
]


@pytest.fixture(scope="module")
def jina(tiny_jina_dir: Path) -> jcolbert.ColBERTModel:
    return jcolbert.load_model(tiny_jina_dir, dtype=torch.float32)


@pytest.fixture(scope="module")
def long_text(fixtures_dir: Path) -> str:
    index = json.loads((fixtures_dir / "expected" / "tiny-jina-colbert.json").read_text())
    return next(c for c in index["cases"] if c["name"] == "long_doc")["texts"][0]


# -- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["fine", ""], r"documents\[1\] is empty or whitespace-only"),
        (["fine", " \t\n "], r"documents\[1\] is empty or whitespace-only"),
        (["fine", None], r"documents\[1\] is NoneType, expected str"),
        ([b"bytes"], r"documents\[0\] is bytes, expected str"),
        ([3], r"documents\[0\] is int"),
        ("a single string", "must be a list of strings"),
        (["ok", "bad \udcff surrogate"], r"documents\[1\] is not valid Unicode"),
    ],
)
def test_bad_document_input(jina, texts, message: str) -> None:
    with pytest.raises(InputError, match=message):
        jina.encode_documents(texts)


def test_bad_query_input(jina) -> None:
    with pytest.raises(InputError, match=r"queries\[2\] is empty"):
        jina.encode_queries(["a", "b", ""])
    with pytest.raises(InputError, match="must be a list"):
        jina.encode_queries("what is colbert?")


def test_empty_batches(jina) -> None:
    assert jina.encode_queries([]).shape == (0, 32, 128)
    docs = jina.encode_documents([])
    assert list(docs) == [] and docs.n_truncated == 0


def test_bad_options(jina) -> None:
    with pytest.raises(InputError, match="long_documents"):
        jina.encode_documents(["x"], long_documents="drop")
    with pytest.raises(InputError, match="max_length=9000 exceeds"):
        jina.encode_documents(["x"], max_length=9000)
    with pytest.raises(InputError, match="window_overlap"):
        jina.encode_documents(["word " * 100], max_length=16, long_documents="split", window_overlap=13)


# -- long documents ----------------------------------------------------------------------------------------
def test_truncation_is_counted_and_logged(jina, long_text: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jcolbert.model"):
        docs = jina.encode_documents([CARD_DOCS[0], long_text, long_text], max_length=256)
    assert docs.n_truncated == 2 and docs.n_windows == 3
    assert "truncated 2 of 3 documents to 256 tokens" in caplog.text
    kept = jina.tokenize_documents([long_text], max_length=256).keep_mask.sum().item()
    assert len(docs[1]) == kept


def test_windows_cover_the_whole_document(jina, long_text: str) -> None:
    room = 256 - 3
    n_pieces = len(jina.tokenizer.wordpieces([long_text])[0])
    overlap = 32
    docs = jina.encode_documents(
        [CARD_DOCS[0], long_text], max_length=256, long_documents="split", window_overlap=overlap
    )
    n_windows = math.ceil((n_pieces - overlap) / (room - overlap))
    assert docs.n_truncated == 0 and docs.n_windows == 1 + n_windows
    truncated = jina.encode_documents([CARD_DOCS[0], long_text], max_length=256)
    assert torch.equal(docs[0], truncated[0])  # short documents are untouched
    # The first window is exactly the truncated document; the rest follow it in the same tensor.
    assert torch.allclose(docs[1][: len(truncated[1])], truncated[1], atol=1e-6)
    assert len(docs[1]) > 4 * len(truncated[1])


# -- batching ----------------------------------------------------------------------------------------------
def test_bucketed_batches_restore_input_order(jina, long_text: str) -> None:
    texts = [CARD_DOCS[3], long_text[:1500], CARD_DOCS[0], long_text[:600], CARD_DOCS[2], CARD_DOCS[1]]
    together = jina.encode_documents(texts, batch_size=2)
    for text, vectors in zip(texts, together, strict=True):
        alone = jina.encode_documents([text])[0]
        assert vectors.shape == alone.shape
        assert torch.allclose(vectors, alone, atol=1e-5)
    small = jina.encode_documents(texts, batch_size=32, max_batch_tokens=300)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(small, together, strict=True))
    Q = jina.encode_queries(CARD_DOCS, batch_size=2)
    assert torch.allclose(Q, jina.encode_queries(CARD_DOCS), atol=1e-5)


def test_attention_masks_of_any_shape(jina) -> None:
    """Left padding (not what ColBERT produces) takes the explicit-bias path and still matches."""
    ids = jina.tokenize_documents([CARD_DOCS[0]]).input_ids
    n = ids.shape[1]
    alone = jina.last_hidden_state(ids, torch.ones_like(ids))
    left = torch.cat([torch.zeros(1, 5, dtype=torch.long), ids], 1)
    left_mask = torch.cat([torch.zeros(1, 5, dtype=torch.long), torch.ones_like(ids)], 1)
    hidden = jina.last_hidden_state(left, left_mask)
    # ALiBi depends on i - j only, so shifting every real token by 5 positions changes nothing.
    assert torch.allclose(hidden[0, 5:], alone[0], atol=1e-5)
    assert hidden.shape == (1, n + 5, 96)


def test_alibi_slopes() -> None:
    assert alibi_slopes(8) == [2.0**-i for i in range(1, 9)]
    twelve = [2.0**-i for i in range(1, 9)] + [2.0**-0.5, 2.0**-1.5, 2.0**-2.5, 2.0**-3.5]
    assert alibi_slopes(12) == pytest.approx(twelve, rel=1e-12)
    assert alibi_slopes(16)[:3] == pytest.approx([2.0**-0.5, 2.0**-1.0, 2.0**-1.5])
    assert len(alibi_slopes(6)) == 6 and alibi_slopes(6)[4:] == pytest.approx([2**-1.0, 2**-3.0])


def test_alibi_bias_view_is_the_symmetric_bias() -> None:
    slopes = torch.tensor(alibi_slopes(4))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    bias = AlibiBias(slopes, mask, torch.float32)
    assert [n for n, _ in bias.groups] == [3, 6] and not bias.irregular
    for n in (3, 6):
        view = bias.reversed_keys_view(n)[0]  # [H, L, n], keys reversed
        i = torch.arange(6)[:, None]
        j = (n - 1 - torch.arange(n))[None, :]
        expected = -slopes[:, None, None] * (i - j).abs()
        assert torch.equal(view, expected)


# -- dtypes and devices ------------------------------------------------------------------------------------
def test_outputs_are_float32_cpu_even_in_bf16(tiny_jina_dir: Path) -> None:
    model = jcolbert.load_model(tiny_jina_dir, dtype=torch.bfloat16)
    Q = model.encode_queries(["what is late interaction?"])
    D = model.encode_documents(CARD_DOCS)
    assert Q.dtype == torch.float32 and Q.device.type == "cpu"
    assert all(d.dtype == torch.float32 for d in D)
    with pytest.raises(InputError, match="dtype"):
        jcolbert.load_model(tiny_jina_dir, dtype=torch.int8)


# -- the offline minilm model -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm(minilm_available: bool) -> jcolbert.ColBERTModel:
    return jcolbert.load_model("minilm", dtype=torch.float32)


def test_minilm_encodes_real_text(minilm) -> None:
    c = minilm.config
    assert (c.dim, c.projection, c.backbone) == (384, "identity", "bert")
    assert c.name_or_path == "minilm"  # a built-in name, not a path
    docs = [
        "The mitochondria is the powerhouse of the cell, producing ATP through oxidative phosphorylation.",
        "The 2018 World Cup final was played in Moscow between France and Croatia.",
        "Python is a programming language that emphasises readability.",
    ]
    ranked = jcolbert.rerank(minilm, "which organelle makes ATP in cells?", docs)
    assert ranked[0][0] == 0
    ranked = jcolbert.rerank(minilm, "who played in the world cup final?", docs)
    assert ranked[0][0] == 1
    D = minilm.encode_documents(docs)
    assert all(torch.allclose(d.norm(dim=-1), torch.ones(len(d)), atol=1e-5) for d in D)
    # No [MASK] augmentation (measured on SciFact): query rows after [SEP] are exact zeros.
    Q = minilm.encode_queries(["which organelle makes ATP?"])
    n = int(minilm.tokenize_queries(["which organelle makes ATP?"]).attention_mask.sum())
    assert Q.shape == (1, c.query_maxlen, 384)
    assert torch.allclose(Q[0, :n].norm(dim=-1), torch.ones(n), atol=1e-5) and not Q[0, n:].any()


def test_bf16_agrees_with_fp32(minilm_available: bool, data_dir: Path) -> None:
    texts = []
    with open(data_dir / "scifact" / "corpus.jsonl", encoding="utf-8") as f:
        for line, _ in zip(f, range(8), strict=False):
            doc = json.loads(line)
            texts.append(f"{doc['title']} {doc['text']}")
    fp32 = jcolbert.load_model("minilm", dtype=torch.float32).encode_documents(texts)
    bf16 = jcolbert.load_model("minilm", dtype=torch.bfloat16).encode_documents(texts)
    cosines = torch.cat([F.cosine_similarity(a, b, dim=-1) for a, b in zip(fp32, bf16, strict=True)])
    assert cosines.mean().item() >= 0.999


# -- memory on a full-size 8192-token document -------------------------------------------------------------
MEMORY_SCRIPT = """
import resource, sys, torch
from jcolbert.model.jinabert import JinaBert, JinaBertConfig
torch.manual_seed(0)
with torch.device("meta"):
    model = JinaBert(JinaBertConfig())
model = model.to_empty(device="cpu")
for p in model.parameters():
    torch.nn.init.normal_(p, std=0.02)
ids = torch.randint(1000, 30000, (1, 8192))
with torch.inference_mode():
    out = model.eval()(ids, torch.ones_like(ids))
assert out.shape == (1, 8192, 768) and torch.isfinite(out).all()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.slow
def test_8192_token_document_peak_rss_under_3gb() -> None:
    """The real jina-colbert-v1-en architecture (random weights) on one 8192-token input, in a fresh process."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    peak_mb = int(out.stdout.strip().splitlines()[-1])
    assert peak_mb <= 3 * 1024, f"peak RSS {peak_mb} MB"
