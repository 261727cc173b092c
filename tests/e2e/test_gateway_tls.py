# SPDX-License-Identifier: Apache-2.0
"""Gateway TLS (issue 6): HTTPS servers with mode SIMPLE (certificate files, or a
credentialName under --credentials) and MUTUAL (client certificates from caCertificates
required), and httpsRedirect on an HTTP server. Clients are Python's ssl, verifying the
server as a browser would."""
import http.client
import json
import ssl
import urllib.request

import pytest

import meshlet
from backend import Backend
from certs import self_signed
from configs import edge_routes, service_entry
from meshlet_proc import Meshlet, free_port




def gateway(servers):
    return f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
{servers}"""


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("gwtls")
    crt, key = self_signed(d / "files")
    self_signed(d / "creds" / "shop-cert")
    a_crt, a_key = self_signed(d / "a", "a.example.com")
    b_crt, b_key = self_signed(d / "b", "b.example.com")
    meshlet.ca(meshlet_bin, "init", "--dir", str(d / "clients"))
    meshlet.ca(meshlet_bin, "issue", "--dir", str(d / "clients"), "--ns", "shop", "--sa", "app",
               "--out", str(d / "client"))
    backend = Backend("b").start()
    ports = {k: free_port() for k in ("simple", "cred", "mutual", "redirect", "sni", "tls13")}
    servers = f"""\
  - port: {{number: {ports['simple']}, name: https, protocol: HTTPS}}
    hosts: ["shop/*.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: {crt}, privateKey: {key}}}
  - port: {{number: {ports['cred']}, name: https-cred, protocol: HTTPS}}
    hosts: ["shop/*.example.com"]
    tls: {{mode: SIMPLE, credentialName: shop-cert}}
  - port: {{number: {ports['mutual']}, name: https-mutual, protocol: HTTPS}}
    hosts: ["shop/*.example.com"]
    tls: {{mode: MUTUAL, serverCertificate: {crt}, privateKey: {key},
          caCertificates: {d / 'clients' / 'root-cert.pem'}}}
  - port: {{number: {ports['redirect']}, name: http, protocol: HTTP}}
    hosts: ["shop/*.example.com"]
    tls: {{httpsRedirect: true}}
  - port: {{number: {ports['tls13']}, name: https-13, protocol: HTTPS}}
    hosts: ["shop/*.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: {crt}, privateKey: {key},
          minProtocolVersion: TLSV1_3}}
  - port: {{number: {ports['sni']}, name: https-a, protocol: HTTPS}}
    hosts: ["shop/a.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: {a_crt}, privateKey: {a_key}}}
  - port: {{number: {ports['sni']}, name: https-b, protocol: HTTPS}}
    hosts: ["shop/b.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: {b_crt}, privateKey: {b_key}}}
"""
    (d / "config").mkdir()
    (d / "config" / "c.yaml").write_text("---\n".join([
        gateway(servers), service_entry("orders", "shop", [(backend.port, {})]),
        edge_routes("edge", "  - route: [{destination: {host: orders}}]\n",
                    hosts="api.example.com, a.example.com, b.example.com")]))
    m = Meshlet(meshlet_bin, d / "config", extra=(
        "--namespace", "shop", "--credentials", str(d / "creds"))).start()
    try:
        yield {"ports": ports, "crt": crt, "dir": d, "backend": backend, "m": m}
    finally:
        code = m.stop()
        backend.stop()
        assert code == 0, m.logs()


def https(proxy, port, path, client=None, cafile=None, name="api.example.com", max_tls=None):
    ctx = ssl.create_default_context(cafile=str(cafile or proxy["crt"]))
    if max_tls:
        ctx.maximum_version = max_tls
    if client:
        ctx.load_cert_chain(str(client / "cert-chain.pem"), str(client / "key.pem"))
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    c.sock = ctx.wrap_socket(__import__("socket").create_connection(("127.0.0.1", port), 5),
                             server_hostname=name)
    c.request("GET", path, headers={"Host": name})
    r = c.getresponse()
    out = r.status, json.loads(r.read())
    c.close()
    return out


def test_simple_tls_with_certificate_files(proxy):
    status, body = https(proxy, proxy["ports"]["simple"], "/a")
    assert status == 200 and body["headers"]["x-forwarded-proto"] == "https"


def test_simple_tls_with_a_credential_name(proxy):
    status, _ = https(proxy, proxy["ports"]["cred"], "/b",
                      cafile=proxy["dir"] / "creds" / "shop-cert" / "tls.crt")
    assert status == 200


def test_mutual_tls_requires_a_client_certificate(proxy):
    port = proxy["ports"]["mutual"]
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException, OSError)):
        https(proxy, port, "/no-cert")
    status, _ = https(proxy, port, "/with-cert", client=proxy["dir"] / "client")
    assert status == 200
    assert "/no-cert" not in proxy["backend"].hits


def test_https_redirect(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy["ports"]["redirect"], timeout=5)
    c.request("GET", "/orders/1?x=1", headers={"Host": "api.example.com:8080"})
    r = c.getresponse()
    r.read()
    assert r.status == 301
    assert r.getheader("location") == "https://api.example.com/orders/1?x=1"


def test_a_missing_certificate_stops_the_start(meshlet_bin, tmp_path):
    (tmp_path / "c.yaml").write_text(gateway(f"""\
  - port: {{number: {free_port()}, name: https, protocol: HTTPS}}
    hosts: ["*"]
    tls: {{mode: SIMPLE, serverCertificate: /nonexistent.crt, privateKey: /nonexistent.key}}
"""))
    r = meshlet.run(meshlet_bin, "run", "-c", tmp_path, "--admin", f"127.0.0.1:{free_port()}",
                    "--listen-address", "127.0.0.1", "--mesh-listen", f"127.0.0.1:{free_port()}")
    assert r.code == 2 and "TLS: cannot load /nonexistent.crt" in r.err


def test_sni_picks_the_servers_certificate(proxy):
    d, port = proxy["dir"], proxy["ports"]["sni"]
    for name in ("a", "b"):
        status, _ = https(proxy, port, f"/{name}", cafile=d / name / "tls.crt",
                          name=f"{name}.example.com")
        assert status == 200
    with pytest.raises(ssl.SSLError):  # b's name, but only a's certificate trusted
        https(proxy, port, "/b-as-a", cafile=d / "a" / "tls.crt", name="b.example.com")


def test_min_protocol_version(proxy):
    tls12 = ssl.TLSVersion.TLSv1_2
    assert https(proxy, proxy["ports"]["simple"], "/tls12", max_tls=tls12)[0] == 200
    assert https(proxy, proxy["ports"]["tls13"], "/tls13")[0] == 200
    with pytest.raises(ssl.SSLError):
        https(proxy, proxy["ports"]["tls13"], "/tls12-refused", max_tls=tls12)


def test_tls_listeners_survive_a_reload(proxy):
    """A reload rebuilds the TLS contexts: an open HTTPS keep-alive connection goes on
    (moving to the new snapshot at its next request) and new handshakes use the new
    contexts, SNI included."""
    m, port = proxy["m"], proxy["ports"]["simple"]
    ctx = ssl.create_default_context(cafile=str(proxy["crt"]))
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    c.sock = ctx.wrap_socket(__import__("socket").create_connection(("127.0.0.1", port), 5),
                             server_hostname="api.example.com")
    c.request("GET", "/before", headers={"Host": "api.example.com"})
    assert c.getresponse().read()
    req = urllib.request.Request(f"http://127.0.0.1:{m.admin_port}/reload", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    c.request("GET", "/after", headers={"Host": "api.example.com"})
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read())["path"] == "/after"
    c.close()
    assert https(proxy, port, "/new")[0] == 200
    assert https(proxy, proxy["ports"]["sni"], "/b", cafile=proxy["dir"] / "b" / "tls.crt",
                 name="b.example.com")[0] == 200
