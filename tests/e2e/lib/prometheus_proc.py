# SPDX-License-Identifier: Apache-2.0
"""A real Prometheus for tests: its own config and storage in a temporary directory, one
loopback port, scraping meshlet admin ports; stopped by PID. No service is installed."""
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from meshlet_proc import free_port, stop_process, wait_ready

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")


def binary():
    """build/tools/prometheus (scripts/deps.sh), else one on PATH; None without either."""
    local = os.path.join(ROOT, "build", "tools", "prometheus")
    return local if os.access(local, os.X_OK) else shutil.which("prometheus")


class Prometheus:
    """Prometheus scraping <targets> (host:port of meshlet admin listeners) every second
    at /stats/prometheus, as the README's scrape config does."""

    def __init__(self, path, directory, targets):
        self.path, self.dir = path, directory
        self.port = free_port()
        self.config = directory / "prometheus.yml"
        self.config.write_text(f"""\
global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}
scrape_configs:
- job_name: meshlet
  metrics_path: /stats/prometheus
  static_configs:
  - targets: {json.dumps(list(targets))}
""")
        self.log = open(directory / "prometheus.log", "wb")
        self.proc = None

    def start(self, timeout=20):
        self.proc = subprocess.Popen(
            [self.path, f"--config.file={self.config}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             f"--storage.tsdb.path={self.dir / 'tsdb'}"],
            stdout=self.log, stderr=self.log)
        wait_ready(self.proc, f"http://127.0.0.1:{self.port}/-/ready", timeout, "prometheus",
                   self.logs, f"log at {self.dir / 'prometheus.log'}")
        return self

    def logs(self):
        return (self.dir / "prometheus.log").read_text(errors="replace")

    def api(self, endpoint, **params):
        """The data of /api/v1/<endpoint> (POSTed: panel queries are long)."""
        body = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/v1/{endpoint}",
                                     data=body)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                reply = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{endpoint} {params}: {e.read().decode()}") from None
        assert reply["status"] == "success", reply
        return reply["data"]

    def query(self, expr, at=None):
        """The instant vector (or scalar) of <expr>, as [(labels, value)]."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def query_range(self, expr, start, end, step=1):
        """[(labels, [values])] of <expr> over [start, end], as a Grafana panel asks."""
        data = self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}",
                        step=str(step))
        return [(s["metric"], [float(v) for _, v in s["values"]]) for s in data["result"]]

    def stop(self):
        code = stop_process(self.proc)
        self.log.close()
        return code
