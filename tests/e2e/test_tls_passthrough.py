# SPDX-License-Identifier: Apache-2.0
"""TLS routing end to end: a Gateway server with tls.mode PASSTHROUGH routes on the
ClientHello's SNI (exact and wildcard sniHosts) to backends that terminate TLS with their
own certificates, which the client sees end to end; a name no route takes is closed; and a
Gateway server with protocol TLS and mode SIMPLE terminates TLS, then relays TCP."""
import socket
import ssl
import subprocess

import pytest

from certs import self_signed
from configs import gateway_servers, l4_service
from meshlet_proc import Meshlet, free_port
from tcp_echo import TcpEcho, dial, read_line


def service(name, port):
    return l4_service(name, 8443, [(port, "")], protocol="TLS")


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("passthrough")
    certs = {n: self_signed(d / n, f"{n}.example.com") for n in ("a", "b")}
    certs["w"] = self_signed(d / "w", "x.wild.example.com")
    gw_crt, gw_key = self_signed(d / "gw", "term.example.com")
    backends = {n: TcpEcho(n, tls=certs[n]) for n in ("a", "b", "w")}
    plain = TcpEcho("plain")
    pt, term, orig = free_port(), free_port(), free_port()
    docs = [gateway_servers(f"""\
  - port: {{number: {pt}, name: tls, protocol: TLS}}
    hosts: ["*.example.com"]
    tls: {{mode: PASSTHROUGH}}
  - port: {{number: {term}, name: tls-term, protocol: TLS}}
    hosts: ["term.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: {gw_crt}, privateKey: {gw_key}}}
  - port: {{number: {orig}, name: tcp-orig, protocol: TCP}}
    hosts: ["*"]
"""), f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: secure, namespace: shop}}
spec:
  host: secure.shop.svc.cluster.local
  trafficPolicy:
    tls: {{mode: SIMPLE, caCertificates: {certs['a'][0]}, sni: a.example.com}}
""", f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: orig, namespace: shop}}
spec:
  hosts: ["*"]
  gateways: [edge]
  tcp:
  - match: [{{port: {orig}}}]
    route:
    - destination: {{host: secure.shop.svc.cluster.local, port: {{number: 8443}}}}
"""]
    docs += [service(n, b.port) for n, b in backends.items()]
    docs.append(service("secure", backends["a"].port))  # a again, TLS originated by meshlet
    docs.append(l4_service("plain", 7000, [(plain.port, "")]))
    for n, host in (("a", "a.example.com"), ("b", "b.example.com"), ("w", "*.wild.example.com")):
        docs.append(f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {n}, namespace: shop}}
spec:
  hosts: ["{host}"]
  gateways: [edge]
  tls:
  - match:
    - port: {pt}
      sniHosts: ["{host}"]
    route:
    - destination: {{host: {n}.shop.svc.cluster.local, port: {{number: 8443}}}}
""")
    docs.append(f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: term, namespace: shop}}
spec:
  hosts: [term.example.com]
  gateways: [edge]
  tcp:
  - match:
    - port: {term}
    route:
    - destination: {{host: plain.shop.svc.cluster.local, port: {{number: 7000}}}}
""")
    (d / "config.yaml").write_text("---\n".join(docs))
    m = Meshlet(meshlet_bin, d, extra=("--namespace", "shop")).start()
    m.pt, m.term, m.orig, m.certs, m.gw_crt = pt, term, orig, certs, gw_crt
    yield m
    code = m.stop()
    for b in [*backends.values(), plain]:
        b.stop()
    assert code == 0, m.logs()


def tls_dial(port, sni, cafile, alpn=None):
    ctx = ssl.create_default_context(cafile=str(cafile))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    s = dial(port)
    return ctx.wrap_socket(s, server_hostname=sni)


@pytest.mark.parametrize("sni,tag,cert", [("a.example.com", "a", "a"),
                                          ("B.Example.com", "b", "b"),
                                          ("x.wild.example.com", "w", "w")])
def test_sni_picks_the_backend_and_its_certificate_reaches_the_client(proxy, sni, tag, cert):
    s = tls_dial(proxy.pt, sni, proxy.certs[cert][0])  # verifies the backend's own cert
    assert read_line(s) == tag
    s.sendall(b"through\n")
    assert s.recv(100) == b"through\n"
    s.close()


def test_openssl_s_client_sees_the_backend_certificate(proxy):
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{proxy.pt}",
                        "-servername", "b.example.com", "-brief"],
                       input="", capture_output=True, text=True, timeout=20)
    out = p.stdout + p.stderr
    assert "CN = b.example.com" in out or "CN=b.example.com" in out, out


def test_unknown_sni_and_plain_text_are_closed(proxy):
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        tls_dial(proxy.pt, "nobody.other.org", proxy.certs["a"][0])
    s = dial(proxy.pt)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
    try:
        assert s.recv(100) == b""
    except ConnectionResetError:
        pass
    s.close()


def test_simple_tls_server_terminates_then_relays_tcp(proxy):
    s = tls_dial(proxy.term, "term.example.com", proxy.gw_crt, alpn=["h2", "http/1.1"])
    assert s.selected_alpn_protocol() is None  # a TCP port negotiates no HTTP protocol
    assert read_line(s) == "plain"
    s.sendall(b"clear behind\n")
    assert s.recv(100) == b"clear behind\n"
    s.close()


def test_tcp_route_originates_simple_tls_to_its_backend(proxy):
    s = dial(proxy.orig)  # plain text in, TLS (verified against a's CA, SNI a.example.com) out
    assert read_line(s) == "a"
    s.sendall(b"wrapped\n")
    assert s.recv(100) == b"wrapped\n"
    s.close()
