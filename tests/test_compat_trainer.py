"""colbert-ai's `Trainer` on jcolbert.train: where it saves, what it trains, what it refuses.

colbert-ai 0.2.22's behaviour imitated here: the config is the user's merged under the `Run()` context's; the
checkpoint lands in ``<root>/<experiment>/<script>/<name>/checkpoints/colbert`` (``none`` without a script file,
as in a notebook; the name defaults to the process's start timestamp); training stops after one pass over the
triples even when ``maxsteps`` is larger, and the learning rate then still decays towards ``maxsteps``.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest
import torch

import jcolbert
from jcolbert.compat import Checkpoint, ColBERTConfig, CompatError, Indexer, Run, RunConfig, Searcher, Trainer
from jcolbert.compat.trainer import train_config
from jcolbert.errors import InputError, TrainingDataError, UnsupportedError

PASSAGES = [
    "ColBERT scores a query against a document with late interaction over token vectors.",
    "BM25 is a bag of words ranking function with term frequency saturation.",
    "Dropout randomly zeroes activations during training to regularise a network.",
    "Knowledge distillation trains a student to match a teacher's scores.",
    "Product quantization compresses vectors into short codes of centroid ids.",
    "Photosynthesis converts light into chemical energy in plants.",
    "Gradient clipping bounds the norm of the update to avoid exploding gradients.",
    "The mitochondria is the powerhouse of the cell.",
]
QUERIES = [
    "how does late interaction score documents",
    "what is bm25 ranking",
    "why use dropout when training",
    "what is distillation from a teacher model",
    "how are vectors compressed",
    "what does gradient clipping do",
]
POSITIVE = [0, 1, 2, 3, 4, 6]  # pid of each query's positive passage


def triples_rows(scored: bool = False) -> list[list]:
    rows = []
    for qid, pos in enumerate(POSITIVE):
        neg = (pos + 3) % len(PASSAGES)
        rows.append([qid, [pos, 1.0], [neg, -1.0]] if scored else [qid, pos, neg])
    return rows


def write_colbert_data(folder: Path, scored: bool = False) -> dict[str, str]:
    """colbert-ai's (and RAGatouille's) files: queries.tsv, collection.tsv (pid = line number), triples.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "queries.train.colbert.tsv").write_text("".join(f"{i}\t{q}\n" for i, q in enumerate(QUERIES)))
    (folder / "corpus.train.colbert.tsv").write_text("".join(f"{i}\t{p}\n" for i, p in enumerate(PASSAGES)))
    rows = triples_rows(scored)
    (folder / "triples.train.colbert.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"triples": str(folder / "triples.train.colbert.jsonl"), "queries": str(folder / "queries.train.colbert.tsv"),
            "collection": str(folder / "corpus.train.colbert.tsv")}  # fmt: skip


@pytest.fixture
def notebook_main(monkeypatch: pytest.MonkeyPatch) -> None:
    """No script file, as in a notebook or RAGatouille's usual setting: colbert-ai's <script> is then "none"."""
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


def settings(**kw) -> ColBERTConfig:
    base = {"bsize": 2, "nway": 2, "lr": 1e-3, "warmup": 1, "doc_maxlen": 32, "accumsteps": 1}
    return ColBERTConfig(**(base | kw))


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train" / "train_log.jsonl").read_text().splitlines()]


def test_trainer_saves_where_colbert_ai_does_and_the_model_loads_everywhere(
    tiny_bert_dir: Path, tmp_path: Path, notebook_main: None
) -> None:
    data = write_colbert_data(tmp_path / "data")
    root = tmp_path / "root"
    with Run().context(RunConfig(nranks=1, experiment="exp", root=str(root))):
        name = Run().config.name  # colbert-ai's default: the process's start time, YYYY-MM/DD/HH.MM.SS
        config = settings(maxsteps=2, query_maxlen=24, use_ib_negatives=True)
        trainer = Trainer(triples=data["triples"], queries=data["queries"], collection=data["collection"],
                          config=config)  # fmt: skip
        path = trainer.train(checkpoint=str(tiny_bert_dir))
    assert re.fullmatch(r"\d{4}-\d{2}/\d{2}/\d{2}\.\d{2}\.\d{2}", name)
    run = root / "exp" / "none" / name
    assert path == str(run / "checkpoints" / "colbert")
    assert trainer.best_checkpoint_path() == path
    assert (Path(path) / "artifact.metadata").is_file()

    log = read_log(run)
    assert [row["step"] for row in log] == [1, 2]  # maxsteps steps
    assert all(row["loss"] > 0 and row["lr"] > 0 for row in log)
    recorded = json.loads((run / "train" / "train_config.json").read_text())
    assert recorded["in_batch_negatives"] is True and recorded["weight_decay"] == 0.0
    assert recorded["extra"]["colbert_config"]["bsize"] == 2

    trained, base = jcolbert.load_model(path, dtype=torch.float32), jcolbert.load_model(str(tiny_bert_dir), dtype=torch.float32)
    assert trained.config.query_maxlen == 24 and trained.config.doc_maxlen == 32  # assigned: saved with the model
    assert trained.config.dim == base.config.dim == 128  # the base's head, trained
    q_trained, q_base = trained.encode_queries(QUERIES[:2]), base.encode_queries(QUERIES[:2])
    assert q_trained.shape == (2, 24, 128)
    assert (q_trained - q_base[:, :24]).abs().max() > 1e-3  # training happened

    checkpoint = Checkpoint(path, colbert_config=ColBERTConfig())
    assert torch.allclose(checkpoint.queryFromText(QUERIES[:2]), q_trained, atol=1e-5)
    with Run().context(RunConfig(nranks=1, experiment="exp", root=str(root))):
        Indexer(checkpoint=path, config=ColBERTConfig(nbits=2)).index(name="trained", collection=PASSAGES)
        pids, ranks, scores = Searcher(index="trained", checkpoint=path).search(QUERIES[1], k=3)
    assert len(pids) == 3 and ranks == [1, 2, 3] and scores == sorted(scores, reverse=True)


def test_one_pass_over_the_triples_at_most_and_the_schedule_ends_at_maxsteps(
    tiny_bert_dir: Path, tmp_path: Path, notebook_main: None
) -> None:
    data = write_colbert_data(tmp_path / "data", scored=True)
    root = tmp_path / "root"
    with Run().context(RunConfig(nranks=1, experiment="exp", root=str(root), name="pass")):
        # RAGatouille's default maxsteps: colbert-ai stops when the triples run out (6 triples / bsize 2 = 3 steps)
        trainer = Trainer(data["triples"], data["queries"], data["collection"], config=settings(maxsteps=500_000))
        trainer.train(checkpoint=str(tiny_bert_dir))
    log = read_log(root / "exp" / "none" / "pass")
    assert [row["step"] for row in log] == [1, 2, 3]
    assert log[-1]["lr"] == pytest.approx(1e-3 * (500_000 - 2) / (500_000 - 1))  # decays towards maxsteps


def test_settings_map_to_jcolbert_train(tiny_bert_dir: Path, tmp_path: Path) -> None:
    data = write_colbert_data(tmp_path / "data", scored=True)
    config = settings(bsize=4, accumsteps=2, maxsteps=1, warmup=None, ignore_scores=True, distillation_alpha=0.5,
                      amp=False, dim=16, save_every=5, nway=2)  # fmt: skip
    cfg = train_config(config, str(tiny_bert_dir), data, tmp_path / "out")
    assert (cfg.batch_size, cfg.grad_accum, cfg.steps, cfg.schedule_steps) == (4, 2, 1, 1)
    assert cfg.loss == "ce" and cfg.distillation_alpha == 0.5 and cfg.precision == "fp32"
    assert cfg.warmup_steps is None and cfg.dim == 16 and cfg.save_every == 5 and cfg.doc_maxlen == 32
    assert cfg.model_overrides == {"doc_maxlen": 32}  # assigned and different from the checkpoint's 180
    assert train_config(settings(maxsteps=10), str(tiny_bert_dir), data, tmp_path / "o").loss == "auto"


def test_in_memory_inputs_and_a_new_head(tiny_bert_dir: Path, tmp_path: Path, notebook_main: None) -> None:
    root = tmp_path / "root"
    with Run().context(RunConfig(experiment="mem", root=str(root), name="n")):
        trainer = Trainer(triples_rows(), dict(enumerate(QUERIES)), list(PASSAGES), config=settings(maxsteps=1, dim=16))
        path = trainer.train(checkpoint=str(tiny_bert_dir))
    assert jcolbert.load_model(path).config.dim == 16  # a new seeded 16-d head, as `jcolbert train --dim 16`
    assert (root / "mem" / "none" / "n" / "train-data" / "triples.jsonl").is_file()
    with Run().context(RunConfig(experiment="mem", root=str(root), name="n")):
        again = trainer.train(checkpoint=path)  # the same run again, from the trained model: replaces it
    assert again == path and jcolbert.load_model(path).config.dim == 16
    assert sorted(p.name for p in Path(path).parent.iterdir()) == ["colbert"]


@pytest.mark.parametrize(
    ("run", "setting", "name"),
    [({"nranks": 2}, {}, "nranks"), ({}, {"reranker": True}, "reranker"), ({}, {"relu": True}, "relu"),
     ({}, {"warmup_bert": 10}, "warmup_bert"), ({}, {"similarity": "l2"}, "similarity"),
     ({}, {"warmup": 50, "maxsteps": 10}, "warmup")],
)  # fmt: skip
def test_settings_jcolbert_cannot_honour_are_refused_by_name(tmp_path: Path, run: dict, setting: dict, name: str) -> None:
    data = write_colbert_data(tmp_path / "data")
    root = tmp_path / "root"
    with Run().context(RunConfig(root=str(root), experiment="x", **run)):
        trainer = Trainer(data["triples"], data["queries"], data["collection"], config=settings(**setting))
        with pytest.raises(UnsupportedError, match=rf"ColBERTConfig\.{name}=") as info:
            trainer.train(checkpoint="unused-because-refused-first")
    assert isinstance(info.value, NotImplementedError)
    assert not root.exists()  # refused before anything is written


def test_bad_inputs_are_clear_errors(tiny_bert_dir: Path, tmp_path: Path, notebook_main: None) -> None:
    data = write_colbert_data(tmp_path / "data")
    root = tmp_path / "root"
    with Run().context(RunConfig(root=str(root), experiment="x", name="bad")):
        missing = str(tmp_path / "nope.jsonl")
        with pytest.raises(TrainingDataError, match=r"triples=.*nope\.jsonl: no such file"):
            Trainer(missing, data["queries"], data["collection"], config=settings()).train(str(tiny_bert_dir))
        with pytest.raises(CompatError, match=r"bsize=3 is not a multiple of accumsteps=2") as info:
            Trainer(**data, config=settings(bsize=3, accumsteps=2)).train(str(tiny_bert_dir))
        assert isinstance(info.value, AssertionError) and isinstance(info.value, InputError)
        with pytest.raises(TrainingDataError, match=r"6 examples, fewer than one batch \(bsize=8\)"):
            Trainer(**data, config=settings(bsize=8)).train(str(tiny_bert_dir))
        with open(data["triples"], "a") as f:
            f.write(json.dumps([0, 1, 99]) + "\n")  # pid 99 is not in the collection
        with pytest.raises(TrainingDataError, match=r"triples\.train\.colbert\.jsonl:7: passage id '99'"):
            Trainer(**data, config=settings(maxsteps=1)).train(str(tiny_bert_dir))
        with pytest.raises(CompatError, match=r"before train\(\)"):
            Trainer(**data).best_checkpoint_path()


def test_train_config_schedule_steps_and_model_overrides(tmp_path: Path) -> None:
    """What the Trainer needs from jcolbert.train: a decay that ends after the run, overrides of the base's settings;
    both join the resume key only when set, so checkpoints written before them still resume."""
    from jcolbert.train import DataSpec, TrainConfig
    from jcolbert.train.trainer import lr_at

    def make(**kw) -> TrainConfig:
        return TrainConfig(base="b", out=tmp_path, data=DataSpec("x.jsonl"), steps=10, lr=1.0, **kw)

    assert not {"schedule_steps", "model_overrides"} & set(make().resume_key())
    later = make(schedule_steps=100, warmup_steps=50, model_overrides={"doc_maxlen": 64})
    assert later.resume_key()["schedule_steps"] == 100 and later.resume_key()["model_overrides"] == {"doc_maxlen": 64}
    assert lr_at(9, later) == pytest.approx(10 / 50)  # still warming up at the last step
    assert lr_at(9, make(schedule_steps=20, warmup_steps=0)) == pytest.approx(11 / 20)
    with pytest.raises(InputError, match="schedule_steps must be an integer >= steps=10"):
        make(schedule_steps=5)
    with pytest.raises(InputError, match=r"warmup_steps must be in \[0, 10\]"):
        make(warmup_steps=11)
