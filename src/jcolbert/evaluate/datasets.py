"""Evaluation collections: load a local folder (BEIR or MS MARCO TSV layout) into one `Dataset`.

Why one loader for everything: the model card's tables come from three families (MS MARCO dev, BEIR,
LoCo) and all of them reduce to the same three things -- documents, queries, graded judgments. LoCo's
long-document sets are evaluated in BEIR layout too (convert them once; the loader does not care how long a
document is).

Layouts understood (the first one that matches wins):

* **BEIR**: ``corpus.jsonl`` (``{"_id", "title", "text"}``), ``queries.jsonl`` (``{"_id", "text"}``),
  ``qrels/<split>.tsv`` (``query-id  corpus-id  score`` with a header line). Each file may also be
  ``.gz``-compressed (``corpus.jsonl.gz``...).
* **MS MARCO passage TSV**: ``collection.tsv`` (``pid  passage``), ``queries.<split>.tsv`` (``qid  text``)
  and ``qrels.<split>.tsv`` (TREC format ``qid 0 pid rel``); ``<split>.small`` is tried after ``<split>``.

Bad input is reported rather than fatal where the data can still be evaluated honestly: judgments that
name a document missing from the corpus are *kept* (as trec_eval and BEIR keep them: such a document can
never be retrieved and counts against recall), judgments that name an unknown query are dropped (there is
no text to run), and queries whose judgments are all non-relevant are left out of the evaluated set. All of
it is counted in `Dataset.issues`. A missing file, a malformed line or a split without any usable query is
an error whose message names the file.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jcolbert.errors import DatasetError


@dataclass(frozen=True)
class Document:
    """One corpus entry. `text_for_encoding` is what every first stage and encoder sees."""

    title: str
    text: str

    @property
    def text_for_encoding(self) -> str:
        # BEIR's own convention (title, a space, the body); an empty title adds nothing.
        return f"{self.title} {self.text}".strip() if self.title else self.text.strip()


@dataclass
class DatasetIssues:
    """What was wrong in the input but did not stop the evaluation (counted, with a few example ids)."""

    qrels_unknown_docs: int = 0
    qrels_unknown_queries: int = 0
    queries_without_relevant: int = 0
    duplicate_qrels: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, example: str, limit: int = 5) -> None:
        bucket = self.examples.setdefault(kind, [])
        if len(bucket) < limit:
            bucket.append(example)

    def messages(self) -> list[str]:
        """One human line per kind of problem found (empty when the data is clean)."""
        out = []
        if self.qrels_unknown_docs:
            out.append(
                f"{self.qrels_unknown_docs} judgment(s) name documents missing from the corpus "
                f"(kept: they count against recall), e.g. {self.examples.get('unknown_doc', [])}"
            )
        if self.qrels_unknown_queries:
            out.append(
                f"{self.qrels_unknown_queries} judgment(s) name queries missing from the queries file "
                f"(dropped: no text to run), e.g. {self.examples.get('unknown_query', [])}"
            )
        if self.queries_without_relevant:
            out.append(
                f"{self.queries_without_relevant} judged quer(y/ies) have no relevant document "
                f"(left out of the evaluated set), e.g. {self.examples.get('no_relevant', [])}"
            )
        if self.duplicate_qrels:
            out.append(
                f"{self.duplicate_qrels} duplicate judgment line(s) (the last one wins), "
                f"e.g. {self.examples.get('duplicate', [])}"
            )
        return out

    def to_dict(self) -> dict:
        return {
            "qrels_unknown_docs": self.qrels_unknown_docs,
            "qrels_unknown_queries": self.qrels_unknown_queries,
            "queries_without_relevant": self.queries_without_relevant,
            "duplicate_qrels": self.duplicate_qrels,
            "examples": {k: list(v) for k, v in self.examples.items()},
        }


@dataclass
class Dataset:
    """A loaded split: the whole corpus, the judged queries of the split, and their judgments.

    `queries` holds only the queries that are evaluated (judged, known, with at least one relevant
    document), in file order; `qrels` holds the judgments of exactly those queries.
    """

    name: str
    path: Path
    split: str
    layout: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    issues: DatasetIssues
    files: dict[str, str]

    @property
    def doc_ids(self) -> list[str]:
        return list(self.corpus)

    def doc_texts(self, ids: list[str] | None = None) -> list[str]:
        ids = self.doc_ids if ids is None else ids
        return [self.corpus[i].text_for_encoding for i in ids]

    def stats(self) -> dict:
        return {
            "documents": len(self.corpus),
            "queries": len(self.queries),
            "judgments": sum(len(v) for v in self.qrels.values()),
            "relevant_judgments": sum(1 for v in self.qrels.values() for s in v.values() if s > 0),
        }


# ---------------------------------------------------------------------------------------------------------
# File helpers


def _find(folder: Path, names: list[str], what: str) -> Path:
    for name in names:
        path = folder / name
        if path.is_file():
            return path
    tried = ", ".join(str(folder / n) for n in names)
    raise DatasetError(f"dataset folder {folder} has no {what}: looked for {tried}")


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline=None)
    return open(path, encoding="utf-8", newline=None)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines without their line ending (CRLF-safe); invalid UTF-8 names the file and line."""
    lineno = 0
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, start=1):  # noqa: B007  (lineno is read in the except)
                yield lineno, line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}:{lineno + 1}: not valid UTF-8 ({exc.reason})") from exc
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from exc


def _read_jsonl(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise DatasetError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        for key in required:
            if key not in obj:
                raise DatasetError(f"{path}:{lineno}: missing field {key!r}")
        obj["_id"] = str(obj["_id"])
        yield lineno, obj


def _text_field(obj: dict, key: str, path: Path, lineno: int) -> str:
    value = obj.get(key) or ""
    if not isinstance(value, str):
        raise DatasetError(f"{path}:{lineno}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def qrels_rows(path: Path) -> Iterator[tuple[int, str, str, int]]:
    """(line number, query id, document id, grade) of a BEIR TSV (3 columns, optional header) or TREC qrels
    (4 columns: qid iter docid rel); .gz read transparently. Grades are truncated to int, as trec_eval does."""
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) == 3:
            qid, did, rel = parts
        elif len(parts) == 4:
            qid, _, did, rel = parts
        else:
            raise DatasetError(
                f"{path}:{lineno}: expected 3 columns (query-id, corpus-id, score) or 4 (TREC qrels), "
                f"got {len(parts)}"
            )
        try:
            score = int(float(rel))
        except ValueError as exc:
            if lineno == 1:  # header line, e.g. "query-id\tcorpus-id\tscore"
                continue
            raise DatasetError(f"{path}:{lineno}: relevance {rel!r} is not a number") from exc
        yield lineno, qid.strip(), did.strip(), score


def _read_qrels(path: Path, issues: DatasetIssues) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for _, qid, did, score in qrels_rows(path):
        per_query = qrels.setdefault(qid, {})
        if did in per_query:
            issues.duplicate_qrels += 1
            issues.note("duplicate", f"{qid}/{did}")
        per_query[did] = score
    return qrels


# ---------------------------------------------------------------------------------------------------------
# Layouts


def _split_names(folder: Path) -> list[str]:
    qdir = folder / "qrels"
    if qdir.is_dir():
        return sorted(p.name.split(".")[0] for p in qdir.iterdir() if p.name.endswith((".tsv", ".tsv.gz")))
    return sorted(
        p.name[len("qrels.") :].removesuffix(".gz").removesuffix(".tsv")
        for p in folder.glob("qrels.*.tsv*")
    )


def detect_layout(folder: Path) -> str:
    """`"beir"` or `"msmarco"`, from which files the folder holds."""
    if any((folder / n).is_file() for n in ("corpus.jsonl", "corpus.jsonl.gz")):
        return "beir"
    if any((folder / n).is_file() for n in ("collection.tsv", "collection.tsv.gz")):
        return "msmarco"
    raise DatasetError(
        f"{folder} is not an evaluation dataset: it has neither corpus.jsonl[.gz] (BEIR layout) "
        f"nor collection.tsv[.gz] (MS MARCO layout)"
    )


def load_beir(folder: Path, split: str) -> tuple[dict, dict, Path, dict[str, str]]:
    corpus_path = _find(folder, ["corpus.jsonl", "corpus.jsonl.gz"], "corpus file")
    queries_path = _find(folder, ["queries.jsonl", "queries.jsonl.gz"], "queries file")
    try:
        qrels_path = _find(folder / "qrels", [f"{split}.tsv", f"{split}.tsv.gz"], f"judgments for split {split!r}")
    except DatasetError as exc:
        splits = _split_names(folder)
        raise DatasetError(f"{exc} (splits found: {', '.join(splits) or 'none'})") from None
    corpus: dict[str, Document] = {}
    for lineno, obj in _read_jsonl(corpus_path, ("_id",)):
        corpus[obj["_id"]] = Document(
            title=_text_field(obj, "title", corpus_path, lineno).strip(),
            text=_text_field(obj, "text", corpus_path, lineno),
        )
    queries = {
        obj["_id"]: _text_field(obj, "text", queries_path, lineno)
        for lineno, obj in _read_jsonl(queries_path, ("_id", "text"))
    }
    files = {"corpus": str(corpus_path), "queries": str(queries_path), "qrels": str(qrels_path)}
    return corpus, queries, qrels_path, files


def _read_tsv_pairs(path: Path) -> Iterator[tuple[str, str]]:
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        parts = line.split("\t", 1)
        if len(parts) != 2:
            raise DatasetError(f"{path}:{lineno}: expected 'id<TAB>text'")
        yield parts[0].strip(), parts[1]


def _load_msmarco(folder: Path, split: str) -> tuple[dict, dict, Path, dict[str, str]]:
    corpus_path = _find(folder, ["collection.tsv", "collection.tsv.gz"], "collection file")
    names = [split, f"{split}.small"]
    queries_path = _find(
        folder, [f"queries.{n}.tsv{gz}" for n in names for gz in ("", ".gz")], f"queries for split {split!r}"
    )
    qrels_path = _find(
        folder, [f"qrels.{n}.tsv{gz}" for n in names for gz in ("", ".gz")], f"judgments for split {split!r}"
    )
    corpus = {pid: Document(title="", text=text) for pid, text in _read_tsv_pairs(corpus_path)}
    queries = dict(_read_tsv_pairs(queries_path))
    files = {"corpus": str(corpus_path), "queries": str(queries_path), "qrels": str(qrels_path)}
    return corpus, queries, qrels_path, files


def load_dataset(path: str | Path, split: str = "test", *, name: str | None = None) -> Dataset:
    """Load one split of a local dataset folder (BEIR or MS MARCO TSV layout).

    Raises `DatasetError` (naming the file) for a missing folder or file, a malformed line, or a split
    with no query left to evaluate; everything else odd is counted in `Dataset.issues`.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"dataset folder {folder} does not exist")
    layout = detect_layout(folder)
    loader = load_beir if layout == "beir" else _load_msmarco
    corpus, all_queries, qrels_path, files = loader(folder, split)
    if not corpus:
        raise DatasetError(f"{files['corpus']} holds no document")

    issues = DatasetIssues()
    raw_qrels = _read_qrels(qrels_path, issues)
    if not raw_qrels:
        raise DatasetError(f"split {split!r} is empty: {qrels_path} holds no judgment, nothing to evaluate")

    qrels: dict[str, dict[str, int]] = {}
    for qid, judged in raw_qrels.items():
        if qid not in all_queries:
            issues.qrels_unknown_queries += len(judged)
            issues.note("unknown_query", qid)
            continue
        for did in judged:
            if did not in corpus:
                issues.qrels_unknown_docs += 1
                issues.note("unknown_doc", f"{qid}/{did}")
        if not any(score > 0 for score in judged.values()):
            issues.queries_without_relevant += 1
            issues.note("no_relevant", qid)
            continue
        qrels[qid] = judged
    if not qrels:
        raise DatasetError(
            f"split {split!r} has no query left to evaluate: {qrels_path} judges "
            f"{len(raw_qrels)} quer(y/ies), none both known and with a relevant document "
            f"({'; '.join(issues.messages())})"
        )
    # File order of the queries file, restricted to the evaluated ones.
    queries = {qid: text for qid, text in all_queries.items() if qid in qrels}
    empty = [qid for qid, text in queries.items() if not text.strip()]
    if empty:
        raise DatasetError(f"{files['queries']}: quer(y/ies) with empty text: {empty[:5]}")
    return Dataset(
        name=name or folder.resolve().name,
        path=folder,
        split=split,
        layout=layout,
        corpus=corpus,
        queries=queries,
        qrels={qid: qrels[qid] for qid in queries},
        issues=issues,
        files=files,
    )
