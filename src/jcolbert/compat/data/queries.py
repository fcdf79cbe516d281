"""colbert-ai's `Queries`: ``{qid: text}`` from a dict, a TSV file (``qid<TAB>text``) or a JSONL file of
``{"qid", "question", ...}`` records (the records are kept: `qas()`).

As in colbert-ai, TSV qids are integers and must be unique. Unlike colbert-ai, a list of texts is
accepted too (qids 0..n-1), and a TSV qid that is not an integer is kept as a string (BEIR's are).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from jcolbert.compat.errors import CompatError
from jcolbert.compat.infra.run import Run


def read_queries_tsv(path: str | os.PathLike) -> dict[Any, str]:
    queries: dict[Any, str] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            qid, tab, rest = line.strip().partition("\t")
            if not tab:
                raise CompatError(f"{path} line {line_no}: expected qid<TAB>query, found no tab")
            key: Any = int(qid) if qid.lstrip("-").isdigit() else qid
            if key in queries:
                raise CompatError(f"{path} line {line_no}: query id {qid} is repeated")
            queries[key] = rest.split("\t")[0]
    return queries


class Queries:
    """Query texts by qid; iterating yields ``(qid, text)`` pairs, as colbert-ai's does."""

    def __init__(self, path: str | None = None, data: dict | list | None = None) -> None:
        self.path = path
        self._qas: dict[Any, dict] = {}
        if data is not None:
            self._load_data(data)
        elif path is not None:
            self._load_file(path)
        else:
            raise CompatError("Queries needs a path or data")

    def _load_data(self, data: dict | list) -> None:
        if isinstance(data, list):
            data = dict(enumerate(data))
        if not isinstance(data, dict):
            raise CompatError(f"query data is a dict {{qid: text}}, not {type(data).__name__}")
        self.data = {}
        for qid, content in data.items():
            if isinstance(content, dict):
                self.data[qid] = content["question"]
                self._qas[qid] = content
            else:
                self.data[qid] = content

    def _load_file(self, path: str) -> None:
        if not str(path).endswith(".json"):
            self.data = read_queries_tsv(path)
            return
        self.data = {}
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    qa = json.loads(line)
                    qid, question = qa["qid"], qa["question"]
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    raise CompatError(f"{path} line {line_no}: expected a JSON object with qid and question ({e})") from None
                if qid in self.data:
                    raise CompatError(f"{path} line {line_no}: query id {qid} is repeated")
                self.data[qid] = question
                self._qas[qid] = qa

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[tuple[Any, str]]:
        return iter(self.data.items())

    def __getitem__(self, key: Any) -> str:
        return self.data[key]

    def keys(self):
        return self.data.keys()

    def values(self):
        return self.data.values()

    def items(self):
        return self.data.items()

    def qas(self) -> dict[Any, dict]:
        return dict(self._qas)

    def provenance(self) -> str | None:
        return self.path

    def toDict(self) -> dict[str, Any]:  # noqa: N802 - colbert-ai's name
        return {"provenance": self.provenance()}

    def save(self, new_path: str) -> str:
        """Write ``qid<TAB>text`` lines under the run's folder (`Run().open`); returns the file's path."""
        if not new_path.endswith(".tsv"):
            raise CompatError(f"{new_path}: queries are saved as .tsv")
        if os.path.exists(new_path):
            raise CompatError(f"{new_path} already exists")
        with Run().open(new_path, "w") as f:
            for qid, content in self.data.items():
                f.write(f"{qid}\t{content}\n")
            return f.name

    def save_qas(self, new_path: str) -> None:
        if not new_path.endswith(".json"):
            raise CompatError(f"{new_path}: question records are saved as .json (one per line)")
        if os.path.exists(new_path):
            raise CompatError(f"{new_path} already exists")
        with open(new_path, "w", encoding="utf-8") as f:
            for qid, qa in self._qas.items():
                f.write(json.dumps({**qa, "qid": qid}) + "\n")

    @classmethod
    def cast(cls, obj: Any) -> Queries:
        """A path -> loaded from the file, a dict or list -> wrapped, a Queries -> itself."""
        if isinstance(obj, str):
            return cls(path=obj)
        if isinstance(obj, dict | list):
            return cls(data=obj)
        if isinstance(obj, cls):
            return obj
        raise CompatError(f"queries are a path, a dict, a list or a Queries, not {type(obj).__name__}")
