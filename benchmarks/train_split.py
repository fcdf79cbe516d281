"""Hold out dev queries from a BEIR folder's train split, for the learning curve of benchmarks/train_scifact.sh.

    python benchmarks/train_split.py ../shared/data/scifact OUT_FOLDER --dev 100 --seed 0

OUT_FOLDER gets links to corpus.jsonl, queries.jsonl and qrels/test.tsv, and qrels/train.tsv (the train split minus
the held-out queries) and qrels/dev.tsv (the held-out queries, drawn with the seed). The test split is untouched.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dev", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    (args.out / "qrels").mkdir(parents=True, exist_ok=True)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        link = args.out / name
        if not link.exists():
            link.symlink_to((args.source / name).resolve())
    lines = (args.source / "qrels" / "train.tsv").read_text().splitlines()
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    qids = sorted({r.split("\t")[0] for r in rows})
    dev = set(random.Random(args.seed).sample(qids, args.dev))
    for split, keep in (("train", lambda q: q not in dev), ("dev", lambda q: q in dev)):
        kept = [r for r in rows if keep(r.split("\t")[0])]
        (args.out / "qrels" / f"{split}.tsv").write_text("\n".join([header, *kept]) + "\n")
        print(f"{split}: {len({r.split(chr(9))[0] for r in kept})} queries, {len(kept)} judgments")


if __name__ == "__main__":
    main()
