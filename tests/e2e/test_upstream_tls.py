# SPDX-License-Identifier: Apache-2.0
"""SIMPLE and MUTUAL upstream TLS (issue 6, spec §4.8): the DestinationRule's files; the
server verified against caCertificates (else the system's CAs) and by name (the SNI, or
subjectAltNames when given); insecureSkipVerify skips both; MUTUAL presents the client
certificate. Any failure is a connect failure (503)."""
import pytest

import meshlet
from backend import Backend
from configs import destination_rule, edge_routes, gateway, service_entry
from meshlet_proc import free_port, serving
from certs import self_signed

NAME = "secure.shop.svc.cluster.local"


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("uptls")
    crt, key = self_signed(d / "server", NAME)
    meshlet.ca(meshlet_bin, "init", "--dir", str(d / "clients"))
    meshlet.ca(meshlet_bin, "issue", "--dir", str(d / "clients"), "--ns", "shop", "--sa",
               "gateway", "--out", str(d / "client"))
    simple = Backend("simple", tls=(str(crt), str(key), None)).start()
    mutual = Backend("mutual", tls=(str(crt), str(key), str(d / "clients" / "root-cert.pem"))).start()
    client = d / "client"
    creds = d / "creds" / "upstream"  # credentialName: upstream (--credentials DIR)
    creds.mkdir(parents=True)
    (creds / "ca.crt").write_bytes(crt.read_bytes())
    (creds / "tls.crt").write_bytes((client / "cert-chain.pem").read_bytes())
    (creds / "tls.key").write_bytes((client / "key.pem").read_bytes())
    rules = {  # service: (backend, tls)
        "secure": (simple, f"{{mode: SIMPLE, caCertificates: {crt}}}"),
        "wrong-name": (simple, f"{{mode: SIMPLE, caCertificates: {crt}, sni: other.example.com}}"),
        "insecure": (simple, "{mode: SIMPLE, sni: other.example.com, insecureSkipVerify: true}"),
        "system-cas": (simple, "{mode: SIMPLE}"),
        "san-ok": (simple, f"{{mode: SIMPLE, caCertificates: {crt}, subjectAltNames: [{NAME}]}}"),
        "san-bad": (simple, f"{{mode: SIMPLE, caCertificates: {crt}, subjectAltNames: [x.example]}}"),
        "mutual": (mutual, f"{{mode: MUTUAL, caCertificates: {crt}, sni: {NAME}, "
                           f"clientCertificate: {client / 'cert-chain.pem'}, "
                           f"privateKey: {client / 'key.pem'}}}"),
        "mutual-without": (mutual, f"{{mode: SIMPLE, caCertificates: {crt}, sni: {NAME}}}"),
        "mutual-cred": (mutual, f"{{mode: MUTUAL, credentialName: upstream, sni: {NAME}}}"),
    }
    gw = free_port()
    docs = [gateway(gw)]
    for name, (backend, tls) in rules.items():
        docs += [service_entry(name, "shop", [(backend.port, {})]),
                 destination_rule(name, f"{{tls: {tls}}}")]
    docs.append(edge_routes("tls", "\n".join(f"""\
  - match: [{{uri: {{prefix: /{n}/}}}}]
    route: [{{destination: {{host: {n}}}}}]
    retries: {{attempts: 0}}""" for n in rules)))
    with serving(meshlet_bin, d, "---\n".join(docs), [simple, mutual],
                 extra=("--credentials", str(d / "creds"))) as m:
        m.gw_port, m.mutual = gw, mutual
        yield m


@pytest.mark.parametrize("name,status", [
    ("secure", 200), ("wrong-name", 503), ("insecure", 200), ("system-cas", 503),
    ("san-ok", 200), ("san-bad", 503), ("mutual", 200), ("mutual-without", 503),
    ("mutual-cred", 200)])
def test_upstream_tls(proxy, name, status):
    got, _, body = meshlet.get(proxy.gw_port, f"/{name}/1")
    assert got == status, body
    if status == 503:
        # A server refusing our (missing) client certificate does so after a TLS 1.3 client
        # has finished its handshake: the request then meets a closed connection.
        ends = (b"connection failure", b"connection termination") if name == "mutual-without" \
            else (b"connection failure",)
        assert body.endswith(ends), body


def test_mutual_presents_the_client_certificate(proxy):
    assert meshlet.get(proxy.gw_port, "/mutual/peer")[0] == 200
    peers = [p for h, p in zip(proxy.mutual.hits, proxy.mutual.server.peers) if h == "/mutual/peer"]
    assert peers == ["spiffe://cluster.local/ns/shop/sa/gateway"]


def test_reload_does_not_reuse_a_connection_of_the_old_context(proxy):
    """A reload makes new SIMPLE/MUTUAL contexts: a pooled connection made with the old one
    is not reused (its settings may have changed); before the reload it is."""
    import urllib.request

    def port_of(path):
        assert meshlet.get(proxy.gw_port, path)[0] == 200
        return proxy.mutual.ports[proxy.mutual.hits.index(path)]

    first, second = port_of("/mutual/r1"), port_of("/mutual/r2")
    assert first == second  # pooled
    req = urllib.request.Request(f"http://127.0.0.1:{proxy.admin_port}/reload", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    assert port_of("/mutual/r3") != second
    assert port_of("/mutual/r4") == port_of("/mutual/r3")  # and the new one is pooled
