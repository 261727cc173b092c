# SPDX-License-Identifier: Apache-2.0
"""etcd as meshlet's source of truth (issue 15): `meshlet run --etcd URL --etcd-prefix P`
reads every key PREFIX/<Kind>/<namespace>/<name> at one revision, serves it, then follows a
watch of the prefix: a put is served within the debounce, a burst of puts is one or two
reloads, a refused state (named by key and revision, with line and column) keeps the last
good one serving, and etcd killed and restarted costs nothing: the watch resumes and the
next change is applied. A real etcd (Debian etcd-server) on loopback ports, per test."""
import re
import subprocess
import time
import urllib.request

import pytest

from backend import Backend
from configs import canary_config
from etcd import Etcd
from meshlet_proc import Meshlet, eventually, free_port

PREFIX = "/meshlet"


def resources(text):
    """(key, document) for each document of a multi-document config."""
    out = []
    for doc in text.split("---\n"):
        if not doc.strip():
            continue
        kind = re.search(r"^kind: (\w+)", doc, re.M).group(1)
        name = re.search(r"name: ([\w.-]+)", doc).group(1)
        ns = re.search(r"namespace: ([\w.-]+)", doc).group(1)
        out.append((f"{PREFIX}/{kind}/{ns}/{name}", doc))
    return out


def get(port, path, host="api.example.com"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def stats(m):
    out = {}
    for line in m.admin("/stats").splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


@pytest.fixture
def fleet(meshlet_bin, tmp_path):
    """etcd holding the canary config, two backends, and one meshlet following it."""
    store = Etcd().start()
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    docs = resources(canary_config(gw, v1.port, v2.port))
    rev = store.put_all(docs)
    m = Meshlet(meshlet_bin, None, extra=("--etcd", store.url, "--etcd-prefix", PREFIX,
                                          "--namespace", "shop"))
    m.store, m.gw, m.docs, m.config_rev = store, gw, dict(docs), rev
    try:
        m.start(timeout=20)
        yield m
    finally:
        code = m.stop()
        v1.stop()
        v2.stop()
        store.stop()
        assert code == 0, m.logs()


def put_teapot(m, body):
    key = f"{PREFIX}/VirtualService/shop/orders"
    text = m.docs[key].replace('body: {string: "short and stout"}', f'body: {{string: "{body}"}}')
    return m.store.put(key, text)


def test_first_sync_serves_the_store_and_says_its_revision(fleet):
    rev = fleet.config_rev  # the store's own revision moves on: instances' status keys
    assert get(fleet.gw, "/teapot") == (418, "short and stout")
    assert fleet.admin("/ready") == f"LIVE\netcd revision {rev}\n"
    assert f'"etcd_revision":{rev}' in fleet.admin("/config_dump")


def test_a_put_is_served_within_the_debounce(fleet):
    before = int(stats(fleet)["server.reload_success"])
    rev = put_teapot(fleet, "from etcd")
    assert eventually(lambda: get(fleet.gw, "/teapot") == (418, "from etcd"), 5)
    assert fleet.admin("/ready") == f"LIVE\netcd revision {rev}\n"
    assert int(stats(fleet)["server.reload_success"]) == before + 1


def test_a_burst_of_100_puts_is_at_most_two_reloads(fleet):
    before = int(stats(fleet)["server.reload_success"])
    for i in range(100):
        rev = put_teapot(fleet, f"put {i}")
    assert eventually(lambda: get(fleet.gw, "/teapot") == (418, "put 99"), 5)
    time.sleep(0.3)  # a late reload would show now
    reloads = int(stats(fleet)["server.reload_success"]) - before
    assert 1 <= reloads <= 2, reloads
    assert fleet.admin("/ready") == f"LIVE\netcd revision {rev}\n"


def test_an_invalid_put_is_refused_and_the_last_good_config_serves(fleet):
    key = f"{PREFIX}/VirtualService/shop/orders"
    bad = fleet.docs[key].replace("weight: 90", "weight: ninety")
    good_rev = fleet.config_rev
    bad_rev = fleet.store.put(key, bad)
    assert eventually(lambda: stats(fleet)["server.reload_failure"] == "1", 5)
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if "ninety" in ln)
    logs = fleet.logs()
    assert f"{key}@{bad_rev}:{line}:" in logs, logs[-2000:]
    assert "weight" in logs
    assert get(fleet.gw, "/teapot") == (418, "short and stout")  # still served
    assert fleet.admin("/ready") == f"LIVE\netcd revision {good_rev}\n"
    rev = put_teapot(fleet, "fixed")
    assert eventually(lambda: get(fleet.gw, "/teapot") == (418, "fixed"), 5)
    assert fleet.admin("/ready") == f"LIVE\netcd revision {rev}\n"


def test_a_deleted_resource_goes_from_the_config(fleet):
    fleet.store.delete(f"{PREFIX}/VirtualService/shop/orders")
    assert eventually(lambda: get(fleet.gw, "/teapot")[0] == 404, 5)


def test_etcd_killed_and_restarted_loses_nothing(fleet):
    fleet.store.kill()
    time.sleep(1)
    assert get(fleet.gw, "/teapot") == (418, "short and stout")  # serving without etcd
    fleet.store.start()
    rev = put_teapot(fleet, "after the restart")
    assert eventually(lambda: get(fleet.gw, "/teapot") == (418, "after the restart"), 10)
    assert fleet.admin("/ready") == f"LIVE\netcd revision {rev}\n"
    logs = fleet.logs()
    assert "watching /meshlet/ again from revision" in logs, logs[-2000:]


def test_meshlet_waits_for_etcd_at_start(meshlet_bin):
    """Started before its store answers, it retries; on an empty prefix, and on a config
    that does not pass, it waits; it serves once the store holds a good config."""
    store = Etcd()
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    m = Meshlet(meshlet_bin, None, extra=("--etcd", store.url, "--namespace", "shop"))
    try:
        m.proc = subprocess.Popen(m.args, stdout=m.log, stderr=m.log)
        time.sleep(1)
        assert m.proc.poll() is None  # waiting, not gone
        assert "connection refused" in m.logs().lower()
        store.start()
        docs = resources(canary_config(gw, v1.port, v2.port))
        store.put(*docs[-1])  # the VirtualService alone: its gateway and hosts are unknown
        assert eventually(lambda: "waiting for a change" in m.logs(), 10), m.logs()
        assert m.proc.poll() is None
        store.put_all(docs[:-1])
        assert eventually(lambda: served(gw), 15), m.logs()
    finally:
        code = m.stop()
        v1.stop()
        v2.stop()
        store.stop()
    assert code == 0, m.logs()


def served(port):
    try:
        return get(port, "/teapot")[0] == 418
    except OSError:
        return False


def status(meshlet_bin, store, *args):
    out = subprocess.run([meshlet_bin, "status", "--etcd", store.url, "--etcd-prefix", PREFIX,
                          *args], capture_output=True, text=True, timeout=20)
    return out.returncode, out.stdout, out.stderr


def test_status_lists_the_fleet_and_who_serves_what(meshlet_bin, fleet):
    """Two instances follow the store and serve its latest config; an invalid change shows
    both as refused, with the reason; a stopped instance is gone from the list at once (its
    lease is revoked)."""
    import json
    second = Meshlet(meshlet_bin, None, extra=("--etcd", fleet.store.url, "--namespace", "shop",
                                               "--instance", "second")).start(timeout=20)
    try:
        assert eventually(lambda: status(meshlet_bin, fleet.store)[0] == 0, 10)
        code, out, _ = status(meshlet_bin, fleet.store)
        assert "2 of 2 instance(s) serve it" in out, out
        assert "second" in out and f"127.0.0.1:{second.admin_port}" in out
        rev = put_teapot(fleet, "v2 of the teapot")
        assert eventually(lambda: status(meshlet_bin, fleet.store)[0] == 0, 10)
        js = json.loads(status(meshlet_bin, fleet.store, "-o", "json")[1])
        assert js["latest_revision"] == rev
        assert all(i["revision"] >= rev and i["state"] == "latest" for i in js["instances"]), js
        # An invalid change: both keep serving their last good config, and say why.
        key = f"{PREFIX}/VirtualService/shop/orders"
        bad = fleet.docs[key].replace("weight: 90", "weight: ninety")
        bad_rev = fleet.store.put(key, bad)

        def states():
            return {i["state"] for i in json.loads(status(meshlet_bin, fleet.store, "-o",
                                                          "json")[1])["instances"]}

        assert eventually(lambda: states() == {"refused"}, 10), states()
        assert status(meshlet_bin, fleet.store)[0] == 1
        js = json.loads(status(meshlet_bin, fleet.store, "-o", "json")[1])
        assert js["latest_revision"] == bad_rev
        assert all("ninety" in i["last_error"] or "weight" in i["last_error"]
                   for i in js["instances"]), js
        put_teapot(fleet, "fixed")
        assert eventually(lambda: status(meshlet_bin, fleet.store)[0] == 0, 10)
        # Stopped: its key is revoked with its lease.
        assert second.stop() == 0
        code, out, _ = status(meshlet_bin, fleet.store)
        assert "1 of 1 instance(s) serve it" in out and "second" not in out, out
    finally:
        second.stop()


def test_a_killed_instance_leaves_the_list_within_its_lease(meshlet_bin, fleet):
    other = Meshlet(meshlet_bin, None, extra=("--etcd", fleet.store.url, "--namespace", "shop",
                                              "--instance", "doomed")).start(timeout=20)
    assert eventually(lambda: "doomed" in status(meshlet_bin, fleet.store)[1], 10)
    other.proc.kill()
    other.proc.wait()
    t0 = time.monotonic()
    assert eventually(lambda: "doomed" not in status(meshlet_bin, fleet.store)[1], 20)
    assert time.monotonic() - t0 > 1  # the lease, not a goodbye, took it away


def test_a_watch_resumed_past_a_compaction_reads_everything_again(meshlet_bin, tmp_path):
    """meshlet loses etcd (a relay between them is cut) while changes are made and the store
    is compacted past them: its watch cannot resume from the revision it had, etcd cancels it
    with the compaction revision, and meshlet reads every key again at a new revision: the
    changes made meanwhile are all served (none missed), the deleted route is gone."""
    from tcp_relay import TcpRelay
    store = Etcd().start()
    relay = TcpRelay(store.client_port)
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    docs = dict(resources(canary_config(gw, v1.port, v2.port)))
    store.put_all(docs.items())
    m = Meshlet(meshlet_bin, None, extra=("--etcd", relay.url, "--namespace", "shop"))
    try:
        m.start(timeout=20)
        assert get(gw, "/teapot") == (418, "short and stout")
        relay.cut()
        key = f"{PREFIX}/VirtualService/shop/orders"
        for body in ("one", "two", "while away"):
            text = docs[key].replace('body: {string: "short and stout"}',
                                     f'body: {{string: "{body}"}}')
            rev = store.put(key, text)
        store.compact(rev)
        time.sleep(0.5)
        assert get(gw, "/teapot") == (418, "short and stout")  # still the last good one
        relay.mend()
        assert eventually(lambda: get(gw, "/teapot") == (418, "while away"), 15), m.logs()
        assert "was compacted" in m.logs(), m.logs()
        assert int(m.admin("/ready").split()[-1]) >= rev  # read anew: a revision past it
    finally:
        code = m.stop()
        relay.stop()
        v1.stop()
        v2.stop()
        store.stop()
    assert code == 0, m.logs()


def test_a_leader_change_goes_unnoticed_by_traffic(meshlet_bin):
    """Three etcd members; meshlet follows all three. The leader is killed under wrk load:
    every request is answered (0 errors, 0 non-2xx), and a change made through a surviving
    member is served (the watch moved to another member if it was on the dead one)."""
    from etcd import EtcdCluster
    cluster = EtcdCluster(3).start()
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    docs = dict(resources(canary_config(gw, v1.port, v2.port)))
    cluster.alive().put_all(docs.items())
    m = Meshlet(meshlet_bin, None, extra=("--etcd", cluster.urls, "--namespace", "shop"))
    try:
        m.start(timeout=20)
        load = subprocess.Popen(["wrk", "-t1", "-c8", "-d4s", "-H", "Host: api.example.com",
                                 f"http://127.0.0.1:{gw}/orders/x"],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        leader = cluster.leader()
        leader.kill()
        out, _ = load.communicate(timeout=30)
        assert "requests in" in out, out
        assert "Non-2xx" not in out and "Socket errors" not in out, out
        assert eventually(lambda: cluster.leader() is not None, 15)
        key = f"{PREFIX}/VirtualService/shop/orders"
        text = docs[key].replace('body: {string: "short and stout"}', 'body: {string: "new lead"}')
        cluster.leader().put(key, text)
        assert eventually(lambda: get(gw, "/teapot") == (418, "new lead"), 15), m.logs()
    finally:
        code = m.stop()
        v1.stop()
        v2.stop()
        cluster.stop()
    assert code == 0, m.logs()


def test_tls_to_etcd_with_a_client_certificate(meshlet_bin, tmp_path):
    """etcd serving https and requiring client certificates: meshlet follows it with
    --etcd-cacert/--etcd-cert/--etcd-key and `status` and `get` read it; without the client
    certificate, or trusting another CA, meshlet says why and keeps trying."""
    from certs import ca_and_leaves
    ca, crt, key, client_crt, client_key = ca_and_leaves(tmp_path / "pki")
    other_ca = ca_and_leaves(tmp_path / "other")[0]
    store = Etcd(tls=(ca, crt, key, client_crt, client_key)).start()
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    docs = dict(resources(canary_config(gw, v1.port, v2.port)))
    store.put_all(docs.items())
    flags = ("--etcd-cacert", str(ca), "--etcd-cert", str(client_crt), "--etcd-key",
             str(client_key))
    m = Meshlet(meshlet_bin, None, extra=("--etcd", store.url, "--namespace", "shop", *flags))
    bad = Meshlet(meshlet_bin, None, extra=("--etcd", store.url, "--namespace", "shop",
                                            "--etcd-cacert", str(other_ca)))
    try:
        m.start(timeout=20)
        assert get(gw, "/teapot") == (418, "short and stout")
        key = f"{PREFIX}/VirtualService/shop/orders"
        rev = store.put(key, docs[key].replace('"short and stout"', '"over tls"'))
        assert eventually(lambda: get(gw, "/teapot") == (418, "over tls"), 10)
        assert int(m.admin("/ready").split()[-1]) >= rev
        out = subprocess.run([meshlet_bin, "status", "--etcd", store.url, *flags],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and "1 of 1 instance(s)" in out.stdout, out
        out = subprocess.run([meshlet_bin, "get", "VirtualService", "--etcd", store.url, *flags],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and "orders" in out.stdout, out
        bad.proc = subprocess.Popen(bad.args, stdout=bad.log, stderr=bad.log)
        assert eventually(lambda: "TLS" in bad.logs() and "verif" in bad.logs(), 10), bad.logs()
        assert bad.proc.poll() is None  # waiting for a store it can trust
    finally:
        bad.stop()
        code = m.stop()
        v1.stop()
        v2.stop()
        store.stop()
    assert code == 0, m.logs()


def test_check_reads_the_store(meshlet_bin, fleet):
    """`meshlet check --etcd` checks what the fleet follows, naming KEY@REVISION:line:col."""
    out = subprocess.run([meshlet_bin, "check", "--etcd", fleet.store.url], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 0 and "OK: 4 resource(s), 0 error(s)" in out.stdout, out
    key = f"{PREFIX}/VirtualService/shop/orders"
    bad = fleet.docs[key].replace("weight: 90", "weight: ninety")
    rev = fleet.store.put(key, bad)
    out = subprocess.run([meshlet_bin, "check", "--etcd", fleet.store.url, "-o", "text"],
                         capture_output=True, text=True, timeout=20)
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if "ninety" in ln)
    assert out.returncode == 1 and f"{key}@{rev}:{line}:" in out.stdout, out
    out = subprocess.run([meshlet_bin, "check", "--etcd", "http://127.0.0.1:1"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 4 and "etcd 127.0.0.1:1" in out.stderr, out


def test_explain_reads_the_store(meshlet_bin, fleet):
    """`meshlet explain --etcd` explains a request against the config the fleet follows."""
    out = subprocess.run([meshlet_bin, "explain", "--etcd", fleet.store.url, "--namespace",
                          "shop", "GET", f"http://api.example.com:{fleet.gw}/teapot"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and "teapot" in out.stdout and "418" in out.stdout, out
    key = f"{PREFIX}/VirtualService/shop/orders"
    fleet.store.put(key, fleet.docs[key].replace("status: 418", "status: 419"))
    out = subprocess.run([meshlet_bin, "explain", "--etcd", fleet.store.url, "-n", "shop",
                          "-o", "json", "GET", f"http://api.example.com:{fleet.gw}/teapot"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and '"status":419' in out.stdout, out


def test_status_key_lives_through_steady_changes(meshlet_bin, fleet):
    """A change every half second for longer than the status lease (10 s): each reload
    rewrites the status key, which does not renew its lease, so the keep-alives must go on
    regardless; the key is there at every sample and the lease never expires."""
    seen = []
    deadline = time.monotonic() + 12
    i = 0
    while time.monotonic() < deadline:
        put_teapot(fleet, f"change {i}")
        i += 1
        time.sleep(0.5)
        seen.append("1 of 1 instance(s)" in status(meshlet_bin, fleet.store)[1]
                    or "0 of 1 instance(s)" in status(meshlet_bin, fleet.store)[1])
    assert all(seen), seen
    assert "lease not found" not in fleet.logs(), fleet.logs()[-2000:]


def test_the_debounce_is_a_flag(meshlet_bin, tmp_path):
    """--etcd-debounce sets how long changes settle (istiod's 100 ms by default): with 2 s, a
    put is not served before 2 s have passed, and is served after; a bad value is refused."""
    bad = subprocess.run([meshlet_bin, "run", "--etcd", "http://127.0.0.1:1", "--etcd-debounce",
                          "0"], capture_output=True, text=True, timeout=20)
    assert bad.returncode == 2 and "--etcd-debounce '0'" in bad.stderr, bad
    store = Etcd().start()
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    docs = dict(resources(canary_config(gw, v1.port, v2.port)))
    store.put_all(docs.items())
    m = Meshlet(meshlet_bin, None, extra=("--etcd", store.url, "--namespace", "shop",
                                          "--etcd-debounce", "2s"))
    try:
        m.start(timeout=20)
        key = f"{PREFIX}/VirtualService/shop/orders"
        t0 = time.monotonic()
        store.put(key, docs[key].replace('"short and stout"', '"slowly"'))
        while time.monotonic() - t0 < 1.5:
            assert get(gw, "/teapot") == (418, "short and stout")
            time.sleep(0.1)
        assert eventually(lambda: get(gw, "/teapot") == (418, "slowly"), 10)
    finally:
        code = m.stop()
        v1.stop()
        v2.stop()
        store.stop()
    assert code == 0, m.logs()
