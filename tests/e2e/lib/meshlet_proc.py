# SPDX-License-Identifier: Apache-2.0
"""Starting and stopping `meshlet run` in tests, waiting on its admin endpoint."""
import contextlib
import socket
import subprocess
import tempfile
import time
import urllib.request


_handed_out = set()


def free_port():
    """A port nothing listens on now, never one this test run handed out before: the
    kernel may offer a just-released port again, and a test's gateway and admin ports
    must differ (two such picks once made the gateway port the admin port)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def stop_process(proc):
    """SIGTERM to <proc> (one this test started), SIGKILL after 10 s: its exit code (None if
    it never started)."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode if proc else None


def wait_ready(proc, url, timeout, what, logs, where):
    """Until <url> answers 200 (within <timeout> s); RuntimeError naming <what> when <proc>
    exits first (with <logs>()) or the time runs out (saying <where> its log is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}: {logs()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready in {timeout}s; {where}")


class Meshlet:
    """`meshlet run` over <config_dir>; stopped (by PID, SIGTERM) in stop()."""

    def __init__(self, binary, config_dir, workers=1, extra=()):
        self.admin_port = free_port()
        self.mesh_port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="meshlet-run-", suffix=".log", delete=False)
        source = ["-c", str(config_dir)] if config_dir else []  # None: --etcd in <extra>
        self.args = [binary, "run", *source, "--workers", str(workers),
                     "--admin", f"127.0.0.1:{self.admin_port}", "--listen-address", "127.0.0.1",
                     "--mesh-listen", f"127.0.0.1:{self.mesh_port}", *extra]
        self.proc = None

    def start(self, timeout=10):
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        wait_ready(self.proc, f"http://127.0.0.1:{self.admin_port}/ready", timeout, "meshlet",
                   self.logs, f"log at {self.log.name}")
        return self

    def admin(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5) as r:
            return r.read().decode()

    def logs(self):
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        return stop_process(self.proc)


def eventually(pred, seconds=5):
    """Poll <pred> until it holds or <seconds> pass; its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


@contextlib.contextmanager
def serving(binary, directory, config_text, backends, namespace="shop", workers=1, extra=()):
    """`meshlet run` on <config_text> written into <directory> (<extra> arguments added); on
    exit it is stopped, then <backends>, and it must have exited cleanly."""
    (directory / "config.yaml").write_text(config_text)
    m = Meshlet(binary, directory, workers=workers,
                extra=("--namespace", namespace, *extra)).start()
    try:
        yield m
    finally:
        code = m.stop()
        for b in backends:
            b.stop()
        assert code == 0, m.logs()
