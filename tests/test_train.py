"""jcolbert.train: losses, the loop, checkpoints (save -> load, resume), bad input (issue 12, point 8)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import jcolbert
from jcolbert.errors import CheckpointError, InputError, TrainingDataError, TrainingStateError
from jcolbert.model import TrainableColBERT
from jcolbert.train import DataSpec, DevSpec, TrainConfig, train
from jcolbert.train.batches import collate
from jcolbert.train.data import open_examples
from jcolbert.train.losses import group_scores, in_batch_ce, kl_distillation, training_loss
from train_data import DOCS, QUERIES, write_beir, write_nway


def config(tmp_path: Path, base: Path, data: DataSpec, **kw) -> TrainConfig:
    settings = {"steps": 4, "batch_size": 2, "nway": 4, "lr": 1e-3, "warmup_steps": 1, "doc_maxlen": 32,
                "progress": False, "plot": False, "save_pylate": False} | kw  # fmt: skip
    return TrainConfig(base=str(base), out=tmp_path / "run", data=data, **settings)


def nway_spec(tmp_path: Path, **kw) -> DataSpec:
    paths = write_nway(tmp_path / "data", **kw)
    return DataSpec(paths["data"], paths["queries"], paths["collection"])


def fixed_batch(model: TrainableColBERT, tmp_path: Path, nway: int = 4):
    examples = open_examples(nway_spec(tmp_path), nway, seed=0)
    return collate(model, [examples.get(i, 0) for i in range(3)], nway, 32)


# -- losses -------------------------------------------------------------------------------------------------
def test_kl_matches_its_definition() -> None:
    student, teacher = torch.randn(3, 5), torch.randn(3, 5) * 4
    p = F.softmax(teacher * 0.5, -1)
    expected = (p * (p.log() - F.log_softmax(student, -1))).sum(-1).mean()
    assert torch.allclose(kl_distillation(student, teacher, alpha=0.5), expected, atol=1e-6)


def test_group_and_in_batch_scores_mask_skipped_positions() -> None:
    torch.manual_seed(0)
    Q, D = F.normalize(torch.randn(2, 3, 8), dim=-1), F.normalize(torch.randn(6, 5, 8), dim=-1)
    mask = torch.ones(6, 5, dtype=torch.bool)
    mask[:, 3:] = False  # skiplist / padding positions never win a max
    D_high = D.clone()
    D_high[:, 3:] = Q[0, 0]  # would score 1.0 if it were not masked
    expected = torch.stack([(Q[i] @ D[i * 3 + j, :3].T).amax(-1).sum() for i in range(2) for j in range(3)])
    assert torch.allclose(group_scores(Q, D_high, mask, 3).flatten(), expected, atol=1e-6)
    # in-batch: query 0 sees its positive (row 0) and query 1's whole group (rows 3..5), not its own negatives
    full = torch.stack([torch.stack([(Q[i] @ D[n, :3].T).amax(-1).sum() for n in range(6)]) for i in range(2)])
    rows = torch.stack([full[0, [0, 3, 4, 5]], full[1, [0, 1, 2, 3]]])
    assert torch.allclose(in_batch_ce(Q, D_high, mask, 3), F.cross_entropy(rows, torch.tensor([0, 3])), atol=1e-5)


@pytest.mark.parametrize("kind", ["kl", "ce"])
def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(tiny_jina_dir: Path, tmp_path: Path, kind: str) -> None:
    model = TrainableColBERT.from_pretrained(tiny_jina_dir)
    model.set_dropout(0.0)
    batch = fixed_batch(model, tmp_path)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(4):
        Q, _ = model.forward_queries(batch.queries)
        D, d_mask = model.forward_documents(batch.documents)
        loss, _ = training_loss(Q, D, d_mask, 4, batch.teacher, kind=kind, in_batch=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_gradients_of_the_training_loss_reach_every_parameter(tiny_bert_dir: Path, tmp_path: Path) -> None:
    model = TrainableColBERT.from_pretrained(tiny_bert_dir, dim=16, seed=1)
    batch = fixed_batch(model, tmp_path)
    Q, _ = model.forward_queries(batch.queries)
    D, d_mask = model.forward_documents(batch.documents)
    training_loss(Q, D, d_mask, 4, batch.teacher, kind="kl", in_batch=True)[0].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# -- the loop, save -> load ------------------------------------------------------------------------------------
def test_train_writes_a_log_and_checkpoints_that_load_to_the_same_vectors(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    spec = nway_spec(tmp_path)
    result = train(config(tmp_path, tiny_bert_dir, spec, save_pylate=True, plot=True))
    rows = [json.loads(line) for line in (result.out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(r["loss"] >= 0 and r["examples_per_s"] > 0 for r in rows)
    assert (result.out / "learning_curve.png").stat().st_size > 1000
    model = result.model
    texts = {"queries": list(QUERIES.values())[:3], "documents": list(DOCS.values())[:4]}
    for folder in (result.checkpoint, result.pylate):
        loaded = jcolbert.load_model(folder, dtype=torch.float32)
        for kind, t in texts.items():
            batch = getattr(model, f"tokenize_{kind}")(t)
            expected = getattr(model, f"forward_{kind}")(batch)[0].detach()
            assert (loaded.embed(batch) - expected).abs().max().item() <= 1e-5, (folder, kind)
    original = load_file(str(tiny_bert_dir / "model.safetensors"))["linear.weight"]
    assert not torch.equal(load_file(str(result.checkpoint / "model.safetensors"))["linear.weight"], original)
    modules = json.loads((result.pylate / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Dense"]
    st = json.loads((result.pylate / "config_sentence_transformers.json").read_text())
    assert (st["query_prefix"], st["document_prefix"], st["do_query_expansion"]) == ("[unused0]", "[unused1]", True)


@pytest.mark.slow  # ranx compiles its metric code with numba in every new process (10-40 s, more under load)
def test_dev_evaluation_runs_through_the_evaluate_code(tiny_bert_dir: Path, tmp_path: Path) -> None:
    beir = write_beir(tmp_path / "beir")
    spec = nway_spec(tmp_path)
    cfg = config(tmp_path, tiny_bert_dir, spec, steps=2, eval_every=2, dev=DevSpec(str(beir), "dev", None, 10))
    rows = [json.loads(line) for line in (train(cfg).out / "train_log.jsonl").read_text().splitlines()]
    assert "ndcg@10" not in rows[0] and 0.0 <= rows[1]["ndcg@10"] <= 1.0


@pytest.mark.slow  # three / two training runs: 40-66 s on the loaded 2-core machine
def test_resume_after_a_kill_continues_with_the_same_batches(tiny_jina_dir: Path, tmp_path: Path) -> None:
    """Dropout on: the RNG state is restored too, so the parameters end bitwise as an uninterrupted run's."""
    spec = nway_spec(tmp_path)
    seen: dict[str, dict[int, list[str]]] = {"full": {}, "killed": {}, "resumed": {}}

    def record(run: str, kill_at: int | None = None):
        def on_step(step: int, read: list[str]) -> None:
            seen[run][step] = read
            if step == kill_at:
                raise KeyboardInterrupt

        return on_step

    full = train(config(tmp_path / "a", tiny_jina_dir, spec, steps=4, save_every=2), on_step=record("full"))
    with pytest.raises(KeyboardInterrupt):
        train(config(tmp_path / "b", tiny_jina_dir, spec, steps=4, save_every=2), on_step=record("killed", 3))
    resumed = train(config(tmp_path / "b", tiny_jina_dir, spec, steps=4, save_every=2, resume=True),
                    on_step=record("resumed"))  # fmt: skip
    assert sorted(seen["resumed"]) == [3, 4]  # continued from the checkpoint of step 2
    assert seen["resumed"] == {s: seen["full"][s] for s in (3, 4)}
    assert len({tuple(v) for v in seen["full"].values()}) > 1  # the batches do change from step to step
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    rows = [json.loads(line)["step"] for line in (resumed.out / "train_log.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3, 4]
    with pytest.raises(TrainingStateError, match="different settings.*lr"):
        train(config(tmp_path / "b", tiny_jina_dir, spec, steps=4, save_every=2, resume=True, lr=1e-4))


# -- bad input (point 8) -----------------------------------------------------------------------------------
def test_a_qrels_id_not_in_the_corpus(tiny_bert_dir: Path, tmp_path: Path) -> None:
    beir = write_beir(tmp_path / "beir", {"q1": ["d1"], "q2": ["d404"]})
    with pytest.raises(TrainingDataError, match=r"train.tsv:3: corpus id 'd404' is not in the corpus"):
        train(config(tmp_path, tiny_bert_dir, DataSpec(str(beir))))


def test_beir_training_split_read_like_evaluation(tmp_path: Path) -> None:
    """The qrels split goes through jcolbert.evaluate's reader: gzipped, TREC 4-column and graded rows alike;
    grade 0 is judged (never mined as a negative) but not a positive."""
    import gzip

    from jcolbert.train.data import read_beir

    beir = write_beir(tmp_path / "beir")
    (beir / "qrels" / "train.tsv").unlink()
    with gzip.open(beir / "qrels" / "train.tsv.gz", "wt") as f:
        f.write("q1 0 d1 2\nq1 0 d2 0\nq2 0 d2 1\n")
    got = read_beir(beir)
    assert got.positives == {"q1": {"d1"}, "q2": {"d2"}}
    assert got.judged == {"q1": {"d1", "d2"}, "q2": {"d2"}}
    with gzip.open(beir / "qrels" / "train.tsv.gz", "wt") as f:
        f.write("q1\td1\t1\nq1\td2\thigh\n")
    with pytest.raises(InputError, match=r"train.tsv.gz:2: relevance 'high' is not a number"):
        read_beir(beir)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["q1"], r"examples.jsonl:1: empty group: query 'q1' has no passage"),
        (["q1", ["d1", float("nan")], ["d2", 1.0]], r"examples.jsonl:1: teacher score of passage 1 \('d1'\) is nan"),
        (["q1", ["d1", 1.0], ["d404", 1.0]], r"examples.jsonl:1: passage id 'd404' is not in the collection"),
        (["q404", "d1", "d2"], r"examples.jsonl:1: query id 'q404' is not in the queries"),
        (["q1", ["d1", 1.0], "d2"], r"examples.jsonl:1: mixes"),
        (["q1", "d1", "d2"], r"examples.jsonl:1: 2 passages, fewer than nway=4"),
    ],
)
def test_bad_nway_lines_name_file_and_line(tmp_path: Path, row: list, message: str) -> None:
    with pytest.raises(TrainingDataError, match=message):
        open_examples(nway_spec(tmp_path, rows=[row]), 4, seed=0)


def test_bad_triples_and_settings(tmp_path: Path) -> None:
    (tmp_path / "t.tsv").write_text("a query\tpositive\tnegative\nonly\ttwo\n")
    with pytest.raises(TrainingDataError, match=r"t.tsv:2: expected 'query<TAB>positive<TAB>negative"):
        open_examples(DataSpec(str(tmp_path / "t.tsv")), 2, seed=0)
    (tmp_path / "bad.jsonl").write_text("[1, 2\n")
    with pytest.raises(TrainingDataError, match=r"needs queries.tsv and collection.tsv"):
        open_examples(DataSpec(str(tmp_path / "bad.jsonl")), 2, seed=0)
    with pytest.raises(InputError, match="nway must be at least 2"):
        TrainConfig(base="x", out=tmp_path, data=DataSpec("x"), nway=1)
    with pytest.raises(InputError, match="not a multiple of grad_accum"):
        TrainConfig(base="x", out=tmp_path, data=DataSpec("x"), batch_size=3, grad_accum=2)


def test_kl_loss_without_teacher_scores(tiny_bert_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="loss 'kl' needs teacher scores"):
        train(config(tmp_path, tiny_bert_dir, nway_spec(tmp_path, scored=False), loss="kl"))


def test_an_existing_output_folder_is_refused_unless_overwrite(tiny_bert_dir: Path, tmp_path: Path) -> None:
    spec = nway_spec(tmp_path)
    train(config(tmp_path, tiny_bert_dir, spec, steps=1))
    with pytest.raises(TrainingStateError, match="already exists; pass --overwrite"):
        train(config(tmp_path, tiny_bert_dir, spec, steps=1))
    assert train(config(tmp_path, tiny_bert_dir, spec, steps=1, overwrite=True)).checkpoint.is_dir()
    other = tmp_path / "mine"
    (other / "keep.txt").parent.mkdir()
    (other / "keep.txt").write_text("not a training folder")
    with pytest.raises(TrainingStateError, match="not a jcolbert training folder"):
        train(dataclass_out(config(tmp_path, tiny_bert_dir, spec, steps=1, overwrite=True), other))
    assert (other / "keep.txt").is_file()


def dataclass_out(cfg: TrainConfig, out: Path) -> TrainConfig:
    cfg.out = out
    return cfg


@pytest.mark.slow  # three / two training runs: 40-66 s on the loaded 2-core machine
def test_disk_full_while_saving_keeps_the_previous_checkpoint(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    spec = nway_spec(tmp_path)
    real = safetensors.torch.save_file

    def on_step(step: int, read: list[str]) -> None:
        if step == 3:  # the checkpoint of step 4 will hit a full disk
            def disk_full(*args, **kwargs):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(safetensors.torch, "save_file", disk_full)

    with pytest.raises(CheckpointError, match="No space left on device.*nothing was changed"):
        train(config(tmp_path, tiny_bert_dir, spec, steps=5, save_every=2), on_step=on_step)
    monkeypatch.setattr(safetensors.torch, "save_file", real)
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["step-00000002"]  # intact, no half-written step 4, no temporary folder
    jcolbert.load_model(tmp_path / "run" / "checkpoints" / ckpts[0])
    resumed = train(config(tmp_path, tiny_bert_dir, spec, steps=5, save_every=2, resume=True))
    assert resumed.last["step"] == 5
