# SPDX-License-Identifier: Apache-2.0
"""Running the meshlet binary from tests."""
import json
import subprocess


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run(binary, *args, timeout=60):
    """Run `meshlet ARGS...` and return its exit code and output; never a signal death."""
    proc = subprocess.run([binary, *map(str, args)], capture_output=True, text=True,
                          errors="replace", timeout=timeout)
    assert proc.returncode >= 0, f"meshlet died from signal {-proc.returncode}: {proc.stderr}"
    return Result(proc)


def messages(binary, *args):
    """Run with -o json and return (exit code, list of message dicts)."""
    r = run(binary, *args[:1], "-o", "json", *args[1:])
    return r.code, r.json()["messages"]


def explain(binary, config_dir, port, path, ns="shop", host="api.example.com"):
    """`meshlet explain GET http://<host>:<port><path>` over <config_dir>: its text."""
    r = run(binary, "explain", "-c", config_dir, "-n", ns, "GET", f"http://{host}:{port}{path}")
    assert r.code == 0, r
    return r.out


def get(port, path, host="api.example.com", headers=None, timeout=10):
    """One GET on a new connection: (status, x-envoy-overloaded, body)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path, headers={"Host": host, **(headers or {})})
    r = c.getresponse()
    out = (r.status, r.getheader("x-envoy-overloaded"), r.read())
    c.close()
    return out


def ca(binary, *args):
    """`meshlet ca ARGS...`, which must succeed."""
    r = run(binary, "ca", *args)
    assert r.code == 0, r
    return r.out
