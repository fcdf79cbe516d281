"""colbert-ai's `Collection`: the passages to index, from a list or a TSV file.

A TSV line is ``pid<TAB>passage[<TAB>title]``; pids must equal line numbers from 0 (as colbert-ai
asserts), a title is prefixed as ``title | passage``, and a first line whose pid is ``id`` is
accepted as line 0, kept as passage 0 the way colbert-ai keeps it (so pids stay line numbers).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from jcolbert.compat.errors import CompatError, UnsupportedError
from jcolbert.compat.infra.run import Run


def read_collection_tsv(path: str | os.PathLike) -> list[str]:
    """The passages of a colbert-ai collection TSV, pid = line number; errors name the file and line."""
    passages: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line_idx, line in enumerate(f):
            pid, tab, rest = line.strip("\n\r ").partition("\t")
            if not tab:
                raise CompatError(f"{path} line {line_idx + 1}: expected pid<TAB>passage, found no tab")
            if not (pid == "id" or (pid.isdigit() and int(pid) == line_idx)):
                raise CompatError(
                    f"{path} line {line_idx + 1}: pid {pid!r} should be {line_idx} (pids are line numbers from 0)"
                )
            passage, _, title = rest.partition("\t")
            title = title.split("\t")[0]
            passages.append(f"{title} | {passage}" if title else passage)
    return passages


class Collection:
    """Passages by pid: ``Collection(path="collection.tsv")`` or ``Collection(data=[...])``."""

    def __init__(self, path: str | None = None, data: list[str] | None = None) -> None:
        self.path = path
        self.data = data or self._load_file(path)

    def _load_file(self, path: str | None) -> list[str]:
        if path is None:
            raise CompatError("Collection needs a path or data")
        if not str(path).endswith(".tsv"):
            raise UnsupportedError(f"{path}: only .tsv collections are supported (as in colbert-ai)")
        return read_collection_tsv(path)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __getitem__(self, item: Any) -> Any:
        return self.data[item]

    def __len__(self) -> int:
        return len(self.data)

    def provenance(self) -> str | None:
        return self.path

    def toDict(self) -> dict[str, Any]:  # noqa: N802 - colbert-ai's name
        return {"provenance": self.provenance()}

    def save(self, new_path: str) -> str:
        """Write ``pid<TAB>passage`` lines under the run's folder (`Run().open`); returns the file's path."""
        if not new_path.endswith(".tsv"):
            raise CompatError(f"{new_path}: a collection is saved as .tsv")
        if os.path.exists(new_path):
            raise CompatError(f"{new_path} already exists")
        with Run().open(new_path, "w") as f:
            for pid, content in enumerate(self.data):
                f.write(f"{pid}\t{content}\n")
            return f.name

    @classmethod
    def cast(cls, obj: Any) -> Collection:
        """A path -> loaded from the file, a list -> wrapped, a Collection -> itself."""
        if isinstance(obj, str):
            return cls(path=obj)
        if isinstance(obj, list):
            return cls(data=obj)
        if isinstance(obj, cls):
            return obj
        raise CompatError(f"a collection is a path, a list of passages or a Collection, not {type(obj).__name__}")
