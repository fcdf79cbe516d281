"""Training ColBERT models: ColBERTv2's recipe (n-way groups, KL distillation from teacher scores or contrastive
cross-entropy, optional in-batch negatives), on CPU or GPU, one process or DDP under torchrun.

    config.py       TrainConfig, DataSpec, DevSpec (validated settings)
    data.py         n-way JSONL + queries.tsv / collection.tsv, triples TSV, BEIR qrels (checked, streamed, seeded)
    batches.py      which examples a process reads at a step; token batches
    losses.py       MaxSim group scores, KL distillation, contrastive and in-batch cross-entropy
    mining.py       hard negatives (BM25 or a jcolbert index), optional teacher scores (`jcolbert mine`)
    trainer.py      the loop (AdamW, warm-up/decay, accumulation, clipping, bf16 autocast, dev NDCG@10, logs)
    state.py        resumable checkpoints (safetensors + JSON: model, optimizer, RNG)
    distributed.py  torch.distributed / DDP (gloo on CPU, nccl on GPU)
    pylate_save.py  PyLate's layout; plot.py: the learning curve; evaluation.py: dev NDCG@10

Importing this package imports torch; `import jcolbert` does not import it.
"""

from jcolbert.train.config import DataSpec, DevSpec, TrainConfig
from jcolbert.train.trainer import TrainResult, train

__all__ = ["DataSpec", "DevSpec", "TrainConfig", "TrainResult", "train"]
