"""`verify`: check an index folder deeply (what `jcolbert verify INDEX [--repair]` runs).

What opening an index already checks (every time, cheaply): the manifest's schema and checksum; that every
file it names is a regular file inside the folder (no symlinks, FIFOs or devices), has the recorded size,
dtype and shape (and crc32, unless opened with verify=False); that arrays hold values in range (codes below
the number of centroids, IVF entries below the number of documents, increasing offsets, document numbers and
tombstones, positive document lengths summing to the token count, finite vectors and codec tables); that
segments hold disjoint document numbers; and that the document store exists, belongs to this index and
holds at least the live documents. Rows are checked when read.

What `verify` adds: every crc32 whatever the caller's habit; each segment's inverted file rebuilt from its
codes and compared; an exact tier's vectors compared with the decompressed codes of the same tokens (a rerank
array of other documents, or rows out of order, passes every per-file check but not this one); SQLite's own integrity check; every row of the document store checked against its
row checks, every live document present, metadata valid JSON; rows and files no manifest names (leftovers
of killed writers). `repair=True` removes the leftovers (files, folders, orphan rows) and gives a store of
an older format its row checks; damaged data cannot be repaired (restore from a copy or rebuild).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.errors import JColbertError
from jcolbert.index import folder, storage
from jcolbert.index.docstore import DocStore
from jcolbert.index.segment import Segment
from jcolbert.index.snapshot import Loader, Snapshot


def verify(path: str | os.PathLike, *, repair: bool = False) -> dict[str, Any]:
    """{"path", "ok", "documents", "problems": [...], "repairable": [...], "repaired": [...]}."""
    root = Path(path)
    report: dict[str, Any] = {"path": str(root), "ok": False, "documents": None, "problems": [], "repairable": [],
                              "repaired": []}
    try:
        manifest = storage.read_manifest(root)
        snap = Loader(root, verify=True).load(manifest, storage.manifest_stamp(root))
    except JColbertError as exc:
        report["problems"].append(str(exc))
        return report
    report["documents"] = snap.num_live
    for seg in snap.segments:
        if seg.kind == "plaid":
            problem = _ivf_problem(seg, snap.codec.num_centroids)
            if problem:
                report["problems"].append(f"{root / seg.entry.dir}/ivf_docs.npy: {problem}")
            problem = _rerank_problem(seg, snap.codec) if seg.rerank is not None else None
            if problem:
                report["problems"].append(f"{root / seg.entry.dir}/rerank.npy: {problem}")
    orphans = _check_store(root, snap, report)
    for name, size in folder.leftovers(root, manifest):
        report["repairable"].append(f"leftover {name} ({size} bytes), written by an interrupted change")
    if orphans.size:
        report["repairable"].append(f"{orphans.size} orphan rows in docs.sqlite (documents no segment holds)")
    if repair and report["repairable"] and not report["problems"]:
        _repair(root, orphans, report)
    report["ok"] = not report["problems"] and not report["repairable"]
    return report


def _ivf_problem(seg: Segment, num_centroids: int) -> str | None:
    """The inverted file must list exactly the (centroid, document) pairs of the segment's codes."""
    n = np.int64(seg.num_docs)
    docs = np.repeat(np.arange(n, dtype=np.int64), seg.doclens)
    expected = np.unique(seg.codes.astype(np.int64) * n + docs)
    cents = np.repeat(np.arange(num_centroids, dtype=np.int64), np.diff(seg.ivf_offsets))
    actual = np.sort(cents * n + seg.ivf_docs.astype(np.int64))
    if not np.array_equal(expected, actual):
        return (f"the inverted file lists {len(actual)} (centroid, document) pairs, the codes give {len(expected)} "
                "other ones: the segment was altered")
    return None


RERANK_MIN_COSINE = 0.5  # a token's rerank vector vs its decompressed code: ~0.9 for real data at 1-2 bits
RERANK_MAX_BAD = 0.01  # the share of tokens allowed below it


def _rerank_problem(seg: Segment, codec: Any) -> str | None:
    """The exact tier must hold the same tokens as the codes: cosine of each rerank vector with its
    decompressed code, block by block; more than 1% of tokens below 0.5 means the arrays disagree."""
    bad = 0
    for lo in range(0, seg.num_tokens, 1 << 16):
        rows = np.arange(lo, min(lo + (1 << 16), seg.num_tokens))
        A = seg.rerank.vectors(rows)
        B = codec.decompress(np.take(seg.codes, rows), np.take(seg.residuals, rows, axis=0))
        norms = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
        cos = np.einsum("ij,ij->i", A, B) / np.maximum(norms, 1e-12)
        bad += int((cos < RERANK_MIN_COSINE).sum())
    if bad > RERANK_MAX_BAD * seg.num_tokens:
        return (f"{bad} of {seg.num_tokens} tokens' rerank vectors disagree with their compressed codes (cosine "
                f"< {RERANK_MIN_COSINE}): the exact tier holds other vectors; rebuild the index")
    return None


def _check_store(root: Path, snap: Snapshot, report: dict[str, Any]) -> np.ndarray:
    """Check docs.sqlite row by row; returns the numbers of orphan rows (in no segment)."""
    m = snap.manifest
    try:
        store = DocStore(root / storage.DOCSTORE, uid=m.docstore.uid if m.docstore else None, readonly=True)
        store.check_count(m.next_doc_num, snap.num_live)
        report["problems"] += [f"docs.sqlite: {p}" for p in store.integrity()]
        if not store.checked:
            report["repairable"].append("docs.sqlite has no row checks (an index of format 1): --repair adds them")
        held = np.sort(np.concatenate([s.doc_nums for s in snap.segments] or [np.zeros(0, np.int64)]))
        live = snap.live_nums()
        seen, bad = [], 0
        for rows in store.scan():
            nums = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            seen.append(nums)
            mine = np.isin(nums, held)  # orphan rows are leftovers, not data: they are removed, not checked
            for row in (r for r, m in zip(rows, mine, strict=True) if m):
                if store.checked and not store.verify_row(row):
                    bad += 1
                    if bad <= 10:
                        report["problems"].append(f"docs.sqlite: the row of document {row[0]} (id {row[1]!r}) fails "
                                                  "its check (altered or corrupted)")
                if row[3] is not None and not _valid_json(row[3]):
                    report["problems"].append(f"docs.sqlite: the metadata of document {row[0]} is not valid JSON")
        if bad > 10:
            report["problems"].append(f"docs.sqlite: {bad - 10} more rows fail their checks")
        nums = np.concatenate(seen) if seen else np.zeros(0, np.int64)
        missing = np.setdiff1d(live, nums)
        if missing.size:
            report["problems"].append(f"docs.sqlite: {missing.size} live documents have no row (e.g. document "
                                      f"{int(missing[0])})")
        store.close()
        return np.setdiff1d(nums, held)
    except JColbertError as exc:
        report["problems"].append(str(exc))
        return np.zeros(0, np.int64)


def _valid_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject)
        return True
    except ValueError:
        return False


def _reject(name: str) -> Any:
    raise ValueError(name)


def _repair(root: Path, orphans: np.ndarray, report: dict[str, Any]) -> None:
    from jcolbert.index.index import Index

    index = Index.open(root)
    with index._writing("repairing the index") as txn:  # removes leftovers; a format-1 store gets its checks
        if orphans.size:
            txn.docs.delete_nums(orphans)
    index.close()
    report["repaired"] = report["repairable"]
    report["repairable"] = []
