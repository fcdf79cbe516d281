"""Text -> ColBERT token vectors: `load_model` gives a `ColBERTModel` whose settings are a `ModelConfig`;
`TrainableColBERT` is the same encoder with a differentiable forward, for training."""

from jcolbert.model.checkpoint import load_model
from jcolbert.model.config import ModelConfig
from jcolbert.model.encoder import ColBERTModel, EncodedDocuments
from jcolbert.model.tokenization import TokenBatch
from jcolbert.model.trainable import TrainableColBERT

__all__ = ["ColBERTModel", "EncodedDocuments", "ModelConfig", "TokenBatch", "TrainableColBERT", "load_model"]
