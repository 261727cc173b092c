# SPDX-License-Identifier: Apache-2.0
"""Certificates for the end-to-end tests, made with the openssl command."""
import subprocess


def self_signed(d, name="api.example.com", days=1):
    """A self-signed ECDSA P-256 certificate for <name> (CN and DNS SAN), valid <days>:
    (d/tls.crt, d/tls.key)."""
    d.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(d / "tls.key"),
                        "-out", str(d / "tls.crt"), "-days", str(days), "-subj", f"/CN={name}",
                        "-addext", f"subjectAltName=DNS:{name}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return d / "tls.crt", d / "tls.key"


def ca_and_leaves(d):
    """A CA and two leaves it signs (ECDSA P-256, 1 day): a server for IP 127.0.0.1 and
    localhost, and a client: (ca.crt, server.crt, server.key, client.crt, client.key)."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*args):
        p = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *key, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"), "-days",
        "1", "-subj", "/CN=test etcd CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "extendedKeyUsage=clientAuth")):
        run("req", *key, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
            "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(ext + "\n")
        run("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"), "-CAkey",
            str(d / "ca.key"), "-CAcreateserial", "-out", str(d / f"{name}.crt"), "-days", "1",
            "-extfile", str(d / f"{name}.ext"))
    return (d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key")
