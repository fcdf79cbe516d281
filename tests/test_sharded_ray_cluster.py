"""A Ray cluster of separate processes on loopback: `ray start --head` plus a worker node (`ray start
--address`), each in a process group of its own that the teardown ends. `jcolbert index --shards 2 --ray
ADDRESS` builds on it (encoder actors spread over both nodes), then `info`, `search` and the Ray backend
search the result. Slow: two Ray nodes take tens of seconds to come up on a small machine."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from jcolbert.index import Index

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "ray"), "start", "--block", "--disable-usage-stats",
                             "--node-ip-address=127.0.0.1", "--num-cpus=1", *args],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the node's own process group (`ray start --block` then stops its processes), SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if ray.is_initialized():
        ray.shutdown()
    # loopback only: no token authentication, for the nodes, the CLI and this driver alike
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    logs = tmp_path_factory.mktemp("ray-logs")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start(["--head", f"--port={port}", "--include-dashboard=false"], logs / "head.log")
    nodes = [head]
    try:
        deadline = time.monotonic() + 240
        worker = None
        while time.monotonic() < deadline:
            if head.poll() is not None:
                pytest.fail("ray start --head exited: " + (logs / "head.log").read_text()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                time.sleep(1)
                continue
            if worker is None:
                worker = _start([f"--address={address}"], logs / "worker.log")
                nodes.append(worker)
            probe = subprocess.run([sys.executable, "-c", "import ray, sys; ray.init(address=sys.argv[1]); "
                                    "print(sum(n['Alive'] for n in ray.nodes()))", address],
                                   capture_output=True, text=True, timeout=90)
            if probe.stdout.strip() == "2":
                break
            time.sleep(2)
        else:
            pytest.fail("the two-node Ray cluster did not come up in 240 s: " + (logs / "worker.log").read_text()[-2000:])
        yield address
    finally:
        for proc in reversed(nodes):
            _stop(proc)
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved


def test_build_search_and_info_on_a_two_node_cluster(cluster, tmp_path, data_dir, minilm_available) -> None:
    corpus = tmp_path / "corpus.jsonl"
    lines = [json.loads(x) for x in (data_dir / "scifact" / "corpus.jsonl").read_text().splitlines()[:24]]
    corpus.write_text("\n".join(json.dumps({"id": d["_id"], "text": d["text"]}) for d in lines) + "\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "idx"
    cli = str(BIN / "jcolbert")
    done = subprocess.run([cli, "index", str(out), str(corpus), "--shards", "2", "--ray", cluster,
                           "--model", "minilm", "--workers", "2", "--json"],
                          capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["documents"] == 24 and summary["shards"] == 2 and summary["workers"] == 2
    assert not list(tmp_path.glob(".idx.blocks-*"))  # the work folder is gone
    info = json.loads(subprocess.run([cli, "info", str(out), "--json"], capture_output=True, text=True, env=env,
                                     timeout=300, check=True).stdout)
    assert info["sharded"] and info["documents"] == 24 and info["shards"] == 2
    first = lines[0]
    found = json.loads(subprocess.run([cli, "search", str(out), first["text"][:200], "--json", "-k", "3"],
                                      capture_output=True, text=True, env=env, timeout=300, check=True).stdout)
    assert found["hits"][0]["id"] == str(first["_id"])
    ids = [x for e in range(2) for x in Index.open(out / f"shard-{e:04d}").ids()]
    assert len(ids) == len(set(ids)) == 24  # every document in exactly one shard
    # the Ray backend on the cluster: one actor per shard, spread over the nodes, the same answers. It runs in a
    # fresh driver process, as a client of a cluster does: in this (pytest) process earlier tests started and
    # stopped a local Ray, and a driver re-initialised after that lost its new actors' handles ("all references
    # to the actor were removed ... cancelled before it started running"), seen in CI and here.
    probe = subprocess.run([sys.executable, "-c", RAY_CLIENT, cluster, str(out), first["text"][:200], str(first["_id"])],
                           capture_output=True, text=True, env=env, timeout=600)
    if probe.returncode != 0:
        pytest.fail(f"the Ray backend on the cluster failed:\n{probe.stderr[-3000:]}\n{_ray_log_excerpt()}")
    got = json.loads(probe.stdout.strip().splitlines()[-1])
    assert got["ids"] == [h["id"] for h in found["hits"]]
    assert got["text"] == first["text"]


RAY_CLIENT = """
import json, sys
import ray
import jcolbert
address, path, query, doc_id = sys.argv[1:5]
ray.init(address=address, log_to_driver=False)
with jcolbert.ShardedIndex.open(path, backend="ray", actor_options={"scheduling_strategy": "SPREAD"}) as sh:
    hits = sh.search(query, k=3)
    text = sh.get(doc_id)["text"]
print(json.dumps({"ids": [h.id for h in hits], "text": text}))
"""


def _ray_log_excerpt(lines: int = 60) -> str:
    """The lines of the newest Ray session's logs that say why a worker ended (exit, kill, signal, memory)."""
    logs = Path(tempfile.gettempdir()) / "ray" / "session_latest" / "logs"
    words = ("exit", "kill", "signal", "memory", "oom", "fatal", "error", "died")
    found = []
    for path in sorted(logs.glob("raylet*.out")) + sorted(logs.glob("*.err")):
        try:
            text = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        found += [f"{path.name}: {x[:300]}" for x in text if any(w in x.lower() for w in words)]
    return "Ray logs (" + str(logs) + "):\n" + "\n".join(found[-lines:])
