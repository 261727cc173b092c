# SPDX-License-Identifier: Apache-2.0
"""`meshlet ca init` / `meshlet ca issue` (issue 6): a mesh root and workload certificates
whose only identity is the SPIFFE URI SAN, laid out as Istio mounts them, checked with
openssl as a real client would."""
import os
import re
import stat
import subprocess
from datetime import datetime


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


def openssl_text(path):
    p = run("openssl", "x509", "-in", str(path), "-noout", "-text")
    assert p.returncode == 0, p.stderr
    return p.stdout


def validity(path):
    out = run("openssl", "x509", "-in", str(path), "-noout", "-startdate", "-enddate").stdout
    fmt = "%b %d %H:%M:%S %Y GMT"
    start = datetime.strptime(re.search(r"notBefore=(.*)", out).group(1).replace("  ", " "), fmt)
    end = datetime.strptime(re.search(r"notAfter=(.*)", out).group(1).replace("  ", " "), fmt)
    return (end - start).total_seconds()


def test_workload_certificate_is_a_spiffe_identity_signed_by_the_root(meshlet_bin, tmp_path):
    ca, w = tmp_path / "ca", tmp_path / "w"
    assert run(meshlet_bin, "ca", "init", "--dir", str(ca)).returncode == 0
    p = run(meshlet_bin, "ca", "issue", "--dir", str(ca), "--ns", "shop", "--sa", "orders",
            "--out", str(w), "--ttl", "2h")
    assert p.returncode == 0, p.stderr
    assert "spiffe://cluster.local/ns/shop/sa/orders" in p.stdout
    assert sorted(os.listdir(w)) == ["cert-chain.pem", "key.pem", "root-cert.pem"]
    assert stat.S_IMODE(os.stat(w / "key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ca / "root-key.pem").st_mode) == 0o600
    v = run("openssl", "verify", "-CAfile", str(w / "root-cert.pem"), str(w / "cert-chain.pem"))
    assert v.returncode == 0 and ": OK" in v.stdout
    text = openssl_text(w / "cert-chain.pem")
    sans = re.findall(r"(URI|DNS|IP Address|email):([^\s,]+)", text)
    assert sans == [("URI", "spiffe://cluster.local/ns/shop/sa/orders")]  # the only identity
    assert re.search(r"Subject: *\n", text)  # empty subject: the SAN carries the identity
    assert "X509v3 Subject Alternative Name: critical" in text
    assert "CA:FALSE" in text
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    assert "ASN1 OID: prime256v1" in text
    assert 2 * 3600 <= validity(w / "cert-chain.pem") <= 2 * 3600 + 120
    root = openssl_text(ca / "root-cert.pem")
    assert "CA:TRUE" in root and "Certificate Sign" in root


def test_another_root_does_not_verify_and_trust_domain_is_kept(meshlet_bin, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(meshlet_bin, "ca", "init", "--dir", str(a)).returncode == 0
    assert run(meshlet_bin, "ca", "init", "--dir", str(b), "--trust-domain",
               "corp.example").returncode == 0
    p = run(meshlet_bin, "ca", "issue", "--dir", str(b), "--ns", "pay", "--sa", "api",
            "--out", str(tmp_path / "w"))
    assert "spiffe://corp.example/ns/pay/sa/api" in p.stdout
    v = run("openssl", "verify", "-CAfile", str(a / "root-cert.pem"),
            str(tmp_path / "w" / "cert-chain.pem"))
    assert v.returncode != 0
    assert 24 * 3600 <= validity(tmp_path / "w" / "cert-chain.pem") <= 24 * 3600 + 120


def test_refusals(meshlet_bin, tmp_path):
    ca = tmp_path / "ca"
    assert run(meshlet_bin, "ca", "init", "--dir", str(ca)).returncode == 0
    p = run(meshlet_bin, "ca", "init", "--dir", str(ca))
    assert p.returncode == 1 and "refusing to replace a mesh root" in p.stderr
    p = run(meshlet_bin, "ca", "issue", "--dir", str(ca), "--ns", "Shop/x", "--sa", "a",
            "--out", str(tmp_path / "w"))
    assert p.returncode == 2 and "lower-case" in p.stderr
    p = run(meshlet_bin, "ca", "issue", "--dir", str(ca), "--ns", "shop", "--sa", "a",
            "--out", str(tmp_path / "w"), "--ttl", "soon")
    assert p.returncode == 2 and "--ttl soon" in p.stderr
    p = run(meshlet_bin, "ca", "issue", "--dir", str(tmp_path / "nope"), "--ns", "shop",
            "--sa", "a", "--out", str(tmp_path / "w"))
    # a missing CA is unreadable input (2), and the message says how to make one
    assert p.returncode == 2 and "cannot read" in p.stderr and "meshlet ca init --dir" in p.stderr
