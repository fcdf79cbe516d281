"""Data-parallel training with torch.distributed: one process per device, launched by `torchrun`.

    torchrun --nproc-per-node 2 -m jcolbert.cli.main train minilm data/scifact --out out/run ...

`Context.from_env()` reads torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) and joins the
process group: gloo on CPU, nccl on CUDA (each rank on cuda:LOCAL_RANK). Without them it is a world of one and
nothing is initialised. The model goes into DistributedDataParallel through `Scorer` (a module whose forward runs
both towers), so gradients are averaged over the processes during backward; each process reads its own slice of
every step's batch (jcolbert.train.batches). Rank 0 alone writes logs, checkpoints and evaluates.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
from torch import nn

from jcolbert.errors import InputError
from jcolbert.model.tokenization import TokenBatch


@dataclass
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialised: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str | None = None) -> Context:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(device=torch.device(device or "cpu"))
        import torch.distributed as dist

        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        wanted = torch.device(device) if device else None
        use_cuda = (wanted is None or wanted.type == "cuda") and torch.cuda.is_available()
        if wanted is not None and wanted.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"device {device!r} asked for, but CUDA is not available")
        dev = torch.device("cuda", local) if use_cuda else torch.device("cpu")
        if use_cuda:
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
        return cls(rank, world, local, dev, True)

    def barrier(self) -> None:
        if self.initialised:
            import torch.distributed as dist

            dist.barrier()

    def mean(self, value: float) -> float:
        """The mean of a per-process number over all processes."""
        if not self.initialised:
            return value
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def close(self) -> None:
        if self.initialised:
            import torch.distributed as dist

            dist.destroy_process_group()


class Scorer(nn.Module):
    """forward(queries, documents) -> (Q, D, d_mask): the query and document towers in one call (for DDP)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, queries: TokenBatch, documents: TokenBatch):
        Q, _ = self.model.forward_queries(queries)
        D, d_mask = self.model.forward_documents(documents)
        return Q, D, d_mask


def wrap(model: nn.Module, ctx: Context) -> nn.Module:
    scorer = Scorer(model)
    if not ctx.initialised:
        return scorer
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(scorer, device_ids=ids)


def no_sync(module: nn.Module, skip: bool):
    """DDP's no_sync() for accumulation micro-steps before the last (gradients are all-reduced once per step)."""
    if skip and hasattr(module, "no_sync"):
        return module.no_sync()
    return contextlib.nullcontext()
