"""colbert-ai's `Checkpoint`: ``queryFromText`` / ``docFromText`` with colbert-ai's arguments and
return shapes, computed by a jcolbert `ColBERTModel`.

Return shapes (as colbert-ai 0.2.22):

* ``queryFromText(queries)`` -> tensor ``[n, query_maxlen, dim]`` (``bsize`` only batches).
* ``docFromText(docs)`` (``keep_dims=True``) -> padded tensor ``[n, L, dim]``, zero rows at padding
  and punctuation; with ``bsize`` the same tensor inside a 1-tuple (hence the ``[0]`` in the model
  card).
* ``keep_dims=False`` -> list of ``[n_kept_i, dim]`` tensors (a 1-tuple holding it with ``bsize``).
* ``keep_dims="flatten"`` -> ``(vectors [sum n_kept_i, dim], doclens list)``.

``L`` is the longest tokenised document (incl. ``[CLS]``, marker, ``[SEP]``), as colbert-ai pads.
Vectors are float32 on the CPU (colbert-ai returns fp16 on GPUs); ``to_cpu`` is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jcolbert.compat.infra.config import ColBERTConfig
from jcolbert.errors import InputError

# ColBERTConfig field -> jcolbert.load_model override
_ENCODER_FIELDS = {
    "query_maxlen": "query_maxlen",
    "doc_maxlen": "doc_maxlen",
    "attend_to_mask_tokens": "attend_to_mask_tokens",
    "mask_punctuation": "mask_punctuation",
    "query_token_id": "query_marker",
    "doc_token_id": "doc_marker",
}


def encoder_overrides(config: ColBERTConfig | None, base: ColBERTConfig | None) -> dict[str, Any]:
    """`load_model` overrides for the encoder settings ``config`` assigns and ``base`` (the
    checkpoint's own `artifact.metadata`, None when it has none) does not already hold."""
    if config is None:
        return {}
    out = {}
    for field, override in _ENCODER_FIELDS.items():
        if not config.assigned.get(field):
            continue
        value = getattr(config, field)
        if base is not None and base.assigned.get(field) and getattr(base, field) == value:
            continue
        out[override] = value
    return out


def load_checkpoint_model(name: str, config: ColBERTConfig | None):
    """The jcolbert model for a colbert-ai checkpoint name/path plus a config's encoder overrides."""
    import jcolbert

    base = ColBERTConfig.load_from_checkpoint(name)
    return jcolbert.load_model(name, dtype="float32", **encoder_overrides(config, base))  # colbert-ai: fp32 on CPU


class Checkpoint:
    """Easy inference with ColBERT (colbert-ai's ``colbert.modeling.checkpoint.Checkpoint``)."""

    def __init__(self, name: str, colbert_config: ColBERTConfig | None = None, verbose: int = 3) -> None:
        self.name = name
        self.verbose = verbose
        base = ColBERTConfig.load_from_checkpoint(name)
        self.colbert_config = ColBERTConfig.from_existing(base, colbert_config)
        self.model = load_checkpoint_model(name, colbert_config)
        self.training = False

    def __repr__(self) -> str:
        return f"Checkpoint({self.name!r}, model={self.model!r})"

    # colbert-ai's Checkpoint is an nn.Module; these keep `.cuda()` / `.eval()` chains working.
    def cuda(self) -> Checkpoint:
        return self

    def cpu(self) -> Checkpoint:
        return self

    def eval(self) -> Checkpoint:
        return self

    def queryFromText(  # noqa: N802 - colbert-ai's name
        self,
        queries: Sequence[str] | str,
        bsize: int | None = None,
        to_cpu: bool = False,
        context: Any = None,
        full_length_search: bool = False,
    ):
        """Query vectors ``[n, query_maxlen, dim]`` (every row a unit vector, [MASK] rows included)."""
        if context is not None:
            raise InputError("queryFromText(context=...) is not supported by jcolbert.compat")
        if full_length_search:
            raise InputError("queryFromText(full_length_search=True) is not supported by jcolbert.compat")
        queries = [queries] if isinstance(queries, str) else list(queries)
        return self.model.encode_queries(queries, batch_size=bsize or max(1, len(queries)))

    def docFromText(  # noqa: N802 - colbert-ai's name
        self,
        docs: Sequence[str],
        bsize: int | None = None,
        keep_dims: bool | str = True,
        to_cpu: bool = False,
        showprogress: bool = False,
        return_tokens: bool = False,
        pool_factor: int = 1,
        protected_tokens: int = 0,
        clustering_mode: str = "hierarchical",
    ):
        """Document vectors, shaped by ``keep_dims`` and ``bsize`` exactly as colbert-ai returns them."""
        if keep_dims not in (True, False, "flatten"):
            raise InputError(f"keep_dims must be True, False or 'flatten', not {keep_dims!r}")
        if return_tokens:
            raise InputError("docFromText(return_tokens=True) is not supported by jcolbert.compat")
        if pool_factor != 1:
            raise InputError("docFromText(pool_factor>1) (token pooling) is not supported by jcolbert.compat")
        docs = list(docs)
        if keep_dims is True:
            padded = self._padded(docs, bsize or len(docs) or 1)
            return (padded,) if bsize else padded
        vectors = list(self.model.encode_documents(docs, batch_size=bsize or 32, show_progress=showprogress))
        if keep_dims is False:
            return (vectors,) if bsize else vectors
        import torch

        doclens = [int(v.shape[0]) for v in vectors]
        flat = torch.cat(vectors) if vectors else torch.empty((0, self.model.config.dim))
        return flat, doclens

    def _padded(self, docs: list[str], bsize: int):
        """``[n, L, dim]``: the encoder's padded output, zero where a token is padding or punctuation."""
        import torch

        parts = [
            self.model.embed(self.model.tokenize_documents(docs[start : start + bsize]))
            for start in range(0, len(docs), bsize)
        ]
        if not parts:
            return torch.empty((0, 0, self.model.config.dim))
        width = max(p.shape[1] for p in parts)
        out = torch.zeros((len(docs), width, self.model.config.dim), dtype=torch.float32)
        row = 0
        for part in parts:
            out[row : row + part.shape[0], : part.shape[1]] = part
            row += part.shape[0]
        return out
