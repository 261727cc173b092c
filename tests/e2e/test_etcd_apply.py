# SPDX-License-Identifier: Apache-2.0
"""`meshlet apply / get / delete` against a real etcd (issue 15), with a real
`meshlet run --etcd` following the prefix: apply prints created / configured / unchanged per
resource and meshlet serves the result; applying the same files again writes nothing (no new
revision); a file that does not pass, or a change that passes only on its own (a
VirtualService naming a Gateway the store lacks), is refused with its position and nothing is
written; of two applies of the same key, the one that read before the other wrote is refused
with a conflict and the key keeps the winner's value; --dry-run writes nothing; get -o yaml and
-o json give back what was applied; delete removes the key and meshlet stops serving it."""
import base64
import json
import os
import re
import subprocess
import urllib.request

import pytest
import yaml

from backend import Backend
from configs import canary_config
from etcd import Etcd, b64
from meshlet_proc import Meshlet, eventually, free_port

PREFIX = "/meshlet"
VS_KEY = f"{PREFIX}/VirtualService/shop/orders"
CREATED = ["Gateway/shop/edge created", "ServiceEntry/shop/orders created",
           "DestinationRule/shop/orders created", "VirtualService/shop/orders created"]


def split_files(directory, text):
    """One file per document of <text>, in order: their paths."""
    paths = []
    for i, doc in enumerate(d for d in text.split("---\n") if d.strip()):
        kind = re.search(r"^kind: (\w+)", doc, re.M).group(1)
        path = directory / f"{i}-{kind.lower()}.yaml"
        path.write_text(doc)
        paths.append(path)
    return paths


def meshlet(binary, *args, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=60,
                          env=full_env)


def apply(binary, store, *paths, extra=()):
    files = [a for p in paths for a in ("-f", p)]
    return meshlet(binary, "apply", *files, "--etcd", store.url, "--etcd-prefix", PREFIX, *extra)


def get(port, path, host="api.example.com"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def versions(port, n=100):
    """How many of <n> requests to /orders each version answered."""
    out = {}
    for _ in range(n):
        status, body = get(port, "/orders")
        assert status == 200, body
        v = json.loads(body)["version"]
        out[v] = out.get(v, 0) + 1
    return out


def config(store, at=None):
    """{key: mod_revision} of the config keys under the prefix (not the running instances'
    .status/ keys, which change as they reload), now or at revision <at>."""
    body = {"key": b64(PREFIX + "/"), "range_end": b64(PREFIX + "0")}
    if at:
        body["revision"] = str(at)
    kvs = store.call("/v3/kv/range", body).get("kvs", [])
    keys = {base64.b64decode(kv["key"]).decode(): int(kv["mod_revision"]) for kv in kvs}
    return {k: v for k, v in keys.items() if not k.startswith(PREFIX + "/.")}


def serves(m, revision):
    """Whether <m> serves the store at <revision> or later."""
    said = m.admin("/ready")
    return said.startswith("LIVE\netcd revision ") and int(said.split()[-1]) >= revision


@pytest.fixture
def fleet(meshlet_bin, tmp_path):
    """etcd, two backends, the canary config applied from one file per resource, and one
    meshlet following the prefix."""
    store = Etcd().start()
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    files = split_files(tmp_path, canary_config(gw, v1.port, v2.port))
    first = apply(meshlet_bin, store, *files)
    m = Meshlet(meshlet_bin, None, extra=("--etcd", store.url, "--etcd-prefix", PREFIX,
                                          "--namespace", "shop"))
    m.store, m.gw, m.files, m.first, m.bin = store, gw, files, first, meshlet_bin
    try:
        assert first.returncode == 0, first.stderr
        m.start(timeout=20)
        yield m
    finally:
        code = m.stop()
        v1.stop()
        v2.stop()
        store.stop()
        assert code == 0, m.logs()


def vs_file(m):
    return next(p for p in m.files if "virtualservice" in p.name)


def test_apply_creates_every_resource_and_meshlet_serves_them(fleet):
    assert fleet.first.stdout.splitlines() == CREATED
    revs = set(config(fleet.store).values())
    assert len(revs) == 1, revs  # one transaction: one revision for the four keys
    assert serves(fleet, revs.pop())
    assert get(fleet.gw, "/teapot") == (418, "short and stout")
    assert versions(fleet.gw) == {"v1": 90, "v2": 10}
    stored = fleet.store.call("/v3/kv/range", {"key": b64(VS_KEY)})
    value = base64.b64decode(stored["kvs"][0]["value"]).decode()
    assert value == vs_file(fleet).read_text()  # the document as given


def test_apply_again_changes_nothing(fleet):
    before = config(fleet.store)
    again = apply(fleet.bin, fleet.store, *fleet.files)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [ln.replace("created", "unchanged") for ln in CREATED]
    assert config(fleet.store) == before


def test_a_weight_change_is_configured_and_served(fleet):
    vs = vs_file(fleet)
    vs.write_text(vs.read_text().replace("weight: 90", "weight: 50").replace("weight: 10",
                                                                             "weight: 50"))
    out = apply(fleet.bin, fleet.store, *fleet.files)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines.count("VirtualService/shop/orders configured") == 1
    assert sum(ln.endswith(" unchanged") for ln in lines) == 3
    rev = config(fleet.store)[VS_KEY]
    assert eventually(lambda: serves(fleet, rev), 5), fleet.admin("/ready")
    assert versions(fleet.gw) == {"v1": 50, "v2": 50}


def test_an_invalid_file_is_refused_with_its_position(fleet):
    vs = vs_file(fleet)
    bad = vs.read_text().replace("weight: 90", "weight: ninety")
    vs.write_text(bad)
    before = config(fleet.store)
    out = apply(fleet.bin, fleet.store, *fleet.files)
    assert out.returncode == 1, out
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if "ninety" in ln)
    assert re.search(rf"{re.escape(str(vs))}:{line}:\d+", out.stderr), out.stderr
    assert "nothing was written" in out.stderr
    assert out.stdout == ""
    assert config(fleet.store) == before
    assert versions(fleet.gw) == {"v1": 90, "v2": 10}


def test_a_change_invalid_only_with_the_store_is_refused(fleet, tmp_path):
    """On its own the file is a good VirtualService; in the store its Gateway is missing."""
    other = tmp_path / "other.yaml"
    text = vs_file(fleet).read_text().replace("name: orders,", "name: other,").replace(
        "gateways: [edge, mesh]", "gateways: [missing]").replace(
        "hosts: [api.example.com, orders]", "hosts: [other.example.com]")
    other.write_text(text)
    before = config(fleet.store)
    out = apply(fleet.bin, fleet.store, other)
    assert out.returncode == 1, out
    assert str(other) in out.stderr and "missing" in out.stderr, out.stderr
    assert "nothing was written" in out.stderr
    assert config(fleet.store) == before
    alone = meshlet(fleet.bin, "validate", other)  # each resource on its own: fine
    assert alone.returncode == 0, alone.stdout


def test_two_applies_of_one_key_lose_no_update(fleet):
    """A reads the store, B writes the key, A writes: A is refused and the key holds B's
    value. A waits between its read and its write (MESHLET_TEST_APPLY_DELAY_MS) after
    saying so; B runs inside that wait, which the test checks."""
    vs = vs_file(fleet)
    base = vs.read_text()
    a_file, b_file = vs.parent / "a.yaml", vs.parent / "b.yaml"
    a_file.write_text(base.replace("weight: 90", "weight: 80").replace("weight: 10",
                                                                       "weight: 20"))
    b_file.write_text(base.replace("weight: 90", "weight: 70").replace("weight: 10",
                                                                       "weight: 30"))
    read_rev = int(fleet.store.call("/v3/kv/range", {"key": b64(VS_KEY)})
                   ["kvs"][0]["mod_revision"])
    a = subprocess.Popen([fleet.bin, "apply", "-f", str(a_file), "--etcd", fleet.store.url,
                          "--etcd-prefix", PREFIX], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, MESHLET_TEST_APPLY_DELAY_MS="5000"))
    try:
        said = ""
        for _ in range(50):  # warnings about the store come first
            said = a.stderr.readline()
            if not said or "(test hook)" in said:
                break
        assert "waiting 5000 ms (test hook)" in said, said
        b = apply(fleet.bin, fleet.store, b_file)
        assert b.returncode == 0, b.stderr
        assert b.stdout.splitlines() == ["VirtualService/shop/orders configured"]
        assert a.poll() is None  # B wrote while A was between its read and its write
        out, err = a.communicate(timeout=60)
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    b_rev = config(fleet.store)[VS_KEY]
    assert a.returncode == 3, (out, err)
    assert out == ""
    assert (f"{VS_KEY} changed since it was read (revision {read_rev} -> {b_rev}); "
            "nothing was written") in err, err
    got = meshlet(fleet.bin, "get", "VirtualService", "shop/orders", "-o", "yaml", "--etcd",
                  fleet.store.url)
    assert got.stdout == b_file.read_text()
    assert eventually(lambda: serves(fleet, b_rev), 5)
    assert versions(fleet.gw) == {"v1": 70, "v2": 30}


def test_two_creates_of_one_key_lose_no_update(meshlet_bin, tmp_path):
    """The same race when the key did not exist: the late writer is told it was created."""
    store = Etcd().start()
    f = tmp_path / "svc.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: b}\n"
                 "spec: {ports: [{port: 80, name: http}]}\n")
    a = subprocess.Popen([meshlet_bin, "apply", "-f", str(f), "--etcd", store.url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, MESHLET_TEST_APPLY_DELAY_MS="5000"))
    try:
        assert "(test hook)" in a.stderr.readline()
        rev = store.put("/meshlet/Service/b/a", "someone else's")
        assert a.poll() is None
        out, err = a.communicate(timeout=60)
        assert a.returncode == 3, (out, err)
        assert ("/meshlet/Service/b/a was created since it was read (now at revision "
                f"{rev}); nothing was written") in err, err
        got = meshlet(meshlet_bin, "get", "Service", "b/a", "-o", "yaml", "--etcd", store.url)
        assert got.stdout == "someone else's\n"
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
        store.stop()


def test_dry_run_writes_nothing(fleet):
    vs = vs_file(fleet)
    vs.write_text(vs.read_text().replace("short and stout", "dry"))
    before = config(fleet.store)
    out = apply(fleet.bin, fleet.store, *fleet.files, extra=("--dry-run",))
    assert out.returncode == 0, out.stderr
    assert "VirtualService/shop/orders configured (dry run)" in out.stdout.splitlines()
    assert config(fleet.store) == before
    assert get(fleet.gw, "/teapot") == (418, "short and stout")


def test_get_gives_back_what_was_applied(fleet, tmp_path):
    url = fleet.store.url
    as_yaml = meshlet(fleet.bin, "get", "-o", "yaml", "--etcd", url)
    assert as_yaml.returncode == 0, as_yaml.stderr
    applied = sorted(p.read_text() for p in fleet.files)
    assert sorted(as_yaml.stdout.split("---\n")) == applied
    (tmp_path / "back").mkdir()
    back = tmp_path / "back" / "all.yaml"
    back.write_text(as_yaml.stdout)
    before = config(fleet.store)
    again = apply(fleet.bin, fleet.store, back)
    assert again.returncode == 0, again.stderr
    assert all(ln.endswith(" unchanged") for ln in again.stdout.splitlines())
    assert len(again.stdout.splitlines()) == 4
    assert config(fleet.store) == before

    as_json = meshlet(fleet.bin, "get", "-o", "json", "--etcd", url)
    assert as_json.returncode == 0, as_json.stderr
    listed = json.loads(as_json.stdout)
    assert listed["kind"] == "List"
    key = lambda o: (o["kind"], o["metadata"]["name"])
    assert sorted(listed["items"], key=key) == sorted(
        (yaml.safe_load(p.read_text()) for p in fleet.files), key=key)

    one = meshlet(fleet.bin, "get", "VirtualService", "shop/orders", "-o", "json", "--etcd", url)
    assert [o["kind"] for o in json.loads(one.stdout)["items"]] == ["VirtualService"]
    table = meshlet(fleet.bin, "get", "Gateway", "--etcd", url)
    assert table.stdout.splitlines()[1].split()[:3] == ["Gateway", "shop", "edge"]
    none = meshlet(fleet.bin, "get", "Gateway", "shop/nope", "--etcd", url)
    assert none.returncode == 1 and "not found" in none.stderr


def test_delete_removes_the_route(fleet):
    url = fleet.store.url
    before = config(fleet.store)
    dry = meshlet(fleet.bin, "delete", "VirtualService", "shop/orders", "--dry-run", "--etcd", url)
    assert dry.stdout == "VirtualService/shop/orders deleted (dry run)\n", dry.stderr
    assert config(fleet.store) == before
    gone = meshlet(fleet.bin, "delete", "VirtualService", "shop/orders", "--etcd", url)
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout == "VirtualService/shop/orders deleted\n"
    assert eventually(lambda: get(fleet.gw, "/teapot")[0] == 404, 5)
    assert meshlet(fleet.bin, "get", "VirtualService", "--etcd", url).stdout.count("\n") == 1
    again = meshlet(fleet.bin, "delete", "VirtualService", "shop/orders", "--etcd", url)
    assert again.returncode == 1 and "not found" in again.stderr


def test_delete_refuses_what_would_break_the_store(fleet):
    """The VirtualService names Gateway edge: deleting the Gateway alone is refused."""
    before, rev = config(fleet.store), fleet.store.revision()
    gw_file = next(p for p in fleet.files if "gateway" in p.name)
    out = meshlet(fleet.bin, "delete", "-f", gw_file, "--etcd", fleet.store.url)
    assert out.returncode == 1, out
    assert "nothing was written" in out.stderr
    assert config(fleet.store) == before
    both = meshlet(fleet.bin, "delete", "-f", gw_file, "-f", vs_file(fleet), "--etcd",
                   fleet.store.url)
    assert both.returncode == 0, both.stderr
    assert sorted(both.stdout.splitlines()) == ["Gateway/shop/edge deleted",
                                               "VirtualService/shop/orders deleted"]
    assert config(fleet.store) == {k: v for k, v in before.items()
                                   if "/Gateway/" not in k and "/VirtualService/" not in k}
    # One transaction: at the first revision where one of them is gone, both are.
    first = next(r for r in range(rev + 1, fleet.store.revision() + 1)
                 if len(config(fleet.store, at=r)) < len(before))
    assert config(fleet.store, at=first) == config(fleet.store)


def test_usage_and_an_unreachable_store(meshlet_bin, tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: b}\n")
    assert meshlet(meshlet_bin, "apply", "-f", f).returncode == 2  # no --etcd
    assert meshlet(meshlet_bin, "apply", "--etcd", "http://127.0.0.1:1").returncode == 2
    assert meshlet(meshlet_bin, "get", "-f", f, "--etcd", "http://127.0.0.1:1").returncode == 2
    down = meshlet(meshlet_bin, "apply", "-f", f, "--etcd", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 4 and "connection refused" in down.stderr.lower(), down.stderr
    for cmd in ("apply", "get", "delete"):
        h = meshlet(meshlet_bin, cmd, "--help")
        assert h.returncode == 0 and "--etcd" in h.stdout


def test_a_resource_without_namespace_is_stored_with_it(meshlet_bin, tmp_path):
    """-n NS fills metadata.namespace in the stored text, so every `meshlet run` reads the
    resource in NS whatever its own --namespace; a file of several documents is cut where
    YAML cuts it."""
    f = tmp_path / "svc.yaml"
    f.write_text("# services\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
                 "spec:\n  ports: [{port: 80, name: http}]\n\n--- # b\napiVersion: v1\n"
                 "kind: Service\nmetadata: {name: b, namespace: other}\nspec: {}\n...\n")
    store = Etcd().start()
    try:
        out = meshlet(meshlet_bin, "apply", "-f", f, "-n", "prod", "--etcd", store.url)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["Service/prod/a created", "Service/other/b created"]
        got = meshlet(meshlet_bin, "get", "Service", "--etcd", store.url, "-o", "yaml").stdout
        b, a = got.split("---\n")  # in key order: other/b, prod/a
        assert yaml.safe_load(a)["metadata"] == {"name": "a", "namespace": "prod"}
        assert b == ("# b\napiVersion: v1\nkind: Service\n"
                     "metadata: {name: b, namespace: other}\nspec: {}\n")
        again = meshlet(meshlet_bin, "apply", "-f", f, "-n", "prod", "--etcd", store.url)
        assert again.stdout.splitlines() == ["Service/prod/a unchanged",
                                             "Service/other/b unchanged"]
    finally:
        store.stop()


def test_apply_wait_returns_when_the_fleet_serves_it(fleet):
    """--wait returns once every live instance serves the change (two here); an instance
    that cannot move on (stopped with SIGSTOP: its status key lives on for its lease) is
    named when the time is up, with the revision it serves, and the exit status says so."""
    import signal
    second = Meshlet(fleet.bin, None, extra=("--etcd", fleet.store.url, "--etcd-prefix", PREFIX,
                                             "--namespace", "shop", "--instance", "second"))
    second.start(timeout=20)
    try:
        vs = vs_file(fleet)
        vs.write_text(vs.read_text().replace("weight: 90", "weight: 80")
                      .replace("weight: 10", "weight: 20"))
        out = apply(fleet.bin, fleet.store, *fleet.files, extra=("--wait=10s",))
        assert out.returncode == 0, out.stderr
        took = re.search(r"revision \d+ served by all 2 instance\(s\) \(([0-9.]+) s\)", out.stdout)
        assert took and float(took.group(1)) < 10, out.stdout  # within --wait, said right
        assert versions(fleet.gw) == {"v1": 80, "v2": 20}  # when it returns, it is served
        second.proc.send_signal(signal.SIGSTOP)
        vs.write_text(vs.read_text().replace("weight: 80", "weight: 70")
                      .replace("weight: 20", "weight: 30"))
        out = apply(fleet.bin, fleet.store, *fleet.files, extra=("--wait=1s",))
        assert out.returncode == 5, (out.stdout, out.stderr)
        assert "1 of 2 instance(s) serve it" in out.stdout and "second (" in out.stdout, out.stdout
        second.proc.send_signal(signal.SIGCONT)
        again = apply(fleet.bin, fleet.store, *fleet.files, extra=("--wait=10s",))
        assert again.returncode == 0 and "unchanged" in again.stdout, again.stdout
        assert "served by all 2 instance(s)" in again.stdout, again.stdout
    finally:
        second.proc.send_signal(signal.SIGCONT)
        second.stop()
