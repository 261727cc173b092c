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


@pytest.fixture
def canary(meshlet_bin, tmp_path):
    """`meshlet run` on the canary config at 100/0 (config.yaml in tmp_path, two backends
    v1 and v2): start(*extra, workers=2) returns the Meshlet, with gw (the Gateway port),
    conf (the config file), v1 and v2 (the Backends). Everything is stopped after the test,
    and every meshlet must have exited 0."""
    from backend import Backend
    from configs import canary_config
    from meshlet_proc import Meshlet, free_port

    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    conf = tmp_path / "config.yaml"
    conf.write_text(canary_config(gw, v1.port, v2.port, weights=(100, 0)))
    started = []

    def start(*extra, workers=2):
        m = Meshlet(meshlet_bin, tmp_path, workers=workers, extra=("-n", "shop", *extra)).start()
        m.gw, m.conf, m.v1, m.v2 = gw, conf, v1, v2
        started.append(m)
        return m

    yield start
    codes = [(m.stop(), m) for m in started]
    v1.stop()
    v2.stop()
    for code, m in codes:
        assert code == 0, m.logs()
