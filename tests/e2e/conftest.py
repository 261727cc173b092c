# SPDX-License-Identifier: Apache-2.0
"""Fixtures for end-to-end tests: the built meshlet binary and paths to fixtures."""
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent / "lib"))

ROOT = pathlib.Path(__file__).resolve().parents[2]


def find_shared():
    """The team's shared folder: $MESHLET_SHARED, ../shared beside the checkout, or the
    workplace's /work/shared (where a clone in a temporary directory finds it)."""
    for candidate in (os.environ.get("MESHLET_SHARED"), ROOT.parent / "shared", "/work/shared"):
        if candidate and (pathlib.Path(candidate) / "fixtures" / "istio-samples").is_dir():
            return pathlib.Path(candidate)
    return None


SHARED = find_shared()


@pytest.fixture(scope="session")
def meshlet_bin():
    path = os.environ.get("MESHLET", str(ROOT / "meshlet"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"meshlet binary not found at {path}: run `make` first")
    return path


@pytest.fixture(scope="session")
def samples():
    if SHARED is None:
        pytest.fail("shared fixtures not found: set MESHLET_SHARED to the shared folder")
    return SHARED / "fixtures" / "istio-samples"


@pytest.fixture(scope="session")
def repo_root():
    return ROOT
