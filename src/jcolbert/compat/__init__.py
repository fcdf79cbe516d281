"""colbert-ai's API on top of jcolbert, so that colbert-ai code runs with its imports changed, or unchanged.

=================================================  ==================================================
colbert-ai                                         jcolbert
=================================================  ==================================================
``from colbert import Indexer, Searcher,           ``from jcolbert.compat import Indexer, Searcher,
IndexUpdater, Checkpoint, Trainer``                IndexUpdater, Checkpoint, Trainer``
``from colbert.infra import Run, RunConfig,        ``from jcolbert.compat.infra import Run, RunConfig,
ColBERTConfig``                                    ColBERTConfig``
``from colbert.data import Queries, Collection``   ``from jcolbert.compat.data import Queries, Collection``
``from colbert.modeling.checkpoint import          ``from jcolbert.compat.modeling.checkpoint import
Checkpoint``                                       Checkpoint``
``from colbert.modeling.colbert import             ``from jcolbert.compat import colbert_score``
colbert_score``
=================================================  ==================================================

Unchanged: ``jcolbert.compat.install_as_colbert()`` makes ``import colbert`` (and ``colbert.*``) resolve
to these modules, and ``python -m jcolbert.compat SCRIPT.py [args]`` runs a whole script that way.

Same signatures, arguments, return shapes and folders (``experiments/<experiment>/indexes/<name>``,
with colbert-ai's ``metadata.json``). ``Run().context(...)`` exists only here, as a thin context
manager; the rest of jcolbert takes every setting as an argument. What differs from colbert-ai:
small collections index fine, nothing is forked or compiled, ``Searcher.search`` returns as many ranks
as pids when fewer than k passages exist, ``nbits=8`` builds a 4-bit index (with a warning),
`IndexUpdater` changes are on disk when each call returns, and `Trainer` trains with `jcolbert.train` in one
process (its docstring lists how each training setting is honoured, and the ones it refuses by name), saving
to colbert-ai's ``<root>/<experiment>/<script>/<name>/checkpoints/colbert``.
Errors where colbert-ai asserts are `CompatError`: both a jcolbert `InputError` and an `AssertionError`.
"""

from jcolbert.compat.alias import install_as_colbert
from jcolbert.compat.data import Collection, Queries, Ranking
from jcolbert.compat.errors import CompatError, IndexNotFoundError, UnsupportedError
from jcolbert.compat.index_updater import IndexUpdater
from jcolbert.compat.indexer import Indexer
from jcolbert.compat.infra import ColBERTConfig, Run, RunConfig
from jcolbert.compat.modeling.checkpoint import Checkpoint
from jcolbert.compat.modeling.colbert import colbert_score
from jcolbert.compat.searcher import Searcher
from jcolbert.compat.trainer import Trainer

__all__ = [
    "Checkpoint",
    "ColBERTConfig",
    "Collection",
    "CompatError",
    "IndexNotFoundError",
    "IndexUpdater",
    "Indexer",
    "Queries",
    "Ranking",
    "Run",
    "RunConfig",
    "Searcher",
    "Trainer",
    "UnsupportedError",
    "colbert_score",
    "install_as_colbert",
]
