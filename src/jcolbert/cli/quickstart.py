"""The quickstart: index a real collection that is already on every machine, search it, show the way on.

The collection is the documentation of the Python standard library, read from the running
interpreter: one document per documented public function or class of a fixed list of modules
(``json.dumps``, ``pathlib.Path``, ...). It needs no download, its licence (PSF) allows
redistribution, and its readers can judge the hits themselves. The selection is deterministic for a
given interpreter: modules in a fixed order, names sorted, and when a ``limit`` applies, the documents
of the first modules of `STDLIB_MODULES` (most used first), so the example queries always find
their answers (``json.loads``, ``subprocess.check_output``, ``math.gcd``, ``gzip.compress``).

`run_quickstart` does the work and returns timings per phase (model load, encoding, indexing,
search) so that `benchmarks/bench_quickstart.py` and ``jcolbert quickstart --json`` can report them.
"""

from __future__ import annotations

import importlib
import inspect
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jcolbert.documents import Document

STDLIB_MODULES = [  # the example queries' modules, then most used first: a limit keeps the top of this list
    "json",
    "subprocess",
    "math",
    "gzip",
    "os",
    "pathlib",
    "shutil",
    "re",
    "statistics",
    "random",
    "datetime",
    "time",
    "collections",
    "itertools",
    "functools",
    "zipfile",
    "tarfile",
    "csv",
    "sqlite3",
    "hashlib",
    "base64",
    "urllib.parse",
    "urllib.request",
    "http.client",
    "socket",
    "threading",
    "queue",
    "logging",
    "argparse",
    "textwrap",
    "string",
    "difflib",
    "tempfile",
    "glob",
    "fnmatch",
    "uuid",
    "secrets",
    "decimal",
    "fractions",
    "heapq",
    "bisect",
    "copy",
    "pickle",
    "struct",
    "io",
    "typing",
    "dataclasses",
    "enum",
    "contextlib",
    "inspect",
    "traceback",
    "warnings",
    "unittest",
    "timeit",
    "platform",
    "shlex",
    "calendar",
    "ipaddress",
    "mimetypes",
    "html",
    "email",
    "xml.etree.ElementTree",
    "zlib",
    "array",
    "weakref",
    "abc",
    "operator",
    "types",
    "tokenize",
    "pprint",
    "hmac",
    "asyncio",
    "http.server",
]

EXAMPLE_QUERIES = (
    "how do I parse a JSON string into a Python object?",
    "run a shell command and capture its output",
    "find the greatest common divisor of two integers",
    "compress data in gzip format",
)

DEFAULT_LIMIT = 500  # with a small model (minilm) on a CPU: well under two minutes on 2 cores
LARGE_MODEL_LIMIT = 120  # with a BERT-base-sized model (Jina-ColBERT: ~10x the compute per token) on a CPU
MIN_DOC_CHARS = 20
MAX_DOC_CHARS = 1200


def _public_names(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if not isinstance(names, list | tuple):
        names = [n for n in dir(module) if not n.startswith("_")]
    return sorted(set(names))


def _defined_here(obj: Any, module_name: str) -> bool:
    """True for objects of this module (or its C accelerator, e.g. ``_json``), not re-exports."""
    owner = getattr(obj, "__module__", None) or ""
    last = module_name.rsplit(".", 1)[-1]
    return owner == module_name or owner.startswith(module_name + ".") or owner == "_" + last


class _Elided:
    def __repr__(self) -> str:
        return "..."


def _signature(obj: Any) -> str:
    """The call signature, with defaults whose repr names a live object (``<... at 0x7f...>``) shown as ``...``:
    those reprs change from run to run (e.g. ``logging.shutdown``'s handler list), and the collection must not."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    params = [
        p.replace(default=_Elided())
        if p.default is not p.empty and (" at 0x" in repr(p.default) or repr(p.default).startswith("<"))
        else p
        for p in sig.parameters.values()
    ]
    return str(sig.replace(parameters=params))


def stdlib_documents(limit: int | None = DEFAULT_LIMIT) -> list[Document]:
    """Documents ``{"id": "json.dumps", "text": "json.dumps(obj, ...)\\n\\n<docstring>", "metadata": ...}``.

    ``metadata`` holds ``module`` and ``kind`` (function or class), so filters like ``module=json``
    work on the quickstart index. Modules missing from a minimal Python build are skipped.
    """
    docs: list[Document] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated modules/attributes warn on access
        for module_name in STDLIB_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for name in _public_names(module):
                obj = getattr(module, name, None)
                if not (inspect.isclass(obj) or inspect.isroutine(obj)) or not _defined_here(
                    obj, module_name
                ):
                    continue
                doc = inspect.getdoc(obj)
                if not doc or len(doc) < MIN_DOC_CHARS:
                    continue
                qualified = f"{module_name}.{name}"
                text = f"{qualified}{_signature(obj)}\n\n{doc.strip()}"[:MAX_DOC_CHARS]
                kind = "class" if inspect.isclass(obj) else "function"
                docs.append(
                    {"id": qualified, "text": text, "metadata": {"module": module_name, "kind": kind}}
                )
                if limit is not None and len(docs) >= limit:
                    return docs
    return docs


@dataclass
class QuickstartResult:
    """What the quickstart did, for printing and benchmarking."""

    model: str
    model_note: str
    index_path: str
    documents: int
    tokens: int
    timings: dict[str, float] = field(default_factory=dict)
    queries: list[dict[str, Any]] = field(default_factory=list)
    reused: bool = False


def default_limit(model: Any) -> int:
    """How many docstrings to index so the quickstart stays short with this model on this hardware."""
    if getattr(model, "device", None) is not None and model.device.type == "cuda":
        return DEFAULT_LIMIT
    return DEFAULT_LIMIT if model.config.hidden_size <= 384 else LARGE_MODEL_LIMIT


def choose_model(requested: str | None, default: str, offline: str) -> tuple[Any, str, str]:
    """Load ``requested``, or the default model and, when the hub is unreachable, the offline one.

    Returns ``(model, name, note)``; the note says which model is used and why, for the user.
    """
    import jcolbert
    from jcolbert.errors import HubUnavailableError

    if requested is not None:
        return jcolbert.load_model(requested), requested, f"model: {requested}"
    try:
        return jcolbert.load_model(default), default, f"model: {default} (from the Hugging Face hub)"
    except HubUnavailableError as exc:
        reason = " ".join(str(exc).split()).split("; ")[0]
        note = f"model: {offline}, the offline small model, because the hub is unreachable ({reason[:200]})"
        return jcolbert.load_model(offline), offline, note


def run_quickstart(
    directory: Path,
    *,
    model: str | None = None,
    default_model: str,
    offline_model: str,
    limit: int | None = None,
    k: int = 3,
    queries: tuple[str, ...] = EXAMPLE_QUERIES,
    on_note: Callable[[str], None] = lambda s: None,
    progress: Callable[[str, int], Any] | None = None,
) -> QuickstartResult:
    """Build (or reuse) the quickstart index under ``directory`` and run the example queries.

    ``limit``: docstrings to index (default: `default_limit` for the model, so the run stays short).

    ``progress(description, total)`` returns a context manager yielding ``advance(n)``; the CLI
    passes its progress bar, tests pass nothing.
    """
    from contextlib import nullcontext

    from jcolbert.index import Index

    timings: dict[str, float] = {}
    start = time.perf_counter()
    encoder, model_name, note = choose_model(model, default_model, offline_model)
    timings["model_load"] = time.perf_counter() - start
    on_note(note)

    start = time.perf_counter()
    docs = stdlib_documents(limit if limit is not None else default_limit(encoder))
    timings["collect"] = time.perf_counter() - start
    on_note(
        f"collection: {len(docs)} docstrings of the Python standard library on this interpreter"
        + ("" if limit is not None else " (--limit changes how many)")
    )

    slug = model_name.rstrip("/").rsplit("/", 1)[-1]
    index_path = directory / f"index-{slug}"
    reused = False
    if Index.exists(index_path):
        index = Index.open(index_path, model=encoder, progress=False)
        present = set(index.ids())
        todo = [d for d in docs if d["id"] not in present]
        reused = not todo
    else:
        directory.mkdir(parents=True, exist_ok=True)
        index = Index.create(index_path, model=encoder, progress=False)
        todo = docs
    tokens = truncated = 0
    timings["encode"] = timings["index"] = 0.0
    if todo:
        from jcolbert.cli.common import quiet_truncation_log
        from jcolbert.cli.index_cmds import progress_to

        bar = progress("encoding + indexing", len(todo)) if progress else nullcontext(lambda n: None)
        with bar as advance, quiet_truncation_log():
            index.add(todo, progress=progress_to(advance))
        tokens, truncated = index.last_add["tokens"], index.last_add["truncated"]
        timings["encode"] = index.last_timings.get("encode_s", 0.0)
        timings["index"] = index.last_timings.get("total_s", 0.0) - timings["encode"]
    if truncated:
        on_note(f"truncated {truncated} long docstrings to the model's {encoder.config.doc_maxlen} tokens")

    results = []
    start = time.perf_counter()
    for query in queries:
        hits = index.search(query, k=k, return_text=True)
        results.append(
            {
                "query": query,
                "hits": [{"rank": h.rank, "id": h.id, "score": float(h.score), "text": h.text} for h in hits],
            }
        )
    timings["search"] = time.perf_counter() - start
    return QuickstartResult(
        model=model_name,
        model_note=note,
        index_path=str(index_path),
        documents=len(docs),
        tokens=tokens,
        timings=timings,
        queries=results,
        reused=reused,
    )
