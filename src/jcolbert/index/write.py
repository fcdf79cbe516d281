"""The write transactions: each change builds the next `Manifest` from new files, under the writer lock.

`Index` (index.py) holds the lock, opens a `Txn` on the latest snapshot and commits `txn.m` at the end;
the functions here decide what to write:

* `add_part`: new documents into a new exact segment while the collection is small, into a compressed one
  once there is a codec, and the switch from exact to compressed storage when the collection reaches
  `exact_threshold` tokens (`switch`: train the codec on a sample of everything held, compress it all);
* `delete`: tombstone files; `compact`: rewrite all segments as one without the deleted documents
  (re-clustering when asked); `install_codec`: adopt a given codec and recompress what is held;
* `merge_tail`: after a change that appended segments, merge the trailing small ones (size tiers, as a
  log-structured store does), so many small adds do not leave a segment each for every search to visit.

Nothing here touches manifest.json; new files go to fresh folders, so an abandoned change leaves only
garbage that the next writer removes (folder.collect_garbage).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.errors import InputError
from jcolbert.index import build, storage
from jcolbert.index.codec import Codec
from jcolbert.index.docstore import DocStore
from jcolbert.index.ingest import Batch, names
from jcolbert.index.manifest import CodecEntry, Manifest, SegmentEntry
from jcolbert.index.segment import write_deletes
from jcolbert.index.snapshot import Snapshot


@dataclass
class Txn:
    """One change in progress: the snapshot it started from, the manifest it is building, where it writes."""

    root: Path
    snap: Snapshot
    docs: DocStore
    m: Manifest
    progress: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # ids given so far in this change

    @property
    def generation(self) -> int:
        return self.m.generation + 1

    def folder(self, prefix: str) -> Path:
        return storage.new_dir(self.root, prefix, self.generation)

    def write(self, parts: list[build.Part], codec: Codec | None, desc: str) -> SegmentEntry:
        return build.write_segment(self.root, self.folder("seg"), parts, kind="exact" if codec is None else "plaid",
                                   dim=self.m.dim, codec=codec, progress=self.progress, desc=desc,
                                   timings=self.timings, rerank=self.m.settings.rerank)

    def save_codec(self, codec: Codec) -> CodecEntry:
        return codec.write(self.folder("codec"))


# ----------------------------------------------------------------------------------------------- adding


def assign(txn: Txn, batch: Batch) -> tuple[np.ndarray, list[str]]:
    """Check and assign the ids of a batch of new documents, insert their rows (invisible until the manifest
    names their segment), and return their numbers and ids."""
    given = [x for x in batch.ids if x is not None]
    dupes = sorted({x for x in given if x in txn.seen} | repeated(given))
    if dupes:
        raise InputError(f"duplicate document ids in this batch: {names(dupes)}")
    if given:
        found, _, _ = txn.snap.find(txn.docs, given)
        clash = sorted({x for x, f in zip(given, found, strict=True) if f})
        if clash:
            raise InputError(f"document ids already in the index: {names(clash)}; nothing was added")
    txn.seen.update(given)
    n_auto = len(batch) - len(given)
    auto: list[str] = []
    next_auto = txn.m.next_auto_id
    while len(auto) < n_auto:
        cand = [str(i) for i in range(next_auto, next_auto + (n_auto - len(auto)))]
        next_auto += len(cand)
        taken = txn.docs.existing_ids(cand) | (txn.seen & set(cand))
        auto += [c for c in cand if c not in taken]
    it = iter(auto)
    ids = [x if x is not None else next(it) for x in batch.ids]
    first = txn.m.next_doc_num
    nums = np.arange(first, first + len(ids), dtype=np.int64)
    texts = batch.texts if any(t is not None for t in batch.texts) else None
    metas = batch.metas if any(m is not None for m in batch.metas) else None
    txn.docs.insert(nums, ids, texts, metas)
    txn.seen.update(auto)
    txn.m = txn.m.replace(next_doc_num=first + len(ids), next_auto_id=next_auto)
    return nums, ids


def repeated(ids: list[str]) -> set[str]:
    seen: set[str] = set()
    return {x for x in ids if x in seen or seen.add(x)}


def add_part(txn: Txn, part: build.Part, *, desc: str, switch_now: bool | Callable[[], bool] = True) -> None:
    """New documents into the index: compressed with the codec if there is one, else exact, switching to
    compressed storage when the collection reaches exact_threshold tokens (unless switch_now=False: a
    build committing every N documents switches once at its end, so its codec sees the whole input)."""
    snap = txn.snap
    if callable(switch_now):  # asked after the documents were consumed (a stream knows then whether more follow)
        entry = txn.write([part], snap.codec, desc)
        if not entry.num_docs:
            return
        txn.m = txn.m.replace(segments=(*txn.m.segments, entry))
        if snap.codec is None and switch_now() and needs_switch(txn.m):
            spooled = _load(txn, entry)
            switch(txn, [build.SegmentPart(s, None) for s in snap.segments] + [build.SegmentPart(spooled, None)])
        return
    if snap.codec is not None:
        entry = txn.write([part], snap.codec, desc)
        if entry.num_docs:
            txn.m = txn.m.replace(segments=(*txn.m.segments, entry))
        return
    if part.lengths is None:  # encoded text: spool to an exact segment first (each document is encoded once)
        return add_part(txn, part, desc=desc, switch_now=lambda: switch_now)
    if not switch_now or snap.num_tokens + part.num_tokens < txn.m.settings.exact_threshold:
        txn.m = txn.m.replace(segments=(*txn.m.segments, txn.write([part], None, desc)))
        return
    switch(txn, [build.SegmentPart(s, None) for s in snap.segments] + [part])


def needs_switch(m: Manifest) -> bool:
    """An exact index that has reached its threshold (or was left above it by an interrupted build)."""
    return m.codec is None and bool(m.segments) and m.num_tokens >= m.settings.exact_threshold


def switch(txn: Txn, parts: list[build.Part] | None = None) -> None:
    """Train the codec on a sample of all the given documents (default: everything held) and store them all
    compressed, as one segment."""
    parts = parts if parts is not None else [build.SegmentPart(s, None) for s in txn.snap.segments]
    codec = build.train_codec(parts, nbits=txn.m.nbits, settings=txn.m.settings, timings=txn.timings)
    entry = txn.save_codec(codec)
    segment = txn.write(parts, codec, "compressing")
    txn.m = txn.m.replace(codec=entry, segments=(segment,) if segment.num_docs else ())


def _load(txn: Txn, entry: SegmentEntry):
    from jcolbert.index.segment import Segment

    with storage.open_dir(txn.root) as fd:
        return Segment.load(txn.root, entry, verify=False, root_fd=fd, next_doc_num=txn.m.next_doc_num,
                            num_centroids=txn.snap.codec.num_centroids if txn.snap.codec else 0)


# ----------------------------------------------------------------------------------------------- other changes


def delete(txn: Txn, ids: list[str], *, missing_ok: bool) -> int:
    """Tombstone the live documents with these ids; unknown ids are an error (nothing deleted) unless missing_ok."""
    found, _, nums = txn.snap.find(txn.docs, ids)
    missing = sorted({x for x, f in zip(ids, found, strict=True) if not f})
    if missing and not missing_ok:
        raise InputError(f"no document with id {names(missing)} in the index; nothing was deleted")
    if nums.size == 0:
        return 0
    segments = []
    for seg, (hit, pos) in zip(txn.snap.segments, txn.snap.live_positions(nums), strict=True):
        if hit.any():
            dead = np.union1d(np.flatnonzero(~seg.live), pos)
            segments.append(write_deletes(txn.root, seg.entry, dead, txn.generation))
        else:
            segments.append(seg.entry)
    txn.m = txn.m.replace(segments=tuple(segments))
    return int(np.unique(nums).size)


def compact(txn: Txn, *, recluster: bool | str, reason: str | None) -> dict[str, Any]:
    """Rewrite all segments as one without deleted documents (see Index.compact)."""
    snap = txn.snap
    if not snap.segments:
        return {"documents": 0, "removed": 0, "reclustered": False}
    dead = np.concatenate([s.doc_nums[~s.live] for s in snap.segments])
    if needs_switch(txn.m):  # an interrupted build left the index exact above its threshold
        switch(txn)
        done = True
    elif snap.codec is None:
        txn.m = txn.m.replace(segments=_nonempty(txn.write([build.SegmentPart(s, None) for s in snap.segments],
                                                           None, "compacting")))
        done = False
    else:
        done = recluster is True or (recluster == "auto" and bool(reason))
        if done:
            parts = [build.SegmentPart(s, snap.codec, recompress=True) for s in snap.segments]
            codec = build.train_codec(parts, nbits=txn.m.nbits, settings=txn.m.settings, timings=txn.timings)
            txn.m = txn.m.replace(codec=txn.save_codec(codec))
        else:
            codec = snap.codec
            parts = [build.SegmentPart(s, snap.codec) for s in snap.segments]
        txn.m = txn.m.replace(segments=_nonempty(txn.write(parts, codec, "compacting")))
    if dead.size:
        txn.docs.delete_nums(dead)  # dead rows are never read: safe to drop before the commit
    return {"documents": txn.m.num_live, "removed": int(dead.size), "reclustered": bool(done)}


MERGE_FACTOR = 10  # this many trailing segments of one size tier (tokens, powers of 10) are merged into one


def size_tier(tokens: int) -> int:
    """0 below MERGE_FACTOR tokens, 1 below MERGE_FACTOR**2, and so on."""
    tier, bound = 0, MERGE_FACTOR
    while tokens >= bound:
        tier, bound = tier + 1, bound * MERGE_FACTOR
    return tier


def merge_appended(txn: Txn, before: Manifest) -> None:
    """merge_tail after a change that appended segments (timed as merge_s)."""
    if {e.dir for e in txn.m.segments} - {e.dir for e in before.segments}:
        started = time.perf_counter()
        if merge_tail(txn):
            build.add_time(txn.timings, "merge_s", started)


def merge_tail(txn: Txn) -> int:
    """Keep the number of segments logarithmic in the collection: while the trailing run of segments no
    larger than the last one's size tier holds MERGE_FACTOR or more segments, rewrite that run as one
    (deleted documents dropped; compressed codes copied as they are, never recompressed). A server adding
    a document a second would otherwise leave a segment per commit, each one visited by every search.
    Skipped while an exact index waits for its switch to compressed storage (that rewrites everything).
    Returns the number of segments merged."""
    if needs_switch(txn.m):
        return 0
    codec = txn.snap.codec
    held = {s.entry.dir: s for s in txn.snap.segments}
    merged = 0
    while True:
        entries = txn.m.segments
        top = size_tier(entries[-1].num_tokens) if entries else 0
        start = len(entries)
        while start > 0 and size_tier(entries[start - 1].num_tokens) <= top:
            start -= 1
        if len(entries) - start < MERGE_FACTOR:
            return merged
        run = [_held_or_load(txn, held, e) for e in entries[start:]]
        dead = np.concatenate([s.doc_nums[~s.live] for s in run])
        entry = txn.write([build.SegmentPart(s, codec) for s in run], codec, "merging segments")
        txn.m = txn.m.replace(segments=(*entries[:start], *_nonempty(entry)))
        if dead.size:
            txn.docs.delete_nums(dead)  # as in compact: dead rows are never read
        merged += len(run)


def _held_or_load(txn: Txn, held: dict, entry: SegmentEntry):
    """The snapshot's segment for entry when unchanged, else loaded as entry says (this change's tombstones)."""
    seg = held.get(entry.dir)
    return seg if seg is not None and seg.entry == entry else _load(txn, entry)


def _nonempty(entry: SegmentEntry) -> tuple[SegmentEntry, ...]:
    return (entry,) if entry.num_docs else ()


def install_codec(txn: Txn, codec: Codec) -> None:
    """Adopt `codec` (same dim and nbits) and store everything held compressed with it."""
    m = txn.m
    if codec.dim != m.dim or codec.nbits != m.nbits:
        raise InputError(f"the codec is for dim {codec.dim}, nbits {codec.nbits}; index {txn.root} has dim {m.dim}, "
                         f"nbits {m.nbits}")
    parts = [build.SegmentPart(s, txn.snap.codec, recompress=True) for s in txn.snap.segments]
    entry = txn.save_codec(codec)
    segments = _nonempty(txn.write(parts, codec, "compressing")) if parts else ()
    txn.m = m.replace(codec=entry, segments=segments)
