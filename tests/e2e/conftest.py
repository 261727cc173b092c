# SPDX-License-Identifier: Apache-2.0
"""Fixtures for end-to-end tests: the built meshlet binary and paths to fixtures."""
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent / "lib"))

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def meshlet_bin():
    path = os.environ.get("MESHLET", str(ROOT / "meshlet"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"meshlet binary not found at {path}: run `make` first")
    return path


@pytest.fixture(scope="session")
def samples():
    path = SHARED / "fixtures" / "istio-samples"
    if not path.is_dir():
        pytest.skip(f"shared fixtures not found at {path}")
    return path


@pytest.fixture(scope="session")
def repo_root():
    return ROOT
