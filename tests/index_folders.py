"""Helpers for the tests that damage index folders: a small valid index, manifest edits that keep a valid
checksum (what a crafted folder from elsewhere can do), and a snapshot of a folder to prove nothing changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jcolbert.index import Index
from jcolbert.index.manifest import MANIFEST, checksum
from test_index_data import make_docs, query_from

DIM = 32


def build_index(path: Path, *, plaid: bool = True) -> Index:
    """A compressed index with texts, metadata, two segments and a tombstone file (or a small exact one)."""
    index = Index.create(path, dim=DIM, exact_threshold=1200 if plaid else 10**9, progress=False)
    docs = make_docs(110, dim=DIM, seed=21)
    index.add_embeddings([f"d{i}" for i in range(100)], docs[:100], texts=[f"text {i}" for i in range(100)],
                         metadata=[{"n": i, "lang": "en" if i % 2 else "fr"} for i in range(100)])
    index.add_embeddings([f"d{i}" for i in range(100, 110)], docs[100:], texts=[f"text {i}" for i in range(100, 110)])
    index.delete(["d3", "d104"])
    return index


def queries() -> np.ndarray:
    docs = make_docs(110, dim=DIM, seed=21)
    return np.stack([query_from(docs[i], seed=i) for i in (5, 40, 105)])


def results(index: Index) -> list:
    out = index.search_embeddings(queries(), k=5, return_text=True, return_metadata=True)
    return [[(h.id, round(h.score, 5), h.text, h.metadata) for h in hits] for hits in out]


def edit_manifest(path: Path, change: Callable[[dict[str, Any]], None], *, sign: bool = True) -> None:
    """Apply `change` to the decoded manifest and write it back, re-signed (as a crafted folder would be)."""
    doc = json.loads((path / MANIFEST).read_text())
    doc.pop("checksum", None)
    change(doc)
    if sign:
        doc["checksum"] = checksum(doc)
    (path / MANIFEST).write_text(json.dumps(doc, indent=1, sort_keys=True))


def folder_state(path: Path) -> dict[str, str]:
    """Every entry under `path` (not following links) with its kind and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(path))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = "other"
    return out


def make_outside(root: Path) -> Path:
    """A folder next to the index with files an escaping index would read or destroy."""
    outside = root / "outside"
    outside.mkdir()
    for name in ("secret.txt", "doclens.npy", "codes.npy", "del-000009.npy", "keep.bin"):
        (outside / name).write_bytes(b"outside data " + name.encode())
    return outside


def copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def make_format_1(path) -> None:
    """Turn a folder into what jcolbert wrote before format 3: no manifest checksum or docstore uid, a store
    in WAL mode without row checks (the same layout main's index code produced)."""
    doc = json.loads((path / "manifest.json").read_text())
    for key in ("checksum", "docstore"):
        doc.pop(key)
    doc["format_version"] = 1
    (path / "manifest.json").write_text(json.dumps(doc, indent=1, sort_keys=True))
    con = sqlite3.connect(path / "docs.sqlite")
    for statement in ("ALTER TABLE docs DROP COLUMN idcheck", "ALTER TABLE docs DROP COLUMN rowcheck",
                      "DROP TABLE meta", "PRAGMA journal_mode=WAL"):
        con.execute(statement)
    con.commit()
    con.close()
