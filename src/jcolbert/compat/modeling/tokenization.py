"""colbert-ai's `QueryTokenizer` and `DocTokenizer` over a jcolbert encoder.

What colbert-ai code does with them: read or change ``query_tokenizer.query_maxlen`` /
``doc_tokenizer.doc_maxlen`` (RAGatouille stretches both to fit long queries and documents), and
the change takes effect at the next ``queryFromText`` / ``docFromText``; ``tensorize`` gives the
exact ``(input_ids, attention_mask)`` the encoder sees. Token rules are jcolbert's (the same ids
as colbert-ai's; see `jcolbert.model.tokenization`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jcolbert.compat.errors import CompatError


def _check_texts(batch_text: Any) -> list[str]:
    if not isinstance(batch_text, list | tuple):
        raise CompatError(f"expected a list of texts, not {type(batch_text).__name__}")
    return list(batch_text)


class QueryTokenizer:
    """Queries become ``[CLS] [Q] text [SEP] [MASK]...`` of exactly ``query_maxlen`` tokens."""

    def __init__(self, model: Any, query_maxlen: int) -> None:
        self._model = model
        self._views: dict[int, Any] = {}
        self.tok = model.tokenizer.tokenizer  # the `tokenizers.Tokenizer` (colbert-ai: an HF tokenizer)
        self.query_maxlen = int(query_maxlen)

    def encoder(self) -> Any:
        """The jcolbert encoder at the current ``query_maxlen`` (shares the weights; cached per length)."""
        n = int(self.query_maxlen)
        if n == self._model.config.query_maxlen:
            return self._model
        if n not in self._views:
            self._views[n] = with_query_maxlen(self._model, n)
        return self._views[n]

    def tokenize(self, batch_text: list[str], add_special_tokens: bool = False) -> list[list[str]]:
        ids = self.encode(batch_text, add_special_tokens=add_special_tokens)
        return [[self.tok.id_to_token(i) for i in row] for row in ids]

    def encode(self, batch_text: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        texts = _check_texts(batch_text)
        if not add_special_tokens:
            return self._model.tokenizer.wordpieces(texts)
        batch = self.encoder().tokenize_queries(texts)
        return batch.input_ids.tolist()

    def tensorize(self, batch_text: list[str], bsize: int | None = None, context: Any = None,
                  full_length_search: bool = False):
        """``(input_ids, attention_mask)`` ``[n, query_maxlen]``; with ``bsize``, a list of such batches."""
        if context is not None or full_length_search:
            from jcolbert.compat.errors import UnsupportedError

            raise UnsupportedError("query context and full_length_search are not supported by jcolbert.compat")
        batch = self.encoder().tokenize_queries(_check_texts(batch_text))
        ids, mask = batch.input_ids, batch.attention_mask
        if bsize:
            return [(ids[i : i + bsize], mask[i : i + bsize]) for i in range(0, len(ids), bsize)]
        return ids, mask


class DocTokenizer:
    """Documents become ``[CLS] [D] text [SEP]``, cut to at most ``doc_maxlen`` tokens."""

    def __init__(self, model: Any, doc_maxlen: int) -> None:
        self._model = model
        self.tok = model.tokenizer.tokenizer
        self.doc_maxlen = int(doc_maxlen)

    def tokenize(self, batch_text: list[str], add_special_tokens: bool = False) -> list[list[str]]:
        ids = self.encode(batch_text, add_special_tokens=add_special_tokens)
        return [[self.tok.id_to_token(i) for i in row] for row in ids]

    def encode(self, batch_text: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        texts = _check_texts(batch_text)
        if not add_special_tokens:
            return self._model.tokenizer.wordpieces(texts)
        batch = self._model.tokenize_documents(texts, max_length=int(self.doc_maxlen))
        return [row[: n] for row, n in zip(batch.input_ids.tolist(), batch.lengths, strict=True)]

    def tensorize(self, batch_text: list[str], bsize: int | None = None):
        """``(input_ids, attention_mask)`` padded to the longest document; with ``bsize``, colbert-ai's
        ``(batches, reverse_indices)``: batches of documents sorted by length, and the permutation back."""
        texts = _check_texts(batch_text)
        batch = self._model.tokenize_documents(texts, max_length=int(self.doc_maxlen))
        ids, mask = batch.input_ids, batch.attention_mask
        if not bsize:
            return ids, mask
        import torch

        order = mask.sum(-1).sort().indices
        reverse = order.sort().indices
        ids, mask = ids[order], mask[order]
        batches = []
        for i in range(0, len(ids), bsize):
            width = int(mask[i : i + bsize].sum(-1).max()) if len(ids) else 0
            batches.append((ids[i : i + bsize, :width], mask[i : i + bsize, :width]))
        return batches, torch.as_tensor(reverse)


def with_query_maxlen(model: Any, query_maxlen: int) -> Any:
    """A jcolbert `ColBERTModel` equal to ``model`` but for ``query_maxlen`` (same weights, new token rules)."""
    from jcolbert.model.encoder import ColBERTModel
    from jcolbert.model.tokenization import ColBERTTokenizer

    config = dataclasses.replace(model.config, query_maxlen=int(query_maxlen))  # validated: InputError if too long
    tokenizer = ColBERTTokenizer(model.tokenizer.tokenizer, config)
    return ColBERTModel(config, tokenizer, model.backbone, model.projection, device=model.device, dtype=model.dtype)
