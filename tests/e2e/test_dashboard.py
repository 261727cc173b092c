# SPDX-License-Identifier: Apache-2.0
"""The live dashboard (issue 16): GET /dashboard in a real headless Chromium while wrk loads
a 70/30 canary whose v2 answers 500 and gets ejected, with a rollout status POSTed as
`meshlet rollout` does. The page must show what the proxy served: the configured and
observed split of /splits, request rates in the weights' ratio, v2's 5xx rate at 100% and
v1's at 0, p50 <= p99, v2's ejected endpoint, the rollout's step and its failing check in
red. A screenshot is saved in the test's directory. Also POST /rollout's limits over a
real socket."""
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from backend import Backend
from browser import Browser, chromium_path
from configs import gateway, service_entry
from meshlet_proc import Meshlet, eventually, free_port

ROLLOUT = {
    "name": "web-canary", "virtualService": "shop/orders", "route": "split",
    "phase": "observing", "step": 3, "steps": [5, 10, 30, 50, 100], "weight": 30,
    "stable": {"host": "orders.shop.svc.cluster.local", "subset": "v1"},
    "canary": {"host": "orders.shop.svc.cluster.local", "subset": "v2"},
    "elapsed_s": 12.3, "min_time_s": 30, "canary_requests": 120, "min_requests": 100,
    "stats": {"stable": {"requests": 900, "success_rate": 99.9, "p99_ms": 12.1},
              "canary": {"requests": 120, "success_rate": 0.0, "p99_ms": 14.0}},
    "checks": [{"name": "latency", "ok": True, "detail": "canary p99 14.0 ms <= 500 ms"},
               {"name": "success rate", "ok": False, "detail": "canary 0.0% < 99.0%"}],
    "message": "step 3/5: 30% canary",
}


def config(gw, v1, v2):
    return "---\n".join([
        gateway(gw),
        service_entry("orders", "shop", [(v1, {"version": "v1"}), (v2, {"version": "v2"})]),
        """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: shop}
spec:
  host: orders
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 300s,
                       maxEjectionPercent: 100}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
""",
        """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders, namespace: shop}
spec:
  hosts: [api.example.com]
  gateways: [edge]
  http:
  - name: split
    route:
    - destination: {host: orders, subset: v1}
      weight: 70
    - destination: {host: orders, subset: v2}
      weight: 30
"""])


def post(port, path, body, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST",
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def admin_json(m, path):
    return json.loads(m.admin(path))


# What the page shows, read from its DOM: per destination row the texts of its cells, and
# the rollout box's step, pills and checks with their computed colour.
READ_PAGE = r"""(() => {
  const rows = {};
  if (!document.body || !document.querySelector("#rollout")) return {polls: 0, rows};
  for (const tr of document.querySelectorAll("section.route tr[data-dest]")) {
    const cell = (c) => tr.querySelector("td." + c).textContent;
    rows[tr.dataset.dest] = {role: tr.dataset.role, configured: cell("configured"),
      observed: cell("observed"), rps: cell("rps"), err: cell("err"), p50: cell("p50"),
      p99: cell("p99"), endpoints: cell("endpoints")};
  }
  const box = document.querySelector("#rollout");
  const checks = [...document.querySelectorAll("#rollout li.check")].map(li => ({
    text: li.textContent, fail: li.classList.contains("fail"),
    color: getComputedStyle(li).color, border: getComputedStyle(li).borderLeftColor}));
  return {polls: Number(document.body.dataset.polls || 0), rows,
          conn: document.querySelector("#conn").textContent,
          rollout_hidden: box.hidden, rollout_text: box.textContent,
          step: (box.querySelector(".stepinfo b") || {}).textContent,
          current: (box.querySelector(".steps .current") || {}).textContent, checks};
})()"""


def number(text):
    m = re.match(r"^([\d.]+)", text)
    assert m, f"not a number: {text!r}"
    return float(m.group(1))


def under_load(state):
    """The page has polled a few times under load since v2's endpoint was ejected: rates and
    error shares in both rows, v1's quantiles (v2's requests now get no endpoint: 503 UH,
    timed as destination_version "unknown")."""
    rows = state["rows"]
    return (state["polls"] >= 4 and "v1" in rows and "v2" in rows
            and "ejected" in rows["v2"]["endpoints"]
            and all(re.match(r"^[\d.]+", rows[v][k]) for v in ("v1", "v2") for k in ("rps", "err"))
            and all(re.match(r"^[\d.]+", rows["v1"][k]) for k in ("p50", "p99"))
            and number(rows["v1"]["rps"]) > 0 and number(rows["v2"]["rps"]) > 0)


@pytest.fixture
def chromium():
    if chromium_path() is None:
        pytest.skip("chromium is not installed: run scripts/deps.sh --test")


def test_dashboard_shows_what_the_proxy_served(meshlet_bin, tmp_path, chromium):
    v1, v2 = Backend("v1").start(), Backend("v2", fail_status=500).start()
    gw = free_port()
    (tmp_path / "config.yaml").write_text(config(gw, v1.port, v2.port))
    m = Meshlet(meshlet_bin, tmp_path, workers=2, extra=("-n", "shop")).start()
    browser = load = None
    posting = threading.Event()
    shot = tmp_path / "dashboard.png"
    try:
        # the rollout process posts about once a second; so does this thread
        def poster():
            while not posting.wait(1):
                post(m.admin_port, "/rollout", json.dumps(ROLLOUT).encode())
        assert post(m.admin_port, "/rollout", json.dumps(ROLLOUT).encode())[0] == 200
        threading.Thread(target=poster, daemon=True).start()

        # at most 30 s of load: it is stopped once the page has shown what it must
        load = subprocess.Popen(["wrk", "-t1", "-c4", "-d30s", "-H", "Host: api.example.com",
                                 f"http://127.0.0.1:{gw}/orders"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        browser = Browser(tmp_path / "chromium.log")
        browser.goto(f"http://127.0.0.1:{m.admin_port}/dashboard")
        # rates need two polls a few seconds apart, both under load
        state = browser.wait_for(READ_PAGE, 25, under_load)
        browser.screenshot(shot)
        print(f"dashboard screenshot: {shot}")
        assert state, f"the page never showed rates under load: {browser.evaluate(READ_PAGE)}"
        v1row, v2row = state["rows"]["v1"], state["rows"]["v2"]
        assert (v1row["role"], v2row["role"]) == ("stable", "canary")
        assert (v1row["configured"], v2row["configured"]) == ("70.0%", "30.0%")
        # smooth weighted round robin: the window's rates keep the weights' ratio
        ratio = number(v1row["rps"]) / number(v2row["rps"])
        assert 1.8 <= ratio <= 3.0, state
        # v2 answers only 500 (then 503 once ejected), v1 never fails
        assert v2row["err"] == "100.00%", state
        assert v1row["err"] == "0.00%", state
        p50, p99 = number(v1row["p50"]), number(v1row["p99"])
        assert 0 < p50 <= p99 <= 1000, state
        ejected = [e for c in admin_json(m, "/clusters?format=json")["clusters"]
                   if c["subset"] == "v2" for e in c["endpoints"] if e["ejected"]]
        assert ejected and f"127.0.0.1:{v2.port}" in v2row["endpoints"], state
        assert "ejected" not in v1row["endpoints"], state
        # the rollout: step 3 of 5 at 30%, the failing check in red, the passing one not
        assert not state["rollout_hidden"], state
        assert state["step"] == "step 3/5" and state["current"] == "30%", state
        assert "web-canary" in state["rollout_text"] and "step 3/5: 30% canary" in state[
            "rollout_text"], state
        fail = [c for c in state["checks"] if c["fail"]]
        ok = [c for c in state["checks"] if not c["fail"]]
        assert len(fail) == 1 and "success rate" in fail[0]["text"], state
        assert "canary 0.0% < 99.0%" in fail[0]["text"]
        assert fail[0]["color"] == "rgb(220, 38, 38)", state  # --fail
        assert len(ok) == 1 and ok[0]["color"] != fail[0]["color"], state

        # the page's quantiles are Prometheus's histogram_quantile over per-bucket counts
        for q, counts, want in ((0.5, [0, 10, 0, 0], 1.5), (0.5, [4, 0, 0, 0], 0.5),
                                (0.99, [5, 0, 0, 5], 4), (0.5, [5, 0, 5, 0], 1),
                                (0.75, [0, 2, 2, 0], 3), (0.5, [0, 0, 0, 0], None)):
            assert browser.evaluate(f"quantile({q}, [1, 2, 4], {counts})") == want, (q, counts)

        # once the load ends and the page polled again, its observed split is /splits'
        load.terminate()
        load.wait(timeout=10)
        polls = state["polls"]
        assert browser.wait_for(READ_PAGE, 10, lambda s: s["polls"] >= polls + 2)
        page = browser.evaluate(READ_PAGE)["rows"]
        splits = admin_json(m, "/splits?format=json")["routes"]
        assert len(splits) == 1, splits
        served = {d["subset"]: d for d in splits[0]["destinations"]}
        assert served["v1"]["requests"] > 100 and served["v2"]["requests"] > 30, splits
        for subset in ("v1", "v2"):
            assert abs(number(page[subset]["observed"]) - served[subset]["observed_percent"]) \
                <= 0.051, (page, splits)
            assert abs(served[subset]["observed_percent"] - (70 if subset == "v1" else 30)) \
                <= 1.0, splits

        # the rollout process goes quiet: its last status is shown as stale after 10 s
        assert not browser.evaluate("!!document.querySelector('#rollout .stale')")
        posting.set()
        stale = browser.wait_for("(document.querySelector('#rollout .stale') || {}).textContent",
                                 20)
        assert stale and stale.startswith("stale: last status"), stale
        assert admin_json(m, "/rollout")["age_s"] > 10
        # as meshlet rollout posts it mid-step: no message yet, a check still waiting for
        # data (known: false) shown as pending, not passed, and no stray "null"
        quiet = dict(ROLLOUT, message="", checks=[
            {"name": "p99", "ok": True, "known": False,
             "detail": "p99 needs 100 canary requests (42 so far)"}])
        post(m.admin_port, "/rollout", json.dumps(quiet).encode())
        assert browser.wait_for("!!document.querySelector('#rollout .check.pending')", 10)
        text = browser.evaluate("document.querySelector('#rollout').textContent")
        assert "null" not in text and "42 so far" in text, text
    finally:
        posting.set()
        if load and load.poll() is None:
            load.kill()
            load.wait()
        if browser:
            browser.close()
        code = m.stop()
        v1.stop()
        v2.stop()
    assert code == 0, m.logs()


def raw_post(port, head, body_parts, pause=0.1):
    """Send a POST head and its body in <body_parts> with pauses; the answer's status."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head)
        for part in body_parts:
            time.sleep(pause)
            s.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        return int(answer.split(b" ", 2)[1]) if answer else None


def test_rollout_status_limits(meshlet_bin, tmp_path):
    (tmp_path / "config.yaml").write_text(gateway(free_port()))
    m = Meshlet(meshlet_bin, tmp_path, extra=("-n", "shop")).start()
    try:
        assert admin_json(m, "/rollout") == {"active": False}
        status = {"phase": "observing", "step": 2, "pad": "x" * 60000}
        body = json.dumps(status).encode()
        # a body in three pieces is waited for and kept whole
        head = (b"POST /rollout HTTP/1.1\r\nHost: a\r\ncontent-length: %d\r\n\r\n" % len(body))
        assert raw_post(m.admin_port, head, [body[:10], body[10:30000], body[30000:]]) == 200
        got = admin_json(m, "/rollout")
        assert 0 <= got.pop("age_s") < 60 and got == status
        # a client that expects 100-continue is told to go on before it sends the body
        with socket.create_connection(("127.0.0.1", m.admin_port), timeout=5) as s:
            s.sendall(head.replace(b"\r\n\r\n", b"\r\nexpect: 100-continue\r\n\r\n"))
            assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
            s.sendall(body)
            assert s.recv(100).startswith(b"HTTP/1.1 200 OK\r\n")
        # refused: too large (413), not one object (400), chunked (411); the status stays
        big = b'{"pad":"' + b"y" * (64 * 1024) + b'"}'
        assert post(m.admin_port, "/rollout", big)[0] == 413
        assert post(m.admin_port, "/rollout", b'[{"step":3}]')[0] == 400
        assert post(m.admin_port, "/rollout", b'{"step":3} trailing')[0] == 400
        chunked = (b"POST /rollout HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n")
        assert raw_post(m.admin_port, chunked, [b"2\r\n{}\r\n0\r\n\r\n"]) == 411
        got = admin_json(m, "/rollout")
        assert got["step"] == 2 and len(got["pad"]) == 60000
        # a client that sends half a body and goes away costs nothing: others are served
        fds = len(os.listdir(f"/proc/{m.proc.pid}/fd"))
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", m.admin_port), timeout=5)
            s.sendall(head + body[:100])
            s.close()
        assert post(m.admin_port, "/rollout", b'{"step":4}') == (200, '{"ok":true}\n')
        assert admin_json(m, "/rollout")["step"] == 4
        assert eventually(lambda: len(os.listdir(f"/proc/{m.proc.pid}/fd")) <= fds)
        # GET /dashboard is one self-contained page
        with urllib.request.urlopen(f"http://127.0.0.1:{m.admin_port}/dashboard",
                                    timeout=5) as r:
            assert r.headers["content-type"].startswith("text/html")
            page = r.read().decode()
        assert page.rstrip().endswith("</html>")
        assert not re.search(r"<script[^>]+src=|<link[^>]+href=|@import|url\(", page)
        assert "/splits?format=json" in page and "/rollout" in page and "/traffic" in page
    finally:
        code = m.stop()
    assert code == 0, m.logs()
