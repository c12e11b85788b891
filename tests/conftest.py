"""Shared test fixtures. Real collections live in ../shared/data beside the repository (never copied in)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RANKWISE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path inside ../shared/data, or skip the test with the reason when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} not found: this test needs the real collections in ../shared/data "
            "(set RANKWISE_SHARED_DATA to point elsewhere)"
        )
    return path


@pytest.fixture
def shared_data():
    """The ../shared/data folder (skips when absent)."""
    return shared_path()
