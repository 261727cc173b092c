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
