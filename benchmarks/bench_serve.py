"""Load test of `jcolbert serve` on loopback: many concurrent clients searching while a writer adds and deletes.

    .venv/bin/python benchmarks/bench_serve.py --index bench_out/serve/scifact-minilm \\
        --queries ../shared/data/scifact/queries.jsonl --clients 1,8,32,64 --duration 60 --batch-wait-ms 2,0

Stages: (1) the same queries through `Index.search` in this process, one at a time (the baseline the server's
overhead is measured against); (2) for each micro-batcher setting, a fresh `jcolbert serve` process on
127.0.0.1, and for each client count a closed loop of that many asyncio clients (httpx), each sending its next
query as soon as its previous one is answered, for `--duration` seconds, while a writer task adds one document and
deletes the one it added before, once per `--writer-interval` seconds. Every run stops by itself: fixed durations,
per-request timeouts, and the server is stopped at the end. Reports queries/s, p50/p95/p99 latency, errors (429s
apart), the encoder's mean batch size (from /metrics), the CPU cores the server and this load generator used, and
the load average; writes a JSON file and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# The same OpenMP setting `jcolbert serve` uses, for the in-process baseline too (set before torch loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds (user + system) used so far by process pid (None: this process)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    a = np.asarray(ms)
    return {f"p{p}": round(float(np.percentile(a, p)), 1) for p in (50, 95, 99)}


def read_queries(path: Path, limit: int | None) -> list[str]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line)["text"])
    return out[:limit] if limit else out


# ----------------------------------------------------------------------------------------------- baseline


def baseline(index_path: Path, queries: list[str], seconds: float, k: int, threads: int) -> dict:
    """Index.search in this process, one query at a time, for `seconds` (after a short warm-up), computing on as
    many threads as the server's searches do (threads; 0: torch's and numpy's defaults)."""
    import jcolbert
    from jcolbert.serve.threads import init_worker, limit_process

    init_worker(threads or None)
    limit_process(threads or None)

    index = jcolbert.Index.open(index_path, readonly=True)
    for q in queries[:5]:
        index.search(q, k=k)
    lat, n, started = [], 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        t = time.perf_counter()
        index.search(queries[n % len(queries)], k=k)
        lat.append((time.perf_counter() - t) * 1000)
        n += 1
    wall = time.perf_counter() - started
    index.close()
    return {"queries": n, "qps": round(n / wall, 2), **percentiles(lat), "load": loadavg()}


# ----------------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_path: Path, wait_ms: float, log: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "jcolbert.cli.main", "serve", str(index_path), "--port", str(port),
           "--batch-wait-ms", str(wait_ms), "--log-level", "warning", "--max-inflight", "4096", "--timeout", "120", *extra]
    env = {**os.environ, "JCOLBERT_API_KEYS": ""}
    with open(log, "a", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server not ready in 300 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def batch_stats(metrics_text: str) -> tuple[float, float]:
    """(sum, count) of the encoder batch-size histogram."""
    total = count = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("jcolbert_encode_batch_queries_sum"):
            total = float(line.split()[-1])
        elif line.startswith("jcolbert_encode_batch_queries_count"):
            count = float(line.split()[-1])
    return total, count


# ----------------------------------------------------------------------------------------------- load


async def run_level(url: str, index: str, queries: list[str], clients: int, seconds: float, k: int,
                    writer_interval: float, tag: str) -> dict:
    import httpx

    search_url = f"{url}/v1/indexes/{index}/search"
    docs_url = f"{url}/v1/indexes/{index}/documents"
    lat: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    writes = {"adds": 0, "deletes": 0, "errors": 0, "ms": []}
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        before = batch_stats((await http.get(url + "/metrics")).text)

        async def client(c: int) -> None:
            i = c * 7919
            while time.monotonic() < deadline:
                body = {"query": queries[i % len(queries)], "k": k}
                i += 1
                t = time.perf_counter()
                try:
                    r = await http.post(search_url, json=body)
                    code = r.status_code
                except httpx.HTTPError as exc:
                    code = -1
                    errors.append(f"{type(exc).__name__}: {exc}")
                statuses[code] = statuses.get(code, 0) + 1
                if code == 200:
                    lat.append((time.perf_counter() - t) * 1000)
                elif code not in (-1, 429) and len(errors) < 20:
                    errors.append(f"{code}: {r.text[:200]}")

        async def writer() -> None:
            n, previous = 0, None
            while time.monotonic() + writer_interval < deadline:
                tick = time.monotonic()
                doc_id = f"bench-{tag}-{n}"
                text = f"Benchmark document {n}: {queries[n % len(queries)]} written while clients search."
                for method, target, body, kind in (
                        ("POST", docs_url, {"documents": [{"id": doc_id, "text": text}]}, "adds"),
                        ("DELETE", docs_url, {"ids": [previous]} if previous else None, "deletes")):
                    if body is None:
                        continue
                    t = time.perf_counter()
                    r = await http.request(method, target, json=body)
                    writes["ms"].append((time.perf_counter() - t) * 1000)
                    if r.status_code == 200:
                        writes[kind] += 1
                    else:
                        writes["errors"] += 1
                        errors.append(f"write {r.status_code}: {r.text[:200]}")
                previous, n = doc_id, n + 1
                await asyncio.sleep(max(0.0, writer_interval - (time.monotonic() - tick)))
            if previous:  # leave the index as it was
                await http.request("DELETE", docs_url, json={"ids": [previous]})

        load_start = loadavg()
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)), writer())
        wall = time.perf_counter() - started
        after = batch_stats((await http.get(url + "/metrics")).text)
    ok = statuses.get(200, 0)
    batches = after[1] - before[1]
    return {
        "clients": clients, "seconds": round(wall, 1), "queries": ok, "qps": round(ok / wall, 2), **percentiles(lat),
        "errors": sum(v for s, v in statuses.items() if s not in (200, 429)), "rejected_429": statuses.get(429, 0),
        "mean_encode_batch": round((after[0] - before[0]) / batches, 2) if batches else None,
        "writes": {"adds": writes["adds"], "deletes": writes["deletes"], "errors": writes["errors"],
                   **{k: v for k, v in percentiles(writes["ms"]).items() if k == "p50"}},
        "error_samples": errors[:5], "load_start": load_start, "load_end": loadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True, help="index folder (SciFact with minilm)")
    ap.add_argument("--queries", type=Path, default=ROOT.parent / "shared/data/scifact/queries.jsonl")
    ap.add_argument("--clients", default="1,8,32,64")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per client count")
    ap.add_argument("--batch-wait-ms", default="2,0", help="micro-batcher settings to compare (0 = off)")
    ap.add_argument("--writer-interval", type=float, default=1.0)
    ap.add_argument("--baseline-seconds", type=float, default=30.0)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--limit-queries", type=int, default=None)
    ap.add_argument("--compute-threads", type=int, default=1,
                    help="`jcolbert serve --compute-threads`, and the same for the in-process baseline")
    ap.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for `jcolbert serve` (repeat it: --server-arg=--search-threads --server-arg=3)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench_out/serve/bench_serve.json")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    queries = read_queries(args.queries, args.limit_queries)
    index_name = args.index.resolve().name
    result = {"command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "load_start": loadavg(),
              "cpus": os.cpu_count(), "queries_available": len(queries), "runs": []}
    print(f"baseline: Index.search in one process, {args.baseline_seconds:g} s ...", flush=True)
    result["baseline"] = base = baseline(args.index, queries, args.baseline_seconds, args.k, args.compute_threads)
    print(json.dumps(base), flush=True)
    for wait in [float(w) for w in args.batch_wait_ms.split(",")]:
        proc, url = start_server(args.index, wait, args.out.with_suffix(".server.log"),
                                   ["--compute-threads", str(args.compute_threads), *args.server_arg])
        try:
            asyncio.run(run_level(url, index_name, queries, 4, 5.0, args.k, 1e9, f"warm{wait:g}"))  # warm-up
            for clients in [int(c) for c in args.clients.split(",")]:
                tag = f"w{wait:g}-c{clients}"
                cpu0, own0, wall0 = cpu_seconds(proc.pid), cpu_seconds(), time.perf_counter()
                level = asyncio.run(run_level(url, index_name, queries, clients, args.duration, args.k,
                                              args.writer_interval, tag))
                wall = time.perf_counter() - wall0  # CPU cores each side used during the level
                level["server_cores"] = round((cpu_seconds(proc.pid) - cpu0) / wall, 2)
                level["loadgen_cores"] = round((cpu_seconds() - own0) / wall, 2)
                level["batch_wait_ms"] = wait
                result["runs"].append(level)
                print(json.dumps(level), flush=True)
        finally:
            stop_server(proc)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    result["load_end"] = loadavg()
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(markdown(result))


def markdown(result: dict) -> str:
    base = result["baseline"]
    rows = ["| batcher | clients | queries/s | p50 ms | p95 ms | p99 ms | errors | 429 | mean encode batch | "
            "writes ok (add/del) | server cores | load generator cores | load avg |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    one = {}
    for r in result["runs"]:
        if r["clients"] == 1:
            one[r["batch_wait_ms"]] = r
        label = "off" if r["batch_wait_ms"] == 0 else f"{r['batch_wait_ms']:g} ms"
        rows.append(f"| {label} | {r['clients']} | {r['qps']} | {r['p50']} | {r['p95']} | {r['p99']} | {r['errors']} | "
                    f"{r['rejected_429']} | {r['mean_encode_batch']} | {r['writes']['adds']}/{r['writes']['deletes']} | "
                    f"{r.get('server_cores')} | {r.get('loadgen_cores')} | {r['load_start']} |")
    lines = ["\n".join(rows), "",
             f"In-process `Index.search`, one query at a time: {base['qps']} queries/s, p50 {base['p50']} ms, "
             f"p95 {base['p95']} ms, p99 {base['p99']} ms (load {base['load']})."]
    for wait, r in sorted(one.items()):
        lines.append(f"Server overhead at 1 client (batcher {wait:g} ms): p50 {r['p50']} / {base['p50']} = "
                     f"{r['p50'] / base['p50']:.2f}x the in-process latency.")
    for wait in sorted(one):
        r32 = [r for r in result["runs"] if r["batch_wait_ms"] == wait and r["clients"] == 32]
        if r32:
            r32 = r32[0]
            lines.append(f"Batcher {wait:g} ms at 32 clients: {r32['qps'] / one[wait]['qps']:.2f}x the 1-client "
                         f"throughput, p99/p50 = {r32['p99'] / r32['p50']:.2f}.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
