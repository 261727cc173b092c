#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Fleet benchmark (issue 15), run by bench/fleet.sh: one etcd, FLEET meshlet instances
following one prefix. Measures how long a put takes to be served by every instance (seen
at each instance's GET /ready, and in its own log), how long the fleet takes to serve a
change after etcd is killed and restarted, and one instance's first sync of 10,000
resources (time to /ready LIVE, RSS). Prints figures, asserts nothing. Every process it
starts is stopped by PID; its temporary directory is removed.

usage: fleet.py MESHLET   (environment: FLEET, PUTS, SPACING_MS, POLL_MS, DOWN_S,
                           SCALE, SCALE_RUNS, KEEP)
"""
import base64
import errno
import heapq
import http.client
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_config  # noqa: E402  (the scale phase's services)

MESHLET = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "./meshlet")
FLEET = int(os.environ.get("FLEET", 50))
PUTS = int(os.environ.get("PUTS", 20))
SPACING_MS = int(os.environ.get("SPACING_MS", 500))
POLL_MS = float(os.environ.get("POLL_MS", 5))  # pause between two /ready polls of one instance
DOWN_S = float(os.environ.get("DOWN_S", 1))  # how long etcd stays dead
DOWN_LONG_S = float(os.environ.get("DOWN_LONG_S", 10))  # then longer: meshlet's back-off caps
SCALE = int(os.environ.get("SCALE", 10000))  # resources in the scale phase
SCALE_RUNS = int(os.environ.get("SCALE_RUNS", 3))
DEBOUNCE = os.environ.get("DEBOUNCE", "")  # meshlet's --etcd-debounce, in ms (default 100)
PREFIX = "/meshlet"
SCALE_PREFIX = "/meshlet-scale"
DEBOUNCE_MS = int(DEBOUNCE or 100)  # meshlet's ETCD_SETTLE_MS by default, as istiod's


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def b64(text):
    return base64.b64encode(text.encode()).decode()


def pct(values, p):
    """The p-th percentile (nearest rank) of <values>."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))] if v else float("nan")


def median(values):
    return pct(values, 50)


def say(text):
    print(text, flush=True)


# --- The canary config (as tests/e2e/lib/configs.py canary_config). ---

def canary(gw_port, weights):
    return {
        "Gateway/shop/edge": f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {gw_port}, name: http, protocol: HTTP}}
    hosts: ["shop/*.example.com"]
""",
        "ServiceEntry/shop/orders": """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: orders, namespace: shop}
spec:
  hosts: [orders.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {number: 9080, name: http, protocol: HTTP}
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: 9081}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: 9082}, labels: {version: v2}}
""",
        "DestinationRule/shop/orders": """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: shop}
spec:
  host: orders
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
""",
        "VirtualService/shop/orders": virtual_service(weights),
    }


def virtual_service(weights):
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: orders, namespace: shop}}
spec:
  hosts: [api.example.com, orders]
  gateways: [edge, mesh]
  http:
  - name: split
    match:
    - uri: {{prefix: /orders}}
    route:
    - destination: {{host: orders, subset: v1}}
      weight: {weights[0]}
    - destination: {{host: orders, subset: v2}}
      weight: {weights[1]}
"""


# --- etcd: one member, started and killed by PID, spoken to through its JSON gateway. ---

class Etcd:
    def __init__(self, root):
        self.dir = os.path.join(root, "etcd")
        os.makedirs(self.dir)
        self.port, self.peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.conn = None

    def start(self, timeout=20):
        """Start it; the monotonic time its first answer came."""
        peer = f"http://127.0.0.1:{self.peer}"
        log = open(os.path.join(self.dir, "etcd.log"), "ab")
        self.proc = subprocess.Popen(
            ["etcd", "--name", "bench", "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"bench={peer}", "--max-txn-ops", "1024",
             "--logger", "zap", "--log-outputs", "stderr"],
            stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("etcd exited; see " + self.dir + "/etcd.log")
            try:
                self.conn = None
                self.call("/v3/kv/range", {"key": b64("health")})
                return time.monotonic()
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"etcd not up in {timeout}s")

    def call(self, path, body):
        """POST <body> on a kept-alive connection: the decoded answer."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                self.conn.request("POST", path, json.dumps(body),
                                  {"content-type": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                if r.status != 200:
                    raise RuntimeError(f"etcd {path}: HTTP {r.status}: {data[:200]!r}")
                return json.loads(data)
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def put(self, key, value):
        return int(self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})
                   ["header"]["revision"])

    def put_all(self, items, batch=500):
        """Put (key, value) pairs, <batch> to a transaction: the last revision."""
        rev = 0
        for i in range(0, len(items), batch):
            ops = [{"request_put": {"key": b64(k), "value": b64(v)}}
                   for k, v in items[i:i + batch]]
            rev = int(self.call("/v3/kv/txn", {"success": ops})["header"]["revision"])
        return rev

    def count(self, prefix):
        """How many keys are under <prefix> now."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return int(self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(end),
                                              "count_only": True}).get("count", 0))

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        if self.conn:
            self.conn.close()
            self.conn = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Watcher(threading.Thread):
    """A plain watch of <prefix> through the JSON gateway, as meshlet's: the monotonic time
    each revision's event arrived here (etcd's own share of the propagation)."""

    def __init__(self, port, prefix):
        super().__init__(daemon=True)
        self.seen = {}
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        body = json.dumps({"create_request": {"key": b64(prefix), "range_end": b64(end)}})
        self.sock.sendall(f"POST /v3/watch HTTP/1.1\r\nHost: etcd\r\nContent-Type: "
                          f"application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
                          .encode())

    def run(self):
        tail = b""
        pat = re.compile(rb'"mod_revision":"(\d+)"')
        while True:
            try:
                part = self.sock.recv(65536)
            except OSError:
                return
            if not part:
                return
            now = time.monotonic()
            buf = tail + part
            for m in pat.finditer(buf):
                self.seen.setdefault(int(m.group(1)), now)
            tail = buf[-40:]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# --- meshlet instances. ---

class Instance:
    def __init__(self, root, name, etcd_url, prefix, config_dir=None):
        """Following <prefix> at <etcd_url>, or with <config_dir> the files there."""
        self.name = name
        self.admin = free_port()
        self.mesh = free_port()
        self.log_path = os.path.join(root, f"{name}.log")
        source = (["-c", config_dir, "--no-watch"] if config_dir else
                  ["--etcd", etcd_url, "--etcd-prefix", prefix, "--instance", name,
                   *(["--etcd-debounce", f"{DEBOUNCE}ms"] if DEBOUNCE else [])])
        self.args = [MESHLET, "run", *source, "--workers", "1", "--namespace", "shop",
                     "--listen-address", "127.0.0.1", "--admin", f"127.0.0.1:{self.admin}",
                     "--mesh-listen", f"127.0.0.1:{self.mesh}", "--drain-time", "0"]
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log)
        log.close()
        return self

    def ready(self):
        """/ready's answer, or None."""
        try:
            with socket.create_connection(("127.0.0.1", self.admin), timeout=2) as s:
                s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
                got = b""
                while True:
                    part = s.recv(4096)
                    if not part:
                        break
                    got += part
            return got.split(b"\r\n\r\n", 1)[1].decode() if b"\r\n\r\n" in got else None
        except OSError:
            return None

    def rss_kb(self, field="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def reloads(self):
        """(wall time s, revision, reload ms) of each reload from etcd in its log."""
        out = []
        pat = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]\[\w+\] reload \(etcd "
                         r"revision (\d+)\): config version \d+ in force \(([\d.]+) ms\)")
        with open(self.log_path, errors="replace") as f:
            for line in f:
                m = pat.match(line)
                if m:
                    t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
                    out.append((t.replace(tzinfo=timezone.utc).timestamp(), int(m.group(2)),
                                float(m.group(3))))
        return out


# --- The /ready poller: one selectors loop, one connection per instance at a time. ---

READY_REV = re.compile(rb"etcd revision (\d+)")


def wait_revision(instances, rev, t0, timeout):
    """Poll every instance's /ready (a new connection each time, as the admin server closes
    it; POLL_MS between an instance's answer and its next poll) until each says revision >=
    <rev>: {index: ms from <t0> (monotonic) to the answer that said so}, and the number of
    polls. Instances still behind at <t0> + <timeout> are left out."""
    sel = selectors.DefaultSelector()
    done, polls, timers = {}, 0, []
    req = b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"

    def open_poll(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex(("127.0.0.1", instances[i].admin))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            heapq.heappush(timers, (time.monotonic() + POLL_MS / 1000, i))
            return
        sel.register(s, selectors.EVENT_WRITE, [i, b""])

    for i in range(len(instances)):
        open_poll(i)
    deadline = t0 + timeout
    while len(done) < len(instances):
        now = time.monotonic()
        if now > deadline:
            break
        while timers and timers[0][0] <= now:
            open_poll(heapq.heappop(timers)[1])
        wait = min(deadline - now, (timers[0][0] - now) if timers else 0.05)
        for key, mask in sel.select(max(wait, 0)):
            s, state = key.fileobj, key.data
            if mask & selectors.EVENT_WRITE:
                try:
                    s.send(req)
                    sel.modify(s, selectors.EVENT_READ, state)
                    continue
                except OSError:
                    part = None
            else:
                try:
                    part = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    part = None
                if part:
                    state[1] += part
                    continue
            # The answer is whole (or the poll failed): read it, then poll again or stop.
            sel.unregister(s)
            s.close()
            polls += 1
            i = state[0]
            m = READY_REV.search(state[1])
            if m and int(m.group(1)) >= rev:
                done[i] = (time.monotonic() - t0) * 1000
            else:
                heapq.heappush(timers, (time.monotonic() + POLL_MS / 1000, i))
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    sel.close()
    return done, polls


# --- Phases. ---

def start_fleet(root, store, gw_port):
    rev = store.put_all([(f"{PREFIX}/{k}", v) for k, v in canary(gw_port, (90, 10)).items()])
    t0 = time.monotonic()
    fleet = [Instance(root, f"fleet-{i:02d}", store.url, PREFIX).start() for i in range(FLEET)]
    done, _ = wait_revision(fleet, rev, t0, 60)
    say(f"fleet: {len(done)} of {FLEET} instances LIVE at revision >= {rev} "
        f"{max(done.values()) / 1000 if done else float('nan'):.2f} s after the first start; "
        f"RSS median {median([m.rss_kb() for m in fleet]) / 1024:.1f} MiB each")
    if len(done) < FLEET:
        raise RuntimeError("instances not LIVE: " +
                           ", ".join(fleet[i].name for i in range(FLEET) if i not in done))
    return fleet


def propagation(fleet, store):
    """PUTS weight changes SPACING_MS apart; per instance and put, the ms from the put's
    answer to /ready saying its revision, and to the reload line in its log."""
    key = f"{PREFIX}/VirtualService/shop/orders"
    polled, logged, put_ms, puts, missed, polls, waited = [], [], [], [], 0, 0, 0.0
    watcher = Watcher(store.port, PREFIX + "/")
    watcher.start()
    time.sleep(0.2)
    status_keys = []  # instances' status keys in the store, before each put and after it
    for n in range(PUTS):
        w = 10 + (n % 9) * 10  # 10/90 .. 90/10: every put changes the split
        status_keys.append(store.count(PREFIX + "/.status/"))
        begin = time.monotonic()
        rev = store.put(key, virtual_service((100 - w, w)))
        t0, wall0 = time.monotonic(), time.time()
        put_ms.append((t0 - begin) * 1000)
        done, k = wait_revision(fleet, rev, t0, 5)
        waited += time.monotonic() - t0
        polls += k
        missed += FLEET - len(done)
        polled.extend(done.values())
        puts.append((rev, wall0, t0))
        status_keys.append(store.count(PREFIX + "/.status/"))
        left = SPACING_MS / 1000 - (time.monotonic() - begin)
        if left > 0:
            time.sleep(left)
    watcher.close()
    events = len(watcher.seen)  # revisions the prefix's watchers were sent: puts + status keys
    watched = [(watcher.seen[rev] - t0) * 1000 for rev, _, t0 in puts if rev in watcher.seen]
    reload_ms, lost = [], 0
    for m in fleet:
        with open(m.log_path, errors="replace") as f:
            lost += f.read().count("requested lease not found")
        lines = m.reloads()
        reload_ms.extend(ms for _, _, ms in lines)
        for rev, wall0, _ in puts:
            first = next((t for t, r, _ in lines if r >= rev and t >= wall0 - 1), None)
            if first is not None:
                logged.append(max(first - wall0, 0) * 1000)
    return {"polled": polled, "logged": logged, "put_ms": put_ms, "missed": missed,
            "polls": polls, "poll_s": waited, "reload_ms": reload_ms,
            "watched": watched, "status_keys": status_keys, "lost": lost,
            "events": events}


def restart(fleet, store, down_s, weights):
    """SIGKILL etcd, <down_s> later start it on the same data and port, put <weights>: the
    time from etcd answering again to every instance serving them."""
    t_kill = time.monotonic()
    store.kill()
    time.sleep(down_s)
    t_up = store.start()
    rev = store.put(f"{PREFIX}/VirtualService/shop/orders", virtual_service(weights))
    t_put = time.monotonic()
    done, _ = wait_revision(fleet, rev, t_up, 30)
    back = list(done.values())
    return {"down_for": down_s, "down_s": t_up - t_kill, "put_after_up_ms": (t_put - t_up) * 1000,
            "all_s": max(back) / 1000 if len(back) == FLEET else float("nan"),
            "median_s": median(back) / 1000, "missed": FLEET - len(done), "rev": rev}


def status_line(store):
    out = subprocess.run([MESHLET, "status", "--etcd", store.url, "--etcd-prefix", PREFIX],
                         capture_output=True, text=True, timeout=30)
    lines = [ln for ln in out.stdout.splitlines() if "instance(s)" in ln]
    return lines[0].strip() if lines else f"(exit {out.returncode}) {out.stderr.strip()[:200]}"


def scale(root, store):
    """SCALE resources under another prefix; SCALE_RUNS fresh instances in turn, each
    timed from its start to /ready LIVE, with its RSS then and its peak."""
    services = (SCALE - 1) // 3
    gw = gen_config.GATEWAY.replace("number: 8080", f"number: {free_port()}")
    items = [(f"{SCALE_PREFIX}/Gateway/bench/edge", gw)]
    for i in range(services):
        docs = gen_config.istio(i).split("---\n")
        for kind, doc in zip(("ServiceEntry", "DestinationRule", "VirtualService"), docs):
            items.append((f"{SCALE_PREFIX}/{kind}/bench/svc{i}", doc))
    t = time.monotonic()
    rev = store.put_all(items)
    put_s = time.monotonic() - t
    size = sum(len(v) for _, v in items)
    files = os.path.join(root, "scale-files")
    os.makedirs(files)
    for n, (_, doc) in enumerate(items):
        with open(os.path.join(files, f"r{n:05d}.yaml"), "w") as f:
            f.write(doc)
    runs, file_runs = [], []
    for r in range(SCALE_RUNS):  # interleaved: the store, then the same in files
        runs.append(first_sync(Instance(root, f"scale-{r}", store.url, SCALE_PREFIX)))
        file_runs.append(first_sync(Instance(root, f"files-{r}", None, None, files)))
    return {"n": len(items), "mb": size / 1048576, "rev": rev, "put_s": put_s, "runs": runs,
            "file_runs": file_runs}


def first_sync(m):
    """Start <m>: the seconds to /ready LIVE, its RSS then and its peak, its own times."""
    t0 = time.monotonic()
    m.start()
    live, rss, hwm = None, 0, 0
    try:
        while time.monotonic() - t0 < 60 and m.proc.poll() is None:
            answer = m.ready()
            if answer and answer.startswith("LIVE"):
                live = time.monotonic() - t0
                break
            time.sleep(0.005)
        if m.proc.poll() is None:
            rss, hwm = m.rss_kb(), m.rss_kb("VmHWM")
    finally:
        m.stop()
    with open(m.log_path, errors="replace") as f:
        log = f.read()
    loaded = re.search(r"config loaded and checked in ([\d.]+) ms; snapshot built in "
                       r"([\d.]+) ms", log)
    synced = re.search(r"(\d+) resource\(s\) under", log)
    return {"live": live, "rss": rss / 1024, "hwm": hwm / 1024,
            "load_ms": float(loaded.group(1)) if loaded else float("nan"),
            "build_ms": float(loaded.group(2)) if loaded else float("nan"),
            "synced": int(synced.group(1)) if synced else 0}


def main():
    root = tempfile.mkdtemp(prefix="meshlet-fleet-")
    store, fleet = Etcd(root), []
    t_begin = time.monotonic()
    try:
        store.start()
        fleet = start_fleet(root, store, free_port())
        time.sleep(1)  # the status keys settle
        say(f"meshlet status: {status_line(store)}")
        prop = propagation(fleet, store)
        restarts = []
        for down, weights in ((DOWN_S, (50, 50)), (DOWN_LONG_S, (0, 100))):
            restarts.append(restart(fleet, store, down, weights))
            time.sleep(1)
            say(f"meshlet status after etcd was down {down:g} s: {status_line(store)}")
        for m in fleet:
            m.stop()
        fleet = []
        sc = scale(root, store)
        report(prop, restarts, sc, time.monotonic() - t_begin)
    finally:
        for m in fleet:
            m.stop()
        store.stop()
        if os.environ.get("KEEP"):
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def report(prop, restarts, sc, total_s):
    p, lg = prop["polled"], prop["logged"]
    say("")
    say(f"propagation: {PUTS} puts {SPACING_MS} ms apart x {FLEET} instances = "
        f"{PUTS * FLEET} instance-puts; {prop['missed']} not served within 5 s")
    say(f"  put answered by etcd in {median(prop['put_ms']):.1f} ms (median); "
        f"/ready polled every {POLL_MS:g} ms per instance + its round trip "
        f"({prop['polls']} polls, {prop['polls'] / max(prop['poll_s'], 1e-9):.0f}/s while "
        f"waiting)")
    sk = prop["status_keys"]
    say(f"  status keys in the store (of {FLEET}), sampled before and after each put: min "
        f"{min(sk)}, {sum(k < FLEET for k in sk)} of {len(sk)} samples short; "
        f"'lease not found' in the logs: {prop['lost']}")
    say(f"  every watcher of the prefix (each instance) was sent {prop['events']} events for "
        f"{PUTS} puts: the rest are the instances' status keys, under the same prefix")
    say(f"  meshlet's reload from etcd: median {median(prop['reload_ms']):.1f} ms, "
        f"max {max(prop['reload_ms'] or [float('nan')]):.1f} ms (its log)")
    say("")
    say(f"{'measure':<52} {'p50':>8} {'p99':>8} {'max':>8}   goal")
    row = "{:<52} {:>8.1f} {:>8.1f} {:>8.1f}   {}"
    say(row.format("put -> /ready at revision (ms)", pct(p, 50), pct(p, 99), max(p or [0]),
                   "p50 <= 50, p99 <= 250"))
    say(row.format(f"  the same minus the {DEBOUNCE_MS} ms debounce", pct(p, 50) - DEBOUNCE_MS,
                   pct(p, 99) - DEBOUNCE_MS, max(p or [0]) - DEBOUNCE_MS, ""))
    w = prop["watched"]
    say(row.format("put -> a plain watch of the prefix gets it (ms)", pct(w, 50), pct(w, 99),
                   max(w or [0]), "etcd's share"))
    say(row.format("put -> reload line in meshlet's log (ms)", pct(lg, 50), pct(lg, 99),
                   max(lg or [0]), f"({len(lg)} lines)"))
    say(row.format(f"  the same minus the {DEBOUNCE_MS} ms debounce", pct(lg, 50) - DEBOUNCE_MS,
                   pct(lg, 99) - DEBOUNCE_MS, max(lg or [0]) - DEBOUNCE_MS, ""))
    for rs in restarts:
        say(f"{'etcd SIGKILL, down ' + format(rs['down_for'], 'g') + ' s -> answering (s)':<52} "
            f"{rs['down_s']:>8.2f}")
        say(f"{'  etcd up -> all ' + str(FLEET) + ' serve the next put (s)':<52} "
            f"{rs['all_s']:>8.2f}{'':>18}   <= 5")
        label = "    median instance (s); the put answered (ms after up)"
        say(f"{label:<52} {rs['median_s']:>8.2f} {rs['put_after_up_ms']:>8.1f}   "
            f"({rs['missed']} missed)")
    say(f"scale: {sc['n']} resources ({sc['mb']:.1f} MB of YAML) put in {sc['put_s']:.1f} s; "
        f"{len(sc['runs'])} fresh instances from etcd, interleaved with as many reading the "
        f"same resources from {sc['n']} files; medians:")
    say(f"{'':<52} {'etcd':>8} {'files':>8}{'':>9}   goal")
    runs, files = sc["runs"], sc["file_runs"]
    rows = (("  start -> /ready LIVE (s)", "live", ".2f", "<= 2 (etcd)"),
            ("  RSS when LIVE (MiB)", "rss", ".1f", "<= 64 (etcd)"),
            ("  peak RSS (MiB)", "hwm", ".1f", ""),
            ("  load+check (ms, its log)", "load_ms", ".1f", ""),
            ("  build + free the parse (ms, its log)", "build_ms", ".1f", ""))
    for label, field, fmt, goal in rows:
        e = [r[field] for r in runs if r[field] is not None]
        f = [r[field] for r in files if r[field] is not None]
        say(f"{label:<52} {median(e) if e else float('nan'):>8{fmt}} "
            f"{median(f) if f else float('nan'):>8{fmt}}{'':>9}   {goal}")
    say(f"  etcd runs, start -> LIVE (s): "
        f"{', '.join(format(r['live'] or float('nan'), '.2f') for r in runs)}; "
        f"resources read: {runs[0]['synced']}")
    say(f"total {total_s:.0f} s")


if __name__ == "__main__":
    main()
