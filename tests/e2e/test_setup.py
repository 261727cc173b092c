# SPDX-License-Identifier: Apache-2.0
"""Set-up (issue 12): scripts/deps.sh installs every program the tests start, and `make run`
(deps.sh without --test) fetches nothing only the tests use (promtool)."""
import os
import pathlib
import re
import shutil
import subprocess

E2E = pathlib.Path(__file__).parent
# A program a test starts: subprocess.run(["wrk", ...]) / Popen(["ss", ...]) ...
STARTED = re.compile(r"subprocess\.(?:run|Popen|check_output|call)\(\s*\[\s*\"([\w.+-]+)\"")


def started_programs():
    progs = set()
    for f in list(E2E.glob("*.py")) + list((E2E / "lib").glob("*.py")):
        progs.update(STARTED.findall(f.read_text()))
    return progs


def package_of(program):
    """The Debian package that installs <program> (dpkg -S on its resolved path)."""
    path = shutil.which(program)
    assert path, f"{program} is started by a test but is not installed"
    for candidate in (path, os.path.realpath(path)):
        p = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.split(":", 1)[0]
        # merged /usr: /usr/bin/x is known to dpkg as /bin/x
        if candidate.startswith("/usr/"):
            p = subprocess.run(["dpkg-query", "-S", candidate[4:]], capture_output=True, text=True)
            if p.returncode == 0:
                return p.stdout.split(":", 1)[0]
    raise AssertionError(f"no Debian package owns {path}")


def essential(package):
    """Debian's Essential packages (bash, dpkg, coreutils) are on every system."""
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Essential}", package],
                       capture_output=True, text=True)
    return p.stdout.strip() == "yes"


def test_deps_installs_every_program_the_e2e_tests_start(repo_root):
    listed = subprocess.run([str(repo_root / "scripts" / "deps.sh"), "--test", "--list"],
                            capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    packages = set(listed.stdout.split())
    progs = started_programs()
    assert {"wrk", "ss", "openssl", "curl"} <= progs, progs  # the scan sees them
    owners = {p: package_of(p) for p in progs}
    missing = {p: o for p, o in owners.items() if o not in packages and not essential(o)}
    assert not missing, f"scripts/deps.sh --test does not install {missing}"
    assert "python3-pytest" in packages and "libcmocka-dev" in packages


def stub_tree(repo_root, tmp_path):
    """A copy of deps.sh beside an empty build/ and a PATH whose apt-get only records its
    arguments (and fails), with every package reported installed."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(repo_root / "scripts" / "deps.sh", tmp_path / "scripts" / "deps.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "apt-calls"
    (bin_dir / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\nexit 1\n")
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\nprintf installed\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    # no promtool anywhere on this PATH
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin")
    return env, calls


def test_make_run_deps_do_not_fetch_promtool(repo_root, tmp_path):
    env, calls = stub_tree(repo_root, tmp_path)
    if shutil.which("promtool", path=env["PATH"]):
        env["PATH"] = env["PATH"].split(":")[0] + ":/bin"
    p = subprocess.run(["bash", str(tmp_path / "scripts" / "deps.sh")], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not calls.exists(), calls.read_text()  # apt-get never asked for prometheus
    assert not (tmp_path / "build" / "tools" / "promtool").exists()
    assert "promtool" not in p.stdout + p.stderr


def test_test_deps_fetch_promtool(repo_root, tmp_path):
    env, calls = stub_tree(repo_root, tmp_path)
    p = subprocess.run(["bash", str(tmp_path / "scripts" / "deps.sh"), "--test"], env=env,
                       capture_output=True, text=True, timeout=30)
    if shutil.which("promtool", path=env["PATH"]):
        assert p.returncode == 0  # already installed: nothing to fetch
        return
    # the stub apt-get refuses, so the fetch fails, but it was asked for
    assert "download prometheus" in calls.read_text(), p.stdout + p.stderr


# A path of the repository named in the docs: `examples/canary/`, `scripts/deps.sh`, ...
REPO_PATH = re.compile(r"`((?:\.\./|examples/|scripts/|src/|tests/|bench/|docs/|fuzz/)[^`\s]*)`")


def test_readme_and_contributing_are_self_contained(repo_root):
    """A clone has no ../shared: every file the docs name is in the repository."""
    for doc in ("README.md", "CONTRIBUTING.md"):
        text = (repo_root / doc).read_text()
        assert "../shared" not in text, doc
        for path in REPO_PATH.findall(text):
            path = path.split(" ")[0].rstrip(".,:;")
            if "<" in path:  # tests/unit/<layer>/test_<stem>.c: the folder before it
                path = path[:path.index("<")].rsplit("/", 1)[0]
            assert (repo_root / path).exists(), f"{doc} names {path}, which a clone lacks"


# A program a benchmark script runs: `command -v wrk`, `taskset -c 0 "$HAPROXY"`, ... by name.
BENCH_PROGRAMS = {"haproxy": "haproxy", "nginx": "nginx", "wrk": "wrk", "bc": "bc",
                  "/usr/bin/time": "time", "h2load": "nghttp2-client", "nghttp ": "nghttp2-client",
                  "pgrep": "procps", "bench/memory.py": "python3-h2"}


def test_deps_installs_what_the_benchmarks_run(repo_root):
    listed = subprocess.run([str(repo_root / "scripts" / "deps.sh"), "--bench", "--list"],
                            capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    packages = set(listed.stdout.split())
    scripts = " ".join(f.read_text() for f in (repo_root / "bench").glob("*.sh"))
    for prog, package in BENCH_PROGRAMS.items():
        assert prog in scripts  # still used
        assert package in packages, (prog, package)
