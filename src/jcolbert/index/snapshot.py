"""One consistent view of an index: the manifest and the codec and segments it names, loaded and checked.

A `Snapshot` is immutable once loaded; readers keep using theirs while writers commit new ones. Loading
opens every file relative to a descriptor of the index folder (storage.py: no symlinks, regular files
only) and checks what no single file can: segments hold disjoint, ascending document numbers below the
manifest's `next_doc_num`, and every code fits the codec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jcolbert.errors import IndexFormatError
from jcolbert.index import storage
from jcolbert.index.codec import Codec
from jcolbert.index.docstore import DocStore
from jcolbert.index.manifest import Manifest
from jcolbert.index.segment import Segment


@dataclass
class Snapshot:
    """Everything a reader needs, as named by one manifest."""

    manifest: Manifest
    stamp: tuple[int, int, int]
    codec: Codec | None
    segments: list[Segment]

    @property
    def num_live(self) -> int:
        return sum(s.num_live for s in self.segments)

    @property
    def num_tokens(self) -> int:
        return sum(s.num_tokens for s in self.segments)

    @property
    def live_tokens(self) -> int:
        return sum(s.live_tokens for s in self.segments)

    def live_positions(self, nums: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per segment: (mask over nums of the live documents stored there, their positions)."""
        out = []
        for seg in self.segments:
            hit, pos = seg.positions_of(nums)
            alive = seg.live[pos]
            idx = np.flatnonzero(hit)
            hit[idx[~alive]] = False
            out.append((hit, pos[alive]))
        return out

    def live_mask(self, nums: np.ndarray) -> np.ndarray:
        alive = np.zeros(len(nums), dtype=bool)
        for hit, _ in self.live_positions(nums):
            alive |= hit
        return alive

    def live_nums(self) -> np.ndarray:
        return np.concatenate([s.doc_nums[s.live] for s in self.segments] or [np.zeros(0, np.int64)])

    def find(self, docs: DocStore, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Live documents with these ids: (found mask over ids, their positions in ids, their numbers)."""
        pos, nums = docs.nums_for_ids(list(ids))
        found = np.zeros(len(ids), dtype=bool)
        if nums.size == 0:
            return found, pos, nums
        alive = self.live_mask(nums)
        found[pos[alive]] = True
        return found, pos[alive], nums[alive]


class Loader:
    """Loads snapshots of one folder, reusing the codec and segments that did not change since the last one."""

    def __init__(self, root: Path, verify: bool):
        self.root, self.verify = root, verify
        self._segments: dict[tuple[str, str], Segment] = {}
        self._codec: tuple[str, Codec] | None = None

    def load(self, manifest: Manifest, stamp: tuple[int, int, int]) -> Snapshot:
        with storage.open_dir(self.root) as rfd:
            codec = None
            if manifest.codec is not None:
                key = manifest.codec.dir
                codec = self._codec[1] if self._codec and self._codec[0] == key else \
                    Codec.open(self.root, manifest.codec, verify=self.verify, root_fd=rfd)
                self._codec = (key, codec)
            segments, cache = [], {}
            for entry in manifest.segments:
                key = (entry.dir, entry.deleted.file if entry.deleted else "")
                seg = self._segments.get(key)
                if seg is None or seg.entry != entry:
                    seg = Segment.load(self.root, entry, verify=self.verify, root_fd=rfd,
                                       next_doc_num=manifest.next_doc_num,
                                       num_centroids=codec.num_centroids if codec else 0)
                cache[key] = seg
                segments.append(seg)
        self._segments = cache
        for i in range(1, len(segments)):
            a, b = segments[i - 1], segments[i]
            if a.num_docs and b.num_docs and int(a.doc_nums[-1]) >= int(b.doc_nums[0]):
                raise IndexFormatError(f"{self.root}: segments {a.entry.dir} and {b.entry.dir} hold overlapping "
                                       "document numbers (a duplicated or reordered segment entry)")
        return Snapshot(manifest, stamp, codec, segments)
