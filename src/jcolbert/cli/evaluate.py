"""`jcolbert evaluate`: score retrieval on a judged collection and write results.json, run.trec,
results.md and results.png into OUT_DIR.

Two forms:

* one local dataset folder (BEIR or MS MARCO TSV layout)::

      jcolbert evaluate ../shared/data/scifact --model minilm --mode bm25,rerank,plaid,exact --out out/scifact

* several datasets by name, from BEIR's public zips (online) or from subfolders of a local folder::

      jcolbert evaluate beir --datasets scifact,nfcorpus --model jinaai/jina-colbert-v1-en --out out/beir
      jcolbert evaluate ../shared/data --datasets cranfield,cisi,cacm --model minilm --mode bm25,rerank --out out/classic

  each dataset goes to OUT_DIR/<name>/, and OUT_DIR/summary.{md,json,png} puts them side by side with the
  model card's figures.

Heavy imports (torch, ranx, matplotlib) happen inside the command so `jcolbert --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from jcolbert.cli.common import DEFAULT_MODEL, JsonOption, ModelOption, Output, QuietOption, UsageError
from jcolbert.errors import require_extra


def _split_list(values: list[str] | None) -> list[str]:
    """`--mode bm25,rerank --mode plaid` -> ["bm25", "rerank", "plaid"] (repeatable and comma-separated)."""
    out: list[str] = []
    for v in values or []:
        out += [p.strip() for p in v.split(",") if p.strip()]
    return out


def _doc_maxlens(values: list[str] | None) -> tuple[int | None, ...]:
    items = _split_list(values)
    if not items:
        return (None,)
    out: list[int | None] = []
    for item in items:
        if item.lower() in ("default", "model"):
            out.append(None)
            continue
        try:
            out.append(int(item))
        except ValueError:
            raise UsageError(f"--doc-maxlen {item!r}: expected a token count such as 512 or 8192") from None
    return tuple(out)


def _resolve_datasets(dataset: str, names: list[str], cache_dir: Path | None, out: Output) -> list[tuple[str, Path]]:
    """(name, folder) for each name: a subfolder of DATASET when it exists, else BEIR's zip when DATASET is 'beir'."""
    base = Path(dataset).expanduser()
    resolved = []
    for name in names:
        local = base / name
        if base.is_dir() and local.is_dir():
            resolved.append((name, local))
        elif dataset.lower() == "beir":
            from jcolbert.evaluate.download import download_beir

            out.note(f"fetching BEIR dataset {name} (cached after the first time)")
            resolved.append((name, download_beir(name, cache_dir)))
        elif base.is_dir():
            raise UsageError(f"{local} does not exist (asked for by --datasets {name})")
        else:
            raise UsageError(f"{dataset}: not a folder; use 'beir' to fetch public BEIR datasets by name")
    return resolved


def evaluate(
    dataset: Annotated[
        str,
        typer.Argument(
            help="A dataset folder (BEIR: corpus.jsonl, queries.jsonl, qrels/<split>.tsv; or MS MARCO TSV), "
            "or with --datasets: a folder of dataset folders, or 'beir' to download public BEIR datasets.",
            show_default=False,
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json, run.trec, results.md, results.png.")],
    model: ModelOption = DEFAULT_MODEL,
    split: Annotated[str | None, typer.Option(help="Qrels split (default: test; MS MARCO: dev).")] = None,
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", help="plaid, exact, bm25, rerank; comma-separated or repeated for a comparison."),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Results kept per query (run depth).", min=1)] = 100,
    rerank_depth: Annotated[int, typer.Option(help="BM25 candidates reranked by ColBERT in 'rerank'.", min=1)] = 100,
    doc_maxlen: Annotated[
        list[str] | None,
        typer.Option("--doc-maxlen", help="Document token limit(s), e.g. 512,8192 for the LoCo comparison (default: the model's)."),
    ] = None,
    long_documents: Annotated[
        str, typer.Option(help="Documents over the limit: 'truncate' (counted) or 'split' into overlapping windows.")
    ] = "truncate",
    window_overlap: Annotated[int | None, typer.Option(help="Tokens shared by consecutive windows (split).")] = None,
    nbits: Annotated[int, typer.Option(help="Index residual bits (1, 2 or 4).")] = 2,
    ncells: Annotated[int | None, typer.Option(help="PLAID: centroids probed per query token (default: by k).")] = None,
    centroid_score_threshold: Annotated[float | None, typer.Option(help="PLAID: centroid pruning threshold.")] = None,
    ndocs: Annotated[int | None, typer.Option(help="PLAID: candidates kept for exact scoring.")] = None,
    batch_size: Annotated[int, typer.Option(help="Encoder batch size.", min=1)] = 32,
    metrics: Annotated[str | None, typer.Option(help="Comma-separated, e.g. ndcg@10,mrr@10,recall@100,map.")] = None,
    stat_test: Annotated[str, typer.Option(help="Significance test between runs: student (paired t) or fisher.")] = "student",
    bm25_k1: Annotated[float, typer.Option(help="BM25 k1.")] = 1.2,
    bm25_b: Annotated[float, typer.Option(help="BM25 b.")] = 0.75,
    bm25_stemmer: Annotated[
        str, typer.Option(help="BM25 stemmer: a PyStemmer language (english, as BEIR's BM25) or none.")
    ] = "english",
    identical_ids: Annotated[
        str,
        typer.Option(help="Results whose document id equals the query id: drop (BEIR's rule), keep, or auto (drop on BEIR datasets)."),
    ] = "auto",
    index_dir: Annotated[Path | None, typer.Option(help="Keep the built index(es) here (default: a temporary folder).")] = None,
    vectors_cache: Annotated[
        Path | None, typer.Option(help="Keep document vectors here and reuse them in later runs (skips encoding).")
    ] = None,
    datasets: Annotated[str | None, typer.Option(help="Comma-separated dataset names under DATASET (or BEIR names with 'beir'); each goes to OUT/<name>/, plus OUT/summary.md.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Where downloaded BEIR datasets are kept.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: CUDA when present).")] = None,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Evaluate retrieval quality (NDCG@10, MRR@10, Recall@k, MAP) and timings; write results to --out.

    Examples: `jcolbert evaluate data/scifact --model minilm --mode bm25,rerank,plaid,exact --out out/scifact`;
    `jcolbert evaluate beir --datasets scifact,nfcorpus --model jinaai/jina-colbert-v1-en --out out/beir` (online).
    """
    out = Output(quiet=quiet, json_mode=json_out)
    for module in ("ranx", "bm25s", "ir_measures"):
        require_extra(module, "eval", "jcolbert evaluate")
    from jcolbert.evaluate.bm25 import BM25Settings
    from jcolbert.evaluate.metrics import DEFAULT_METRICS
    from jcolbert.evaluate.runner import COLBERT_MODES, EvalSettings

    modes = tuple(_split_list(mode) or ["plaid"])
    settings = EvalSettings(
        modes=modes,
        k=k,
        rerank_depth=rerank_depth,
        doc_maxlens=_doc_maxlens(doc_maxlen),
        long_documents=long_documents,
        window_overlap=window_overlap,
        nbits=nbits,
        batch_size=batch_size,
        metrics=tuple(_split_list([metrics])) if metrics else DEFAULT_METRICS,
        identical_ids=identical_ids,
        stat_test=stat_test,
        bm25=BM25Settings(k1=bm25_k1, b=bm25_b, stemmer=None if bm25_stemmer.lower() == "none" else bm25_stemmer),
        search_knobs={
            name: value
            for name, value in (("ncells", ncells), ("centroid_score_threshold", centroid_score_threshold), ("ndocs", ndocs))
            if value is not None
        },
    )
    if out_dir.is_file():
        raise UsageError(f"--out {out_dir} is a file; give a folder")

    if datasets:
        names = _split_list([datasets])
        targets = [(n, p, out_dir / n) for n, p in _resolve_datasets(dataset, names, cache_dir, out)]
    else:
        path = Path(dataset).expanduser()
        if not path.is_dir():
            hint = " (to fetch BEIR datasets by name: jcolbert evaluate beir --datasets scifact,...)" if dataset == "beir" else ""
            raise UsageError(f"{dataset}: no such dataset folder{hint}")
        targets = [(None, path, out_dir)]

    encoder: Any = None
    if any(m in COLBERT_MODES for m in modes):
        from jcolbert.cli.common import load_model

        out.note(f"loading model {model}")
        encoder = load_model(model, device=device)

    results = []
    for name, path, target in targets:
        from jcolbert.evaluate.download import DEFAULT_SPLIT
        from jcolbert.evaluate.published import normalize_dataset
        from jcolbert.evaluate.report import write_report
        from jcolbert.evaluate.runner import evaluate as run_evaluation

        ds_name = name or path.resolve().name
        ds_split = split or DEFAULT_SPLIT.get(normalize_dataset(ds_name), "test")
        out.note(f"evaluating {ds_name} ({ds_split}): modes {', '.join(modes)}")
        result = run_evaluation(
            path,
            encoder,
            settings,
            split=ds_split,
            dataset_name=ds_name,
            index_dir=(index_dir / ds_name) if (index_dir and name) else index_dir,
            vectors_cache=(vectors_cache / ds_name) if (vectors_cache and name) else vectors_cache,
            log=out.note,
        )
        paths = write_report(result, target)
        results.append(result)
        _print_result(out, result, paths)

    if datasets:
        from jcolbert.evaluate.report import write_summary

        summary = write_summary(results, out_dir)
        out.note(f"summary: {summary['markdown']}")
    if json_out:
        from jcolbert.evaluate.report import result_to_dict

        data = [result_to_dict(r) for r in results]
        out.json(data[0] if len(data) == 1 and not datasets else data)


def _print_result(out: Output, result, paths: dict[str, Path]) -> None:
    if out.json_mode:
        return
    metrics = list(result.runs[0].scores.mean) if result.runs else []
    short = {"ndcg": "NDCG", "mrr": "MRR", "recall": "R", "precision": "P", "map": "MAP"}
    columns = ["run"] + [short[m.split("@")[0]] + (f"@{m.split('@')[1]}" if "@" in m else "") for m in metrics]
    with_pub = any(r.published for r in result.runs)
    rows = []
    for r in result.runs:
        row = [r.name, *[r.scores.mean[m] for m in metrics]]
        rows.append(row + ([r.published.value if r.published else "-"] if with_pub else []))
    from rich.table import Table

    table = Table(title=f"{result.dataset.name} ({result.dataset.split}, {len(result.dataset.queries)} queries)",
                  title_justify="left")  # fmt: skip
    table.add_column("run", no_wrap=True)
    for c in columns[1:] + (["card"] if with_pub else []):
        table.add_column(c, justify="right")
    for row in rows:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    out.out.print(table)
    out.note(f"wrote {paths['json']}, {paths['trec']}, {paths['markdown']}, {paths.get('png', '-')}")


evaluate_command = evaluate
