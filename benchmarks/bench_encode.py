"""Encoding benchmarks: jcolbert vs colbert-ai, the jina-colbert-v1-en architecture at 160/512/8192 tokens,
peak memory on an 8192-token document, bf16 vs fp32 agreement. Results go to BENCHMARKS.md ("Encoding").

    .venv/bin/python benchmarks/bench_encode.py compare   [--limit 500] [--rounds 3] [--dtypes auto float32]
                                                         # vs colbert-ai, same ckpt + docs, jcolbert at each dtype
    .venv/bin/python benchmarks/bench_encode.py precision [--limit 160] [--dtypes auto float32 int8]
                                                         # load_model("minilm") per precision: speed, cosine vs fp32
    .venv/bin/python benchmarks/bench_encode.py ndcg      [--dtypes float32 auto]   # SciFact NDCG@10, minilm, exact
    .venv/bin/python benchmarks/bench_encode.py attention [--length 8192] [--qk-std 1.0]  # ALiBi windows on/off
    .venv/bin/python benchmarks/bench_encode.py jina      [--lengths 160 512 8192] [--dtypes float32 bfloat16]
    .venv/bin/python benchmarks/bench_encode.py memory                                 # peak RSS, one 8192-token doc
    .venv/bin/python benchmarks/bench_encode.py agreement                              # bf16 vs fp32 cosine
    .venv/bin/python benchmarks/bench_encode.py load [--baseline-src DIR/src]           # load_model("minilm") time
    .venv/bin/python benchmarks/bench_encode.py all --out /tmp/jc-bench/encode.json

Every measurement runs in a fresh child process with the same thread count (default 2, like the anchors).
`compare` alternates the two engines round by round (ABBA) and reports each round's ratio of tokens per wall
second and per CPU second (all threads), because this machine is shared and wall-clock speed drifts with the
load; colbert-ai's side is encode_reference.py's exact call, run by this script in the anchor venv. `jina` measures this machine's matmul GFLOP/s right
before and after every timed run and reports the model's achieved GFLOP/s as a fraction of their mean.

colbert-ai runs from the anchor venv (../shared/anchors/README.md: setup.sh, make_minilm_checkpoint.py).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("JCOLBERT_SHARED", REPO.parent / "shared"))
ANCHORS = SHARED / "anchors"
ANCHORS_HOME = Path(os.environ.get("ANCHORS_HOME", "/tmp/jc-anchors"))
JINA_TOKENIZER = SHARED / "fixtures" / "tiny-jina-colbert"  # the real JinaBERT vocabulary and tokenizer files


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[var] = str(threads)
    env.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def run_child(args: list[str], threads: int, python: str = sys.executable) -> dict:
    out = subprocess.run([python, *args], capture_output=True, text=True, env=child_env(threads))
    if out.returncode != 0:
        sys.exit(f"child failed: {' '.join(args)}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- children (run in fresh processes) ------------------------------------------------------------------------
def child_docs(a: argparse.Namespace) -> None:
    """Encode the first --limit SciFact docs with one engine and report wall and CPU seconds.

    colbert-ai: exactly encode_reference.py's call (Checkpoint.docFromText(docs, bsize, keep_dims="flatten") after
    a 4-doc warm-up); jcolbert: encode_documents(docs, batch_size=bsize). Both at doc_maxlen 300, same threads.
    CPU seconds (all threads) are less sensitive than wall time to other jobs on a shared machine.
    """
    import numpy as np
    import torch

    sys.path.insert(0, str(ANCHORS))
    from anchor_common import load_beir

    torch.set_num_threads(a.threads)
    _, docs, _, _, _ = load_beir(str(a.dataset), a.limit or None)
    if a.engine == "colbert-ai":
        os.environ.setdefault("TORCH_EXTENSIONS_DIR", os.path.join(sys.prefix, "torch_ext"))
        from colbert.infra import ColBERTConfig
        from colbert.modeling.checkpoint import Checkpoint

        ck = Checkpoint(a.checkpoint, colbert_config=ColBERTConfig(doc_maxlen=300, query_maxlen=32))
        ck.docFromText(docs[:4], bsize=4)
        with torch.inference_mode():
            t, cpu = time.perf_counter(), time.process_time()
            flat, doclens = ck.docFromText(docs, bsize=a.bsize, keep_dims="flatten")
            seconds, cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
        doclens = [int(x) for x in doclens]
    else:
        import jcolbert

        lengths = {"doc_maxlen": a.doc_maxlen, "query_maxlen": 32} if a.doc_maxlen else {}
        model = jcolbert.load_model(a.checkpoint, dtype=a.dtype, **lengths)
        model.encode_documents(docs[:4], batch_size=4)
        t, cpu = time.perf_counter(), time.process_time()
        D = model.encode_documents(docs, batch_size=a.bsize, show_progress=False)
        seconds, cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
        flat, doclens = torch.cat(list(D)), [len(d) for d in D]
    kept = sum(doclens)
    if a.out:
        np.savez(a.out, doclens=np.array(doclens), doc_vectors=flat.to(torch.float16).numpy())
    result = {
        "engine": a.engine if a.engine == "colbert-ai" else f"jcolbert-{a.dtype}",
        "doc_encode_s": seconds,
        "cpu_s": cpu_seconds,
        "n_tokens": kept,
        "tokens_per_s": kept / seconds,
        "tokens_per_cpu_s": kept / cpu_seconds,
        "n_docs": len(docs),
    }
    print(json.dumps(result))


def flops_per_token(
    length: int,
    hidden: int = 768,
    inner: int = 3072,
    layers: int = 12,
    dim: int = 128,
    attention_share: float = 1.0,
) -> float:
    """Forward FLOPs per token of JinaBERT + projection: fused QKV, out-proj, GEGLU (2*inner wide), wo, attention
    (attention_share: the part of the full attention actually computed, < 1 when ALiBi windows skip far keys)."""
    linear = 2 * (3 * hidden * hidden + hidden * hidden + hidden * 2 * inner + inner * hidden)
    attention = 2 * 2 * length * hidden * attention_share  # q.k^T and p.v over `length` keys
    return layers * (linear + attention) + 2 * hidden * dim


def matmul_gflops(dtype, n: int = 2048, seconds: float = 1.5) -> float:
    import torch

    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    reps, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def random_jina_model(dtype):
    """jina-colbert-v1-en's architecture (config of section 1.1 of the spec) with random weights, its tokenizer."""
    import torch

    import jcolbert
    from jcolbert.model.config import ModelConfig
    from jcolbert.model.encoder import ColBERTModel
    from jcolbert.model.jinabert import JinaBert, JinaBertConfig
    from jcolbert.model.tokenization import ColBERTTokenizer, load_wordpiece

    with torch.device("meta"):
        backbone = JinaBert(JinaBertConfig())
    backbone = backbone.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in backbone.parameters():
            p.normal_(0.0, 0.02, generator=gen)
        for name, p in backbone.named_parameters():
            if "LayerNorm" in name or "layernorm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
    projection = torch.nn.Linear(768, 128, bias=False)
    with torch.no_grad():
        projection.weight.normal_(0.0, 768**-0.5, generator=gen)  # same weights in every call
    cfg = ModelConfig(
        name_or_path="random jina-colbert-v1-en architecture",
        backbone="jinabert",
        doc_maxlen=8192,
        dim=128,
        hidden_size=768,
        max_positions=8192,
    )
    tok = ColBERTTokenizer(load_wordpiece(JINA_TOKENIZER), cfg)
    assert jcolbert.ColBERTModel is ColBERTModel
    return ColBERTModel(cfg, tok, backbone, projection, device="cpu", dtype=dtype)


def long_texts(n: int, min_pieces: int) -> list[str]:
    """n different texts of at least min_pieces word pieces, built from SciFact abstracts."""
    sys.path.insert(0, str(ANCHORS))
    from anchor_common import load_beir

    _, docs, _, _, _ = load_beir(str(SHARED / "data" / "scifact"), None)
    texts, i = [], 0
    for _ in range(n):
        parts = []
        while sum(len(p.split()) for p in parts) < min_pieces:  # a word is at least one word piece
            parts.append(docs[i % len(docs)])
            i += 1
        texts.append(" ".join(parts))
    return texts


def record_windows(calls: list) -> None:
    """Make attention.head_windows append (query rows, keys, windows) to `calls` (this child process only)."""
    from jcolbert.model import attention

    original = attention.head_windows

    def recording(q, k_rev, slopes, n):
        windows = original(q, k_rev, slopes, n)
        calls.append((q.shape[0], q.shape[2], n, windows))
        return windows

    attention.head_windows = recording


def attention_entries(calls: list) -> tuple[int, int]:
    """(score entries computed, entries of full attention) over the recorded windowed_attention calls."""
    from jcolbert.model.attention import WINDOW_BLOCK

    done = full = 0
    for rows, length, n, windows in calls:
        for w in windows:
            full += rows * length * n
            if w is None:
                done += rows * length * n
                continue
            for start in range(0, length, WINDOW_BLOCK):
                end = min(start + WINDOW_BLOCK, length)
                done += rows * (end - start) * (min(n, end + w) - max(0, min(start, n - 1) - w))
    return done, full


def child_jina_speed(a: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    model = random_jina_model(dtype)
    length, n_docs = a.length, a.n_docs
    texts = long_texts(n_docs, length)
    model.encode_documents(texts[:1], max_length=min(length, 512))  # warm-up
    if a.no_window:  # the attention before windows: every key of every head (this child process only)
        from jcolbert.model import attention

        attention.WINDOW_MIN_KEYS = 1 << 30
    calls: list = []
    record_windows(calls)
    model.encode_documents(texts, max_length=length, batch_size=n_docs, max_batch_tokens=1 << 30)
    done, full = attention_entries(calls)
    executed = 1.0 if not full else done / full  # share of the attention work windows left to do
    before = matmul_gflops(dtype)
    times = []
    t0 = time.perf_counter()
    while not times or (time.perf_counter() - t0 < a.min_seconds and len(times) < 5):
        t = time.perf_counter()
        D = model.encode_documents(texts, max_length=length, batch_size=n_docs, max_batch_tokens=1 << 30)
        times.append(time.perf_counter() - t)
    after = matmul_gflops(dtype)
    assert D.n_truncated == n_docs  # every text filled the whole window: exactly `length` tokens each
    seconds = statistics.median(times)
    tokens = n_docs * length
    gflops = tokens * flops_per_token(length) / seconds / 1e9
    executed_gflops = tokens * flops_per_token(length, attention_share=executed) / seconds / 1e9
    peak = (before + after) / 2
    print(
        json.dumps(
            {
                "length": length,
                "dtype": a.dtype,
                "windows": not a.no_window,
                "docs_per_batch": n_docs,
                "runs": len(times),
                "seconds": seconds,
                "tokens_per_s": tokens / seconds,
                "gflops": gflops,
                "matmul_gflops_before": before,
                "matmul_gflops_after": after,
                "fraction_of_matmul": gflops / peak,
                "attention_executed": executed,
                "executed_gflops": executed_gflops,
                "executed_fraction_of_matmul": executed_gflops / peak,
            }
        )
    )


def child_memory(a: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(a.threads)
    model = random_jina_model(getattr(torch, a.dtype))
    text = long_texts(1, 8192)
    loaded = peak_rss_mb()
    t = time.perf_counter()
    D = model.encode_documents(text, max_length=8192)
    seconds = time.perf_counter() - t
    print(
        json.dumps(
            {
                "dtype": a.dtype,
                "tokens": 8192,
                "kept_vectors": len(D[0]),
                "seconds": seconds,
                "peak_rss_after_load_mb": loaded,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def child_agreement(a: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F

    import jcolbert

    torch.set_num_threads(a.threads)
    sys.path.insert(0, str(ANCHORS))
    from anchor_common import load_beir

    _, docs, _, _, _ = load_beir(str(SHARED / "data" / "scifact"), a.limit)
    rows = []

    def mean_cos(fp32, bf16) -> tuple[float, float]:
        cos = torch.cat([F.cosine_similarity(x, y, dim=-1) for x, y in zip(fp32, bf16, strict=True)])
        return cos.mean().item(), cos.min().item()

    for name in ("minilm", str(ANCHORS_HOME / "ckpt_minilm")):
        if name != "minilm" and not Path(name).is_dir():
            continue
        fp32 = jcolbert.load_model(name, dtype=torch.float32).encode_documents(docs)
        bf16 = jcolbert.load_model(name, dtype=torch.bfloat16).encode_documents(docs)
        mean, low = mean_cos(fp32, bf16)
        rows.append(
            {
                "model": name,
                "docs": len(docs),
                "vectors": sum(len(d) for d in fp32),
                "mean_cos": mean,
                "min_cos": low,
            }
        )
    texts = long_texts(4, 512)
    fp32 = random_jina_model(torch.float32).encode_documents(texts, max_length=512)
    bf16 = random_jina_model(torch.bfloat16).encode_documents(texts, max_length=512)
    mean, low = mean_cos(fp32, bf16)
    rows.append(
        {
            "model": "jina-colbert-v1-en architecture, random weights",
            "docs": 4,
            "vectors": sum(len(d) for d in fp32),
            "mean_cos": mean,
            "min_cos": low,
        }
    )
    print(json.dumps(rows))


def attention_layer(a: argparse.Namespace) -> list[dict]:
    """One JinaBERT attention layer (12 heads of 64) over --length tokens, random q, k (std --qk-std) and v, with and
    without ALiBi windows, 1 thread, best of 2 by process time: the attention alone, robust to other jobs."""
    import torch

    from jcolbert.model import attention

    torch.set_num_threads(1)
    H, d, L = 12, 64, a.length or 8192
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, H, L, d) * s for s in (a.qk_std, a.qk_std, 1.0))
    slopes, mask = torch.tensor(attention.alibi_slopes(H)), torch.ones(1, L, dtype=torch.long)

    def seconds(f) -> float:
        f()
        best = float("inf")
        for _ in range(2):
            t = time.process_time()
            f()
            best = min(best, time.process_time() - t)
        return best

    rows = []
    with torch.inference_mode():
        for dtype in a.dtypes or ["float32", "bfloat16"]:
            qq, kk, vv = (x.to(getattr(torch, dtype)) for x in (q, k, v))
            bias = attention.AlibiBias(slopes, mask, qq.dtype)
            run = functools.partial(attention.alibi_attention, qq, kk, vv, bias)
            windowed = seconds(run)
            attention.WINDOW_MIN_KEYS, keep = 1 << 30, attention.WINDOW_MIN_KEYS
            full = seconds(run)
            attention.WINDOW_MIN_KEYS = keep
            windows = attention.head_windows(qq, kk, slopes.tolist(), L)
            rows.append(
                {
                    "length": L,
                    "qk_std": a.qk_std,
                    "dtype": dtype,
                    "windows": windows,
                    "full_s": full,
                    "windowed_s": windowed,
                    "speedup": full / windowed,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def child_ndcg(a: argparse.Namespace) -> None:
    """SciFact test NDCG@10 with load_model("minilm", dtype=...) in exact mode (MaxSim over all documents), through
    the same library call as `jcolbert evaluate ../shared/data/scifact --model minilm --mode exact`."""
    import torch

    import jcolbert
    from jcolbert.evaluate import EvalSettings, evaluate

    torch.set_num_threads(a.threads)
    model = jcolbert.load_model("minilm", dtype=a.dtype)
    t = time.perf_counter()
    result = evaluate(SHARED / "data" / "scifact", model, EvalSettings(modes=("exact",)))
    run = result.runs[0]
    print(
        json.dumps(
            {
                "dtype": a.dtype,
                "recorded_dtype": model.config.dtype,
                "ndcg@10": run.scores.mean["ndcg@10"],
                "encoding": result.encoding,
                "seconds": time.perf_counter() - t,
            }
        )
    )


def child_load(a: argparse.Namespace) -> None:
    """Wall time of a fresh process's `import jcolbert` + `load_model(name)` + encoding one short document.

    Phases: interpreter start to torch imported, jcolbert.model imported, model loaded, first document encoded.
    """
    started = time.perf_counter()  # the interpreter itself is timed by the parent (process wall minus this)
    import torch

    torch.set_num_threads(a.threads)
    t_torch = time.perf_counter()
    import jcolbert.model

    t_import = time.perf_counter()
    model = jcolbert.model.load_model(a.checkpoint)
    t_load = time.perf_counter()
    model.encode_documents(["A first short document to encode."])
    t_encode = time.perf_counter()
    print(
        json.dumps(
            {
                "torch_import_s": t_torch - started,
                "jcolbert_import_s": t_import - t_torch,
                "load_model_s": t_load - t_import,
                "first_encode_s": t_encode - t_load,
                "in_process_s": t_encode - started,
                "transformers_imported": "transformers" in sys.modules,
            }
        )
    )


# -- parents --------------------------------------------------------------------------------------------------
def compare(a: argparse.Namespace) -> dict:
    """jcolbert vs colbert-ai doc encoding on the anchors' MiniLM checkpoint, alternating engines per round (ABBA)."""
    import numpy as np

    python = ANCHORS_HOME / "colbertai" / "bin" / "python"
    ckpt = ANCHORS_HOME / "ckpt_minilm"
    if not python.exists() or not (ckpt / "model.safetensors").exists():
        sys.exit(f"needs {python} and {ckpt}: run ../shared/anchors/setup.sh and make_minilm_checkpoint.py")
    tmp = Path(tempfile.mkdtemp(prefix="jc-bench-"))
    dataset = SHARED / "data" / "scifact"
    pythons = {"colbert-ai": str(python), "jcolbert": sys.executable}

    engines = ["colbert-ai", *(f"jcolbert-{d}" for d in a.dtypes or ["auto", "float32"])]

    def encode(engine: str, round_: int) -> dict:
        args = [
            __file__,
            "_docs",
            "--engine",
            engine.split("-")[0] if engine.startswith("jcolbert") else engine,
            "--dtype",
            engine.split("-", 1)[1] if engine.startswith("jcolbert") else "float32",
            "--checkpoint",
            str(ckpt),
            "--dataset",
            str(dataset),
            "--limit",
            str(a.limit),
            "--threads",
            str(a.threads),
            "--bsize",
            str(a.bsize),
            "--out",
            str(tmp / f"{engine}{round_}.npz"),
        ]
        return run_child(
            args, a.threads, python=pythons["colbert-ai" if engine == "colbert-ai" else "jcolbert"]
        )

    rounds = []
    for r in range(a.rounds):
        order = engines if r % 2 == 0 else list(reversed(engines))  # ABBA: drift hits every engine alike
        res = {engine: encode(engine, r) for engine in order}
        ref = res["colbert-ai"]
        row = {"colbert-ai_tok_s": ref["tokens_per_s"], "colbert-ai_tok_per_cpu_s": ref["tokens_per_cpu_s"]}
        for engine in engines[1:]:
            ours = res[engine]
            row[f"{engine}_tok_s"] = ours["tokens_per_s"]
            row[f"{engine}_ratio_wall"] = ours["tokens_per_s"] / ref["tokens_per_s"]
            row[f"{engine}_ratio_cpu"] = ours["tokens_per_cpu_s"] / ref["tokens_per_cpu_s"]
        row["loadavg"] = os.getloadavg()[0]
        rounds.append(row)
        print(json.dumps(row), flush=True)
    ref = np.load(tmp / "colbert-ai0.npz")
    vectors = {}
    for engine in engines[1:]:
        ours = np.load(tmp / f"{engine}0.npz")
        same_lens = bool((ref["doclens"] == ours["doclens"]).all())
        x, y = ref["doc_vectors"].astype(np.float32), ours["doc_vectors"].astype(np.float32)
        cos = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
        vectors[engine] = {
            "doclens_equal": same_lens,
            "max_abs_diff_fp16": float(np.abs(x - y).max()),
            "mean_cos_vs_colbert_ai": float(cos.mean()),
            "min_cos_vs_colbert_ai": float(cos.min()),
        }
    return {
        "limit": a.limit,
        "threads": a.threads,
        "bsize": a.bsize,
        "rounds": rounds,
        "median_ratio_wall": {
            e: statistics.median(r[f"{e}_ratio_wall"] for r in rounds) for e in engines[1:]
        },
        "median_ratio_cpu": {e: statistics.median(r[f"{e}_ratio_cpu"] for r in rounds) for e in engines[1:]},
        "vectors": vectors,
    }


def precision(a: argparse.Namespace) -> dict:
    """load_model("minilm") at each precision on the first --limit SciFact documents (the model's own lengths),
    alternated per round (ABBA); speed against float32 and each precision's vectors against float32's."""
    import numpy as np

    dtypes = a.dtypes or ["auto", "float32", "int8"]
    tmp = Path(tempfile.mkdtemp(prefix="jc-bench-"))

    def encode(dtype: str, round_: int) -> dict:
        args = [__file__, "_docs", "--engine", "jcolbert", "--checkpoint", "minilm", "--dtype", dtype]
        args += ["--dataset", str(SHARED / "data" / "scifact"), "--limit", str(a.limit), "--doc-maxlen", "0"]
        args += [
            "--threads",
            str(a.threads),
            "--bsize",
            str(a.bsize),
            "--out",
            str(tmp / f"{dtype}{round_}.npz"),
        ]
        return run_child(args, a.threads)

    rounds = []
    for r in range(a.rounds):
        order = dtypes if r % 2 == 0 else list(reversed(dtypes))
        res = {d: encode(d, r) for d in order}
        row = {f"{d}_tok_s": res[d]["tokens_per_s"] for d in dtypes}
        row.update({f"{d}_tok_per_cpu_s": res[d]["tokens_per_cpu_s"] for d in dtypes})
        row["loadavg"] = os.getloadavg()[0]
        rounds.append(row)
        print(json.dumps(row), flush=True)
    ref = np.load(tmp / "float320.npz")["doc_vectors"].astype(np.float32)
    out = {"limit": a.limit, "threads": a.threads, "rounds": rounds, "vs_float32": {}}
    for d in dtypes:
        x = np.load(tmp / f"{d}0.npz")["doc_vectors"].astype(np.float32)
        cos = (x * ref).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(ref, axis=1)
        out["vs_float32"][d] = {
            "speed_wall": statistics.median(r[f"{d}_tok_s"] / r["float32_tok_s"] for r in rounds),
            "speed_cpu": statistics.median(
                r[f"{d}_tok_per_cpu_s"] / r["float32_tok_per_cpu_s"] for r in rounds
            ),
            "mean_cos": float(cos.mean()),
            "min_cos": float(cos.min()),
        }
    return out


def ndcg(a: argparse.Namespace) -> list[dict]:
    rows = []
    for dtype in a.dtypes or ["float32", "auto"]:
        rows.append(run_child([__file__, "_ndcg", "--dtype", dtype, "--threads", str(a.threads)], a.threads))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def jina(a: argparse.Namespace) -> list[dict]:
    rows = []
    docs_for = {160: 32, 512: 8, 8192: 1}
    variants = [
        (length, dtype, off)
        for length in a.lengths
        for dtype in a.dtypes or ["float32", "bfloat16"]
        for off in ([False, True] if a.compare_windows and length >= 1024 else [False])
    ]
    for length, dtype, off in variants:
        args = [
            __file__,
            "_jina_speed",
            "--length",
            str(length),
            "--dtype",
            dtype,
            "--threads",
            str(a.threads),
            "--n-docs",
            str(docs_for.get(length, 1)),
            "--min-seconds",
            str(a.min_seconds),
            *(["--no-window"] if off else []),
        ]
        rows.append(run_child(args, a.threads))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def memory(a: argparse.Namespace) -> list[dict]:
    rows = []
    for dtype in a.dtypes or ["float32", "bfloat16"]:
        rows.append(
            run_child([__file__, "_memory", "--dtype", dtype, "--threads", str(a.threads)], a.threads)
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def agreement(a: argparse.Namespace) -> list[dict]:
    rows = run_child([__file__, "_agreement", "--threads", str(a.threads), "--limit", "64"], a.threads)
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


def load(a: argparse.Namespace) -> dict:
    """load_model(--checkpoint, default "minilm") in fresh processes; with --baseline-src, alternated (ABBA) with
    the same child run against another source tree (e.g. a `git worktree` of an older commit) via PYTHONPATH."""
    variants = {"current": None}
    if a.baseline_src:
        variants = {"baseline": str(a.baseline_src), "current": None}
    rounds = []
    for r in range(a.rounds):
        names = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in names:
            env = child_env(a.threads)
            if variants[name]:
                env["PYTHONPATH"] = variants[name]
            args = [sys.executable, __file__, "_load", "--checkpoint", a.checkpoint or "minilm"]
            args += ["--threads", str(a.threads)]
            t = time.perf_counter()
            out = subprocess.run(args, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - t
            if out.returncode != 0:
                sys.exit(f"child failed: {' '.join(args)}\n{out.stderr[-3000:]}")
            row = {"variant": name, "process_wall_s": wall, **json.loads(out.stdout.strip().splitlines()[-1])}
            row["loadavg"] = os.getloadavg()[0]
            rounds.append(row)
            print(json.dumps(row), flush=True)
    summary = {
        name: {
            key: statistics.median(r[key] for r in rounds if r["variant"] == name)
            for key in ("process_wall_s", "jcolbert_import_s", "load_model_s", "first_encode_s")
        }
        for name in variants
    }
    return {"checkpoint": a.checkpoint or "minilm", "rounds": rounds, "median": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "what",
        choices=[
            "compare",
            "precision",
            "ndcg",
            "attention",
            "jina",
            "memory",
            "agreement",
            "load",
            "all",
            "_docs",
            "_jina_speed",
            "_memory",
            "_agreement",
            "_load",
            "_ndcg",
        ],
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=500, help="compare: first N SciFact docs")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bsize", type=int, default=32)
    ap.add_argument("--lengths", type=int, nargs="+", default=[160, 512, 8192])
    ap.add_argument(
        "--dtypes", nargs="+", help="jina/memory: float32 bfloat16; compare/precision: auto float32 ..."
    )
    ap.add_argument("--min-seconds", type=float, default=20.0)
    ap.add_argument("--out", type=Path, help="write all results as JSON")
    ap.add_argument(
        "--baseline-src", type=Path, help="load: also time this source tree (PYTHONPATH), alternated"
    )
    # child-only
    ap.add_argument("--engine", choices=["colbert-ai", "jcolbert"])
    ap.add_argument("--checkpoint")
    ap.add_argument("--dataset", type=Path)
    ap.add_argument("--length", type=int)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--n-docs", type=int, default=1)
    ap.add_argument(
        "--qk-std", type=float, default=1.0, help="attention: scale of the random queries and keys"
    )
    ap.add_argument(
        "--no-window", action="store_true", help="_jina_speed: attend to every key (no ALiBi windows)"
    )
    ap.add_argument(
        "--compare-windows", action="store_true", help="jina: also run >= 1024 tokens without windows"
    )
    ap.add_argument("--doc-maxlen", type=int, default=300, help="_docs: 0 = the model's own doc_maxlen")
    a = ap.parse_args()
    children = {
        "_docs": child_docs,
        "_jina_speed": child_jina_speed,
        "_memory": child_memory,
        "_agreement": child_agreement,
        "_load": child_load,
        "_ndcg": child_ndcg,
    }
    if a.what in children:
        children[a.what](a)
        return
    steps = {
        "compare": compare,
        "precision": precision,
        "ndcg": ndcg,
        "attention": attention_layer,
        "jina": jina,
        "memory": memory,
        "agreement": agreement,
        "load": load,
    }
    chosen = list(steps) if a.what == "all" else [a.what]
    results = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%d %H:%M"),
        "loadavg_start": os.getloadavg(),
    }
    for name in chosen:
        results[name] = steps[name](a)
    results["loadavg_end"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
