"""Text -> ColBERT token vectors: `load_model` gives a `ColBERTModel` whose settings are a `ModelConfig`."""

from jcolbert.model.checkpoint import load_model
from jcolbert.model.config import ModelConfig
from jcolbert.model.encoder import ColBERTModel, EncodedDocuments
from jcolbert.model.tokenization import TokenBatch

__all__ = ["ColBERTModel", "EncodedDocuments", "ModelConfig", "TokenBatch", "load_model"]
