"""Checkpoint detection and loading: formats, settings, and every way a folder can be wrong."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import jcolbert
from jcolbert.errors import CheckpointError, HubUnavailableError, InputError
from jcolbert.model import bert, jinabert
from jcolbert.model.config import ModelConfig

TEXTS = ["ColBERT is an efficient and effective passage retrieval model.", "Hello, world!!! (Really?)"]


def copy_folder(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dst


def edit_weights(folder: Path, edit) -> None:
    state = load_file(str(folder / "model.safetensors"))
    edit(state)
    save_file(state, str(folder / "model.safetensors"))


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def bert_model(tiny_bert_dir: Path) -> jcolbert.ColBERTModel:
    return jcolbert.load_model(tiny_bert_dir, dtype=torch.float32)


# -- not a checkpoint ----------------------------------------------------------------------------------------
def test_missing_folder_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        jcolbert.load_model(tmp_path / "nope")


def test_folder_that_is_not_a_checkpoint_names_what_it_found(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "data").mkdir()
    with pytest.raises(CheckpointError, match=r"not a ColBERT checkpoint.*found: data/, notes\.txt"):
        jcolbert.load_model(tmp_path)


def test_plain_transformers_model_is_not_a_colbert_checkpoint(tmp_path: Path, tiny_bert_dir: Path) -> None:
    folder = copy_folder(tiny_bert_dir, tmp_path / "plain")
    (folder / "artifact.metadata").unlink()
    edit_json(folder / "config.json", lambda c: c.update(architectures=["BertModel"]))
    with pytest.raises(CheckpointError, match="not a ColBERT checkpoint"):
        jcolbert.load_model(folder)


def test_hub_unreachable_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'huggingface.co'\nmore detail")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(HubUnavailableError) as err:
        jcolbert.load_model("jinaai/jina-colbert-v1-en")
    message = str(err.value)
    assert "\n" not in message and "minilm" in message and "jinaai/jina-colbert-v1-en" in message


# -- broken weights ------------------------------------------------------------------------------------------
def test_missing_weight_is_named(tmp_path: Path, tiny_jina_dir: Path) -> None:
    folder = copy_folder(tiny_jina_dir, tmp_path / "jina")
    edit_weights(folder, lambda s: s.pop("bert.encoder.layer.1.mlp.wo.bias"))
    with pytest.raises(CheckpointError, match=r"missing weight.*bert\.encoder\.layer\.1\.mlp\.wo\.bias"):
        jcolbert.load_model(folder)


def test_missing_projection_is_named(tmp_path: Path, tiny_bert_dir: Path) -> None:
    folder = copy_folder(tiny_bert_dir, tmp_path / "bert")
    edit_weights(folder, lambda s: s.pop("linear.weight"))
    with pytest.raises(CheckpointError, match="linear.weight"):
        jcolbert.load_model(folder)


def test_misshaped_weight_is_named(tmp_path: Path, tiny_jina_dir: Path, tiny_bert_dir: Path) -> None:
    folder = copy_folder(tiny_jina_dir, tmp_path / "jina")
    edit_weights(
        folder, lambda s: s.update({"bert.encoder.layer.0.mlp.gated_layers.weight": torch.zeros(64, 96)})
    )
    with pytest.raises(
        CheckpointError, match=r"gated_layers\.weight' has shape \[64, 96\], expected \[128, 96\]"
    ):
        jcolbert.load_model(folder)
    folder = copy_folder(tiny_bert_dir, tmp_path / "bert")
    edit_weights(
        folder, lambda s: s.update({"bert.encoder.layer.1.attention.self.key.bias": torch.zeros(95)})
    )
    with pytest.raises(CheckpointError, match=r"attention\.self\.key\.bias' has shape \[95\]"):
        jcolbert.load_model(folder)


def test_metadata_dim_must_match_projection(tmp_path: Path, tiny_bert_dir: Path) -> None:
    folder = copy_folder(tiny_bert_dir, tmp_path / "bert")
    edit_json(folder / "artifact.metadata", lambda m: m.update(dim=64))
    with pytest.raises(CheckpointError, match="dim=64"):
        jcolbert.load_model(folder)


def test_corrupt_weights_file(tmp_path: Path, tiny_bert_dir: Path) -> None:
    folder = copy_folder(tiny_bert_dir, tmp_path / "bert")
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="cannot read weights"):
        jcolbert.load_model(folder)


# -- JinaBERT never becomes plain BERT -----------------------------------------------------------------------
def test_jinabert_config_with_bert_weights_is_refused(
    tmp_path: Path, tiny_jina_dir: Path, tiny_bert_dir: Path
) -> None:
    """A JinaBERT config.json next to BERT-layout weights: the reference silently builds a BERT; we refuse."""
    folder = copy_folder(tiny_jina_dir, tmp_path / "jina")
    shutil.copy(tiny_bert_dir / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="mlp.gated_layers"):
        jcolbert.load_model(folder)


def test_jinabert_auto_map_with_absolute_positions_is_refused(tmp_path: Path, tiny_jina_dir: Path) -> None:
    folder = copy_folder(tiny_jina_dir, tmp_path / "jina")
    edit_json(folder / "config.json", lambda c: c.update(position_embedding_type="absolute"))
    with pytest.raises(CheckpointError, match="needs 'alibi'"):
        jcolbert.load_model(folder)


def test_bert_loader_refuses_any_jinabert_config(tiny_jina_dir: Path) -> None:
    hf = json.loads((tiny_jina_dir / "config.json").read_text())
    for variant in (
        hf,
        {**hf, "auto_map": None, "feed_forward_type": "original"},
        {"model_type": "bert", "feed_forward_type": "geglu"},
    ):
        assert jinabert.is_jinabert_config(variant)
        with pytest.raises(CheckpointError, match="config.json: not a standard BERT encoder"):
            bert.BertShape.from_hf(variant, "config.json")


def test_unexpected_position_table_in_jinabert_checkpoint(tmp_path: Path, tiny_jina_dir: Path) -> None:
    folder = copy_folder(tiny_jina_dir, tmp_path / "jina")
    edit_weights(
        folder, lambda s: s.update({"bert.embeddings.position_embeddings.weight": torch.zeros(512, 96)})
    )
    with pytest.raises(CheckpointError, match="unexpected weight.*position_embeddings"):
        jcolbert.load_model(folder)


# -- settings ----------------------------------------------------------------------------------------------
def test_old_colbertv2_metadata_gets_colbert_defaults(bert_model) -> None:
    c = bert_model.config
    assert (c.query_marker, c.doc_marker, c.interaction) == ("[unused0]", "[unused1]", "colbert")
    assert bert_model.tokenizer.query_marker_id == 1 and bert_model.tokenizer.doc_marker_id == 2


def test_nested_metadata_and_stored_truncation(tmp_path: Path, tiny_bert_dir: Path, bert_model) -> None:
    """The anchors' MiniLM checkpoint nests its settings under "config"; its tokenizer.json stored a truncation."""
    folder = copy_folder(tiny_bert_dir, tmp_path / "nested")
    flat = json.loads((folder / "artifact.metadata").read_text())
    (folder / "artifact.metadata").write_text(json.dumps({"config": flat, "meta": {"note": "nested"}}))

    def add_truncation(tok: dict) -> None:
        tok["truncation"] = {"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0}
        tok["padding"] = {
            "strategy": {"Fixed": 64},
            "direction": "Right",
            "pad_to_multiple_of": None,
            "pad_id": 0,
            "pad_type_id": 0,
            "pad_token": "[PAD]",
        }

    edit_json(folder / "tokenizer.json", add_truncation)
    model = jcolbert.load_model(folder)
    assert model.config.doc_maxlen == bert_model.config.doc_maxlen == 180
    text = ["word " * 100]
    assert torch.equal(
        model.tokenize_documents(text).input_ids, bert_model.tokenize_documents(text).input_ids
    )


def test_overrides(tiny_bert_dir: Path) -> None:
    model = jcolbert.load_model(tiny_bert_dir, query_maxlen=16, doc_maxlen=64, attend_to_mask_tokens=True)
    assert model.encode_queries(["a short query"]).shape == (1, 16, 128)
    assert model.tokenize_queries(["a short query"]).attention_mask.sum() == 16
    with pytest.raises(InputError, match=r"cannot override \['dim'\]"):
        jcolbert.load_model(tiny_bert_dir, dim=64)
    with pytest.raises(InputError, match="doc_maxlen=1024 exceeds"):
        jcolbert.load_model(tiny_bert_dir, doc_maxlen=1024)


def test_config_round_trip_and_compatibility(tiny_bert_dir: Path, tiny_jina_dir: Path, bert_model) -> None:
    stored = json.loads(json.dumps(bert_model.config.to_dict()))
    assert ModelConfig.from_dict(stored) == bert_model.config
    again = jcolbert.load_model(stored, dtype=torch.float32)  # the stored dtype is a record, not a setting
    assert again.config == bert_model.config
    assert torch.equal(again.encode_queries(TEXTS), bert_model.encode_queries(TEXTS))
    jina = jcolbert.load_model(tiny_jina_dir)
    assert "backbone: 'jinabert' != 'bert'" in bert_model.config.incompatibilities(jina.config)
    assert bert_model.config.incompatibilities(again.config) == []
    assert bert_model.config.compatibility_key()["dim"] == 128
    with pytest.raises(CheckpointError, match="unknown ModelConfig field"):
        ModelConfig.from_dict({**stored, "colour": "blue"})
    with pytest.raises(CheckpointError, match="no longer matches"):
        jcolbert.load_model({**stored, "backbone": "jinabert", "max_positions": 8192})


def test_local_folder_is_recorded_by_absolute_path(
    tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index records config.name_or_path and reloads from it, possibly from another working directory."""
    folder = copy_folder(tiny_bert_dir, tmp_path / "models" / "tiny")
    monkeypatch.chdir(tmp_path / "models")
    model = jcolbert.load_model("./tiny")
    assert model.config.name_or_path == str(folder.resolve())
    assert Path(model.config.name_or_path).is_absolute()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = jcolbert.load_model(json.loads(json.dumps(model.config.to_dict())))
    assert again.config == model.config
    assert torch.equal(again.encode_queries(TEXTS), model.encode_queries(TEXTS))


def test_hub_id_is_recorded_as_given(tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: str(tiny_bert_dir))
    model = jcolbert.load_model("colbert-ir/colbertv2.0")
    assert model.config.name_or_path == "colbert-ir/colbertv2.0"


# -- PyLate folders ----------------------------------------------------------------------------------------
def make_pylate(tiny_bert_dir: Path, dst: Path, query_prefix: str, document_prefix: str) -> Path:
    """The tiny ColBERTv2 checkpoint rewritten as a PyLate folder (Transformer at the root + 1_Dense)."""
    dst.mkdir()
    state = load_file(str(tiny_bert_dir / "model.safetensors"))
    linear = state.pop("linear.weight")
    # transformers 5.x saves BERT LayerNorms as gamma/beta (seen in PyLate 1.6 folders): store them that way.
    body = {
        k[len("bert.") :]
        .replace("LayerNorm.weight", "LayerNorm.gamma")
        .replace("LayerNorm.bias", "LayerNorm.beta"): v
        for k, v in state.items()
    }
    save_file(body, str(dst / "model.safetensors"))
    for name in (
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    ):
        shutil.copy(tiny_bert_dir / name, dst / name)
    (dst / "1_Dense").mkdir()
    save_file({"linear.weight": linear}, str(dst / "1_Dense" / "model.safetensors"))
    dense = {
        "in_features": 96,
        "out_features": 128,
        "bias": False,
        "activation_function": "torch.nn.modules.linear.Identity",
    }
    (dst / "1_Dense" / "config.json").write_text(json.dumps(dense))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
    ]
    (dst / "modules.json").write_text(json.dumps(modules))
    st = {
        "query_prefix": query_prefix,
        "document_prefix": document_prefix,
        "query_length": 32,
        "document_length": 180,
        "attend_to_expansion_tokens": False,
        "do_query_expansion": True,
    }
    (dst / "config_sentence_transformers.json").write_text(json.dumps(st))
    return dst


def test_pylate_folder_matches_the_same_weights_in_colbert_layout(
    tmp_path: Path, tiny_bert_dir: Path, bert_model
) -> None:
    folder = make_pylate(tiny_bert_dir, tmp_path / "pylate", "[unused0]", "[unused1]")
    model = jcolbert.load_model(folder, dtype=torch.float32)
    assert model.config.checkpoint_format == "pylate" and model.config.dim == 128
    assert torch.allclose(model.encode_queries(TEXTS), bert_model.encode_queries(TEXTS), atol=1e-6)
    for a, b in zip(model.encode_documents(TEXTS), bert_model.encode_documents(TEXTS), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_pylate_prefix_missing_from_tokenizer(tmp_path: Path, tiny_bert_dir: Path) -> None:
    folder = make_pylate(tiny_bert_dir, tmp_path / "pylate", "[Q] ", "[D] ")
    with pytest.raises(CheckpointError, match=r"no token '\[Q\] '"):
        jcolbert.load_model(folder)
