"""BERT backbones: the lean forward against transformers' BertModel.forward, shared weights, and what runs where."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import jcolbert
from jcolbert.errors import CheckpointError
from jcolbert.model import bert
from jcolbert.model.checkpoint import split_state
from jcolbert.model.leanbert import BertShape, LeanBert, checkpoint_shapes

TEXTS = [
    "ColBERT is an efficient and effective passage retrieval model.",
    "Hello, world!!! (Really?)",
    "Late interaction keeps one vector per token and scores with MaxSim over the document's tokens.",
]


@pytest.fixture(scope="module")
def tiny_bert(tiny_bert_dir: Path) -> jcolbert.ColBERTModel:
    return jcolbert.load_model(tiny_bert_dir)


def masks_of_every_kind(model: jcolbert.ColBERTModel) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Right-padded documents, unpadded queries with [MASK] augmentation, and left padding."""
    docs = model.tokenize_documents(TEXTS)
    queries = model.tokenize_queries(TEXTS)
    ids = docs.input_ids[:1]
    left = torch.cat([torch.zeros(1, 4, dtype=torch.long), ids], 1)
    left_mask = torch.cat([torch.zeros(1, 4, dtype=torch.long), torch.ones_like(ids)], 1)
    return [
        (docs.input_ids, docs.attention_mask),
        (queries.input_ids, queries.attention_mask),
        (left, left_mask),
        (ids, torch.ones_like(ids)),
    ]


def test_lean_forward_matches_bert_model_forward(tiny_bert) -> None:
    backbone = tiny_bert.backbone
    assert isinstance(backbone.lean, LeanBert)
    with torch.inference_mode():
        for ids, mask in masks_of_every_kind(tiny_bert):
            ours, ref = backbone(ids, mask), backbone.reference_forward(ids, mask)
            rows = mask.bool()
            assert (ours[rows] - ref[rows]).abs().max().item() <= 1e-5


def test_lean_weights_are_the_bert_model_weights(tiny_bert) -> None:
    """One copy of the weights: q/k/v are row blocks of the fused qkv matrix, the rest the same Parameters."""
    backbone = tiny_bert.backbone
    hidden = backbone.config.hidden_size
    layer, lean = backbone.bert.encoder.layer[1], backbone.lean.layers[1]
    fused = lean.qkv.weight
    for i, proj in enumerate((layer.attention.self.query, layer.attention.self.key, layer.attention.self.value)):
        assert proj.weight.data_ptr() == fused.data_ptr() + i * hidden * hidden * fused.element_size()
        assert torch.equal(proj.weight, fused[i * hidden : (i + 1) * hidden])
    assert layer.intermediate.dense.weight is lean.up.weight
    assert backbone.bert.embeddings.word_embeddings.weight is backbone.lean.word_embeddings.weight
    assert torch.equal(backbone.bert.embeddings.position_ids[0, :5], torch.arange(5))


def test_lean_forward_in_bf16(tiny_bert_dir: Path) -> None:
    model = jcolbert.load_model(tiny_bert_dir, dtype=torch.bfloat16)
    ids, mask = masks_of_every_kind(model)[0]
    with torch.inference_mode():
        ours = model.backbone(ids, mask).float()
        ref = model.backbone.reference_forward(ids, mask).float()
    rows = mask.bool()
    assert F.cosine_similarity(ours[rows], ref[rows], dim=-1).min().item() > 0.999


def test_nonstandard_config_runs_bert_model_forward(tiny_bert_dir: Path, tiny_bert) -> None:
    """A decoder config (causal attention) is not what LeanBert computes: transformers' forward runs it."""
    hf = json.loads((tiny_bert_dir / "config.json").read_text())
    state = load_file(str(tiny_bert_dir / "model.safetensors"))
    body, prefix = split_state(state, {"linear.weight"})
    backbone = bert.from_checkpoint(body, {**hf, "is_decoder": True}, "config.json", prefix)
    assert backbone.lean is None
    ids, mask = masks_of_every_kind(tiny_bert)[3]
    with torch.inference_mode():
        causal = backbone(ids, mask)
        assert torch.equal(causal, backbone.reference_forward(ids, mask))
        # and it is indeed a different function from the bidirectional encoder
        assert (causal - tiny_bert.backbone(ids, mask)).abs().max().item() > 1e-3


def test_shape_refuses_nonstandard_configs() -> None:
    for extra, message in [
        ({"hidden_act": "gelu_new"}, "hidden_act='gelu_new'"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type='relative_key'"),
        ({"is_decoder": True}, "is_decoder=true"),
    ]:
        with pytest.raises(CheckpointError, match=f"config.json: not a standard BERT encoder.*{message}"):
            BertShape.from_hf({"hidden_size": 96, **extra})


def test_checkpoint_shapes_are_bert_model_keys(tiny_bert_dir: Path) -> None:
    from transformers import BertModel

    hf = json.loads((tiny_bert_dir / "config.json").read_text())
    with torch.device("meta"):
        model = BertModel(bert.bert_config(hf, "config.json"), add_pooling_layer=False)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert checkpoint_shapes(BertShape.from_hf(hf)) == expected


# -- the offline minilm model: LeanBert without transformers ---------------------------------------------------
def test_minilm_lean_matches_transformers(minilm_available: bool) -> None:
    from transformers import BertModel

    from jcolbert.model.minilm import package_folder

    model = jcolbert.load_model("minilm")
    assert isinstance(model.backbone, LeanBert)
    ref = BertModel.from_pretrained(str(package_folder()), add_pooling_layer=False).eval()
    batch = model.tokenize_documents(TEXTS)
    with torch.inference_mode():
        ours = model.last_hidden_state(batch.input_ids, batch.attention_mask)
        theirs = ref(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    rows = batch.attention_mask.bool()
    assert (ours[rows] - theirs[rows]).abs().max().item() <= 1e-5


IMPORT_SCRIPT = """
import sys
import jcolbert
from jcolbert.model import load_model
assert "transformers" not in sys.modules, "importing jcolbert.model imported transformers"
if sys.argv[1] == "minilm":
    load_model("minilm").encode_documents(["a short text"])
    assert "transformers" not in sys.modules, "load_model('minilm') imported transformers"
print("ok")
"""


@pytest.mark.parametrize("what", ["import", "minilm"])
def test_transformers_is_not_imported_for_minilm(what: str, minilm_available: bool) -> None:
    """Importing transformers' modeling code costs seconds; the offline model does not need it."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, what], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
