# SPDX-License-Identifier: Apache-2.0
"""Istio's own Grafana dashboards fill in from meshlet (issue 19): a real Prometheus
scrapes a gateway and two STRICT-mTLS sidecars carrying a 90/10 split; every HTTP panel of
Istio's service, workload and mesh dashboards, its variables filled as Grafana fills them,
returns data, and the split and the 503s read back from Prometheus are what clients saw."""
import http.client
import json
import math
import pathlib
import subprocess
import time

import pytest

import grafana
import meshlet
import prometheus_proc
from backend import Backend
from configs import mtls_canary
from meshlet_proc import Meshlet, eventually, free_port
from test_metrics import ENVOY_NAMES, promtool

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "istio-dashboards"
DASHBOARDS = ("istio-service-dashboard.json", "istio-workload-dashboard.json",
              "istio-mesh-dashboard.gen.json")
OK, FAILED, MISSING = 1000, 20, 10  # requests answered 200, 503 (by the app), 404
SPREAD = 5  # seconds the requests are spread over: five scrapes
# Panels that cannot fill yet, each for a reason meshlet owns: (file, panel id) -> why.
# Marked xfail(strict): the test fails once they fill, so this list must shrink.
GAPS = {}


def http_panels(path):
    """(id, title, exprs) of the panels on Istio's HTTP metrics; TCP-only panels, the
    legacy istio_request_duration_seconds and istio_build are out of scope."""
    out = []
    for p in grafana.panels(grafana.load(path)):
        text = " ".join(grafana.exprs(p))
        if "istio_requests_total" in text or "istio_request_duration_milliseconds" in text \
                or "istio_request_bytes" in text or "istio_response_bytes" in text:
            out.append((p["id"], p.get("title", ""), grafana.exprs(p)))
    return out


def cases():
    for name in DASHBOARDS:
        for pid, title, _ in http_panels(FIXTURES / name):
            marks = [pytest.mark.xfail(strict=True, reason=GAPS[(name, pid)])] \
                if (name, pid) in GAPS else []
            yield pytest.param(name, pid, id=f"{name.split('-')[1]}-{pid}-{title}", marks=marks)


def sidecar_config(d, port):
    """STRICT mTLS for prod, and the Service that selects app=orders on <port>: what an
    inbound sidecar in Kubernetes learns, so its destination_service is the service host."""
    d.mkdir()
    (d / "c.yaml").write_text(f"""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: prod}}
spec: {{mtls: {{mode: STRICT}}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: orders, namespace: prod}}
spec:
  hosts: [orders.prod.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{{number: 9080, targetPort: {port}, name: http, protocol: HTTP}}]
  resolution: STATIC
  workloadSelector: {{labels: {{app: orders}}}}
""")
    return d


def edge_config(d, gw, ports):
    d.mkdir()
    (d / "c.yaml").write_text(mtls_canary(gw, ports, labels=("app", "version")))
    return d


def drive(gw, spread=SPREAD):
    """OK requests through the split with FAILED 503s and MISSING 404s among them, paced
    over <spread> seconds so that every series grows across several 1 s scrapes (rate()
    needs two samples; unpaced, all of it fits between two scrapes):
    {"v1": n, "v2": n, 503: n, 404: n}."""
    seen = {"v1": 0, "v2": 0, 503: 0, 404: 0}
    c = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)
    total = OK + FAILED + MISSING
    failing = {int((k + 0.3) * total / FAILED) for k in range(FAILED)}
    missing = {int((k + 0.7) * total / MISSING) for k in range(MISSING)}
    assert len(failing | missing) == FAILED + MISSING
    t0 = time.monotonic()
    for i in range(total):
        ahead = t0 + spread * i / total - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        path = "/status/503" if i in failing else "/status/404" if i in missing \
            else f"/orders/{i}"
        c.request("GET", path, headers={"Host": "api.example.com"})
        r = c.getresponse()
        body = r.read()
        if r.status == 200:
            seen[json.loads(body)["version"]] += 1
        else:
            seen[r.status] = seen.get(r.status, 0) + 1
    c.close()
    return seen


@pytest.fixture(scope="module")
def mesh(meshlet_bin, tmp_path_factory):
    prom_bin = prometheus_proc.binary()
    assert prom_bin, "prometheus missing: scripts/deps.sh fetches it into build/tools"
    d = tmp_path_factory.mktemp("istio-dashboards")
    meshlet.ca(meshlet_bin, "init", "--dir", str(d / "ca"))
    meshlet.ca(meshlet_bin, "issue", "--dir", str(d / "ca"), "--ns", "prod", "--sa", "orders",
               "--out", str(d / "orders"))
    meshlet.ca(meshlet_bin, "issue", "--dir", str(d / "ca"), "--ns", "istio-system",
               "--sa", "gateway", "--out", str(d / "gateway"))
    apps, procs, ports, prom = [], [], {}, None
    try:
        for version in ("v1", "v2"):
            apps.append(Backend(version).start())
            port = free_port()
            procs.append(Meshlet(meshlet_bin, sidecar_config(d / f"sidecar-{version}", port),
                                 extra=("--namespace", "prod", "--identity", str(d / "orders"),
                                        "--label", "app=orders", "--label", f"version={version}",
                                        "--workload", f"orders-{version}",
                                        "--inbound", f"{port}=127.0.0.1:{apps[-1].port}"))
                         .start())
            ports[version] = port
        gw = free_port()
        procs.append(Meshlet(meshlet_bin, edge_config(d / "edge", gw, ports), extra=(
            "--namespace", "prod", "--identity", str(d / "gateway"),
            "--workload", "istio-ingressgateway", "--label", "app=istio-ingressgateway",
            "--label", "istio=ingressgateway")).start())
        prom = prometheus_proc.Prometheus(prom_bin, d, [f"127.0.0.1:{p.admin_port}"
                                                        for p in procs]).start()
        assert eventually(lambda: len(prom.query("up == 1")) == 3, 15), prom.query("up")
        start = time.time()
        seen = drive(gw)
        total = OK + FAILED + MISSING
        # Both reporters' counts of every request have been scraped (bounded wait).
        assert eventually(lambda: [v for _, v in prom.query(
            'sum by (reporter) (istio_requests_total)')] == [total, total], 15), \
            prom.query('sum by (reporter) (istio_requests_total)')
        end = time.time() + 1
        yield {"prom": prom, "procs": procs, "seen": seen, "start": start - 2, "end": end}
    finally:
        if prom:
            prom.stop()
        codes = [p.stop() for p in procs]
        for a in apps:
            a.stop()
        assert codes == [0] * len(procs)


@pytest.fixture(scope="module")
def results(mesh):
    """(file, panel id) -> [(choices, target index, query, finite points)], every view."""
    prom, out = mesh["prom"], {}
    for name in DASHBOARDS:
        dash = grafana.load(FIXTURES / name)
        views, variables = grafana.views(dash, lambda e: prom.query(e, at=mesh["end"]))
        assert views
        for pid, _, exprs in http_panels(FIXTURES / name):
            rows = out.setdefault((name, pid), [])
            for choices, filled in views:
                for i, e in enumerate(exprs):
                    q = grafana.substitute(e, variables, filled)
                    assert "$" not in q, q
                    series = prom.query_range(q, mesh["start"], mesh["end"])
                    finite = sum(1 for _, vals in series for v in vals if math.isfinite(v))
                    rows.append((choices, i, q, finite))
    return out


@pytest.mark.parametrize("name,pid", list(cases()))
def test_http_panel_has_data(results, name, pid):
    rows = results[(name, pid)]
    # Some view (a choice of the single-select variables, as a user picks) shows data:
    # a workload's Incoming panels fill on its sidecar, its Outgoing ones on the gateway.
    assert any(finite for *_, finite in rows), "\n".join(q for _, _, q, _ in rows)


def test_service_dashboard_fills_as_it_opens(results):
    """Opened with Grafana's defaults (the first service, qrep=destination), the service
    dashboard shows every HTTP panel: the gateway and the sidecars name the service alike."""
    name = DASHBOARDS[0]
    default = results[(name, http_panels(FIXTURES / name)[0][0])][0][0]
    assert default == {"service": "orders.prod.svc.cluster.local", "qrep": "destination"}
    empty = [pid for pid, _, _ in http_panels(FIXTURES / name)
             if not any(finite for c, _, _, finite in results[(name, pid)] if c == default)]
    assert not empty


def plain_text_half(q):
    """Does target <q> select traffic this mesh has none of? All of it is mutual TLS, and
    Istio sets connection_security_policy on the server side only (`unknown` on
    reporter="source"), so these halves of the mTLS / plain-text panel pairs stay empty
    under Envoy too."""
    return ('destination_principal!~"spiffe.*"' in q or
            ('reporter="destination"' in q and 'connection_security_policy!="mutual_tls"' in q)
            or ('reporter="source"' in q and 'connection_security_policy="mutual_tls"' in q))


def test_every_target_reads_as_under_istio(results):
    """Finer than one target per panel: each target has data unless it is a half that is
    empty under Istio too. So an mTLS request counted as plain text (a wrong
    connection_security_policy or destination_principal) fails here, not just a blank."""
    wrong, checked = [], 0
    for (name, pid), rows in results.items():
        for i in sorted({i for _, i, _, _ in rows}):
            mine = [(q, finite) for _, j, q, finite in rows if j == i]
            has = any(finite for _, finite in mine)
            checked += 1
            if has == plain_text_half(mine[0][0]):
                wrong.append(f"{name} panel {pid} target {i} data={has}: {mine[0][0]}")
    assert checked == 66 + 61 + 9
    assert not wrong, "\n".join(wrong)


def test_variables_list_the_mesh(mesh):
    """The drop-downs list what Istio's sidecars would: one service, which the gateway
    (client side) and the sidecars (server side) both name by its host, so a single
    choice fills the client and the server panels alike."""
    prom, opts = mesh["prom"], {}
    for name in DASHBOARDS[:2]:
        views, _ = grafana.views(grafana.load(FIXTURES / name),
                                 lambda e: prom.query(e, at=mesh["end"]))
        for choices, filled in views:
            for k, v in {**filled, **choices}.items():
                opts.setdefault(k, set()).update([v] if isinstance(v, str) else v)
    assert opts["service"] == {"orders.prod.svc.cluster.local"}
    assert opts["namespace"] == {"prod"}
    assert opts["workload"] == {"istio-ingressgateway", "orders-v1", "orders-v2"}
    assert opts["dstwl"] == {"orders-v1", "orders-v2"}
    assert opts["dstsvc"] == {"orders.prod.svc.cluster.local"}
    # the gateway runs with --namespace prod but a certificate of istio-system (as in
    # test_mtls_split): it names itself prod, the sidecars name it by its certificate
    assert opts["srcns"] == {"prod", "istio-system"}


def test_server_side_names_its_callers_as_kiali_reads_them(mesh):
    """Kiali draws its graph from reporter="destination" series grouped by both ends'
    workloads and canonical services: the sidecars name the gateway by what it said of
    itself in the metadata exchange, not `unknown`, and both revisions of orders."""
    edges = {(lab["source_workload"], lab["source_canonical_service"], lab["source_app"],
              lab["destination_canonical_service"], lab["destination_canonical_revision"])
             for lab, _ in mesh["prom"].query(
                 'sum by (source_workload, source_canonical_service, source_app, '
                 'destination_canonical_service, destination_canonical_revision) '
                 '(istio_requests_total{reporter="destination"})', at=mesh["end"])}
    gw = ("istio-ingressgateway", "istio-ingressgateway", "istio-ingressgateway")
    assert edges == {gw + ("orders", "v1"), gw + ("orders", "v2")}, edges
    # and the gateway names each destination as the sidecar answered it
    dst = {lab["destination_workload"] for lab, _ in mesh["prom"].query(
        'sum by (destination_workload) (istio_requests_total{reporter="source"})',
        at=mesh["end"])}
    assert dst == {"orders-v1", "orders-v2"}, dst


def test_dashboards_cover_the_http_panels():
    counts = {name: len(http_panels(FIXTURES / name)) for name in DASHBOARDS}
    assert counts == {"istio-service-dashboard.json": 16, "istio-workload-dashboard.json": 13,
                      "istio-mesh-dashboard.gen.json": 5}


def binomial_ok(k, n, p):
    return abs(k - n * p) <= 5 * math.sqrt(n * p * (1 - p))


def test_split_read_back_from_prometheus(mesh):
    prom, seen = mesh["prom"], mesh["seen"]
    assert seen["v1"] + seen["v2"] == OK and seen[503] == FAILED and seen[404] == MISSING
    by_version = {lab["destination_version"]: v for lab, v in prom.query(
        'sum by (destination_version) '
        '(istio_requests_total{reporter="source",response_code="200"})')}
    assert by_version == {"v1": seen["v1"], "v2": seen["v2"]}
    assert binomial_ok(by_version["v2"], OK, 0.1), by_version
    assert binomial_ok(seen["v2"], OK, 0.1), seen
    # the 503s the app answered, counted once per client request by the gateway
    failed = prom.query('sum(istio_requests_total{reporter="source",response_code="503"})')
    assert [v for _, v in failed] == [seen[503]]
    share = prom.query('sum(istio_requests_total{reporter="source",response_code=~"5.."}) '
                       '/ sum(istio_requests_total{reporter="source"})')
    assert share[0][1] == pytest.approx(seen[503] / (OK + FAILED + MISSING))


def test_promtool_checks_each_exposition(mesh):
    tool = promtool()
    assert tool, "promtool missing: scripts/deps.sh fetches it into build/tools"
    for p in mesh["procs"]:
        r = subprocess.run([tool, "check", "metrics"], input=p.admin("/stats/prometheus"),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode in (0, 3), r.stderr + r.stdout  # 3: parsed, style remarks
        for line in (r.stdout + r.stderr).splitlines():
            assert line.split(" ")[0] in ENVOY_NAMES, line
