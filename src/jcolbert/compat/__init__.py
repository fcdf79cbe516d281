"""colbert-ai's API on top of jcolbert, so the Jina-ColBERT model card's code runs with only its imports changed.

=================================================  ==================================================
colbert-ai                                         jcolbert
=================================================  ==================================================
``from colbert import Indexer, Searcher``          ``from jcolbert.compat import Indexer, Searcher``
``from colbert.infra import Run, RunConfig,        ``from jcolbert.compat.infra import Run, RunConfig,
ColBERTConfig``                                    ColBERTConfig``
``from colbert.modeling.checkpoint import          ``from jcolbert.compat.modeling.checkpoint import
Checkpoint``                                       Checkpoint``
``from colbert.modeling.colbert import             ``from jcolbert.compat import colbert_score``
colbert_score``
=================================================  ==================================================

Same signatures, arguments, return shapes and folders (``experiments/<experiment>/indexes/<name>``).
``Run().context(...)`` exists only here, as a thin context manager; the rest of jcolbert takes every
setting as an argument (`jcolbert.Index`, `jcolbert.load_model`). What differs from colbert-ai:
small collections index fine (the model card's 7 documents), nothing is forked or compiled,
``Searcher.search`` returns as many ranks as pids when fewer than k passages exist.
"""

from jcolbert.compat.indexer import Indexer
from jcolbert.compat.infra import ColBERTConfig, Run, RunConfig
from jcolbert.compat.modeling.checkpoint import Checkpoint
from jcolbert.compat.modeling.colbert import colbert_score
from jcolbert.compat.searcher import Ranking, Searcher

__all__ = [
    "Checkpoint",
    "ColBERTConfig",
    "Indexer",
    "Ranking",
    "Run",
    "RunConfig",
    "Searcher",
    "colbert_score",
]
