"""``colbert.data`` for jcolbert: `Collection`, `Queries`, `Ranking` (colbert-ai 0.2.22 behaviour)."""

from jcolbert.compat.data.collection import Collection
from jcolbert.compat.data.queries import Queries
from jcolbert.compat.data.ranking import Ranking

__all__ = ["Collection", "Queries", "Ranking"]
