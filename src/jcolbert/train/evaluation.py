"""Dev evaluation during training: NDCG@10 through jcolbert.evaluate, the code behind `jcolbert evaluate`.

The dev split is loaded once (`DevSet`); each evaluation reranks BM25's top `depth` candidates of its queries
with an inference copy of the current weights (`TrainableColBERT.encoder()`), the `rerank` mode of
`jcolbert evaluate`, and scores the run with the same metric code (ranx).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from jcolbert.train.config import DevSpec


class DevSet:
    def __init__(self, spec: DevSpec) -> None:
        from jcolbert.evaluate.datasets import load_dataset

        self.spec = spec
        dataset = load_dataset(spec.path, spec.split)
        qids = list(dataset.queries)[: spec.max_queries] if spec.max_queries else list(dataset.queries)
        self.dataset = dataclasses.replace(
            dataset,
            queries={q: dataset.queries[q] for q in qids},
            qrels={q: dataset.qrels[q] for q in qids},
        )

    def evaluate(self, model: Any) -> dict[str, float]:
        """{"ndcg@10": ..., "eval_s": ...} of `model` (a TrainableColBERT: its current weights)."""
        from jcolbert.evaluate.runner import EvalSettings, evaluate

        t0 = time.perf_counter()
        depth = max(self.spec.depth, 10)
        settings = EvalSettings(modes=("rerank",), k=depth, rerank_depth=depth, metrics=("ndcg@10",))
        result = evaluate(self.dataset, model.encoder(), settings)
        run = result.runs[0]
        return {"ndcg@10": float(run.scores.mean["ndcg@10"]), "eval_s": time.perf_counter() - t0}
