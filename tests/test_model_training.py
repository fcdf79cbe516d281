"""TrainableColBERT: gradients, dropout, equality with the inference path, seeded heads, save -> load."""

from __future__ import annotations

import errno
import json
import string
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import jcolbert
from jcolbert.errors import CheckpointError, InputError
from jcolbert.model import TrainableColBERT
from jcolbert.model.weights import IGNORED, new_projection

QUERIES = ["what is late interaction?", "How do I index long documents with ColBERT, quickly?"]
DOCS = [
    "ColBERT is an efficient and effective passage retrieval model.",
    "Hello, world!!! (Really?)",
    "Late interaction keeps one vector per token and scores with MaxSim over the document's tokens.",
]
MODELS = ["tiny-jina-colbert", "tiny-bert-colbert", "minilm"]


@pytest.fixture(params=MODELS)
def source(request, fixtures_dir: Path, minilm_available: bool) -> str:
    return "minilm" if request.param == "minilm" else str(fixtures_dir / request.param)


def maxsim_loss(model: TrainableColBERT) -> torch.Tensor:
    """Cross-entropy of query 0 over the documents (positive: document 0), as a contrastive trainer would."""
    Q, _ = model.forward_queries(model.tokenize_queries(QUERIES[:1]))
    D, d_mask = model.forward_documents(model.tokenize_documents(DOCS))
    scores = torch.einsum("qd,ntd->nqt", Q[0], D).masked_fill(~d_mask[:, None, :], -1e4).amax(-1).sum(-1)
    return torch.nn.functional.cross_entropy(scores[None] * 10, torch.tensor([0]))


def test_gradients_reach_every_parameter(source: str) -> None:
    model = TrainableColBERT.from_pretrained(source, dim=64, seed=1)
    assert model.training
    maxsim_loss(model).backward()
    params = dict(model.named_parameters())
    assert "projection.weight" in params
    for name, p in params.items():
        assert p.grad is not None, f"{name} got no gradient"
        assert p.grad.abs().sum().item() > 0, f"{name} has an all-zero gradient"


@pytest.mark.parametrize("kind", ["queries", "documents"])
def test_train_forward_without_dropout_equals_inference(source: str, kind: str) -> None:
    """Training mode with dropout 0 (and eval mode) give the inference path's vectors (float32) within 1e-5."""
    encoder = jcolbert.load_model(source, dtype=torch.float32)
    model = TrainableColBERT.from_pretrained(source)
    texts = QUERIES if kind == "queries" else DOCS
    batch = getattr(model, f"tokenize_{kind}")(texts)
    expected = encoder.embed(batch)
    model.set_dropout(0.0)
    vectors, mask = getattr(model, f"forward_{kind}")(batch)
    assert vectors.requires_grad and torch.equal(mask, batch.keep_mask)
    assert (vectors.detach() - expected).abs().max().item() <= 1e-5
    model.set_dropout(0.1)
    model.eval()  # eval mode: no dropout whatever the probabilities
    assert (getattr(model, f"forward_{kind}")(batch)[0].detach() - expected).abs().max().item() <= 1e-5


def test_train_forward_matches_the_reference_hidden_states(fixtures_dir: Path) -> None:
    """The differentiable backbone forward against the reference stack's stored last_hidden_state."""
    for name in ("tiny-jina-colbert", "tiny-bert-colbert"):
        tensors = load_file(str(fixtures_dir / "expected" / f"{name}.safetensors"))
        model = TrainableColBERT.from_pretrained(fixtures_dir / name).eval()
        for case in ("backbone_query", "backbone_doc", "backbone_padded_pair"):
            ids, mask = tensors[f"{case}.input_ids"], tensors[f"{case}.attention_mask"]
            ref = tensors[f"{case}.last_hidden_state"]
            hidden = model.backbone.train_forward(ids, mask).detach()
            rows = mask.bool() if case == "backbone_padded_pair" else torch.ones_like(mask, dtype=torch.bool)
            assert ((hidden[rows] - ref[rows]).abs() <= 1e-5 + 1e-5 * ref[rows].abs()).all(), (name, case)


def test_dropout_is_active_in_training_mode(source: str) -> None:
    model = TrainableColBERT.from_pretrained(source)
    batch = model.tokenize_documents(DOCS)
    torch.manual_seed(0)
    a = model.forward_documents(batch)[0]
    b = model.forward_documents(batch)[0]
    assert (a - b).abs().max().item() > 1e-3
    torch.manual_seed(0)
    assert torch.equal(a, model.forward_documents(batch)[0])  # reproducible from the torch seed
    with pytest.raises(InputError, match="dropout"):
        model.set_dropout(1.0)


def test_a_few_steps_reduce_the_loss(tiny_jina_dir: Path) -> None:
    model = TrainableColBERT.from_pretrained(tiny_jina_dir)
    model.set_dropout(0.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(4):
        loss = maxsim_loss(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_bf16_autocast_forward_and_backward(source: str) -> None:
    """What a trainer does on a CPU with bf16 units: finite loss and gradients under autocast."""
    model = TrainableColBERT.from_pretrained(source, dim=32, seed=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = maxsim_loss(model)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# -- heads --------------------------------------------------------------------------------------------------
def test_new_head_is_seeded(minilm_available: bool) -> None:
    """seed 12345, 384 -> 128 is the anchors' MiniLM benchmark checkpoint (make_minilm_checkpoint.py prints
    linear.weight[0, :3] = [0.049165159463882446, 0.038743432611227036, 0.050229184329509735])."""
    model = TrainableColBERT.from_pretrained("minilm", dim=128, seed=12345)
    weight = model.projection.weight
    assert weight.shape == (128, 384) and model.config.dim == 128 and model.config.projection == "linear"
    assert weight[0, :3].tolist() == [0.049165159463882446, 0.038743432611227036, 0.050229184329509735]
    assert torch.equal(new_projection(384, 128, 12345).weight, weight)
    assert not torch.equal(new_projection(384, 128, 12346).weight, weight)
    c = model.config  # colbert-ai's token rules, so every tool encodes the saved checkpoint the same way
    assert (c.query_marker, c.doc_marker, c.query_augmentation, c.query_maxlen, c.doc_maxlen) == (
        "[unused0]",
        "[unused1]",
        True,
        32,
        300,
    )
    again = TrainableColBERT.from_pretrained("minilm", dim=128, seed=12345, doc_maxlen=180)
    assert again.config.doc_maxlen == 180 and torch.equal(again.projection.weight, weight)


def test_same_dim_keeps_the_checkpoint_head(tiny_bert_dir: Path) -> None:
    kept = TrainableColBERT.from_pretrained(tiny_bert_dir, dim=128)
    original = load_file(str(tiny_bert_dir / "model.safetensors"))["linear.weight"]
    assert torch.equal(kept.projection.weight, original)
    assert not torch.equal(
        TrainableColBERT.from_pretrained(tiny_bert_dir, dim=64).projection.weight[:64], original[:64]
    )


# -- save -> load -------------------------------------------------------------------------------------------
def test_save_then_load_gives_the_same_vectors(source: str, tmp_path: Path) -> None:
    model = TrainableColBERT.from_pretrained(source, dim=None if source != "minilm" else 128, seed=3)
    maxsim_loss(model).backward()
    with torch.no_grad():  # a trained model, not the checkpoint it started from
        for p in model.parameters():
            p.add_(p.grad.sign() * 1e-3)
    model.eval()
    folder = model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in folder.iterdir()) == [
        "artifact.metadata",
        "config.json",
        "model.safetensors",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
    ]
    loaded = jcolbert.load_model(folder, dtype=torch.float32)
    for kind, texts in (("queries", QUERIES), ("documents", DOCS)):
        batch = getattr(model, f"tokenize_{kind}")(texts)
        vectors = getattr(model, f"forward_{kind}")(batch)[0].detach()
        assert (loaded.embed(batch) - vectors).abs().max().item() <= 1e-5
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["HF_ColBERT"]
    meta = json.loads((folder / "artifact.metadata").read_text())
    assert (meta["dim"], meta["query_token_id"], meta["doc_maxlen"]) == (
        model.config.dim,
        model.config.query_marker,
        model.config.doc_maxlen,
    )


def test_saved_keys_are_the_reference_layout(fixtures_dir: Path, tmp_path: Path) -> None:
    """The same tensor names and shapes as the fixture (colbert-ai's own layout), pooler included."""
    for name in ("tiny-jina-colbert", "tiny-bert-colbert"):
        original = load_file(str(fixtures_dir / name / "model.safetensors"))
        folder = TrainableColBERT.from_pretrained(fixtures_dir / name).save_pretrained(tmp_path / name)
        saved = load_file(str(folder / "model.safetensors"))
        expected = {k: v for k, v in original.items() if k != "bert.embeddings.position_ids"}
        assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in expected.items()}
        assert all(torch.equal(saved[k], expected[k]) for k in saved), (
            name
        )  # untrained: the very same tensors
        assert all(saved[k].dtype == torch.float32 for k in saved)
        assert not any(k[len("bert.") :].startswith(IGNORED[2]) for k in saved)


def test_save_refuses_an_existing_folder_and_keeps_it_on_failure(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = TrainableColBERT.from_pretrained(tiny_bert_dir)
    folder = model.save_pretrained(tmp_path / "ckpt")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(CheckpointError, match="already exists; pass overwrite=True"):
        model.save_pretrained(folder)

    import safetensors.torch

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(CheckpointError, match="No space left on device.*nothing was changed"):
        model.save_pretrained(folder, overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary folder left behind
    monkeypatch.undo()
    model.set_dropout(0.0)
    with torch.no_grad():
        model.projection.weight.mul_(-1)
    model.save_pretrained(folder, overwrite=True)
    assert torch.equal(load_file(str(folder / "model.safetensors"))["linear.weight"], model.projection.weight)


def test_save_refuses_settings_colbert_ai_cannot_express(minilm_available: bool, tmp_path: Path) -> None:
    raw = TrainableColBERT.from_pretrained("minilm")  # no markers, no [MASK] augmentation
    with pytest.raises(CheckpointError, match="query_marker is None"):
        raw.save_pretrained(tmp_path / "raw")
    other = TrainableColBERT.from_pretrained("minilm", dim=16, query_augmentation=False)
    with pytest.raises(CheckpointError, match="query_augmentation is False"):
        other.save_pretrained(tmp_path / "noaug")
    skip = TrainableColBERT.from_pretrained("minilm", dim=16, skiplist_words=list(string.punctuation[:5]))
    with pytest.raises(CheckpointError, match="skiplist_words"):
        skip.save_pretrained(tmp_path / "skip")
    assert not list(tmp_path.iterdir())


def test_encoder_is_an_inference_copy(tiny_jina_dir: Path) -> None:
    model = TrainableColBERT.from_pretrained(tiny_jina_dir)
    encoder = model.encoder()
    assert model.training  # evaluating does not switch training off
    before = encoder.encode_queries(QUERIES)
    with torch.no_grad():
        model.projection.weight.mul_(2).add_(0.1)
    assert torch.equal(encoder.encode_queries(QUERIES), before)
    model.eval()
    assert (
        model.encoder().embed(model.tokenize_queries(QUERIES))
        - model.forward_queries(model.tokenize_queries(QUERIES))[0].detach()
    ).abs().max().item() <= 1e-5
