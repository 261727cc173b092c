# SPDX-License-Identifier: Apache-2.0
"""Headless Chromium driven over the DevTools protocol, for tests of the dashboard.

The protocol runs over a pipe (--remote-debugging-pipe: Chromium reads commands on its fd 3
and writes answers on its fd 4, each message JSON followed by a NUL), so no port is opened
and no WebSocket client is needed. Every call has a deadline; close() ends Chromium by PID.
"""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


def chromium_path():
    """Debian's chromium (scripts/deps.sh --test installs it), or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page of <width> x <height> CSS pixels."""

    def __init__(self, log_path, width=1366, height=900, timeout=30):
        path = chromium_path()
        if path is None:
            raise BrowserError("chromium is not installed (scripts/deps.sh --test)")
        self.profile = tempfile.mkdtemp(prefix="meshlet-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        args = [path, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--mute-audio",
                "--disable-background-networking", "--disable-component-update",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
                "about:blank"]
        # bash (dash takes one-digit fds only) hands Chromium the pipe ends as fds 3 and 4
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_child_r} 4>&{from_child_w}', "bash", *args],
            pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=self.log)
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._pending = b""
        self.session = None
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"},
                               timeout=timeout)["targetId"]
            self.session = self.call("Target.attachToTarget",
                                     {"targetId": target, "flatten": True})["sessionId"]
            self.call("Page.enable")
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1,
                       "mobile": False})
        except BaseException:
            self.close()  # the caller never gets this object to close
            raise

    def _read_message(self, deadline):
        while b"\0" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer from chromium in time")
            ready, _, _ = select.select([self._from_child], [], [], min(left, 0.5))
            if not ready:
                if self.proc.poll() is not None:
                    raise BrowserError(f"chromium exited {self.proc.returncode}")
                continue
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the protocol pipe")
            self._pending += chunk
        message, self._pending = self._pending.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, timeout=15):
        """Send one command (to the page once attached) and return its result."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") != self._next_id:
                continue  # an event, or the answer to nothing we wait for
            if "error" in answer:
                raise BrowserError(f"{method}: {answer['error']}")
            return answer.get("result", {})

    def goto(self, url):
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression):
        """The value of a JavaScript <expression> in the page (JSON-serialisable)."""
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise BrowserError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, seconds, pred=bool):
        """Evaluate <expression> until <pred> holds for its value or <seconds> pass: the value,
        or None when it never held."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if pred(value):
                return value
            time.sleep(0.2)
        return None

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png",
                                                    "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self.call("Browser.close", timeout=5)
                except (BrowserError, OSError):
                    pass
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)
