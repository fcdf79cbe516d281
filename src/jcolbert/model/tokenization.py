"""ColBERT's token rules on top of a `tokenizers` WordPiece tokenizer (spec sections 2.3 and 2.4).

Queries:   [CLS] <query marker> w1..wk [SEP] [MASK]... to exactly query_maxlen tokens (k <= query_maxlen - 3);
           the [MASK]s get attention 0 unless attend_to_mask_tokens; every position is an output vector.
Documents: [CLS] <doc marker> w1..wk [SEP], at most doc_maxlen tokens ([SEP] kept when truncating);
           output vectors are kept where the id is not [PAD] and not a punctuation id (the skiplist).

colbert-ai gets there by tokenising with max_length = maxlen - 1 and inserting the marker after [CLS]; we
tokenise without specials and assemble the sequence ourselves, which yields the same ids and lets documents
be cut into windows without re-tokenising.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer

from jcolbert.errors import CheckpointError
from jcolbert.model.config import ModelConfig


@dataclass
class TokenBatch:
    """Padded token ids for one batch. keep_mask marks the positions whose vectors are returned."""

    input_ids: torch.Tensor  # int64 [n, L]
    attention_mask: torch.Tensor  # int64 [n, L]
    keep_mask: torch.Tensor  # bool [n, L]

    @property
    def lengths(self) -> list[int]:
        """Tokens per row that carry text (attention 1), incl. [CLS], marker, [SEP]."""
        return self.attention_mask.sum(1).tolist()


def load_wordpiece(folder: Path) -> Tokenizer:
    """The folder's fast tokenizer, with any stored truncation/padding removed (we apply our own)."""
    tok_json = folder / "tokenizer.json"
    if tok_json.is_file():
        try:
            tok = Tokenizer.from_file(str(tok_json))
        except Exception as exc:  # tokenizers raises a bare Exception on malformed files
            raise CheckpointError(f"{tok_json}: cannot load tokenizer ({exc})") from exc
    elif (folder / "vocab.txt").is_file():
        lowercase = True
        cfg = folder / "tokenizer_config.json"
        if cfg.is_file():
            lowercase = bool(json.loads(cfg.read_text(encoding="utf-8")).get("do_lower_case", True))
        tok = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=lowercase)._tokenizer
    else:
        raise CheckpointError(f"{folder}: no tokenizer.json or vocab.txt")
    tok.no_truncation()
    tok.no_padding()
    return tok


class ColBERTTokenizer:
    """Turns texts into the exact token sequences colbert-ai feeds its encoder."""

    def __init__(self, tokenizer: Tokenizer, config: ModelConfig) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.cls_id = self._require("[CLS]")
        self.sep_id = self._require("[SEP]")
        self.mask_id = self._require("[MASK]")
        self.pad_id = self._require("[PAD]")
        self.query_marker_id = self._require(config.query_marker) if config.query_marker else None
        self.doc_marker_id = self._require(config.doc_marker) if config.doc_marker else None
        self.skiplist_ids = self._skiplist() if config.mask_punctuation else frozenset()
        self._keep_lookup = self._make_keep_lookup()

    def _require(self, token: str) -> int:
        token_id = self.tokenizer.token_to_id(token)
        if token_id is None:
            raise CheckpointError(f"tokenizer of {self.config.name_or_path!r} has no token {token!r}")
        return token_id

    def _skiplist(self) -> frozenset[int]:
        """First id of each skiplist word tokenised without specials (colbert-ai's punctuation rule)."""
        ids = set()
        for word in self.config.skiplist_words:
            pieces = self.tokenizer.encode(word, add_special_tokens=False).ids
            if pieces:
                ids.add(pieces[0])
        return frozenset(ids)

    def _make_keep_lookup(self) -> torch.Tensor:
        keep = torch.ones(
            max(self.tokenizer.get_vocab_size(with_added_tokens=True), self.pad_id + 1), dtype=torch.bool
        )
        keep[self.pad_id] = False
        if self.skiplist_ids:
            keep[torch.tensor(sorted(self.skiplist_ids))] = False
        return keep

    # -- word pieces -------------------------------------------------------------------------------------
    def wordpieces(self, texts: list[str]) -> list[list[int]]:
        """Word-piece ids of each text, no special tokens, no truncation."""
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        return [enc.ids for enc in encode(texts, add_special_tokens=False)]

    @property
    def query_prefix(self) -> list[int]:
        return [self.cls_id] + ([self.query_marker_id] if self.query_marker_id is not None else [])

    @property
    def doc_prefix(self) -> list[int]:
        return [self.cls_id] + ([self.doc_marker_id] if self.doc_marker_id is not None else [])

    def doc_room(self, max_length: int) -> int:
        """How many word pieces fit in a document of max_length tokens."""
        return max_length - len(self.doc_prefix) - 1

    # -- queries -----------------------------------------------------------------------------------------
    def tokenize_queries(self, texts: list[str]) -> TokenBatch:
        return self.queries_from_pieces(self.wordpieces(texts))

    def queries_from_pieces(self, pieces: list[list[int]]) -> TokenBatch:
        cfg = self.config
        length = cfg.query_maxlen
        room = length - len(self.query_prefix) - 1
        filler = self.mask_id if cfg.query_augmentation else self.pad_id
        ids = torch.full((len(pieces), length), filler, dtype=torch.long)
        att = torch.zeros((len(pieces), length), dtype=torch.long)
        for row, p in enumerate(pieces):
            seq = self.query_prefix + p[:room] + [self.sep_id]
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            att[row, : len(seq)] = 1
        if cfg.query_augmentation and cfg.attend_to_mask_tokens:
            att.fill_(1)
        keep = ids != self.pad_id  # queries keep every non-[PAD] position, punctuation included
        return TokenBatch(ids, att, keep)

    # -- documents ---------------------------------------------------------------------------------------
    def tokenize_documents(self, texts: list[str], max_length: int | None = None) -> TokenBatch:
        """One padded batch, each document truncated to max_length (default doc_maxlen) tokens."""
        max_length = max_length or self.config.doc_maxlen
        room = self.doc_room(max_length)
        return self.documents_from_pieces([p[:room] for p in self.wordpieces(texts)])

    def documents_from_pieces(self, pieces: list[list[int]]) -> TokenBatch:
        """Pad already-cut word-piece lists into [CLS] marker ... [SEP] rows (no truncation here)."""
        seqs = [self.doc_prefix + p + [self.sep_id] for p in pieces]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        att = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            att[row, : len(seq)] = 1
        keep = self._keep_lookup[ids] & att.bool()
        return TokenBatch(ids, att, keep)
