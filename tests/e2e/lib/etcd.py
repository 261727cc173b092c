# SPDX-License-Identifier: Apache-2.0
"""A real etcd (Debian etcd-server) for tests: one member on free loopback ports with a
temporary data directory, started and stopped by PID, talked to through its v3 JSON gateway
(keys and values base64, as meshlet's own client does)."""
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request

from meshlet_proc import free_port


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


class Etcd:
    """With <tls> = (ca, cert, key, client_cert, client_key) it serves https and requires a
    client certificate from that CA (etcd's --client-cert-auth); the test's own calls present
    the client pair."""

    def __init__(self, name="e0", tls=None):
        self.name = name
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="meshlet-etcd-")
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.client_port}"
        self.proc = self.log = None

    def start(self, timeout=20):
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.log = open(os.path.join(self.dir, "etcd.log"), "ab")
        self.proc = subprocess.Popen(
            ["etcd", "--name", self.name, "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"{self.name}={peer}", "--logger", "zap",
             "--log-outputs", "stderr", *self._tls_flags()],
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.logs()
            try:
                self.call("/v3/kv/range", {"key": b64("health")})
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"etcd not up in {timeout}s: {self.logs()}")

    def _tls_flags(self):
        if not self.tls:
            return []
        ca, cert, key = (str(x) for x in self.tls[:3])
        return ["--cert-file", cert, "--key-file", key, "--trusted-ca-file", ca,
                "--client-cert-auth"]

    def logs(self):
        with open(os.path.join(self.dir, "etcd.log"), errors="replace") as f:
            return f.read()[-4000:]

    def call(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=str(self.tls[0]))
            ctx.load_cert_chain(str(self.tls[3]), str(self.tls[4]))
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return json.loads(r.read())

    def put(self, key, value):
        """Put <value> at <key>: the store's revision after it."""
        return int(self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})
                   ["header"]["revision"])

    def delete(self, key):
        return int(self.call("/v3/kv/deleterange", {"key": b64(key)})["header"]["revision"])

    def put_all(self, items):
        """Put every (key, value) in one transaction: its revision."""
        ops = [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in items]
        return int(self.call("/v3/kv/txn", {"success": ops})["header"]["revision"])

    def revision(self):
        return int(self.call("/v3/kv/range", {"key": b64("\0")})["header"]["revision"])

    def compact(self, revision):
        self.call("/v3/kv/compaction", {"revision": str(revision), "physical": True})

    def kill(self):
        """SIGKILL, the data directory kept: start() brings the same store back."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self.log:
            self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log and not self.log.closed:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class EtcdCluster:
    """<n> members on loopback ports, one cluster; members[i] are Etcd objects (started
    together, since a member waits for its peers)."""

    def __init__(self, n=3):
        self.members = [Etcd(f"m{i}") for i in range(n)]
        self.urls = ",".join(m.url for m in self.members)

    def start(self, timeout=30):
        initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        for m in self.members:
            peer = f"http://127.0.0.1:{m.peer_port}"
            m.log = open(os.path.join(m.dir, "etcd.log"), "ab")
            m.proc = subprocess.Popen(
                ["etcd", "--name", m.name, "--data-dir", os.path.join(m.dir, "data"),
                 "--listen-client-urls", m.url, "--advertise-client-urls", m.url,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", initial, "--initial-cluster-state", "new",
                 "--initial-cluster-token", "meshlet-test", "--logger", "zap",
                 "--log-outputs", "stderr"],
                stdout=m.log, stderr=m.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.leader() is not None:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("no etcd leader: " + self.members[0].logs())

    def leader(self):
        """The member that leads now (None: no leader yet)."""
        for m in self.members:
            if m.proc.poll() is not None:
                continue
            try:
                s = m.call("/v3/maintenance/status", {})
            except OSError:
                continue
            if s.get("leader") and s["leader"] == s["header"]["member_id"]:
                return m
        return None

    def alive(self):
        return next(m for m in self.members if m.proc.poll() is None)

    def stop(self):
        for m in self.members:
            m.stop()
