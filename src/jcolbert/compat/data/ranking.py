"""colbert-ai's `Ranking`: search results per query, what `Searcher.search_all` returns.

``data`` maps each qid to ``[(pid, rank, score), ...]``; ``flat_ranking`` is the same as
``[(qid, pid, rank, score), ...]``. A ranking can be read from (and `save`d as) colbert-ai's TSV,
one ``qid<TAB>pid<TAB>rank<TAB>score`` line per hit. `save` writes under the run's folder
(`Run().open`, ``<root>/<experiment>/<script>/<name>/``) and puts a ``.meta`` JSON file beside it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from jcolbert.compat.errors import CompatError
from jcolbert.compat.infra.provenance import Provenance, metadata_only, to_json
from jcolbert.compat.infra.run import Run


def _number(value: str) -> Any:
    """colbert-ai's ``numericize``: float when it has a dot, else int; other text is kept as it is."""
    try:
        return float(value) if "." in value else int(value)
    except ValueError:
        return value


def read_ranking(path: str) -> list[list[Any]]:
    with open(path, encoding="utf-8") as f:
        return [[_number(x) for x in line.strip().split("\t")] for line in f if line.strip()]


def group_by_first(rows: list) -> dict[Any, list]:
    groups: dict[Any, list] = defaultdict(list)
    for first, *rest in rows:
        groups[first].append(rest[0] if len(rest) == 1 else rest)
    return groups


class Ranking:
    """Hits per query; build it from ``data`` (a dict by qid, or flat rows) or a TSV ``path``."""

    def __init__(self, path: str | None = None, data: dict | list | None = None, metrics: Any = None,
                 provenance: Any = None) -> None:
        self._provenance = provenance or path or Provenance()
        self.data = self._prepare_data(data if data is not None else read_ranking(path) if path else None)

    def _prepare_data(self, data: dict | list | None) -> dict:
        if data is None:
            raise CompatError("Ranking needs a path or data")
        if isinstance(data, dict):
            self.flat_ranking = [(qid, *rest) for qid, hits in data.items() for rest in hits]
            return data
        self.flat_ranking = list(data)
        return group_by_first(self.flat_ranking)

    def provenance(self) -> Any:
        return self._provenance

    def toDict(self) -> dict[str, Any]:  # noqa: N802 - colbert-ai's name
        return {"provenance": self.provenance()}

    def todict(self) -> dict:
        return dict(self.data)

    def tolist(self) -> list:
        return list(self.flat_ranking)

    def items(self):
        return self.data.items()

    def save(self, new_path: str) -> str:
        """Write the TSV under the run's folder, and ``<new_path>.meta`` beside it; returns the TSV's path."""
        if "tsv" not in new_path.strip("/").split("/")[-1].split("."):
            raise CompatError(f"{new_path}: a ranking is saved as .tsv")
        with Run().open(new_path, "w") as f:
            for row in self.flat_ranking:
                f.write("\t".join(str(int(x) if isinstance(x, bool) else x) for x in row) + "\n")
            output_path = f.name
        with Run().open(f"{new_path}.meta", "w") as f:
            meta = {"metadata": metadata_only(), "provenance": self.provenance()}
            f.write(json.dumps(meta, indent=4, default=to_json))
        return output_path

    @classmethod
    def cast(cls, obj: Any) -> Ranking:
        if isinstance(obj, str):
            return cls(path=obj)
        if isinstance(obj, dict | list):
            return cls(data=obj)
        if isinstance(obj, cls):
            return obj
        raise CompatError(f"a ranking is a path, a dict or a list, not {type(obj).__name__}")
