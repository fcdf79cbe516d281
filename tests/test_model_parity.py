"""Parity with the reference stack (colbert-ai 0.2.22 + Jina's JinaBERT code) on the tiny fixture checkpoints.

Every case of ../shared/fixtures/expected/<checkpoint>.json is checked through the public API: token ids,
attention / keep masks and doclens exactly; vectors within 1e-5; backbone states within 1e-5 + 1e-5*|ref|;
scores within 1e-4; rankings exactly (tolerances from the fixture README, section 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import jcolbert

CHECKPOINTS = ["tiny-jina-colbert", "tiny-bert-colbert"]


class Expected:
    def __init__(self, fixtures_dir: Path, name: str) -> None:
        self.index = json.loads((fixtures_dir / "expected" / f"{name}.json").read_text())
        self.tensors = load_file(str(fixtures_dir / "expected" / self.index["tensors_file"]))
        self.cases = {c["name"]: c for c in self.index["cases"]}
        self.folder = fixtures_dir / name

    def tensor(self, case: str, role: str, i: int | None = None) -> torch.Tensor:
        entry = self.cases[case]["tensors"][role]
        return self.tensors[(entry[i] if i is not None else entry)["name"]]


@pytest.fixture(scope="module", params=CHECKPOINTS)
def expected(request, fixtures_dir: Path) -> Expected:
    return Expected(fixtures_dir, request.param)


@pytest.fixture(scope="module")
def model(expected: Expected) -> jcolbert.ColBERTModel:
    return jcolbert.load_model(expected.folder, dtype=torch.float32)  # parity is checked in fp32


def case_model(expected: Expected, model, case: str):
    """The model with the case's effective lengths (cases may override the artifact's doc_maxlen)."""
    cfg = expected.cases[case]["config"]
    if (cfg["query_maxlen"], cfg["doc_maxlen"]) == (model.config.query_maxlen, model.config.doc_maxlen):
        return model
    return jcolbert.load_model(
        expected.folder, query_maxlen=cfg["query_maxlen"], doc_maxlen=cfg["doc_maxlen"], dtype=torch.float32
    )


def assert_close(
    actual: torch.Tensor, ref: torch.Tensor, atol: float, rtol: float = 0.0, what: str = ""
) -> None:
    assert actual.shape == ref.shape, (what, actual.shape, ref.shape)
    err = (actual - ref).abs()
    limit = atol + rtol * ref.abs()
    assert bool((err <= limit).all()), f"{what}: max abs diff {err.max().item():.3g} over tolerance"


def test_config_matches_case_settings(expected: Expected, model) -> None:
    cfg = expected.cases["queries"]["config"]
    c = model.config
    assert (c.query_maxlen, c.doc_maxlen, c.dim) == (cfg["query_maxlen"], cfg["doc_maxlen"], cfg["dim"])
    assert (c.query_marker, c.doc_marker) == (cfg["query_token_id"], cfg["doc_token_id"])
    assert (
        c.mask_punctuation is cfg["mask_punctuation"]
        and c.attend_to_mask_tokens is cfg["attend_to_mask_tokens"]
    )
    assert c.backbone == ("jinabert" if "jina" in expected.index["checkpoint"] else "bert")


def test_skiplist_ids(expected: Expected, model) -> None:
    assert sorted(model.tokenizer.skiplist_ids) == expected.index["produced_by"]["backbone"]["skiplist_ids"]


def test_query_tokens_and_vectors(expected: Expected, model) -> None:
    case = expected.cases["queries"]
    batch = model.tokenize_queries(case["texts"])
    assert torch.equal(batch.input_ids, expected.tensor("queries", "input_ids"))
    assert torch.equal(batch.attention_mask, expected.tensor("queries", "attention_mask"))
    Q = model.encode_queries(case["texts"], batch_size=4)
    assert Q.dtype == torch.float32 and Q.device.type == "cpu"
    assert_close(Q, expected.tensor("queries", "Q"), 1e-5, what="Q")
    assert torch.allclose(Q.norm(dim=-1), torch.ones(Q.shape[:2]), atol=1e-5)


def test_document_tokens_and_vectors(expected: Expected, model) -> None:
    """Every docFromText case of the fixture: docs (artifact doc_maxlen), long_doc (jina, 4096), docs_maxlen512 (bert)."""
    names = [n for n, c in expected.cases.items() if c["kind"] == "docFromText"]
    assert "docs" in names and len(names) == 2
    for case_name in names:
        case = expected.cases[case_name]
        m = case_model(expected, model, case_name)
        batch = m.tokenize_documents(case["texts"])
        assert torch.equal(batch.input_ids, expected.tensor(case_name, "input_ids"))
        assert torch.equal(batch.attention_mask, expected.tensor(case_name, "attention_mask"))
        assert torch.equal(batch.keep_mask, expected.tensor(case_name, "keep_mask"))
        assert batch.lengths == case["token_counts"]
        D = m.encode_documents(case["texts"], batch_size=3)
        assert [len(d) for d in D] == case["doclens"]
        for i, d in enumerate(D):
            assert d.dtype == torch.float32
            assert_close(d, expected.tensor(case_name, "D", i), 1e-5, what=f"{case_name}.D.{i}")
        # The fixture's long texts overflow doc_maxlen (none fits it exactly), so these are the truncated ones.
        assert D.n_truncated == sum(c == case["config"]["doc_maxlen"] for c in case["token_counts"])


@pytest.mark.parametrize("case_name", ["backbone_query", "backbone_doc", "backbone_padded_pair"])
def test_backbone_hidden_states(expected: Expected, model, case_name: str) -> None:
    ids = expected.tensor(case_name, "input_ids")
    mask = expected.tensor(case_name, "attention_mask")
    ref = expected.tensor(case_name, "last_hidden_state")
    hidden = model.last_hidden_state(ids, mask)
    assert hidden.shape == ref.shape
    rows = mask.bool() if case_name == "backbone_padded_pair" else torch.ones_like(mask, dtype=torch.bool)
    assert_close(hidden[rows], ref[rows], 1e-5, 1e-5, what=case_name)


def test_rerank_case(expected: Expected, model) -> None:
    case = expected.cases["rerank"]
    m = case_model(expected, model, "rerank")
    qb = m.tokenize_queries([case["query"]])
    db = m.tokenize_documents(case["docs"])
    assert torch.equal(qb.input_ids, expected.tensor("rerank", "query_input_ids"))
    assert torch.equal(db.input_ids, expected.tensor("rerank", "doc_input_ids"))
    assert torch.equal(db.attention_mask, expected.tensor("rerank", "doc_attention_mask"))

    Q = m.encode_queries([case["query"]])
    assert_close(Q, expected.tensor("rerank", "Q"), 1e-5, what="rerank.Q")
    D_padded = m.embed(db)  # the snippet's docFromText(...)[0]: zero vectors at punctuation and padding
    assert_close(D_padded, expected.tensor("rerank", "D_padded"), 1e-5, what="rerank.D_padded")
    D_mask = expected.tensor("rerank", "D_mask")
    snippet = jcolbert.colbert_score(Q, D_padded, D_mask)
    assert_close(snippet, expected.tensor("rerank", "scores_snippet"), 1e-4, what="scores_snippet")

    unpadded = jcolbert.maxsim(Q[0], m.encode_documents(case["docs"]))
    assert_close(unpadded, expected.tensor("rerank", "scores_maxsim_unpadded"), 1e-4, what="maxsim")

    ranked = jcolbert.rerank(m, case["query"], case["docs"])
    assert [i for i, _ in ranked] == case["ranking"] == expected.tensor("rerank", "ranking").tolist()
    ref_scores = expected.tensor("rerank", "scores_maxsim_unpadded")
    for i, score in ranked:
        assert abs(score - ref_scores[i].item()) <= 1e-4
