"""Shared fixtures: the real Fashion-MNIST copy and a temporary run store.

(The browser tests' trained digits run, ``seeded_store``, is in ``tests/e2e/conftest.py``; tests that
need a run of their own train it themselves.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("EOS_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The folder holding FashionMNIST/raw/*.gz (``$EOS_DATA_DIR`` or ``../shared/data``)."""
    path = _shared_data_dir()
    if not (path / "FashionMNIST" / "raw").is_dir():
        pytest.skip(f"Fashion-MNIST not found under {path} (set EOS_DATA_DIR)")
    return path


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch) -> Path:
    """A fresh, empty runs folder, also exported as EOS_RUNS_DIR."""
    path = tmp_path / "runs"
    monkeypatch.setenv("EOS_RUNS_DIR", str(path))
    return path
