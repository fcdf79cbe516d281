"""ColBERTModel: texts in, L2-normalised token vectors out.

Backbone -> projection (learned linear, or identity) -> zero the positions that are not kept -> L2-normalise,
exactly as colbert-ai's ColBERT.query / ColBERT.doc. Around that: input validation, length-sorted bucketed
batching (padding costs compute, so each batch holds documents of similar length; input order is restored),
truncation reporting, and optional overlapping windows for documents longer than the limit.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jcolbert.errors import InputError
from jcolbert.model import precision
from jcolbert.model.config import ModelConfig
from jcolbert.model.tokenization import ColBERTTokenizer, TokenBatch

logger = logging.getLogger("jcolbert.model")


class EncodedDocuments(list):
    """list[torch.Tensor] of per-document kept vectors, plus what happened to long documents.

    n_truncated: documents whose text did not fit in the length limit and was cut (long_documents="truncate").
    n_windows:   encoder passes run (== number of documents unless long_documents="split").
    """

    def __init__(self, vectors: list[torch.Tensor], n_truncated: int = 0, n_windows: int = 0) -> None:
        super().__init__(vectors)
        self.n_truncated = n_truncated
        self.n_windows = n_windows


@dataclass
class _Unit:
    """One encoder input: a document, or one window of a long document."""

    doc: int
    pieces: list[int]


@dataclass
class ModelParts:
    """What a loader builds from a checkpoint: settings, tokenizer, modules, and where they came from.

    hf_config: the backbone's config.json as read (written back when a trained model is saved);
    files: the folder holding the tokenizer files (tokenizer.json, vocab.txt, ...), copied when saving;
    pooler: the checkpoint's pooler tensors (ColBERT does not use them; saved back so other tools find them).
    """

    config: ModelConfig
    tokenizer: ColBERTTokenizer
    backbone: nn.Module
    projection: nn.Module
    hf_config: dict[str, Any] = field(default_factory=dict)
    files: Path | None = None
    pooler: dict[str, torch.Tensor] = field(default_factory=dict)


def check_texts(texts: Sequence[str], what: str) -> list[str]:
    """Validate a batch of texts; the error names the first bad item's index.

    Empty and whitespace-only strings are refused: they would encode to [CLS] marker [SEP] only, vectors
    that match everything a little and mean nothing. Callers who want to keep such rows must filter them.
    """
    if isinstance(texts, (str, bytes)):
        raise InputError(f"{what} must be a list of strings, not a single {type(texts).__name__}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"{what}[{i}] is {type(text).__name__}, expected str")
        if not text.strip():
            raise InputError(f"{what}[{i}] is empty or whitespace-only")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(
                f"{what}[{i}] is not valid Unicode text ({exc.reason} at offset {exc.start})"
            ) from exc
    return texts


def _want_progress(show_progress: bool | None) -> bool:
    return sys.stderr.isatty() if show_progress is None else show_progress


class ColBERTModel:
    """A loaded ColBERT encoder. Build it with jcolbert.load_model()."""

    def __init__(
        self,
        config: ModelConfig,
        tokenizer: ColBERTTokenizer,
        backbone: nn.Module,
        projection: nn.Module,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = "auto",
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.precision = precision.resolve(dtype, self.device)  # "float32" | "bfloat16" | "float16" | "int8"
        self.dtype = precision.compute_dtype(self.precision, self.device)  # the backbone's activations
        self.config = dataclasses.replace(config, dtype=self.precision)
        self.tokenizer = tokenizer
        if self.precision == "int8":
            backbone = precision.quantize_linears(backbone.to(self.device, torch.float32))
            self.backbone = precision.cast_floating(backbone, self.dtype).eval()
            self._forward = self.backbone.train_forward  # module calls (Int8Linear), eval mode: no dropout
        else:
            self.backbone = backbone.to(self.device, self.dtype).eval()
            self._forward = self.backbone  # the fused inference forward
        self.projection = projection.to(self.device, torch.float32).eval()

    def __repr__(self) -> str:
        c = self.config
        return (
            f"ColBERTModel({c.name_or_path!r}, backbone={c.backbone}, dim={c.dim}, query_maxlen={c.query_maxlen}, "
            f"doc_maxlen={c.doc_maxlen}, device={self.device}, dtype={self.precision})"
        )

    # -- building blocks (public so parity tests can check each stage) ----------------------------------
    def tokenize_queries(self, texts: Sequence[str]) -> TokenBatch:
        return self.tokenizer.tokenize_queries(check_texts(texts, "queries"))

    def tokenize_documents(self, texts: Sequence[str], max_length: int | None = None) -> TokenBatch:
        """One padded batch, documents truncated to max_length (default doc_maxlen) tokens."""
        return self.tokenizer.tokenize_documents(
            check_texts(texts, "documents"), self._doc_length(max_length)
        )

    @torch.inference_mode()
    def last_hidden_state(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The backbone's output [n, L, hidden] as float32 on CPU (rows at padded positions are unspecified)."""
        ids = input_ids.to(self.device)
        mask = attention_mask.to(self.device)
        return self._forward(ids, mask).float().cpu()

    @torch.inference_mode()
    def embed(self, batch: TokenBatch) -> torch.Tensor:
        """Padded vectors [n, L, dim] float32 on CPU: zero where keep_mask is false, unit rows elsewhere."""
        hidden = self._forward(batch.input_ids.to(self.device), batch.attention_mask.to(self.device))
        vectors = self.projection(hidden.float())
        vectors = vectors * batch.keep_mask.to(self.device).unsqueeze(-1)
        return F.normalize(vectors, p=2, dim=-1).cpu()

    # -- queries -----------------------------------------------------------------------------------------
    def encode_queries(
        self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool | None = False
    ) -> torch.Tensor:
        """[n, query_maxlen, dim] float32 CPU. Every row is a unit vector when query_augmentation is on
        (the default: [MASK] rows included); without augmentation, rows past a query's [SEP] are zero."""
        texts = check_texts(texts, "queries")
        out = torch.zeros((len(texts), self.config.query_maxlen, self.config.dim), dtype=torch.float32)
        pieces = self.tokenizer.wordpieces(texts)
        for start in self._progress(range(0, len(texts), batch_size), show_progress, "queries"):
            batch = self._trim(self.tokenizer.queries_from_pieces(pieces[start : start + batch_size]))
            out[start : start + batch_size, : batch.input_ids.shape[1]] = self.embed(batch)
        return out

    def _trim(self, batch: TokenBatch) -> TokenBatch:
        """Without [MASK] augmentation the positions after each query's [SEP] are [PAD]s that attend to
        nothing and come out as zero rows: drop the columns no query of the batch uses, so a short query does
        not pay the encoder for query_maxlen positions (its output rows there stay zero)."""
        if self.config.query_augmentation:
            return batch
        width = max(int(batch.attention_mask.sum(1).max()), 1)
        if width == batch.input_ids.shape[1]:
            return batch
        return TokenBatch(batch.input_ids[:, :width], batch.attention_mask[:, :width], batch.keep_mask[:, :width])

    # -- documents ---------------------------------------------------------------------------------------
    def encode_documents(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        max_length: int | None = None,
        long_documents: str = "truncate",
        window_overlap: int | None = None,
        max_batch_tokens: int = 16384,
        show_progress: bool | None = None,
    ) -> EncodedDocuments:
        """Kept vectors per document ([n_tokens_i, dim] float32 CPU), in input order.

        max_length:      token limit incl. [CLS], marker, [SEP] (default config.doc_maxlen).
        long_documents:  "truncate" (default) cuts text past the limit and counts it in `.n_truncated`
                         (also logged as a warning); "split" encodes overlapping windows of max_length
                         tokens and concatenates their vectors into that document's tensor.
        window_overlap:  word pieces shared by consecutive windows (default: a quarter of a window).
        max_batch_tokens: cap on batch_size x longest length, so long documents go in smaller batches.
        """
        texts = check_texts(texts, "documents")
        if long_documents not in ("truncate", "split"):
            raise InputError(f"long_documents must be 'truncate' or 'split', got {long_documents!r}")
        length = self._doc_length(max_length)
        room = self.tokenizer.doc_room(length)
        units, n_truncated = self._units(
            self.tokenizer.wordpieces(texts), room, long_documents, window_overlap
        )
        if n_truncated:
            logger.warning(
                "truncated %d of %d documents to %d tokens; pass long_documents='split' to encode all text",
                n_truncated,
                len(texts),
                length,
            )
        parts: list[list[torch.Tensor]] = [[] for _ in texts]
        batches = list(self._buckets(units, batch_size, max_batch_tokens))
        for batch_units in self._progress(batches, show_progress, "documents"):
            batch = self.tokenizer.documents_from_pieces([u.pieces for u in batch_units])
            # One boolean selection for the whole batch, then per-row views of its result: indexing each row
            # separately cost ~4 ms a row on 2 threads (3-4% of MiniLM's encoding time at 300 tokens).
            kept = self.embed(batch)[batch.keep_mask]
            rows = torch.split(kept, batch.keep_mask.sum(1).tolist())
            for unit, vectors in zip(batch_units, rows, strict=True):
                parts[unit.doc].append(vectors)
        docs = [p[0] if len(p) == 1 else torch.cat(p) for p in parts]
        return EncodedDocuments(docs, n_truncated=n_truncated, n_windows=len(units))

    # -- helpers -----------------------------------------------------------------------------------------
    def _doc_length(self, max_length: int | None) -> int:
        if max_length is None:
            return self.config.doc_maxlen
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 3 + 1:
            raise InputError(f"max_length must be an integer >= 4, got {max_length!r}")
        if max_length > self.config.max_positions:
            raise InputError(
                f"max_length={max_length} exceeds the {self.config.backbone} backbone's "
                f"{self.config.max_positions} positions"
            )
        return max_length

    @staticmethod
    def _units(pieces: list[list[int]], room: int, mode: str, overlap: int | None) -> tuple[list[_Unit], int]:
        units: list[_Unit] = []
        n_truncated = 0
        if mode == "split":
            overlap = room // 4 if overlap is None else overlap
            if not 0 <= overlap < room:
                raise InputError(f"window_overlap must be in [0, {room}) for this length, got {overlap}")
            stride = room - overlap
        for doc, p in enumerate(pieces):
            if len(p) <= room:
                units.append(_Unit(doc, p))
            elif mode == "truncate":
                n_truncated += 1
                units.append(_Unit(doc, p[:room]))
            else:
                starts = range(0, len(p) - overlap, stride)
                units.extend(_Unit(doc, p[s : s + room]) for s in starts)
        return units, n_truncated

    @staticmethod
    def _buckets(units: list[_Unit], batch_size: int, max_batch_tokens: int) -> Iterator[list[_Unit]]:
        """Longest first, so each batch pads to a length close to all of its members'."""
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        order = sorted(units, key=lambda u: len(u.pieces), reverse=True)
        batch: list[_Unit] = []
        for unit in order:
            width = len(batch[0].pieces) + 3 if batch else 0  # +3: [CLS], marker, [SEP]
            if batch and (len(batch) >= batch_size or (len(batch) + 1) * width > max_batch_tokens):
                yield batch
                batch = []
            batch.append(unit)
        if batch:
            yield batch

    @staticmethod
    def _progress(items, show_progress: bool | None, what: str):
        if not _want_progress(show_progress) or len(items) < 2:
            return items
        from tqdm.auto import tqdm

        return tqdm(items, desc=f"encoding {what}", unit="batch")
