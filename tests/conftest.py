"""Test setup: offline, a temporary HF_HOME and results/data dirs, the shared data mirror when present."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True)
def _offline_env(tmp_path, monkeypatch):
    """No test touches the network or the user's folders."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("SYMCLI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SYMCLI_RESULTS_DIR", str(tmp_path / "results"))


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the repository (skips when absent)."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present")
    return SHARED
