# SPDX-License-Identifier: Apache-2.0
"""`meshlet run`'s flags (issue 12): a bad value is refused at start with exit 2 and a
message naming the flag and the value; `--gateway` must name a Gateway of the config;
`--log-level` and log lines with an Envoy-style timestamp and level; the help texts of
`run` and `ca` describe every flag the code accepts."""
import pathlib
import re
import subprocess

import pytest

from configs import canary_config
from meshlet_proc import Meshlet, free_port
import meshlet

ROOT = pathlib.Path(__file__).resolve().parents[2]
LOG_LINE = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[(debug|info|warning|error)\] ")


@pytest.fixture
def config_dir(tmp_path):
    (tmp_path / "config.yaml").write_text(canary_config(free_port(), 1, 2))
    return tmp_path


def run(binary, config_dir, *args):
    """`meshlet run` with <args> that must refuse to start: its result (a start that
    serves would hit the timeout and fail the test)."""
    return meshlet.run(binary, "run", "-c", config_dir, "-n", "shop",
                       "--admin", f"127.0.0.1:{free_port()}",
                       "--mesh-listen", f"127.0.0.1:{free_port()}",
                       "--listen-address", "127.0.0.1", *args, timeout=10)


@pytest.mark.parametrize("flag,value,expected", [
    ("--workers", "0", "from 1 to 256"),
    ("--workers", "abc", "from 1 to 256"),
    ("--workers", "4x", "from 1 to 256"),
    ("--workers", "257", "from 1 to 256"),
    ("--workers", "", "from 1 to 256"),
    ("--label", "noequals", "KEY=VALUE"),
    ("--label", "=v", "KEY=VALUE"),
    ("--gateway", "edge", "NAMESPACE/NAME"),
    ("--gateway", "shop/", "NAMESPACE/NAME"),
    ("--drain-time", "", "seconds or a duration"),
    ("--drain-time", "soon", "seconds or a duration"),
    ("--drain-time", "-1", "seconds or a duration"),
    ("--drain-time", "2h", "seconds or a duration"),
    ("--log-level", "loud", "debug|info|warning|error|off"),
    ("--access-log-format", "xml", "json or text"),
    ("--inbound", "9080", "PORT=HOST:PORT"),
    ("--inbound", "-1=127.0.0.1:80", "PORT=HOST:PORT"),
    ("--inbound", "9080=127.0.0.1:+80", "PORT=HOST:PORT"),
    ("--namespace", "", "namespace"),
])
def test_bad_flag_values_are_refused_with_the_reason(meshlet_bin, config_dir, flag, value,
                                                     expected):
    r = run(meshlet_bin, config_dir, flag, value)
    assert r.code == 2, r
    assert f"{flag} '{value}'" in r.err and expected in r.err, r.err


def test_unknown_option_and_missing_value(meshlet_bin, config_dir):
    r = run(meshlet_bin, config_dir, "--frobnicate")
    assert r.code == 2 and "unknown option --frobnicate" in r.err, r
    r = run(meshlet_bin, config_dir, "--workers")
    assert r.code == 2 and "--workers needs a value" in r.err, r


def test_no_config_is_a_usage_error(meshlet_bin):
    r = meshlet.run(meshlet_bin, "run", timeout=10)
    assert r.code == 2 and "no config" in r.err, r


def test_gateway_must_name_a_gateway_of_the_config(meshlet_bin, config_dir):
    r = run(meshlet_bin, config_dir, "--gateway", "shop/nope")
    assert r.code == 2, r
    assert "--gateway shop/nope: the config has no Gateway shop/nope (it has: shop/edge)" in r.err
    assert "not starting" in r.err


def test_a_known_gateway_is_served(meshlet_bin, config_dir):
    m = Meshlet(meshlet_bin, config_dir, extra=("-n", "shop", "--gateway", "shop/edge")).start()
    assert m.stop() == 0, m.logs()


@pytest.mark.parametrize("flag,value,expected", [
    ("--admin", "localhost", "--admin 'localhost': expected IP:PORT"),
    ("--admin", "127.0.0.1:99999", "--admin '127.0.0.1:99999': expected IP:PORT"),
    ("--mesh-listen", "1.2.3", "--mesh-listen '1.2.3': expected IP:PORT"),
    ("--listen-address", "not-an-ip", "--listen-address 'not-an-ip': expected an IP address"),
])
def test_bad_address_names_the_flag_and_value(meshlet_bin, config_dir, flag, value, expected):
    r = run(meshlet_bin, config_dir, flag, value)  # given last, so it wins
    assert r.code == 2 and expected in r.err, r
    assert "--listen-address, --mesh-listen or --admin" not in r.err


def test_missing_identity_says_which_file_and_what_to_run(meshlet_bin, config_dir, tmp_path):
    r = run(meshlet_bin, config_dir, "--identity", tmp_path / "nope")
    assert r.code == 2, r
    assert f"cannot read {tmp_path / 'nope'}/cert-chain.pem: No such file or directory" in r.err
    assert "meshlet ca issue --dir CA_DIR --ns NAMESPACE --sa SERVICE_ACCOUNT" in r.err
    assert "error:" not in r.err  # no raw OpenSSL error string


def test_identity_with_a_missing_key(meshlet_bin, config_dir, tmp_path):
    meshlet.ca(meshlet_bin, "init", "--dir", tmp_path / "ca")
    meshlet.ca(meshlet_bin, "issue", "--dir", tmp_path / "ca", "--ns", "shop", "--sa", "gw",
               "--out", tmp_path / "id")
    (tmp_path / "id" / "key.pem").unlink()
    r = run(meshlet_bin, config_dir, "--identity", tmp_path / "id")
    assert r.code == 2 and f"cannot read {tmp_path / 'id'}/key.pem" in r.err, r


def test_every_log_line_has_a_timestamp_and_a_level(meshlet_bin, config_dir):
    m = Meshlet(meshlet_bin, config_dir, extra=("-n", "shop")).start()
    m.admin("/ready")
    assert m.stop() == 0
    lines = m.logs().splitlines()
    assert any("config loaded and checked" in ln for ln in lines), lines
    assert any(ln.endswith("[info] stopping") for ln in lines), lines
    for ln in lines:
        assert LOG_LINE.match(ln), ln


def test_log_level_flag(meshlet_bin, config_dir):
    m = Meshlet(meshlet_bin, config_dir, extra=("-n", "shop", "--log-level", "debug")).start()
    m.admin("/stats")
    assert m.admin("/logging") == "level: debug\n"
    assert m.stop() == 0
    assert re.search(r"\]\[debug\] admin: GET /stats -> 200", m.logs()), m.logs()
    m = Meshlet(meshlet_bin, config_dir, extra=("-n", "shop", "--log-level", "error")).start()
    m.admin("/stats")
    assert m.admin("/logging") == "level: error\n"
    assert m.stop() == 0
    assert m.logs() == "", m.logs()  # nothing at error or above happened


def opts_in(source):
    """The long options a getopt table in <source> accepts."""
    table = re.search(r"struct option opts\[\] = \{(.*?)\n    \};", source, re.S).group(1)
    return re.findall(r'\{"([a-z-]+)",', table)


def test_help_run_describes_every_flag(meshlet_bin):
    flags = opts_in((ROOT / "src/cli/cmd_run.c").read_text())
    assert "log-level" in flags and len(flags) > 15
    for args in (("help", "run"), ("run", "--help"), ("run", "-h")):
        r = meshlet.run(meshlet_bin, *args)
        assert r.code == 0, r
        for f in flags:
            assert f"--{f}" in r.out, (args, f)
        assert "Exit status" in r.out


def test_help_ca_describes_every_flag(meshlet_bin):
    flags = opts_in((ROOT / "src/cli/cmd_ca.c").read_text())
    assert set(flags) >= {"dir", "trust-domain", "ttl", "ns", "sa", "out", "help"}
    for args in (("help", "ca"), ("ca", "--help"), ("ca", "-h"), ("ca", "issue", "--help")):
        r = meshlet.run(meshlet_bin, *args)
        assert r.code == 0, r
        for f in flags:
            assert f"--{f}" in r.out, (args, f)
    r = meshlet.run(meshlet_bin, "ca", "issue", "--dir", "x", "--ns", "a")
    assert r.code == 2 and "--sa is required" in r.err, r
    r = meshlet.run(meshlet_bin, "help", "nope")
    assert r.code == 2 and 'unknown command "nope"' in r.err, r


def test_exit_status_when_a_port_is_taken(meshlet_bin, config_dir):
    """README: 1 when meshlet cannot start (a port in use), with the flag and the reason."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run(meshlet_bin, config_dir, "--admin", f"127.0.0.1:{port}")
        assert r.code == 1, r
        assert f"--admin 127.0.0.1:{port}: Address already in use" in r.err, r.err


def test_a_gateway_gone_at_a_reload_is_a_warning(meshlet_bin, config_dir):
    """At start an unknown --gateway refuses; at a reload the running proxy keeps going
    (the Gateway's listeners go, as in Istio) and says why in a warning."""
    import urllib.request
    m = Meshlet(meshlet_bin, config_dir,
                extra=("-n", "shop", "--gateway", "shop/edge", "--no-watch")).start()
    try:
        conf = config_dir / "config.yaml"
        conf.write_text(conf.read_text().replace("name: edge,", "name: other,", 1)
                        .replace("gateways: [edge, mesh]", "gateways: [other, mesh]"))
        req = urllib.request.Request(f"http://127.0.0.1:{m.admin_port}/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        assert "][warning] --gateway shop/edge: the config has no such Gateway any more" in \
            m.logs()
        assert m.admin("/listeners").startswith("mesh::")  # only the mesh listener is left
    finally:
        assert m.stop() == 0, m.logs()
