"""Wall time of the README's first command, `bash install.sh && .venv/bin/jcolbert quickstart`, by phase.

Phases: install (optional: `bash install.sh` into a fresh venv), then one `jcolbert quickstart --json`
process per repeat, each into a fresh folder so the index is really built: start-up (interpreter and
imports), collecting the docstrings, model load, encoding, indexing, search (the quickstart reports its own
phase timings in --json; start-up is the process wall time minus those).

    .venv/bin/python benchmarks/bench_quickstart.py                     # quickstart only, with .venv's jcolbert
    .venv/bin/python benchmarks/bench_quickstart.py --install           # + bash install.sh into a new venv
    .venv/bin/python benchmarks/bench_quickstart.py --install --no-pip-cache   # install downloading everything

Results go to stdout as a Markdown table and to --out as JSON. Offline (no hub) the quickstart uses the
bundled `minilm` model; the table says which model ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PHASES = ("startup", "collect", "model_load", "encode", "index", "search")


def run_install(venv: Path, no_pip_cache: bool) -> float:
    env = {**os.environ, "VENV": str(venv)}
    if no_pip_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    start = time.perf_counter()
    subprocess.run(["bash", str(REPO / "install.sh")], cwd=REPO, env=env, check=True)
    return time.perf_counter() - start


def run_quickstart(jcolbert: Path, workdir: Path, extra: list[str]) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(jcolbert), "quickstart", "--json", "--dir", str(workdir / "qs"), *extra],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"jcolbert quickstart failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    report = json.loads(proc.stdout)
    timings = dict(report["timings_s"])
    timings["startup"] = wall - sum(timings.values())
    return {
        "wall_s": wall,
        "timings_s": timings,
        "model": report["model"],
        "documents": report["documents"],
        "tokens": report["tokens"],
        "top_hits": {q["query"]: q["hits"][0]["id"] for q in report["queries"]},
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--install", action="store_true", help="time `bash install.sh` into a fresh venv first"
    )
    parser.add_argument(
        "--no-pip-cache", action="store_true", help="install without pip's cache (downloads all)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="quickstart runs (each builds a fresh index)")
    parser.add_argument("--model", help="pass --model to the quickstart (default: its own choice)")
    parser.add_argument("--out", type=Path, default=REPO / "bench_out" / "quickstart.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="jc-bench-qs-"))
    result: dict = {
        "command": " ".join(["benchmarks/bench_quickstart.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_start": load_average(),
        },
    }
    try:
        if args.install:
            venv = work / "venv"
            result["install_s"] = run_install(venv, args.no_pip_cache)
            result["install_pip_cache"] = not args.no_pip_cache
            jcolbert = venv / "bin" / "jcolbert"
        else:
            jcolbert = Path(sys.executable).parent / "jcolbert"
        extra = ["--model", args.model] if args.model else []
        runs = []
        for i in range(args.repeat):
            run_dir = work / f"run{i}"
            run_dir.mkdir()
            runs.append(run_quickstart(jcolbert, run_dir, extra))
        result["runs"] = runs
        result["machine"]["load_avg_end"] = load_average()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"| run | model | docs | tokens | {' | '.join(PHASES)} | quickstart wall |")
    print("|---|---|---:|---:|" + "---:|" * (len(PHASES) + 1))
    for i, r in enumerate(result["runs"]):
        t = r["timings_s"]
        cells = " | ".join(f"{t[p]:.1f} s" for p in PHASES)
        print(
            f"| {i + 1} | {r['model']} | {r['documents']} | {r['tokens']} | {cells} | {r['wall_s']:.1f} s |"
        )
    if "install_s" in result:
        cache = "warm pip cache" if result["install_pip_cache"] else "no pip cache"
        print(f"\ninstall (bash install.sh, fresh venv, {cache}): {result['install_s']:.1f} s")
    print(
        f"load average start/end: {result['machine']['load_avg_start']} / {result['machine']['load_avg_end']}"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
