"""Distributed encoding with Ray Data: read the collection, `map_batches` through a pool of encoder actors.

    ds = read_collection(["corpus.jsonl"])                       # the readers and rules of `jcolbert index`
    ds = encode_dataset(ds, "minilm", workers=2)                 # + columns vectors (bytes), tokens
    vectors = encode_texts(["a", "b"], "minilm", workers=2)      # list of [tokens, dim] arrays, in order

One model per actor (loaded once, in the actor); an actor asks for `num_gpus=1` when the cluster has GPUs,
else `threads` CPU cores (torch's intra-op threads). Ray Data retries a failed batch on a restarted actor
(Ray Data's actor pools default to `max_restarts=-1`, `max_task_retries=-1`), so a worker that dies loses
no block. Vectors travel as raw float32
bytes (`tokens` rows of `dim`): Arrow-friendly, no pickles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.errors import require_extra


def _ray():
    return require_extra("ray", "ray", "distributed encoding")


def read_collection(inputs: Any, options: Any = None) -> Any:
    """A Ray Dataset of documents (id, text, metadata as JSON text) read by jcolbert's own readers, one
    Ray task per input file or folder (documents.py: formats, id rules, errors naming the file and line)."""
    ray = _ray()
    paths = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    rows = [{"path": str(Path(p))} for p in paths]
    # num_cpus=0: reading is light next to encoding, and when the encoder actors hold every CPU of the cluster
    # (workers == CPUs) a read task that asked for one would never be scheduled and the build would wait forever
    return ray.data.from_items(rows).flat_map(_read_input, fn_kwargs={"options": options}, num_cpus=0)


def _read_input(row: dict[str, Any], options: Any) -> list[dict[str, Any]]:
    from jcolbert.documents import read_documents

    return [{"id": d["id"], "text": d["text"], "metadata": json.dumps(d["metadata"]) if d["metadata"] else ""}
            for d in read_documents([row["path"]], options)]


class Encoder:
    """The map_batches callable: one model per actor, loaded once."""

    def __init__(self, model: Any, batch_size: int = 32, max_length: int | None = None,
                 long_documents: str = "truncate", threads: int | None = None, model_options: dict | None = None):
        import torch

        import jcolbert

        if threads:
            torch.set_num_threads(threads)
        self.model = jcolbert.load_model(model, **(model_options or {}))
        self.batch_size, self.max_length, self.long_documents = batch_size, max_length, long_documents

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        enc = self.model.encode_documents(texts, batch_size=self.batch_size, max_length=self.max_length,
                                          long_documents=self.long_documents, show_progress=False)
        vecs = [np.ascontiguousarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float32)
                for v in enc]
        out = dict(batch)
        out["vectors"] = np.array([v.tobytes() for v in vecs], dtype=object)
        out["tokens"] = np.array([len(v) for v in vecs], dtype=np.int64)
        out["dim"] = np.full(len(vecs), self.model.config.dim, dtype=np.int64)
        out["truncated"] = np.full(len(vecs), int(getattr(enc, "n_truncated", 0)) if vecs else 0, dtype=np.int64)
        out["truncated"][1:] = 0  # the batch's count, once
        return out


def encode_dataset(ds: Any, model: Any, *, workers: int = 2, batch_size: int = 32, rows_per_call: int | None = None,
                   max_length: int | None = None, long_documents: str = "truncate", threads: int | None = None,
                   num_gpus: float | None = None, model_options: dict | None = None) -> Any:
    """`ds` (a column `text`) through `workers` encoder actors: adds `vectors` (float32 bytes) and `tokens`.

    model: a name, a folder or a recorded config dict (each actor loads it). num_gpus: per actor; default
    1 when the cluster has GPUs, else 0 (then each actor takes `threads` CPUs, default 1)."""
    ray = _ray()
    if num_gpus is None:
        num_gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    resources = {"num_gpus": num_gpus} if num_gpus else {"num_cpus": threads or 1}
    return ds.map_batches(
        Encoder, fn_constructor_kwargs={"model": model, "batch_size": batch_size, "max_length": max_length,
                                        "long_documents": long_documents, "threads": threads if not num_gpus else None,
                                        "model_options": model_options},
        batch_size=rows_per_call or 4 * batch_size, concurrency=workers, batch_format="numpy",
        **resources)


def vectors_of(batch: dict[str, Any]) -> list[np.ndarray]:
    """The [tokens, dim] arrays of a batch of encoded rows (or of one row)."""
    raw, dims = batch["vectors"], batch["dim"]
    if isinstance(raw, bytes):
        raw, dims = [raw], [dims]
    return [np.frombuffer(b, dtype=np.float32).reshape(-1, int(d)) for b, d in zip(raw, dims, strict=True)]


def encode_texts(texts: list[str], model: Any, *, workers: int = 2, batch_size: int = 32,
                 **options: Any) -> list[np.ndarray]:
    """Encode `texts` on Ray workers; the same vectors as `model.encode_documents(texts)`, in input order."""
    ray = _ray()
    ds = ray.data.from_items([{"pos": i, "text": t} for i, t in enumerate(texts)])
    rows = encode_dataset(ds, model, workers=workers, batch_size=batch_size, **options).take_all()
    rows.sort(key=lambda r: int(r["pos"]))
    return [vectors_of(r)[0] for r in rows]
