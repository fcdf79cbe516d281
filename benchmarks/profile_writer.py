"""What one add costs a server's writer: N x [add one document, delete it] on a copy of an index, under cProfile.

    cp -r INDEX /tmp/jc-prof/idx && .venv/bin/python benchmarks/profile_writer.py /tmp/jc-prof/idx [--rounds 10]

The index is compacted first (one segment), then one warm-up round; prints CPU and wall seconds per round,
the last add's `last_timings`, and the 25 most expensive calls (cumulative). It changes the index: use a copy.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from jcolbert.index import Index

TEXT = "Cholesterol is a lipid molecule that is biosynthesized by all animal cells. " * 12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("index")
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    index = Index.open(a.index)
    index.compact(recluster=False)
    index.add([{"id": "warm", "text": TEXT}])
    index.delete(["warm"])

    def rounds() -> None:
        for i in range(a.rounds):
            index.add([{"id": f"p{i}", "text": TEXT}])
            index.delete([f"p{i}"])

    cpu, wall = time.process_time(), time.perf_counter()
    profile = cProfile.Profile()
    profile.runcall(rounds)
    print(f"per add + delete: {(time.process_time() - cpu) / a.rounds:.3f} CPU s, "
          f"{(time.perf_counter() - wall) / a.rounds:.3f} wall s")
    print("last add's timings:", {k: round(v, 3) for k, v in index.last_timings.items()})
    pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
