"""Crash safety: a writer killed with SIGKILL at any step leaves the index at the previous or the new state.

A child process runs one change (add / delete / compact / re-cluster / the exact->PLAID switch) and kills
itself with SIGKILL at its N-th durability step (every os.fsync and both sides of every os.replace, i.e.
after each file, folder and SQLite commit is written and around the manifest swap). For every N the parent
reopens the folder (checksums verified), checks the documents are exactly the old set or the new set, that
search and fetch work, and that the next writer cleans up and commits. A second test kills a writer running
a loop of changes at random moments.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jcolbert.errors import InputError
from jcolbert.index import Index
from test_index_data import make_docs, query_from

DIM = 32
TESTS = Path(__file__).resolve().parent

CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_index_data import make_docs
    from jcolbert.index import Index

    path, op, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    count = 0
    real_fsync, real_replace = os.fsync, os.replace

    def tick():
        global count
        count += 1
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def fsync(fd):
        tick()
        return real_fsync(fd)

    def replace(a, b):
        tick()
        real_replace(a, b)
        tick()

    os.fsync, os.replace = fsync, replace
    from jcolbert.index import docstore
    real_tx, real_cp = docstore.DocStore._transaction, docstore.DocStore.checkpoint

    def transaction(self, *args):  # each SQLite commit of the document store is a kill point too
        tick()
        real_tx(self, *args)
        tick()

    def checkpoint(self):
        tick()
        real_cp(self)
        tick()

    docstore.DocStore._transaction, docstore.DocStore.checkpoint = transaction, checkpoint
    if op == "create":
        Index.create(path, dim={dim}, progress=False)
        print(count)
        raise SystemExit(0)
    index = Index.open(path, progress=False)

    def run(op):
        if op == "add":
            index.add_embeddings(None, make_docs(25, dim={dim}, seed=99), texts=[f"new {{i}}" for i in range(25)])
        elif op == "add_exact_to_plaid":
            index.add_embeddings(None, make_docs(120, dim={dim}, seed=98))
        elif op == "add_merging":  # the tenth small segment: merged with the nine before it in this commit
            index.add_embeddings(["m"], make_docs(1, dim={dim}, seed=97, min_len=12, max_len=30))
        elif op == "delete":
            index.delete(["3", "4", "50"])
        elif op == "compact":
            index.compact(recluster=False)
        elif op == "recluster":
            index.compact(recluster=True)
        else:
            raise SystemExit("unknown op " + op)

    if op == "loop":
        i = 0
        while True:
            index.add_embeddings(None, make_docs(5, dim={dim}, seed=1000 + i))
            index.delete([index.ids()[0]])
            if i % 3 == 2:
                index.compact(recluster=i % 6 == 5)
            i += 1
            print(i, flush=True)
    run(op)
    print(count)
""").format(tests=str(TESTS), dim=DIM)


def _child(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    if not script.exists():
        script.write_text(CHILD)
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, timeout=300)


def _state(index: Index) -> tuple:
    """What a change may alter: the documents, tombstones awaiting compaction, the codec's training set."""
    st = index.stats()
    return frozenset(index.ids()), st["deleted_pending_compaction"], st["trained_tokens"], st["segments"]


def _baseline(tmp_path: Path, *, plaid: bool, rerank: str | None = None, small: int = 0) -> tuple[Path, tuple]:
    """An index of 130 documents (plaid, two deleted) or 40 (exact), then `small` one-document segments of
    12-30 tokens each (one size tier: the next such add merges them, write.merge_tail)."""
    path = tmp_path / ("base_plaid" if plaid else "base_exact")
    index = Index.create(path, dim=DIM, exact_threshold=1500, progress=False, rerank=rerank)
    index.add_embeddings(None, make_docs(130 if plaid else 40, dim=DIM, seed=7), texts=None)
    if plaid:
        index.delete(["10", "11"])
        assert index.mode == "plaid"
    else:
        assert index.mode == "exact"
    for i in range(small):
        index.add_embeddings([f"s{i}"], make_docs(1, dim=DIM, seed=300 + i, min_len=12, max_len=30))
    if small > 3:
        index.delete(["s3"])  # a tombstone inside the run to merge: the merged segment drops it
    assert index.stats()["segments"] == 1 + small
    return path, _state(index)


def _check_after_crash(path: Path, allowed_states: list[tuple] | None) -> tuple:
    index = Index.open(path, verify=True, progress=False)
    state = _state(index)
    ids = set(state[0])
    assert allowed_states is None or state in allowed_states, f"state after the crash is neither the old nor the new one: {state[1:]}"
    assert len(index) == len(ids)
    doc = make_docs(1, dim=DIM, seed=5)[0]
    hits = index.search_embeddings(query_from(doc), k=5)
    assert len(hits) == 5 and all(h.id in ids for h in hits)
    index.get(sorted(ids)[:10])
    # the next writer removes the leftovers of the crashed commit and commits normally
    index.add_embeddings(["probe"], [doc])
    assert "probe" in index and len(index) == len(ids) + 1
    live_dirs = index._current().manifest.folders()
    on_disk = {p.name for p in path.iterdir() if p.is_dir()}
    assert on_disk == live_dirs, f"leftover folders {sorted(on_disk - live_dirs)}"
    reopened = Index.open(path, verify=True, progress=False)
    assert set(reopened.ids()) == ids | {"probe"}
    return state


def _kill_at_every_step(tmp_path: Path, op: str, *, plaid: bool, every: int = 1, rerank: str | None = None,
                        small: int = 0, segments_after: int | None = None) -> int:
    base, before = _baseline(tmp_path, plaid=plaid, rerank=rerank, small=small)
    done = tmp_path / "done"
    shutil.copytree(base, done)
    out = _child(tmp_path, done, op, 10**9)
    assert out.returncode == 0, out.stderr
    steps = int(out.stdout.split()[-1])
    after = _state(Index.open(done))
    assert after != before
    assert segments_after is None or after[3] == segments_after
    seen = set()
    for n in range(1, steps + 1, every):
        work = tmp_path / f"crash{n}"
        shutil.copytree(base, work)
        out = _child(tmp_path, work, op, n)
        assert out.returncode == -signal.SIGKILL, f"step {n}/{steps}: child was not killed: {out.stderr[-2000:]}"
        seen.add(_check_after_crash(work, [before, after]))
        shutil.rmtree(work)
    assert before in seen  # early kills keep the old state...
    if every == 1 or (steps - 1) % every == 0:
        assert after in seen  # ...and kills after the manifest swap keep the new one
    return steps


@pytest.mark.parametrize(("op", "every"), [("add", 4), ("delete", 1)])
def test_kill9_at_many_steps(tmp_path, op, every) -> None:
    """Fast-suite version: every step of a delete, every fourth step of an add (each child imports torch)."""
    assert _kill_at_every_step(tmp_path, op, plaid=True, every=every) >= 3


@pytest.mark.slow
@pytest.mark.parametrize(("op", "plaid"), [("add", True), ("compact", True), ("recluster", True),
                                           ("add_exact_to_plaid", False), ("add", False)])
def test_kill9_at_every_step_slow(tmp_path, op, plaid) -> None:
    assert _kill_at_every_step(tmp_path, op, plaid=plaid) >= 3


def test_kill9_during_an_add_that_merges_segments(tmp_path) -> None:
    """The add that merges ten small segments into one (in its own commit): every fourth step (fast suite)."""
    steps = _kill_at_every_step(tmp_path, "add_merging", plaid=True, every=4, small=9, rerank="int8",
                                segments_after=2)
    assert steps >= 3


@pytest.mark.slow
def test_kill9_during_an_add_that_merges_segments_every_step(tmp_path) -> None:
    _kill_at_every_step(tmp_path, "add_merging", plaid=True, small=9, segments_after=2)


def test_kill9_during_create_leaves_no_index_or_a_whole_one(tmp_path) -> None:
    """Index.create killed at any step: either a whole empty index, or remains the next create reuses."""
    out = _child(tmp_path, tmp_path / "full", "create", 10**9)
    assert out.returncode == 0, out.stderr
    steps = int(out.stdout.split()[-1])
    assert steps >= 4
    outcomes = set()
    for n in range(1, steps + 1):
        path = tmp_path / f"create{n}"
        out = _child(tmp_path, path, "create", n)
        assert out.returncode == -signal.SIGKILL, f"step {n}/{steps}: child was not killed: {out.stderr[-2000:]}"
        if Index.exists(path):
            index = Index.open(path, verify=True)
            assert len(index) == 0
            with pytest.raises(InputError, match="already exists"):
                Index.create(path, dim=DIM)
            outcomes.add("index")
        else:
            index = Index.create(path, dim=DIM)  # the remains are recognised and reused
            outcomes.add("reused")
        index.add_embeddings(None, make_docs(3, dim=DIM))
        assert len(Index.open(path)) == 3
        shutil.rmtree(path)
    assert outcomes == {"index", "reused"}


def test_kill9_compact_sampled_steps(tmp_path) -> None:
    """Fast-suite version of the compact case: every third step."""
    _kill_at_every_step(tmp_path, "compact", plaid=True, every=3)


def test_kill9_exact_tier_sampled_steps(tmp_path) -> None:
    """An index with an exact tier (rerank.npy + rerank_scale.npy written with each segment): every third
    step of a compaction, which copies the tier's rows into the new segment."""
    _kill_at_every_step(tmp_path, "compact", plaid=True, every=3, rerank="int8")


@pytest.mark.slow
@pytest.mark.parametrize(("op", "plaid"), [("add", True), ("recluster", True), ("add_exact_to_plaid", False)])
def test_kill9_exact_tier_at_every_step_slow(tmp_path, op, plaid) -> None:
    assert _kill_at_every_step(tmp_path, op, plaid=plaid, rerank="fp16") >= 3


@pytest.mark.slow
def test_kill9_at_random_moments_during_a_loop_of_changes(tmp_path) -> None:
    base, _ = _baseline(tmp_path, plaid=True)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rng = random.Random(0)
    for trial in range(12):
        work = tmp_path / f"loop{trial}"
        shutil.copytree(base, work)
        proc = subprocess.Popen([sys.executable, str(script), str(work), "loop", "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(1.0 + rng.random() * 4.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
        index = Index.open(work, verify=True, progress=False)
        assert len(index.ids()) == len(index) >= 100
        _check_after_crash(work, None)
        shutil.rmtree(work)
