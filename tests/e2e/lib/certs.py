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
