"""BERT backbone: LeanBert against transformers' BertModel (the reference, used here only), every supported
activation, configs it refuses by name, and that loading BERT never imports transformers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import jcolbert
from jcolbert.errors import CheckpointError
from jcolbert.model import bert, jinabert
from jcolbert.model.bert import ACTIVATIONS, BertShape, LeanBert, checkpoint_shapes
from jcolbert.model.weights import IGNORED, split_state

TEXTS = [
    "ColBERT is an efficient and effective passage retrieval model.",
    "Hello, world!!! (Really?)",
    "Late interaction keeps one vector per token and scores with MaxSim over the document's tokens.",
]


@pytest.fixture(scope="module")
def tiny_bert(tiny_bert_dir: Path) -> jcolbert.ColBERTModel:
    return jcolbert.load_model(tiny_bert_dir, dtype=torch.float32)


def fixture_backbone(folder: Path, **changes) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config.json with `changes`, backbone weights without the 'bert.' prefix) of a fixture checkpoint."""
    hf = {**json.loads((folder / "config.json").read_text()), **changes}
    body, _ = split_state(load_file(str(folder / "model.safetensors")), {"linear.weight"})
    return hf, body


def reference_bert(hf: dict, body: dict[str, torch.Tensor]):
    """transformers' BertModel (eager attention, no pooler) holding the same weights."""
    from transformers import BertConfig, BertModel

    keep = {k: v for k, v in hf.items() if k not in ("architectures", "auto_map", "_name_or_path", "torch_dtype")}
    config = BertConfig(**keep)
    config._attn_implementation = "eager"
    model = BertModel(config, add_pooling_layer=False).eval()
    model.load_state_dict({k: v for k, v in body.items() if not k.startswith(IGNORED)}, strict=False)
    return model


def masks_of_every_kind(model: jcolbert.ColBERTModel) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Right-padded documents, unpadded queries with [MASK] augmentation, left padding, no padding."""
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


def max_diff_on_real_rows(ours: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> float:
    rows = mask.bool()
    return (ours[rows] - ref[rows]).abs().max().item()


@pytest.mark.parametrize("hidden_act", sorted(ACTIVATIONS))
def test_lean_bert_matches_transformers_for_every_activation(
    hidden_act: str, tiny_bert_dir: Path, tiny_bert
) -> None:
    """Inference forward and train_forward (dropout off) against BertModel.forward, on every kind of mask."""
    hf, body = fixture_backbone(tiny_bert_dir, hidden_act=hidden_act)
    ours = bert.from_checkpoint(body, hf, "model.safetensors", "bert.")
    ref = reference_bert(hf, body)
    for ids, mask in masks_of_every_kind(tiny_bert):
        with torch.inference_mode():
            theirs = ref(input_ids=ids, attention_mask=mask).last_hidden_state
            assert max_diff_on_real_rows(ours(ids, mask), theirs, mask) <= 1e-5
        assert max_diff_on_real_rows(ours.train_forward(ids, mask).detach(), theirs, mask) <= 1e-5


def test_activations_differ(tiny_bert_dir: Path, tiny_bert) -> None:
    """The activation is really applied: exact and tanh GELU, ReLU and SiLU give different outputs."""
    ids, mask = masks_of_every_kind(tiny_bert)[3]
    outs = {}
    for act in ("gelu", "gelu_new", "relu", "silu"):
        hf, body = fixture_backbone(tiny_bert_dir, hidden_act=act)
        outs[act] = bert.from_checkpoint(body, hf, "model.safetensors", "bert.")(ids, mask)
    assert (outs["gelu"] - outs["gelu_new"]).abs().max().item() > 1e-5
    assert (outs["gelu"] - outs["relu"]).abs().max().item() > 1e-3
    assert (outs["relu"] - outs["silu"]).abs().max().item() > 1e-3


def test_lean_forward_in_bf16(tiny_bert_dir: Path) -> None:
    model = jcolbert.load_model(tiny_bert_dir, dtype=torch.bfloat16)
    hf, body = fixture_backbone(tiny_bert_dir)
    ids, mask = masks_of_every_kind(model)[0]
    with torch.inference_mode():
        ours = model.backbone(ids, mask).float()
        ref = reference_bert(hf, body)(input_ids=ids, attention_mask=mask).last_hidden_state
    rows = mask.bool()
    assert F.cosine_similarity(ours[rows], ref[rows], dim=-1).min().item() > 0.999


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden_act": "quick_gelu"}, "hidden_act='quick_gelu'"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type='relative_key'"),
        ({"is_decoder": True}, "is_decoder=true"),
        ({"add_cross_attention": True}, "add_cross_attention=true"),
        ({"model_type": "roberta"}, "model_type='roberta'"),
        ({"auto_map": {"AutoModel": "someone/code--modeling.Model"}}, "auto_map"),
        ({"feed_forward_type": "geglu"}, "feed_forward_type='geglu'"),
        ({"hidden_size": 96, "num_attention_heads": 7}, "not divisible"),
    ],
)
def test_unsupported_configs_are_refused_by_name(
    change: dict, message: str, tmp_path: Path, tiny_bert_dir: Path
) -> None:
    """No silent fallback: a BERT variant LeanBert does not compute is a CheckpointError naming the field."""
    with pytest.raises(CheckpointError, match=f"config.json: not a standard BERT encoder.*{message}"):
        BertShape.from_hf({"hidden_size": 96, **change})
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_bert_dir, folder)
    hf = {**json.loads((folder / "config.json").read_text()), **change}
    (folder / "config.json").write_text(json.dumps(hf))
    if jinabert.is_jinabert_config(hf):  # load_model sends it to the JinaBERT loader, which refuses it there
        message = "JinaBERT backbone needs 'alibi'"
    with pytest.raises(CheckpointError, match=message):
        jcolbert.load_model(folder)


def test_checkpoint_shapes_are_bert_model_keys(tiny_bert_dir: Path) -> None:
    from transformers import BertConfig, BertModel

    hf = json.loads((tiny_bert_dir / "config.json").read_text())
    with torch.device("meta"):
        model = BertModel(BertConfig(**hf), add_pooling_layer=False)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.startswith(IGNORED)}
    assert checkpoint_shapes(BertShape.from_hf(hf)) == expected


def test_checkpoint_state_is_the_loaded_state(tiny_bert_dir: Path, tiny_bert) -> None:
    """checkpoint_state() gives back every BertModel tensor of the file, unchanged (q/k/v split again)."""
    _, body = fixture_backbone(tiny_bert_dir)
    state = tiny_bert.backbone.checkpoint_state()
    assert set(state) == {k for k in body if not k.startswith(IGNORED)}
    assert all(torch.equal(state[k], body[k]) for k in state)


# -- the offline minilm model ----------------------------------------------------------------------------------
def test_minilm_lean_matches_transformers(minilm_available: bool) -> None:
    from transformers import BertModel

    from jcolbert.model.minilm_weights import weights_folder

    model = jcolbert.load_model("minilm", dtype=torch.float32)
    assert isinstance(model.backbone, LeanBert)
    ref = BertModel.from_pretrained(str(weights_folder()), add_pooling_layer=False).eval()
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
if sys.argv[1] != "import":
    load_model(sys.argv[1]).encode_documents(["a short text"])
    assert "transformers" not in sys.modules, f"load_model({sys.argv[1]!r}) imported transformers"
print("ok")
"""


@pytest.mark.parametrize("what", ["import", "minilm", "tiny-bert-colbert", "tiny-jina-colbert"])
def test_transformers_is_never_imported(what: str, minilm_available: bool, fixtures_dir: Path) -> None:
    """transformers is an optional extra: importing jcolbert.model and loading any checkpoint never need it."""
    arg = str(fixtures_dir / what) if what.startswith("tiny") else what
    out = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT, arg], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
