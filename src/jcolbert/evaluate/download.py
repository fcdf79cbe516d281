"""Fetch public BEIR datasets by name into a local cache (for online users; tests never call it).

Why a cache and not a temp folder: BEIR zips range from 1 MB (SciFact) to several GB (FEVER, MS MARCO);
downloading once and reusing the extracted folder is what makes the reproduction recipe repeatable.
The cache is ``$JCOLBERT_CACHE/beir`` (default ``~/.cache/jcolbert/beir``), or the folder passed in.
A machine without network gets an error that says so and tells how to supply the folder by hand.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from jcolbert.errors import DownloadError

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"

#: Public BEIR datasets downloadable by name (cqadupstack is left out: it is 12 sub-datasets).
BEIR_NAMES: tuple[str, ...] = (
    "arguana", "climate-fever", "dbpedia-entity", "fever", "fiqa", "hotpotqa", "msmarco", "nfcorpus",
    "nq", "quora", "scidocs", "scifact", "trec-covid", "webis-touche2020",
)  # fmt: skip

#: The split each dataset is evaluated on in BEIR and in the model card (MS MARCO: dev).
DEFAULT_SPLIT = {"msmarco": "dev"}


def default_cache_dir() -> Path:
    root = os.environ.get("JCOLBERT_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "jcolbert") / "beir"


def download_beir(name: str, cache_dir: str | Path | None = None, *, timeout: float = 60.0) -> Path:
    """Folder of BEIR dataset `name` (BEIR layout), downloading and extracting it on first use."""
    from jcolbert.evaluate.published import normalize_dataset

    key = normalize_dataset(name)
    if key not in BEIR_NAMES:
        raise DownloadError(f"unknown BEIR dataset {name!r}; known: {', '.join(BEIR_NAMES)}")
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / key
    if (target / "corpus.jsonl").is_file() or (target / "corpus.jsonl.gz").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    url = BEIR_URL.format(name=key)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        zpath = Path(tmp) / f"{key}.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(zpath, "wb") as fh:
                shutil.copyfileobj(resp, fh, length=1 << 20)
        except (urllib.error.URLError, OSError) as exc:
            raise DownloadError(
                f"could not download BEIR dataset {key!r} from {url} ({exc}); this machine may be offline. "
                f"Download and unzip it yourself, then pass the folder (it must hold corpus.jsonl, "
                f"queries.jsonl and qrels/), or place it at {target}"
            ) from exc
        try:
            with zipfile.ZipFile(zpath) as zf:
                zf.extractall(tmp)
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{url} did not give a valid zip archive ({exc})") from exc
        extracted = Path(tmp) / key
        if not extracted.is_dir():
            raise DownloadError(f"{url}: the archive has no top-level folder {key!r}")
        if target.exists():
            shutil.rmtree(target)
        extracted.rename(target)  # same file system: atomic, so a crash never leaves half a dataset
    return target
