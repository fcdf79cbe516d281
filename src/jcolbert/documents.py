"""Reading collections from the files people actually have: JSONL, CSV/TSV, Parquet, plain text and
folders of text files, each turned into documents ``{"id": str, "text": str, "metadata": dict}``.

Why a module of its own: the CLI (`jcolbert index`, `rerank`, `encode`), the quickstart and user
scripts all need the same rules for ids, text fields and bad input, and those rules must hold
whatever the format. The rules:

* **ids**: taken from ``id_field`` when given (then every record must have it); otherwise from an
  ``id`` (or BEIR's ``_id``) field when a record has one, else the record's place in its input:
  ``<file name>:<n>`` with the 1-based line number in JSONL and ``.txt`` files and the 1-based data-row
  number in CSV/TSV/Parquet (``notes.txt:3``), ``<folder name>/<relative path>`` for the files of a
  folder (``notes/sub/a.md``), the file name for a ``.md``/``.rst`` file. So default ids are stable
  between runs (the same command resumes) and differ between inputs: indexing ``a.txt`` and later
  ``b.txt`` into one index adds both, where bare line numbers would collide.
* **text**: ``text_field`` (default ``text``); several fields separated by commas
  (``title,text``) are joined with a newline, skipping empty ones.
* **metadata**: every other field of the record (a ``metadata`` object is merged in as is).
* **bad input** raises `jcolbert.errors.InputError` naming the file, line and field. Empty texts are
  an error unless ``skip_empty`` (then they are counted). In a folder, binary files (a NUL byte in
  the first 8 KiB, git's rule), empty files and files that are not text (by suffix) are skipped and
  counted in a `ReadReport`, never silently.
* **encoding**: input must be UTF-8 (a BOM is ignored). Invalid bytes are an error naming the file
  and the byte offset, by default; ``encoding_errors="replace"`` reads them as U+FFFD instead.
  Nothing is ever guessed: a wrong guess silently corrupts text.

Formats by suffix: ``.jsonl``/``.ndjson`` (one JSON object, or JSON string, per line), ``.json``
(an array of those), ``.csv`` (RFC 4180 quoting), ``.tsv`` (tabs, no quoting), both with a header
row unless ``header=False`` (then the columns are named ``1``, ``2``, … and the defaults are id
``1``, text ``2``: the MS MARCO ``collection.tsv`` layout), ``.parquet``, ``.txt`` (one document
per non-empty line), ``.md``/``.markdown``/``.rst`` (the whole file is one document), and folders
(every ``.txt``/``.md``/``.markdown``/``.rst`` file below it, recursively, hidden ones excluded, one
document per file).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from jcolbert.errors import InputError, require_extra

Document = dict[str, Any]
"""``{"id": str, "text": str, "metadata": dict}``: what `jcolbert.Index.add` accepts."""

EncodingErrors = Literal["strict", "replace"]

JSONL_SUFFIXES = (".jsonl", ".ndjson")
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")
LINE_SUFFIXES = (".txt",)
WHOLE_FILE_SUFFIXES = (".md", ".markdown", ".rst")
FOLDER_SUFFIXES = (".txt", ".text", ".md", ".markdown", ".rst")
SUPPORTED = ".jsonl, .ndjson, .json, .csv, .tsv, .parquet, .txt, .md, .rst or a folder"
DEFAULT_ID_FIELDS = ("id", "_id")
_BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class ReadOptions:
    """How to turn records into documents (see the module docstring for the rules)."""

    id_field: str | None = None
    text_field: str = "text"
    encoding_errors: EncodingErrors = "strict"
    skip_empty: bool = False
    header: bool = True

    def __post_init__(self) -> None:
        if self.encoding_errors not in ("strict", "replace"):
            raise InputError(f"encoding_errors must be 'strict' or 'replace', not {self.encoding_errors!r}")
        if not [f for f in self.text_field.split(",") if f.strip()]:
            raise InputError("the text field name is empty")

    @property
    def text_fields(self) -> list[str]:
        return [f.strip() for f in self.text_field.split(",") if f.strip()]


@dataclass
class ReadReport:
    """What was read and what was skipped (and why), so callers can tell the user."""

    documents: int = 0
    binary_files: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    other_files: list[str] = field(default_factory=list)

    def skipped_summary(self) -> str:
        """One human line about skipped inputs, or '' when nothing was skipped."""
        parts = []
        if self.binary_files:
            parts.append(f"{len(self.binary_files)} binary file(s)")
        if self.empty:
            parts.append(f"{len(self.empty)} empty document(s)")
        if self.other_files:
            parts.append(f"{len(self.other_files)} file(s) that are not .txt/.md/.rst")
        return "skipped " + ", ".join(parts) if parts else ""


def input_format(path: str | Path) -> str:
    """The reader that handles ``path``: jsonl, json, table, parquet, lines, file or folder."""
    p = Path(path)
    if p.is_dir():
        return "folder"
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    suffix = p.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in LINE_SUFFIXES:
        return "lines"
    if suffix in WHOLE_FILE_SUFFIXES:
        return "file"
    raise InputError(f"{p}: unsupported input type {suffix or '(no suffix)'!r}; expected {SUPPORTED}")


def read_documents(
    inputs: str | Path | Sequence[str | Path],
    options: ReadOptions | None = None,
    report: ReadReport | None = None,
) -> Iterator[Document]:
    """Documents from one or more inputs, in order. Lazy: a malformed record raises when it is reached.

    Use `scan_documents` first when nothing may be indexed from a partly bad input.
    """
    return _read(inputs, options, report, qualify=True)


def _read(inputs: str | Path | Sequence[str | Path], options: ReadOptions | None, report: ReadReport | None,
          *, qualify: bool) -> Iterator[Document]:  # fmt: skip
    """`read_documents`; ``qualify=False`` leaves positional ids bare (query files: ids ``1``, ``2``, ...)."""
    options = options or ReadOptions()
    report = report if report is not None else ReadReport()
    paths = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    if not paths:
        raise InputError("no input given")
    for path in paths:
        p = Path(path)
        kind = input_format(p)
        reader = _READERS[kind]
        prefix = "" if not qualify else f"{p.resolve().name}/" if kind == "folder" else f"{p.name}:"
        for doc in reader(p, options, report, prefix):
            report.documents += 1
            yield doc


@dataclass
class Scan:
    """The result of validating inputs without indexing them."""

    count: int
    ids: list[str]
    report: ReadReport


def scan_documents(inputs: str | Path | Sequence[str | Path], options: ReadOptions | None = None) -> Scan:
    """Read every input once, validating every record and checking ids are unique.

    Why: indexing is slow and commits as it goes, so a malformed line 90,000 would otherwise leave a
    half-built index. Parsing is cheap next to encoding, so we parse everything first.
    """
    report = ReadReport()
    ids: list[str] = []
    first_seen: dict[str, int] = {}
    for position, doc in enumerate(read_documents(inputs, options, report)):
        doc_id = doc["id"]
        if doc_id in first_seen:
            raise InputError(
                f"duplicate document id {doc_id!r} (documents {first_seen[doc_id] + 1} and {position + 1} "
                "of the input); ids must be unique (two inputs with the same name? rename one, or give "
                "ids in an id field)"
            )
        first_seen[doc_id] = position
        ids.append(doc_id)
    if not ids:
        raise InputError(
            "the input holds no documents"
            + (f" ({report.skipped_summary()})" if report.skipped_summary() else "")
        )
    return Scan(count=len(ids), ids=ids, report=report)


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most ``size`` items."""
    if size < 1:
        raise InputError(f"batch size must be at least 1, not {size}")
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_queries(path: str | Path, options: ReadOptions | None = None) -> list[tuple[str, str]]:
    """``(query_id, text)`` pairs from a query file.

    ``.tsv`` without a header (``qid<TAB>text``, MS MARCO's queries files), ``.jsonl`` (BEIR's
    ``queries.jsonl``: ``_id``/``id`` and ``text``), ``.csv`` with a header (``id``, ``text``),
    ``.txt`` one query per non-empty line (ids are line numbers). Empty queries are an error.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a folder; a query file is .tsv, .jsonl, .csv or .txt")
    options = options or ReadOptions()
    if p.suffix.lower() == ".tsv":
        options = ReadOptions(
            id_field=options.id_field,
            text_field=options.text_field,
            encoding_errors=options.encoding_errors,
            header=False,
        )
    queries = [(d["id"], d["text"]) for d in _read(p, options, None, qualify=False)]
    if not queries:
        raise InputError(f"{p}: holds no queries")
    return queries


# ---------------------------------------------------------------------------------------------
# Per-format readers: (path, options, report, id_prefix) -> documents


def _decode(
    data: bytes, path: Path, options: ReadOptions, base_offset: int = 0, line: int | None = None
) -> str:
    try:
        return data.decode("utf-8", errors=options.encoding_errors)
    except UnicodeDecodeError as e:
        where = f" line {line}" if line is not None else ""
        raise InputError(
            f"{path}{where}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {base_offset + e.start}); "
            "convert the file to UTF-8, or pass --encoding-errors replace"
        ) from None


def _iter_lines(path: Path, options: ReadOptions, keepends: bool = False) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line), decoding each line on its own so errors name the line."""
    offset = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            data = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            text = _decode(data, path, options, base_offset=offset + (len(raw) - len(data)), line=number)
            offset += len(raw)
            yield number, text if keepends else text.rstrip("\r\n")


def _join_text(values: list[Any], fields: list[str], where: str) -> str:
    parts = []
    for name, value in zip(fields, values, strict=True):
        if value is None:
            if len(fields) == 1:
                raise InputError(f"{where}: field {name!r} is null, expected text")
            continue
        if not isinstance(value, str):
            raise InputError(f"{where}: field {name!r} is a {type(value).__name__}, expected text")
        if value.strip():
            parts.append(value)
    return "\n".join(parts)


def _json_safe(value: Any) -> Any:
    """Metadata must survive JSON (the index stores it as JSON): other types become strings."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _record_to_document(
    record: dict[str, Any], position: int, where: str, options: ReadOptions, prefix: str
) -> Document | None:
    """Apply the id/text/metadata rules to one record; None when an empty text is skipped."""
    fields = options.text_fields
    missing = [name for name in fields if name not in record]
    if missing and len(missing) == len(fields):
        present = ", ".join(list(record)[:12]) or "none"
        raise InputError(
            f"{where}: no field {missing[0]!r} (fields: {present}); choose the text with --text-field"
        )
    text = _join_text([record.get(name) for name in fields], fields, where)

    if options.id_field is not None:
        if options.id_field not in record or record[options.id_field] in (None, ""):
            raise InputError(f"{where}: no value for the id field {options.id_field!r}")
        doc_id, id_key = str(record[options.id_field]), options.id_field
    else:
        id_key = next((k for k in DEFAULT_ID_FIELDS if record.get(k) not in (None, "")), None)
        doc_id = str(record[id_key]) if id_key else f"{prefix}{position}"

    if not text.strip():
        if options.skip_empty:
            return None
        raise InputError(f"{where}: the text is empty (pass --skip-empty to skip such documents)")

    metadata: dict[str, Any] = {}
    if isinstance(record.get("metadata"), dict):
        metadata.update(record["metadata"])
    skip = {id_key, "metadata", *fields}
    metadata.update({k: v for k, v in record.items() if k not in skip})
    from jcolbert.index.ingest import check_id, check_metadata  # the index's rules (light module, no numpy)

    return {"id": check_id(doc_id, where), "text": text, "metadata": check_metadata(_json_safe(metadata), where)}


def _accept(doc: Document | None, where: str, report: ReadReport) -> Iterator[Document]:
    if doc is None:
        report.empty.append(where)
        return
    yield doc


def _read_jsonl(path: Path, options: ReadOptions, report: ReadReport, prefix: str) -> Iterator[Document]:
    for number, line in _iter_lines(path, options):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
        yield from _accept(_value_to_document(value, number, where, options, prefix), where, report)


def _value_to_document(
    value: Any, position: int, where: str, options: ReadOptions, prefix: str
) -> Document | None:
    if isinstance(value, str):
        value = {options.text_fields[0]: value}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a JSON object or string, got {type(value).__name__}")
    return _record_to_document(value, position, where, options, prefix)


def _read_json(path: Path, options: ReadOptions, report: ReadReport, prefix: str) -> Iterator[Document]:
    text = _decode(path.read_bytes(), path, options)
    try:
        values = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path} line {e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(values, list):
        raise InputError(f"{path}: expected a JSON array of documents, got {type(values).__name__}")
    for number, value in enumerate(values, start=1):
        where = f"{path} item {number}"
        yield from _accept(_value_to_document(value, number, where, options, prefix), where, report)


def _read_table(path: Path, options: ReadOptions, report: ReadReport, prefix: str) -> Iterator[Document]:
    delimiter = TABLE_SUFFIXES[path.suffix.lower()]
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    if not options.header:
        options = ReadOptions(
            id_field=options.id_field or "1",
            text_field=options.text_field if options.text_field != "text" else "2",
            encoding_errors=options.encoding_errors,
            skip_empty=options.skip_empty,
            header=False,
        )
    lines = (line for _, line in _iter_lines(path, options, keepends=True))
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True)
    try:
        if options.header:
            header = next(reader, None)
            if header is None:
                return
            header = [h.strip() for h in header]
            missing = [name for name in options.text_fields if name not in header]
            if len(missing) == len(options.text_fields):
                raise InputError(
                    f"{path}: no column {missing[0]!r} (columns: {', '.join(header)}); "
                    "choose the text with --text-field"
                )
            if options.id_field is not None and options.id_field not in header:
                raise InputError(
                    f"{path}: no column {options.id_field!r} for the id (columns: {', '.join(header)})"
                )
        else:
            header = None
        for row_number, row in enumerate(reader, start=1):
            if not any(cell.strip() for cell in row):
                continue
            where = f"{path} line {reader.line_num}"
            names = header or [str(i) for i in range(1, len(row) + 1)]
            if header is not None and len(row) != len(header):
                raise InputError(f"{where}: {len(row)} fields, but the header has {len(header)}")
            record = dict(zip(names, row, strict=True))
            yield from _accept(_record_to_document(record, row_number, where, options, prefix), where, report)
    except csv.Error as e:
        raise InputError(
            f"{path} line {reader.line_num}: malformed {'TSV' if delimiter == chr(9) else 'CSV'} ({e})"
        ) from None


def _read_parquet(path: Path, options: ReadOptions, report: ReadReport, prefix: str) -> Iterator[Document]:
    pq = require_extra("pyarrow.parquet", "parquet", "reading .parquet files")  # heavy: only for parquet input

    try:
        parquet = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises its own ArrowInvalid/OSError types
        raise InputError(f"{path}: not a readable Parquet file ({e})") from None
    columns = parquet.schema_arrow.names
    missing = [name for name in options.text_fields if name not in columns]
    if len(missing) == len(options.text_fields):
        raise InputError(
            f"{path}: no column {missing[0]!r} (columns: {', '.join(columns)}); choose the text with --text-field"
        )
    if options.id_field is not None and options.id_field not in columns:
        raise InputError(f"{path}: no column {options.id_field!r} for the id (columns: {', '.join(columns)})")
    row_number = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for record in batch.to_pylist():
            row_number += 1
            where = f"{path} row {row_number}"
            yield from _accept(_record_to_document(record, row_number, where, options, prefix), where, report)


def _read_lines(path: Path, options: ReadOptions, report: ReadReport, prefix: str) -> Iterator[Document]:
    for number, line in _iter_lines(path, options):
        if line.strip():
            yield {"id": f"{prefix}{number}", "text": line, "metadata": {}}


def _is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\x00" in f.read(_BINARY_SNIFF_BYTES)


def _file_document(path: Path, doc_id: str, options: ReadOptions) -> Document | None:
    text = _decode(path.read_bytes(), path, options).lstrip("\ufeff")
    if not text.strip():
        return None
    return {"id": doc_id, "text": text, "metadata": {}}


def _read_file(path: Path, options: ReadOptions, report: ReadReport, prefix: str) -> Iterator[Document]:
    if _is_binary(path):
        report.binary_files.append(str(path))
        return
    doc = _file_document(path, path.name, options)
    if doc is None and not options.skip_empty:
        raise InputError(f"{path}: the file is empty (pass --skip-empty to skip such documents)")
    yield from _accept(doc, str(path), report)


def _folder_files(root: Path) -> Iterator[Path]:
    """Every non-hidden file below ``root``, in a stable (sorted) order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _read_folder(path: Path, options: ReadOptions, report: ReadReport, prefix: str) -> Iterator[Document]:
    for file in _folder_files(path):
        rel = file.relative_to(path).as_posix()
        if not file.is_file():
            continue
        if file.suffix.lower() not in FOLDER_SUFFIXES:
            if _is_binary(file):
                report.binary_files.append(rel)
            else:
                report.other_files.append(rel)
            continue
        if _is_binary(file):
            report.binary_files.append(rel)
            continue
        doc = _file_document(file, f"{prefix}{rel}", options)
        if doc is None:
            report.empty.append(rel)
            continue
        doc["metadata"] = {"path": rel}
        yield doc


_READERS = {
    "jsonl": _read_jsonl,
    "json": _read_json,
    "table": _read_table,
    "parquet": _read_parquet,
    "lines": _read_lines,
    "file": _read_file,
    "folder": _read_folder,
}
