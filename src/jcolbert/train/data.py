"""Training examples: a query, its positive passage first, then negatives, optionally with teacher scores.

Sources (`open_examples(DataSpec, nway)`):
  n-way JSONL   ColBERTv2's distillation format, one example a line: `[qid, [pid, score], [pid, score], ...]`
                (positive first) or without scores `[qid, pid, pid, ...]`; ids refer to `queries.tsv` (qid \\t text)
                and `collection.tsv` (pid \\t text [\\t title]: colbert-ai's "title | text").
  triples TSV   `query \\t positive \\t negative [\\t negative ...]`: texts, no ids, no teacher scores.
  BEIR folder   its qrels split (checked strictly: every id must exist) with an n-way JSONL of negatives for it
                (`jcolbert mine`; the trainer mines with BM25 when none is given).

Files are read once at opening to check every line (errors name file:line) and remember where each line starts;
examples are then read back one at a time by offset, so a large file is streamed, never held whole. The order is
a seeded permutation per epoch (`order`), and a line with more than nway - 1 negatives gives a seeded sample of
them (`Examples.get`), so position p of a run always yields the same example: what an exact `--resume` needs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from jcolbert.errors import TrainingDataError
from jcolbert.train.config import DataSpec


@dataclass
class Example:
    qid: str
    query: str
    pids: list[str]  # positive first
    passages: list[str]
    scores: list[float] | None  # teacher scores of the passages, or None
    where: str  # file:line


def _lines(path: Path) -> Iterator[tuple[int, int, str]]:
    """(line number, byte offset, text) of every non-blank line."""
    if not path.is_file():
        raise TrainingDataError(f"{path}: no such file")
    offset = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            start, offset = offset, offset + len(raw)
            try:
                text = raw.decode("utf-8").strip("\r\n")
            except UnicodeDecodeError as exc:
                raise TrainingDataError(f"{path}:{lineno}: not UTF-8 ({exc.reason})") from None
            if text.strip():
                yield lineno, start, text


def read_tsv(path: str | Path, what: str) -> dict[str, str]:
    """queries.tsv / collection.tsv: `id \\t text [\\t title]` -> {id: text}; a header row `id ...` is skipped."""
    path = Path(path)
    out: dict[str, str] = {}
    for lineno, _, line in _lines(path):
        cols = line.split("\t")
        if lineno == 1 and cols[0].strip().lower() in ("id", "qid", "pid", "_id"):
            continue
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            raise TrainingDataError(f"{path}:{lineno}: expected '{what} id<TAB>text', got {line[:80]!r}")
        key, text = cols[0].strip(), cols[1].strip()
        if len(cols) > 2 and cols[2].strip():
            text = f"{cols[2].strip()} | {text}"
        if key in out:
            raise TrainingDataError(f"{path}:{lineno}: {what} id {key!r} appears twice")
        out[key] = text
    if not out:
        raise TrainingDataError(f"{path}: holds no {what}")
    return out


def parse_group(line: str, where: str) -> tuple[str, list[str], list[float] | None]:
    """One n-way JSONL line -> (qid, pids, scores or None); TrainingDataError naming `where`."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TrainingDataError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, list) or not row or not isinstance(row[0], str | int) or isinstance(row[0], bool):
        raise TrainingDataError(f"{where}: expected [qid, [pid, score], ...] or [qid, pid, ...]")
    qid, items = str(row[0]), row[1:]
    if not items:
        raise TrainingDataError(f"{where}: empty group: query {qid!r} has no passage")
    scored = [isinstance(x, list) for x in items]
    if any(scored) and not all(scored):
        raise TrainingDataError(f"{where}: mixes [pid, score] pairs and bare pids")
    pids: list[str] = []
    scores: list[float] | None = [] if all(scored) else None
    for j, item in enumerate(items, 1):
        if scores is not None:
            if len(item) < 2 or isinstance(item[1], bool) or not isinstance(item[1], int | float):
                raise TrainingDataError(f"{where}: passage {j} is not [pid, score]: {item!r}")
            if not math.isfinite(item[1]):
                raise TrainingDataError(f"{where}: teacher score of passage {j} ({item[0]!r}) is {item[1]}")
            pid = item[0]
            scores.append(float(item[1]))
        else:
            pid = item
        if not isinstance(pid, str | int) or isinstance(pid, bool) or str(pid) == "":
            raise TrainingDataError(f"{where}: passage {j} has no valid id: {pid!r}")
        pids.append(str(pid))
    if len(pids) < 2:
        raise TrainingDataError(f"{where}: query {qid!r} has a positive but no negative")
    return qid, pids, scores


class Examples:
    """Random access to the examples of one file (see the module docstring)."""

    def __init__(self, path: Path, offsets: np.ndarray, linenos: np.ndarray, nway: int, seed: int,
                 queries: dict[str, str] | None, collection: dict[str, str] | None, has_scores: bool) -> None:  # fmt: skip
        self.path, self.offsets, self.linenos = path, offsets, linenos
        self.nway, self.seed = nway, seed
        self.queries, self.collection = queries, collection
        self.has_scores = has_scores

    def __len__(self) -> int:
        return len(self.offsets)

    def raw(self, index: int) -> tuple[str, str]:
        with open(self.path, "rb") as f:
            f.seek(int(self.offsets[index]))
            line = f.readline().decode("utf-8").strip("\r\n")
        return line, f"{self.path}:{int(self.linenos[index])}"

    def get(self, index: int, epoch: int) -> Example:
        line, where = self.raw(index)
        if self.queries is None:  # triples TSV: texts
            cols = line.split("\t")
            qid, pids, scores = where, [f"{where}#{j}" for j in range(1, len(cols))], None
            texts = dict(zip(pids, cols[1:], strict=True))
            query = cols[0]
        else:
            qid, pids, scores = parse_group(line, where)
            query, texts = self.queries[qid], self.collection
        chosen = self.choose(len(pids), index, epoch)
        return Example(
            qid=qid, query=query, pids=[pids[j] for j in chosen], passages=[texts[pids[j]] for j in chosen],
            scores=[scores[j] for j in chosen] if scores is not None else None, where=where,
        )  # fmt: skip

    def choose(self, n: int, index: int, epoch: int) -> list[int]:
        """The positive and nway - 1 negatives: all of them, or a seeded sample when the line has more."""
        if n == self.nway:
            return list(range(n))
        g = torch.Generator().manual_seed(hash_seed(self.seed, epoch, index))
        picked = (torch.randperm(n - 1, generator=g)[: self.nway - 1] + 1).sort().values
        return [0, *picked.tolist()]


def hash_seed(*parts: int) -> int:
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (int(p) & 0xFFFFFFFFFFFF)) * 1099511628211) % (1 << 63)
    return h


def order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The seeded permutation of the n examples in an epoch."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(hash_seed(seed, 1, epoch)))


def at_position(examples: Examples, position: int, seed: int, cache: dict[int, torch.Tensor]) -> Example:
    """The example a run reads at global position `position` (epochs follow each other)."""
    epoch, i = divmod(position, len(examples))
    if epoch not in cache:
        cache.clear()
        cache[epoch] = order(len(examples), seed, epoch)
    return examples.get(int(cache[epoch][i]), epoch)


def _scanned(path: Path, rows: list[tuple[int, int]], nway: int, seed: int, queries: dict[str, str] | None,
             collection: dict[str, str] | None, has_scores: bool) -> Examples:
    """The checked lines of a file, (byte offset, line number) each, as Examples; a file without one is an error."""
    if not rows:
        raise TrainingDataError(f"{path}: holds no example")
    offsets, linenos = (np.array(column, np.int64) for column in zip(*rows, strict=True))
    return Examples(path, offsets, linenos, nway, seed, queries, collection, has_scores)


def scan_nway(path: Path, nway: int, seed: int, queries: dict[str, str], collection: dict[str, str]) -> Examples:
    rows, kinds = [], set()
    for lineno, start, line in _lines(path):
        where = f"{path}:{lineno}"
        qid, pids, scores = parse_group(line, where)
        if qid not in queries:
            raise TrainingDataError(f"{where}: query id {qid!r} is not in the queries")
        for pid in pids:
            if pid not in collection:
                raise TrainingDataError(f"{where}: passage id {pid!r} is not in the collection")
        if len(pids) < nway:
            raise TrainingDataError(f"{where}: {len(pids)} passages, fewer than nway={nway}")
        kinds.add(scores is not None)
        if len(kinds) > 1:
            raise TrainingDataError(f"{where}: some lines have teacher scores and others do not")
        rows.append((start, lineno))
    return _scanned(path, rows, nway, seed, queries, collection, has_scores=kinds == {True})


def scan_triples(path: Path, nway: int, seed: int) -> Examples:
    rows = []
    for lineno, start, line in _lines(path):
        cols = line.split("\t")
        if len(cols) < 3:
            raise TrainingDataError(f"{path}:{lineno}: expected 'query<TAB>positive<TAB>negative...', "
                                    f"got {len(cols)} column(s)")  # fmt: skip
        empty = [j for j, c in enumerate(cols) if not c.strip()]
        if empty:
            raise TrainingDataError(f"{path}:{lineno}: column {empty[0] + 1} is empty")
        if len(cols) - 1 < nway:
            raise TrainingDataError(f"{path}:{lineno}: {len(cols) - 1} passages, fewer than nway={nway}")
        rows.append((start, lineno))
    return _scanned(path, rows, nway, seed, None, None, has_scores=False)


@dataclass
class BeirTrainSet:
    """A BEIR folder's training split, checked strictly: queries, corpus texts, positives per query."""

    folder: Path
    queries: dict[str, str]
    corpus: dict[str, str]
    positives: dict[str, set[str]]
    judged: dict[str, set[str]]  # every judged document (any grade) per query: never mined as a negative


def read_beir(folder: str | Path, split: str = "train") -> BeirTrainSet:
    """Corpus, queries and qrels through jcolbert.evaluate's readers; here every judged id must exist."""
    from jcolbert.evaluate.datasets import detect_layout, load_beir, qrels_rows

    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingDataError(f"{folder}: not a folder")
    if detect_layout(folder) != "beir":
        raise TrainingDataError(f"{folder}: not a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    docs, queries, qrels_path, _ = load_beir(folder, split)
    corpus = {i: d.text_for_encoding for i, d in docs.items()}
    positives: dict[str, set[str]] = {}
    judged: dict[str, set[str]] = {}
    for lineno, qid, did, grade in qrels_rows(Path(qrels_path)):
        where = f"{qrels_path}:{lineno}"
        if qid not in queries:
            raise TrainingDataError(f"{where}: query id {qid!r} is not in the queries file")
        if did not in corpus:
            raise TrainingDataError(f"{where}: corpus id {did!r} is not in the corpus")
        judged.setdefault(qid, set()).add(did)
        if grade > 0:
            positives.setdefault(qid, set()).add(did)
    if not positives:
        raise TrainingDataError(f"{qrels_path}: no relevant judgment to train on")
    return BeirTrainSet(folder, dict(queries), corpus, positives, judged)


def open_examples(spec: DataSpec, nway: int, seed: int) -> Examples:
    """The examples of a DataSpec (a BEIR folder needs spec.negatives; the trainer mines them first)."""
    path = Path(spec.path)
    if path.is_dir():
        beir = read_beir(path, spec.split)
        if spec.negatives is None:
            raise TrainingDataError(f"{path}: a BEIR folder needs negatives (an n-way JSONL from jcolbert mine)")
        return scan_nway(Path(spec.negatives), nway, seed, beir.queries, beir.corpus)
    if path.suffix in (".jsonl", ".json"):
        if spec.queries is None or spec.collection is None:
            raise TrainingDataError(f"{path}: an n-way JSONL needs queries.tsv and collection.tsv (--queries, --collection)")
        return scan_nway(path, nway, seed, read_tsv(spec.queries, "query"), read_tsv(spec.collection, "passage"))
    if path.suffix == ".tsv":
        return scan_triples(path, nway, seed)
    raise TrainingDataError(f"{path}: not a BEIR folder, an n-way .jsonl or a triples .tsv")
