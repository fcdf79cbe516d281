"""The server's parts on their own: the query micro-batcher, the queued writer, the MaxSim explanation."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from jcolbert.errors import ServiceError

# ----------------------------------------------------------------------------------------------- batcher


class _FakeEncoder:
    """Records each call's batch; a query's vectors are its length (so each request can check its rows)."""

    def __init__(self, delay: float = 0.0):
        self.calls: list[list[str]] = []
        self.delay = delay

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        time.sleep(self.delay)
        if any(t == "boom" for t in texts):
            raise ValueError("boom")
        return np.array([[[len(t)]] for t in texts], dtype=np.float32)


def _gather(batcher, requests: list[list[str]]):
    async def main():
        return await asyncio.gather(*(batcher.encode(r) for r in requests), return_exceptions=True)

    return asyncio.run(main())


def test_batcher_encodes_concurrent_requests_in_one_call():
    from jcolbert.serve.batcher import QueryBatcher

    enc = _FakeEncoder()
    batcher = QueryBatcher(enc, wait_ms=50, max_batch=64)
    requests = [["a" * (i + 1)] for i in range(10)] + [["xx", "yyy"]]
    out = _gather(batcher, requests)
    assert len(enc.calls) == 1 and len(enc.calls[0]) == 12
    for req, rows in zip(requests, out, strict=True):
        assert rows[:, 0, 0].tolist() == [len(t) for t in req]  # each request gets its own rows back
    batcher.close()


def test_batcher_respects_max_batch_and_keeps_requests_whole():
    from jcolbert.serve.batcher import QueryBatcher

    enc = _FakeEncoder()
    batcher = QueryBatcher(enc, wait_ms=50, max_batch=4)
    out = _gather(batcher, [["a", "b", "c"], ["d", "e"], ["f"], ["g", "h", "i"]])
    assert all(len(c) <= 4 for c in enc.calls) and sum(len(c) for c in enc.calls) == 9
    assert [o.shape[0] for o in out] == [3, 2, 1, 3]
    batcher.close()


def test_batcher_off_encodes_each_request_alone():
    from jcolbert.serve.batcher import QueryBatcher

    enc = _FakeEncoder()
    batcher = QueryBatcher(enc, wait_ms=0)
    assert not batcher.enabled
    _gather(batcher, [["a"], ["b"], ["c"]])
    assert sorted(map(tuple, enc.calls)) == [("a",), ("b",), ("c",)]
    batcher.close()


def test_batcher_hands_an_encoder_error_to_the_batch_and_keeps_going():
    from jcolbert.serve.batcher import QueryBatcher

    enc = _FakeEncoder()
    batcher = QueryBatcher(enc, wait_ms=20)

    async def main():
        first = await asyncio.gather(batcher.encode(["boom"]), batcher.encode(["ok"]), return_exceptions=True)
        second = await batcher.encode(["fine"])
        return first, second

    first, second = asyncio.run(main())
    assert all(isinstance(x, ValueError) for x in first)
    assert second[0, 0, 0] == 4
    batcher.close()


def test_batcher_gathers_requests_that_arrive_while_encoding():
    from jcolbert.serve.batcher import QueryBatcher

    enc = _FakeEncoder(delay=0.1)
    batcher = QueryBatcher(enc, wait_ms=1)

    async def main():
        first = asyncio.ensure_future(batcher.encode(["first"]))
        await asyncio.sleep(0.03)  # the first batch is being encoded now
        rest = [asyncio.ensure_future(batcher.encode([f"q{i}"])) for i in range(5)]
        await asyncio.gather(first, *rest)

    asyncio.run(main())
    assert [len(c) for c in enc.calls] == [1, 5]
    batcher.close()


# ----------------------------------------------------------------------------------------------- writer


class _Handle:
    def __init__(self):
        self.log: list[str] = []
        self.closed = False

    def close(self):
        self.closed = True


def test_writer_runs_jobs_one_at_a_time_in_order():
    from jcolbert.serve.writer import IndexWriter

    handle = _Handle()
    writer = IndexWriter("t", lambda: handle, max_pending=100)
    active = []

    def job(i):
        def run(h):
            active.append(1)
            assert len(active) == 1  # never two at once
            time.sleep(0.002)
            h.log.append(str(i))
            active.pop()
            return i
        return run

    async def main():
        return await asyncio.gather(*(writer.run(job(i), 10.0) for i in range(20)))

    assert asyncio.run(main()) == list(range(20))
    assert handle.log == [str(i) for i in range(20)]
    writer.close()
    assert handle.closed


def test_writer_queue_full_is_429_and_a_late_job_never_runs():
    from jcolbert.serve.writer import IndexWriter

    handle = _Handle()
    writer = IndexWriter("t", lambda: handle, max_pending=2)
    gate = threading.Event()
    started = threading.Event()

    def blocker(h):
        started.set()
        gate.wait(5)
        return "blocker"

    first = writer.submit(blocker, time.monotonic() + 10)
    started.wait(5)
    late = writer.submit(lambda h: h.log.append("late"), time.monotonic() + 0.05)
    second = writer.submit(lambda h: h.log.append("second"), time.monotonic() + 10)
    with pytest.raises(ServiceError) as err:
        writer.submit(lambda h: None, time.monotonic() + 10)
    assert err.value.status == 429 and writer.depth == 2
    time.sleep(0.1)  # the late job's deadline passes while it waits
    gate.set()
    assert first.result(5) == "blocker"
    second.result(5)
    assert late.cancelled() and handle.log == ["second"]
    writer.close()


def test_writer_timeout_before_start_is_504_and_writes_nothing():
    from jcolbert.serve.writer import IndexWriter

    handle = _Handle()
    writer = IndexWriter("t", lambda: handle)
    gate = threading.Event()

    async def main():
        slow = asyncio.ensure_future(writer.run(lambda h: gate.wait(5), 10.0))
        await asyncio.sleep(0.02)
        with pytest.raises(ServiceError) as err:
            await writer.run(lambda h: h.log.append("dropped"), 0.05)
        gate.set()
        await slow
        return err.value

    err = asyncio.run(main())
    assert err.status == 504 and "nothing was written" in str(err)
    time.sleep(0.05)
    assert handle.log == []
    writer.close()


def test_writer_started_job_finishes_and_reports_even_past_the_deadline():
    from jcolbert.serve.writer import IndexWriter

    handle = _Handle()
    writer = IndexWriter("t", lambda: handle)

    def slow(h):
        time.sleep(0.2)
        h.log.append("committed")
        return "done"

    assert asyncio.run(writer.run(slow, 0.05)) == "done"
    assert handle.log == ["committed"]
    writer.close()


# ----------------------------------------------------------------------------------------------- explanation


def test_maxsim_argmax_is_maxsim():
    import torch

    from jcolbert.scoring import maxsim
    from jcolbert.scoring.explain import maxsim_argmax

    rng = np.random.default_rng(0)
    Q = rng.standard_normal((7, 16)).astype(np.float32)
    D = rng.standard_normal((30, 16)).astype(np.float32)
    best, values = maxsim_argmax(Q, D)
    assert best.tolist() == (Q @ D.T).argmax(1).tolist()
    assert values.sum() == pytest.approx(float(maxsim(torch.from_numpy(Q), [torch.from_numpy(D)])[0]), rel=1e-5)


def test_explain_matches_the_encoder_and_maxsim(minilm_available):
    import jcolbert
    from jcolbert.scoring import maxsim
    from jcolbert.scoring.explain import document_tokens, explain

    model = jcolbert.load_model("minilm")
    text = "Ocean tides are caused by the gravitational pull of the moon, and the sun!"
    D, labels, truncated = document_tokens(model, text)
    reference = model.encode_documents([text])[0].numpy()
    np.testing.assert_allclose(D, reference, atol=1e-5)  # the very vectors an index stores for this text
    assert not truncated and len(labels) == len(D)
    for token, span in labels:
        if span is not None:
            assert text[span[0]:span[1]].lower() == token.removeprefix("##")
    ex = explain(model, "what pulls the tides?", text)
    Q = model.encode_queries(["what pulls the tides?"])[0]
    assert ex.score == pytest.approx(float(maxsim(Q, [model.encode_documents([text])[0]])[0]), abs=1e-4)
    assert ex.score == pytest.approx(sum(m.contribution for m in ex.matches), abs=1e-6)
    tides = [m for m in ex.matches if m.query_token == "tides"]
    assert tides and tides[0].doc_span is not None and text[slice(*tides[0].doc_span)] == "tides"
    long = " ".join(["tides"] * 2000)
    assert explain(model, "tides", long).truncated


# ----------------------------------------------------------------------------------------------- search batcher


class _FakeSearch:
    """Records each call's query count and width; a query's "hits" are [number of its nonzero rows, its id]."""

    def __init__(self, bad_id: float | None = None):
        self.calls: list[tuple[int, int]] = []
        self.bad_id = bad_id

    def __call__(self, Q: np.ndarray) -> list[list[float]]:
        self.calls.append(Q.shape[:2])
        if self.bad_id is not None and (Q[:, 0, 0] == self.bad_id).any():
            raise ValueError("bad query")
        return [[int((np.abs(q).max(axis=1) > 0).sum()), float(q[0, 0])] for q in Q]


def _queries(qid: float, n: int = 1, rows: int = 3) -> np.ndarray:
    Q = np.ones((n, rows, 4), dtype=np.float32)
    Q[:, 0, 0] = qid
    return Q


async def _run_inline(fn, *args):
    await asyncio.sleep(0.01)  # a search takes a while: later requests queue meanwhile
    return fn(*args)


def test_search_batcher_answers_waiting_requests_together_and_each_gets_its_rows():
    from jcolbert.serve.search_batcher import SearchBatcher

    fake = _FakeSearch()
    batcher = SearchBatcher(_run_inline, parallel=1)

    async def main():
        first = asyncio.ensure_future(batcher.search(_queries(1), "k10", fake))
        await asyncio.sleep(0)  # the first request is running alone; the next ones wait for it
        later = [batcher.search(_queries(2, rows=5), "k10", fake), batcher.search(_queries(3, n=2), "k10", fake),
                 batcher.search(_queries(4), "k5", fake)]
        return [await first, *await asyncio.gather(*later)]

    out = asyncio.run(main())
    assert out == [[[3, 1.0]], [[5, 2.0]], [[3, 3.0], [3, 3.0]], [[3, 4.0]]]  # rows kept, padding not counted
    # the lone first request at once; then the two with key k10 together (padded to 5 rows); then k5
    assert fake.calls == [(1, 3), (3, 5), (1, 3)]


def test_search_batcher_runs_up_to_parallel_calls_and_caps_a_group():
    from jcolbert.serve.search_batcher import SearchBatcher

    fake = _FakeSearch()
    running, most = 0, 0

    async def run(fn, *args):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return fn(*args)

    batcher = SearchBatcher(run, parallel=2, max_queries=4)

    async def main():
        return await asyncio.gather(*(batcher.search(_queries(i), "same", fake) for i in range(11)))

    out = asyncio.run(main())
    assert [o[0][1] for o in out] == [float(i) for i in range(11)]
    assert most == 2 and all(n <= 4 for n, _ in fake.calls) and sum(n for n, _ in fake.calls) == 11


def test_search_batcher_retries_alone_so_one_bad_request_fails_only_itself():
    from jcolbert.serve.search_batcher import SearchBatcher

    fake = _FakeSearch(bad_id=7.0)
    batcher = SearchBatcher(_run_inline, parallel=1)

    async def main():
        first = asyncio.ensure_future(batcher.search(_queries(1), "k", fake))
        await asyncio.sleep(0)
        rest = await asyncio.gather(*(batcher.search(_queries(i), "k", fake) for i in (6, 7, 8)),
                                    return_exceptions=True)
        return [await first, *rest]

    out = asyncio.run(main())
    assert out[0] == [[3, 1.0]] and out[1] == [[3, 6.0]] and out[3] == [[3, 8.0]]
    assert isinstance(out[2], ValueError)


def test_search_batcher_drops_a_request_that_timed_out_while_waiting():
    from jcolbert.serve.search_batcher import SearchBatcher

    fake = _FakeSearch()
    batcher = SearchBatcher(_run_inline, parallel=1)

    async def main():
        first = asyncio.ensure_future(batcher.search(_queries(1), "k", fake))
        await asyncio.sleep(0)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(batcher.search(_queries(2), "k", fake), timeout=0.001)
        third = await batcher.search(_queries(3), "k", fake)
        return await first, third

    assert asyncio.run(main()) == ([[3, 1.0]], [[3, 3.0]])
    assert [n for n, _ in fake.calls] == [1, 1]  # the timed-out request was never searched
