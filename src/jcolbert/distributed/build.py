"""Building a sharded index on Ray: encode on a pool of workers, one codec, shards written in parallel.

    build("big", ["corpus.jsonl"], model="minilm", shards=8, workers=4)

1. Ray Data reads the collection and encodes it on `workers` encoder actors (encoding.py); each encoded
   batch is routed by id (routing.py) and written as one *block* per shard into a work folder next to
   the index (`<out>.blocks-<rand>/shard-XXXX/blk-<hash>.{npy,lens.npy,jsonl}`, written to temporary
   names and renamed, named by a hash of the batch's ids, so a retried batch rewrites the same block).
2. One codec is trained on a sample of blocks drawn from the whole collection (when the collection has
   at least `exact_threshold` tokens; below it the shards stay exact) and the sharded index is created
   with every shard adopting it.
3. One Ray task per shard reads that shard's blocks and adds them (`Index.add_embeddings`, one commit per
   window of documents), skipping ids already in (a retried task resumes). Then the work folder goes.

The work folder and the index must be on a file system every node sees (a shared folder), or the build
runs on one node.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.distributed import encoding, routing
from jcolbert.distributed import manifest as mf
from jcolbert.errors import InputError, require_extra
from jcolbert.index import build as index_build
from jcolbert.index.codec import Codec, num_centroids_for
from jcolbert.index.index import DEFAULT_EXACT_THRESHOLD

WINDOW_DOCS = 10_000


def write_blocks(batch: dict[str, Any], work: str, shards: int) -> dict[str, Any]:
    """map_batches (a Ray task): one encoded batch -> one block file set per shard it touches."""
    ids = [str(x) for x in batch["id"]]
    vectors = encoding.vectors_of(batch)
    groups = routing.group(ids, shards)
    name = "blk-" + hashlib.blake2b("\n".join(ids).encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()
    rows: dict[str, list[Any]] = {"shard": [], "file": [], "docs": [], "tokens": [], "truncated": []}
    for s, pos in sorted(groups.items()):
        folder = Path(work) / mf.shard_dir(s)
        folder.mkdir(parents=True, exist_ok=True)
        vecs = [vectors[p] for p in pos]
        _atomic_npy(folder / f"{name}.npy", np.concatenate(vecs) if vecs else np.zeros((0, 0), np.float32))
        _atomic_npy(folder / f"{name}.lens.npy", np.array([len(v) for v in vecs], dtype=np.int64))
        lines = [json.dumps({"id": ids[p], "text": str(batch["text"][p]), "metadata": str(batch["metadata"][p])})
                 for p in pos]
        _atomic_bytes(folder / f"{name}.jsonl", ("\n".join(lines) + "\n").encode())  # last: the block is whole
        rows["shard"].append(s)
        rows["file"].append(name)
        rows["docs"].append(len(pos))
        rows["tokens"].append(int(sum(len(v) for v in vecs)))
        rows["truncated"].append(0)
    if rows["truncated"]:
        rows["truncated"][0] = int(np.asarray(batch["truncated"]).sum())
    return {k: np.array(v) for k, v in rows.items()}


def read_block(folder: Path, name: str) -> tuple[list[str], list[np.ndarray], list[str], list[dict | None]]:
    flat = np.load(folder / f"{name}.npy", allow_pickle=False)
    lens = np.load(folder / f"{name}.lens.npy", allow_pickle=False)
    records = [json.loads(line) for line in (folder / f"{name}.jsonl").read_text().splitlines() if line]
    bounds = np.concatenate([[0], np.cumsum(lens)])
    vectors = [flat[bounds[i]:bounds[i + 1]] for i in range(len(lens))]
    metas = [json.loads(r["metadata"]) if r["metadata"] else None for r in records]
    return [r["id"] for r in records], vectors, [r["text"] for r in records], metas


def write_shard(path: str, work: str, names: list[str]) -> dict[str, Any]:
    """A Ray task: add one shard's blocks to its index folder (which has adopted the shared codec)."""
    from jcolbert.index.index import Index

    started = time.perf_counter()
    folder = Path(work) / Path(path).name
    added = 0
    with Index.open(path, progress=False) as index:
        held = set(index.ids())  # a retried task resumes: ids already in are skipped
        pending: tuple[list, list, list, list] = ([], [], [], [])
        for i, name in enumerate(sorted(names)):
            for col, values in zip(pending, read_block(folder, name), strict=True):
                col.extend(values)
            if len(pending[0]) >= WINDOW_DOCS or i == len(names) - 1:
                keep = [j for j, x in enumerate(pending[0]) if x not in held]
                if keep:
                    index.add_embeddings(*([col[j] for j in keep] for col in pending))
                    added += len(keep)
                pending = ([], [], [], [])
        return {"shard": Path(path).name, "added": added, "documents": len(index), "seconds": time.perf_counter() - started}


def build(out: str | os.PathLike, inputs: Any, *, model: str, shards: int, options: Any = None, nbits: int = 2,
          workers: int = 2, batch_size: int = 32, doc_maxlen: int | None = None, long_documents: str = "truncate",
          exact_threshold: int = DEFAULT_EXACT_THRESHOLD, threads: int | None = None, num_gpus: float | None = None,
          address: str | None = None, progress: Any = None) -> dict[str, Any]:
    """Build a new sharded index at `out` from document files (see the module docstring). Returns a summary
    (documents, tokens, seconds per phase, per-shard results). Starts Ray here unless it runs already."""
    ray = require_extra("ray", "ray", "building a sharded index on Ray")
    from jcolbert.distributed.sharded import ShardedIndex
    from jcolbert.model import load_model

    root = Path(out)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise InputError(f"{root} exists and is not an empty folder; a sharded index is built in a new folder")
    owns = not ray.is_initialized()
    if owns:
        ray.init(address=address, log_to_driver=False)
    work = root.parent / f".{root.name}.blocks-{secrets.token_hex(4)}"
    timings: dict[str, float] = {}
    try:
        encoder = load_model(model, **({"doc_maxlen": doc_maxlen} if doc_maxlen else {}))
        config = encoder.config.to_dict()
        started = time.perf_counter()
        ds = encoding.encode_dataset(encoding.read_collection(inputs, options), config, workers=workers,
                                     batch_size=batch_size, long_documents=long_documents, threads=threads,
                                     num_gpus=num_gpus)
        ds = ds.map_batches(write_blocks, fn_kwargs={"work": str(work), "shards": shards}, batch_size=None,
                            batch_format="numpy", num_cpus=0)  # I/O: never waits behind the encoders
        blocks = ds.take_all()
        timings["encode_s"] = time.perf_counter() - started
        documents = int(sum(b["docs"] for b in blocks))
        tokens = int(sum(b["tokens"] for b in blocks))
        started = time.perf_counter()
        codec = _train(work, blocks, tokens, nbits) if tokens >= exact_threshold and tokens else None
        timings["train_s"] = time.perf_counter() - started
        ShardedIndex.create(root, model=encoder, shards=shards, nbits=nbits, codec=codec,
                            exact_threshold=exact_threshold).close()
        started = time.perf_counter()
        names: dict[int, list[str]] = {}
        for b in blocks:
            names.setdefault(int(b["shard"]), []).append(str(b["file"]))
        task = ray.remote(write_shard).options(num_cpus=1, max_retries=2)
        refs = [task.remote(str(root / mf.shard_dir(s)), str(work), names[s]) for s in sorted(names)]
        per_shard = ray.get(refs)
        timings["write_s"] = time.perf_counter() - started
        with ShardedIndex.open(root) as sh, sh._writer():
            sh._commit_counts()
        return {"documents": documents, "tokens": tokens, "shards": shards, "workers": workers,
                "truncated": int(sum(b["truncated"] for b in blocks)), "codec": codec is not None,
                "timings": timings, "per_shard": per_shard}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if owns:
            ray.shutdown()


def _train(work: Path, blocks: list[dict[str, Any]], tokens: int, nbits: int) -> Codec:
    """One codec for the whole collection: trained on whole blocks drawn at random from every shard."""
    k = num_centroids_for(tokens)
    budget = min(max(index_build.SAMPLE_PER_CENTROID * k, 1 << 16), index_build.MAX_SAMPLE)
    order = np.random.default_rng(123).permutation(len(blocks))
    parts, have = [], 0
    for i in order:
        if have >= budget:
            break
        b = blocks[int(i)]
        flat = np.load(work / mf.shard_dir(int(b["shard"])) / f"{b['file']}.npy", allow_pickle=False)
        parts.append(flat)
        have += len(flat)
    return Codec.train(np.concatenate(parts)[:budget], nbits=nbits, num_centroids=k, total_tokens=tokens)


def _atomic_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + f".tmp-{secrets.token_hex(3)}")
    with open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    os.replace(tmp, path)


def _atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp-{secrets.token_hex(3)}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
