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

from jcolbert.compat.errors import CompatError, UnsupportedError
from jcolbert.compat.infra.config import ColBERTConfig
from jcolbert.compat.modeling.tokenization import DocTokenizer, QueryTokenizer

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


def load_checkpoint_model(name: str, config: ColBERTConfig | None, **settings: Any):
    """The jcolbert model for a colbert-ai checkpoint name/path: ``settings`` (jcolbert `load_model`
    overrides, e.g. an index's recorded ones) then the encoder settings ``config`` assigns."""
    import jcolbert

    base = ColBERTConfig.load_from_checkpoint(name)
    # colbert-ai encodes in fp32 on CPU: so does its Checkpoint here (load_model's default is dtype="auto")
    return jcolbert.load_model(name, dtype="float32", **{**settings, **encoder_overrides(config, base)})


class Checkpoint:
    """Easy inference with ColBERT (colbert-ai's ``colbert.modeling.checkpoint.Checkpoint``).

    ``query_tokenizer.query_maxlen`` and ``doc_tokenizer.doc_maxlen`` start at the configured lengths
    (the checkpoint's own when the config leaves them unset) and may be changed at any time.
    ``bert`` is the backbone module; ``bert.config.max_position_embeddings`` its longest input.
    """

    def __init__(self, name: str, colbert_config: ColBERTConfig | None = None, verbose: int = 3) -> None:
        self._setup(name, load_checkpoint_model(name, colbert_config), colbert_config, verbose)

    @classmethod
    def from_model(cls, name: str, model: Any, colbert_config: ColBERTConfig | None = None,
                   verbose: int = 3) -> Checkpoint:
        """A Checkpoint around an already loaded jcolbert model (no second load)."""
        self = cls.__new__(cls)
        self._setup(name, model, colbert_config, verbose)
        return self

    def _setup(self, name: str, model: Any, colbert_config: ColBERTConfig | None, verbose: int) -> None:
        self.name = name
        self.verbose = verbose
        self.model = model
        self.colbert_config = ColBERTConfig.from_existing(ColBERTConfig.load_from_checkpoint(name), colbert_config)
        for field in ("query_maxlen", "doc_maxlen", "dim"):  # unset: the checkpoint's own, not colbert-ai's default
            if not self.colbert_config.assigned.get(field):
                self.colbert_config.set(field, getattr(model.config, field))
        self.query_tokenizer = QueryTokenizer(model, self.colbert_config.query_maxlen)
        self.doc_tokenizer = DocTokenizer(model, self.colbert_config.doc_maxlen)
        self.training = False

    @property
    def bert(self) -> Any:
        """The backbone module; its ``config.max_position_embeddings`` is the longest input it takes."""
        backbone = self.model.backbone
        if hasattr(backbone, "config"):
            return backbone
        from jcolbert.compat.modeling._bert_view import BackboneWithConfig

        return BackboneWithConfig(backbone, self.model.config)

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
            raise UnsupportedError("queryFromText(context=...) is not supported by jcolbert.compat")
        if full_length_search:
            raise UnsupportedError("queryFromText(full_length_search=True) is not supported by jcolbert.compat")
        queries = [queries] if isinstance(queries, str) else list(queries)
        encoder = self.query_tokenizer.encoder()
        return encoder.encode_queries(queries, batch_size=bsize or max(1, len(queries)))

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
            raise CompatError(f"keep_dims must be True, False or 'flatten', not {keep_dims!r}")
        if return_tokens:
            raise UnsupportedError("docFromText(return_tokens=True) is not supported by jcolbert.compat")
        if pool_factor != 1:
            raise UnsupportedError("docFromText(pool_factor>1) (token pooling) is not supported by jcolbert.compat")
        docs = list(docs)
        if keep_dims is True:
            padded = self._padded(docs, bsize or len(docs) or 1)
            return (padded,) if bsize else padded
        vectors = list(
            self.model.encode_documents(
                docs, batch_size=bsize or 32, max_length=self._doc_maxlen(), show_progress=showprogress
            )
        )
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
            self.model.embed(self.model.tokenize_documents(docs[start : start + bsize], max_length=self._doc_maxlen()))
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

    def _doc_maxlen(self) -> int:
        return int(self.doc_tokenizer.doc_maxlen)

