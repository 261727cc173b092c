# SPDX-License-Identifier: Apache-2.0
"""Istio's gRPC message counters (issue 14): istio_request_messages_total and
istio_response_messages_total count the messages each way of every gRPC call, on the
first 20 labels of the call's istio_requests_total series (the two workloads: series that
differ only in code or flags are summed), as Envoy's grpc_stats filter counts them for Istio.
A real grpcio client and server (Debian python3-grpcio) through meshlet, all four call
types, with messages that span HTTP/2 DATA frames and messages of zero bytes; promtool
accepts the exposition."""
import http.client
import subprocess

import grpc
import pytest

from configs import edge_routes, gateway
from grpc_backend import SERVICE, GrpcBackend
from meshlet_proc import eventually, free_port, serving
from test_grpc import grpc_service, method
from test_metrics import ENVOY_NAMES, parse, promtool

AUTH = "api.example.com"


class TwiceBackend(GrpcBackend):
    """Answers every bidi message twice, so the two directions differ."""

    def bidi(self, requests, context):
        self.calls.append("Bidi")
        for r in requests:
            yield self.version + b":" + r
            yield self.version + b":" + r


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    be = TwiceBackend("v1").start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        grpc_service("echo", [(be.port, "v1")], ("v1",)),
        edge_routes("routes", "  - route: [{destination: {host: echo}}]\n"),
    ])
    with serving(meshlet_bin, tmp_path, config, [be]) as m:
        m.gw = gw
        m.channel = grpc.insecure_channel(f"127.0.0.1:{gw}",
                                          options=[("grpc.default_authority", AUTH)])
        yield m
        m.channel.close()


MESSAGE_LABELS = [
    "reporter", "source_workload", "source_canonical_service", "source_canonical_revision",
    "source_workload_namespace", "source_principal", "source_app", "source_version",
    "source_cluster", "destination_workload", "destination_workload_namespace",
    "destination_principal", "destination_app", "destination_version", "destination_service",
    "destination_canonical_service", "destination_canonical_revision",
    "destination_service_name", "destination_service_namespace", "destination_cluster"]


def counts(m):
    """(requests, request messages, response messages) over the gRPC series."""
    out = [0, 0, 0]
    names = ("istio_requests_total", "istio_request_messages_total",
             "istio_response_messages_total")
    for name, labels, v in parse(m.admin("/stats/prometheus")):
        if name == names[0] and labels.get("request_protocol") == "grpc":
            out[0] += int(v)
        elif name in names[1:]:  # Istio's: the 20 labels naming the workloads, no protocol
            assert list(labels) == MESSAGE_LABELS, (name, labels)
            out[names.index(name)] += int(v)
    return tuple(out)


def delta_of(m, call):
    """What <call> adds to the counters, once its request has been reported."""
    before = counts(m)
    call()
    want = before[0] + 1
    assert eventually(lambda: counts(m)[0] >= want), m.logs()
    after = counts(m)
    assert after[0] == want
    return after[1] - before[1], after[2] - before[2]


def test_unary_counts_one_each_way(proxy):
    call = method(proxy.channel, "Unary", "unary_unary")
    assert delta_of(proxy, lambda: call(b"hi", timeout=10)) == (1, 1)
    # a message far larger than one DATA frame (16 KiB) is still one message
    big = b"z" * 200_000
    assert delta_of(proxy, lambda: call(big, timeout=10)) == (1, 1)


def test_client_streaming_counts_n_requests(proxy):
    call = method(proxy.channel, "ClientStream", "stream_unary")
    msgs = [b"a", b"", b"b" * 70_000, b"", b"c", b"d", b"e"]  # empty ones count too
    assert delta_of(proxy, lambda: call(iter(msgs), timeout=10)) == (len(msgs), 1)


def test_server_streaming_counts_m_responses(proxy):
    call = method(proxy.channel, "ServerStream", "unary_stream")
    assert delta_of(proxy, lambda: len(list(call(b"s", timeout=10)))) == (1, 5)


def test_bidi_counts_both_directions(proxy):
    call = method(proxy.channel, "Bidi", "stream_stream")
    msgs = [b"x", b"", b"y" * 40_000, b"z"]
    got = []
    assert delta_of(proxy, lambda: got.extend(call(iter(msgs), timeout=10))) == (4, 8)
    assert len(got) == 8


def test_http_series_have_no_message_counters_and_promtool_agrees(proxy):
    method(proxy.channel, "Unary", "unary_unary")(b"p", timeout=10)
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw, timeout=10)
    c.request("GET", "/nowhere", headers={"Host": "unknown.example.org"})
    assert c.getresponse().status == 404
    c.close()
    text = proxy.admin("/stats/prometheus")
    assert 'request_protocol="http"' in text
    grpc_services = {lab["destination_service"] for name, lab, _ in parse(text)
                     if name == "istio_requests_total" and lab["request_protocol"] == "grpc"}
    pairs = {tuple(lab[k] for k in MESSAGE_LABELS) for name, lab, _ in parse(text)
             if name == "istio_requests_total" and lab["request_protocol"] == "grpc"}
    for family in ("istio_request_messages_total", "istio_response_messages_total"):
        got = [tuple(lab[k] for k in MESSAGE_LABELS) for name, lab, _ in parse(text)
               if name == family]
        assert sorted(got) == sorted(pairs), (family, got, pairs)  # one per pair of workloads
        assert all(p[14] in grpc_services for p in got)  # destination_service: gRPC only
    assert "# TYPE istio_request_messages_total counter" in text
    assert "# TYPE istio_response_messages_total counter" in text
    counts(proxy)
    tool = promtool()
    assert tool, "promtool missing: scripts/deps.sh fetches it into build/tools"
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode in (0, 3), r.stderr + r.stdout  # 3: parsed, with style remarks
    for line in (r.stdout + r.stderr).splitlines():
        assert line.split(" ")[0] in ENVOY_NAMES, line


def test_a_retried_call_counts_its_messages_once(meshlet_bin, tmp_path):
    bad = GrpcBackend("v1", fail_code=grpc.StatusCode.UNAVAILABLE).start()
    good = GrpcBackend("v2").start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw), grpc_service("echo", [(bad.port, "v1"), (good.port, "v2")]),
        edge_routes("routes", """\
  - route: [{destination: {host: echo}}]
    retries: {attempts: 2, retryOn: unavailable}
"""),
    ])
    with serving(meshlet_bin, tmp_path, config, [bad, good]) as m:
        with grpc.insecure_channel(f"127.0.0.1:{gw}", options=[("grpc.default_authority", AUTH)]) as ch:
            call = method(ch, "ClientStream", "stream_unary")
            n = 0
            while bad.calls.count("ClientStream") < 3 and n < 100:  # some calls sent twice
                assert call(iter([b"a", b"b", b"c"]), timeout=10) == b"v2:a,b,c"
                n += 1
            assert bad.calls.count("ClientStream") >= 3
            assert eventually(lambda: counts(m)[0] == n), m.logs()
            # the replay to the second endpoint is not the client sending again
            assert counts(m) == (n, 3 * n, n)
