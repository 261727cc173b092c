# SPDX-License-Identifier: Apache-2.0
"""`make run`'s demo (scripts/demo.sh, issue 12): any stop of the script (TERM, INT as from
Ctrl-C, HUP) stops every process it started (kill -TERM of the script used to leave all
eight running), the explain command it prints explains what it runs, and the rollout it
prints rolls v2 back by itself when v2 is broken on purpose.

The script runs from a scratch tree shaped like the repository (its own copy of the
script, links to the binaries and examples/), so build/demo/ of the checkout is left alone,
with DEMO_PORT_SHIFT moving its fixed ports to free ones."""
import contextlib
import os
import pathlib
import random
import shlex
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

# Every port the demo listens on, before the shift.
DEMO_PORTS = [8080, 15000, 15001, 15100, 15101, 15102, 15200, 15201, 15202,
              19081, 19082, 19083, 29081, 29082, 29083]


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_shift():
    """A shift that puts every demo port on a free one below the ephemeral range."""
    for _ in range(200):
        shift = random.randrange(1000, 3400)
        if all(port_free(p + shift) for p in DEMO_PORTS):
            return shift
    pytest.fail("no free set of ports for the demo")


def children(pid):
    """Every live descendant of <pid> (zombies are gone for this purpose)."""
    parent = {}
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parent[int(d.name)] = int(fields[1])
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p and c not in out:
                out.add(c)
                todo.append(c)
    return out


def alive(pid):
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(pred, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    assert pred(), what


@pytest.fixture
def demo_tree(meshlet_bin, repo_root, tmp_path):
    tree = tmp_path / "repo"
    (tree / "scripts").mkdir(parents=True)
    (tree / "build").mkdir()
    (tree / "examples").mkdir()
    script = tree / "scripts" / "demo.sh"
    script.write_text((repo_root / "scripts" / "demo.sh").read_text())
    script.chmod(0o755)
    (tree / "meshlet").symlink_to(meshlet_bin)
    (tree / "build" / "backend").symlink_to(repo_root / "build" / "backend")
    (tree / "examples" / "canary").symlink_to(repo_root / "examples" / "canary")
    return tree


def start_demo(tree):
    shift = free_shift()
    log = open(tree.parent / "demo.log", "w+")
    env = dict(os.environ, DEMO_PORT_SHIFT=str(shift))
    proc = subprocess.Popen(["bash", str(tree / "scripts" / "demo.sh")], cwd=tree, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    admin = f"http://127.0.0.1:{15000 + shift}/ready"

    def ready():
        assert proc.poll() is None, open(log.name).read()
        try:
            with urllib.request.urlopen(admin, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, 60, "the demo's gateway never became ready")
        # 3 backends, 3 sidecars, the gateway, its traffic
        wait_until(lambda: len(children(proc.pid)) == 8, 10,
                   f"not 8 processes: {children(proc.pid)}")
        # what it prints comes once its traffic has started, after the gateway is ready
        wait_until(lambda: "Ctrl-C stops everything" in open(log.name).read(), 30,
                   "the demo never printed its commands")
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the script and its children
        proc.wait()
        raise
    return proc, log, shift


@contextlib.contextmanager
def running_demo(tree):
    """The demo started and ready: (process, log, port shift, the processes it started).
    Whatever the test did, nothing it started is left running afterwards."""
    proc, log, shift = start_demo(tree)
    started = children(proc.pid)
    try:
        yield proc, log, shift, started
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for p in started:
            if alive(p):
                os.kill(p, signal.SIGKILL)


def stop_and_wait(proc, started):
    """The demo exits, and every process it started is gone (each by its own PID)."""
    proc.wait(timeout=30)
    wait_until(lambda: not any(alive(p) for p in started), 30,
               f"still running after the demo stopped: {[p for p in started if alive(p)]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_any_stop_of_the_demo_stops_everything_it_started(demo_tree, sig):
    with running_demo(demo_tree) as (proc, log, _, started):
        os.kill(proc.pid, sig)  # the script alone, as `kill -TERM <pid>` does
        stop_and_wait(proc, started)
        assert "stopping everything" in open(log.name).read()


def test_ctrl_c_stops_the_demo(demo_tree):
    """Ctrl-C in a terminal: SIGINT to the whole foreground process group."""
    with running_demo(demo_tree) as (proc, _, _, started):
        os.killpg(proc.pid, signal.SIGINT)
        stop_and_wait(proc, started)


def test_demo_prints_an_explain_command_for_what_it_runs(demo_tree):
    with running_demo(demo_tree) as (_, log, shift, _):
        out = open(log.name).read()
        line = next(x.strip() for x in out.splitlines() if x.strip().startswith("./meshlet explain"))
        assert f"--admin 127.0.0.1:{15000 + shift}" in line, line

        def explain():
            return subprocess.run(shlex.split(line), cwd=demo_tree, capture_output=True,
                                  text=True, timeout=30)

        r = explain()
        assert r.returncode == 0, r.stdout + r.stderr
        assert "explained by the running proxy" in r.stdout
        assert f"listener: gateway prod/prod-gateway, port {8080 + shift}" in r.stdout
        assert "route 1 'orders' (prod/orders rule 1): matched" in r.stdout
        assert "90.0%  orders.prod.svc.cluster.local subset v1" in r.stdout
        # the running config moves (as the rollout does): the command follows it
        vs = demo_tree / "build" / "demo" / "config" / "virtual-service.yaml"
        text = vs.read_text().replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50")
        tmp = vs.with_name(".vs.tmp")
        tmp.write_text(text)
        tmp.rename(vs)
        wait_until(lambda: "50.0%  orders.prod.svc.cluster.local subset v1" in explain().stdout,
                   20, "explain never saw the reloaded config")


def test_demo_prints_an_http2_curl_that_works(demo_tree):
    """The HTTP/2 line it prints (h2c with prior knowledge) is answered over HTTP/2 by a
    backend of the canary, through the gateway and the mutual TLS hop."""
    with running_demo(demo_tree) as (_, log, shift, _):
        out = open(log.name).read()
        line = next(x.strip() for x in out.splitlines() if "--http2-prior-knowledge" in x)
        argv = shlex.split(line, comments=True)
        assert argv[0] == "curl" and f"http://127.0.0.1:{8080 + shift}/orders/1" in argv, line
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert '"v1"' in r.stdout or '"v2"' in r.stdout, r.stdout
        # the same command, asked which protocol answered
        r = subprocess.run(argv + ["-o", "/dev/null", "-w", "%{http_version} %{http_code}"],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout == "2 200", r.stdout + r.stderr


def test_demo_rollout_rolls_back_a_broken_v2_by_itself(demo_tree):
    """Issue 16's newcomer: with the demo's own traffic, the rollout it prints walks v2 up;
    v2 broken on purpose (the curl it prints) at the 25% step is rolled back to 100% v1 by
    the rollout itself, over the mutual TLS hop, and the dashboard's /rollout says so."""
    import json
    with running_demo(demo_tree) as (_, log, shift, _):
        out = open(log.name).read()
        cmd = next(x.split("#")[0].strip() for x in out.splitlines()
                   if x.strip().startswith("./meshlet rollout -f"))
        fault = next(x.split("#")[0].strip() for x in out.splitlines()
                     if "_fault?status=503" in x)
        p = subprocess.Popen([*shlex.split(cmd), "--min-duration", "1s", "--min-requests", "10",
                              "--interval", "250ms", "-o", "json"], cwd=demo_tree,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        try:
            for line in p.stdout:
                e = json.loads(line)
                seen.append(e)
                if e["event"] == "step" and e["weight"] == 25:
                    subprocess.run(shlex.split(fault), check=True, timeout=10,
                                   capture_output=True)
            err = p.stderr.read()
            assert p.wait(60) == 3, err
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert [e["weight"] for e in seen if e["event"] == "step"] == [10, 25], [
            (e["event"], e["message"], e["checks"]) for e in seen[-2:]]
        assert seen[-1]["event"] == "rolled_back" and "success_rate" in err, err
        vs = demo_tree / "build" / "demo" / "config" / "virtual-service.yaml"
        assert "weight: 100" in vs.read_text() and "weight: 0" in vs.read_text()
        assert "# The canary: 90% to v1" in vs.read_text()  # the file's comments are kept
        with urllib.request.urlopen(f"http://127.0.0.1:{15000 + shift}/rollout", timeout=5) as r:
            assert json.loads(r.read())["phase"] == "rolled_back"
