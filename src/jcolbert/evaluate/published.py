"""The model card's published figures, so a result can be shown beside the number it should reproduce.

Source: the model card of `jinaai/jina-colbert-v1-en` on the Hugging Face hub (README.md, section
"Evaluation Results"; a copy is in the project's shared seed folder as
``jina-colbert-v1-en-model-card.md``). Values are the card's percentages divided by 100. Nothing here is
measured by us; these are constants, copied once, with the table they come from.

Tables:
* ``FULL_RETRIEVAL`` -- "Out-of-domain benchmarks": NDCG@10 on 13 BEIR datasets, end-to-end ColBERT retrieval.
* ``RERANK`` -- "Reranking Performance": NDCG@10 of BM25 alone and of BM25 candidates reranked by each model
  (evaluation code: github.com/liuqi6777/eval_reranker; the card does not state the BM25 depth, that
  code's default is top 100).
* ``MSMARCO_DEV`` -- "In-domain benchmarks": MS MARCO passage dev (MRR@10, Recall@50, Recall@1k).
* ``LOCO_AVERAGE`` -- "Long context datasets": average NDCG@10 over the 5 LoCo datasets, by document length.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "jinaai/jina-colbert-v1-en model card (Hugging Face hub README.md, 'Evaluation Results')"

JINA = "jinaai/jina-colbert-v1-en"
COLBERTV2 = "colbert-ir/colbertv2.0"
BM25 = "bm25"

#: BEIR folder names (as in BEIR's public zips) for the card's dataset labels.
BEIR_DATASETS: tuple[str, ...] = (
    "arguana",
    "climate-fever",
    "dbpedia-entity",
    "fever",
    "fiqa",
    "hotpotqa",
    "nfcorpus",
    "nq",
    "quora",
    "scidocs",
    "scifact",
    "trec-covid",
    "webis-touche2020",
)

_ALIASES = {
    "dbpedia": "dbpedia-entity",
    "climatefever": "climate-fever",
    "treccovid": "trec-covid",
    "touche2020": "webis-touche2020",
    "webis-touche": "webis-touche2020",
    "touche": "webis-touche2020",
    "ms-marco": "msmarco",
    "ms_marco": "msmarco",
}


def _pct(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v / 100.0, 6) for k, v in values.items()}


FULL_RETRIEVAL: dict[str, dict[str, float]] = {
    COLBERTV2: _pct(
        {
            "arguana": 46.5, "climate-fever": 18.1, "dbpedia-entity": 45.2, "fever": 78.8, "fiqa": 35.4,
            "hotpotqa": 67.5, "nfcorpus": 33.7, "nq": 56.1, "quora": 85.5, "scidocs": 15.4,
            "scifact": 68.9, "trec-covid": 72.6, "webis-touche2020": 26.0,
        }
    ),
    JINA: _pct(
        {
            "arguana": 49.4, "climate-fever": 19.6, "dbpedia-entity": 41.3, "fever": 79.5, "fiqa": 36.8,
            "hotpotqa": 65.6, "nfcorpus": 33.8, "nq": 54.9, "quora": 82.3, "scidocs": 16.9,
            "scifact": 70.1, "trec-covid": 75.0, "webis-touche2020": 27.0,
        }
    ),
}  # fmt: skip
FULL_RETRIEVAL_AVERAGE = {COLBERTV2: 0.500, JINA: 0.502}

RERANK: dict[str, dict[str, float]] = {
    BM25: _pct(
        {
            "arguana": 29.99, "climate-fever": 16.51, "dbpedia-entity": 31.80, "fever": 65.13,
            "fiqa": 23.61, "hotpotqa": 63.30, "nfcorpus": 33.75, "nq": 30.55, "quora": 78.86,
            "scidocs": 14.90, "scifact": 67.89, "trec-covid": 59.47, "webis-touche2020": 44.22,
        }
    ),
    COLBERTV2: _pct(
        {
            "arguana": 33.42, "climate-fever": 20.66, "dbpedia-entity": 42.16, "fever": 81.07,
            "fiqa": 35.60, "hotpotqa": 68.84, "nfcorpus": 36.69, "nq": 51.27, "quora": 85.18,
            "scidocs": 15.39, "scifact": 70.23, "trec-covid": 75.00, "webis-touche2020": 32.12,
        }
    ),
    JINA: _pct(
        {
            "arguana": 33.95, "climate-fever": 21.87, "dbpedia-entity": 41.43, "fever": 83.49,
            "fiqa": 36.68, "hotpotqa": 68.62, "nfcorpus": 36.38, "nq": 51.01, "quora": 82.75,
            "scidocs": 16.67, "scifact": 70.95, "trec-covid": 76.89, "webis-touche2020": 32.56,
        }
    ),
}  # fmt: skip
RERANK_AVERAGE = {BM25: 0.4308, COLBERTV2: 0.4982, JINA: 0.5025}

MSMARCO_DEV: dict[str, dict[str, float]] = {
    COLBERTV2: {"mrr@10": 0.397, "recall@50": 0.868, "recall@1000": 0.976},
    JINA: {"mrr@10": 0.390, "recall@50": 0.856, "recall@1000": 0.962},
}

#: (model, document tokens used) -> average NDCG@10 over LoCo's 5 datasets.
LOCO_AVERAGE: dict[tuple[str, int], float] = {
    (COLBERTV2, 512): 0.743,
    (JINA, 512): 0.755,
    (JINA, 8192): 0.837,
}


def normalize_dataset(name: str) -> str:
    """`"SciFact"`, `"beir/scifact"`, `"scifact/"` -> `"scifact"`; unknown names are lower-cased as is."""
    key = name.strip().strip("/").split("/")[-1].lower().replace("_", "-").replace(" ", "-")
    return _ALIASES.get(key, _ALIASES.get(key.replace("-", ""), key))


def normalize_model(name: str | None) -> str | None:
    """A hub name or a local folder named after one -> the card's model key, else None."""
    if not name:
        return None
    text = str(name).strip().rstrip("/").lower()
    tail = text.split("/")[-1]
    # A hub id, a folder named after it, or a hub cache path (".../models--jinaai--jina-colbert-v1-en/snapshots/<sha>").
    if tail == "jina-colbert-v1-en" or "models--jinaai--jina-colbert-v1-en" in text:
        return JINA
    if tail in ("colbertv2.0", "colbertv2") or "models--colbert-ir--colbertv2.0" in text:
        return COLBERTV2
    return None


@dataclass(frozen=True)
class PublishedFigure:
    label: str  # e.g. "Jina-ColBERT-v1 (model card, reranking table)"
    metric: str
    value: float
    table: str


def primary_metric(dataset: str) -> str:
    """The measure the card reports first for this dataset: MRR@10 on MS MARCO, NDCG@10 elsewhere."""
    return "mrr@10" if normalize_dataset(dataset) == "msmarco" else "ndcg@10"


def published_for(dataset: str, model: str | None, mode: str, metric: str = "ndcg@10") -> PublishedFigure | None:
    """The card's figure that a run of `mode` with `model` on `dataset` should reproduce, if any.

    BM25's figure applies whatever the model; full retrieval (plaid / exact) and reranking apply only
    when the model is one the card reports.
    """
    ds = normalize_dataset(dataset)
    key = normalize_model(model)
    if ds == "msmarco" and mode in ("plaid", "exact") and key in MSMARCO_DEV:
        value = MSMARCO_DEV[key].get(metric)
        if value is not None:
            return PublishedFigure(f"{key} (model card)", metric, value, "In-domain benchmarks (MS MARCO dev)")
        return None
    if metric != "ndcg@10":
        return None
    if mode == "bm25" and ds in RERANK[BM25]:
        return PublishedFigure("BM25 (model card)", metric, RERANK[BM25][ds], "Reranking Performance")
    if mode == "rerank" and key in RERANK and ds in RERANK[key]:
        return PublishedFigure(f"{key} rerank (model card)", metric, RERANK[key][ds], "Reranking Performance")
    if mode in ("plaid", "exact") and key in FULL_RETRIEVAL and ds in FULL_RETRIEVAL[key]:
        return PublishedFigure(f"{key} (model card)", metric, FULL_RETRIEVAL[key][ds], "Out-of-domain benchmarks")
    return None
