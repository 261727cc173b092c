# SPDX-License-Identifier: Apache-2.0
"""What the watched config directory of `meshlet run` reacts to (issue 12): only the files
the loader reads (.yaml, .yml, .json) trigger a reload, never notes or an editor's swap
file; a YAML alias bomb written there is refused in bounded memory and time while the
proxy keeps serving the config in force."""
import time

from test_check import alias_bomb
from test_reload import stats, version_of
from meshlet_proc import eventually


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_non_config_files_do_not_reload(canary, tmp_path):
    m = canary()
    before = stats(m)
    (tmp_path / "notes.txt").write_text("remember to shift the canary\n")
    (tmp_path / ".config.yaml.swp").write_bytes(b"b0VIM 9.0\0" * 50)
    (tmp_path / "README").write_text("x\n")
    # settling is 100 ms (at most 1 s): give a reload ample time to happen if it would
    time.sleep(1.5)
    after = stats(m)
    for key in ("server.config_version", "server.reload_success", "server.reload_failure"):
        assert after[key] == before[key], (key, before[key], after[key], m.logs())
    assert "config files changed" not in m.logs()
    # a .yaml write still reloads, once
    (tmp_path / "extra.yaml").write_text(m.conf.read_text().replace("name: ", "name: x-"))
    assert eventually(lambda: stats(m)["server.reload_success"] != before["server.reload_success"]
                      or stats(m)["server.reload_failure"] != before["server.reload_failure"])
    assert "config files changed" in m.logs()


def test_alias_bomb_in_watched_directory_is_refused_and_proxy_serves(canary, tmp_path):
    m = canary()
    assert version_of(m.gw) == (200, "v1")
    version = stats(m)["server.config_version"]
    rss_before = rss_kb(m.proc.pid)
    (tmp_path / "bomb.yaml").write_text(alias_bomb())
    assert eventually(lambda: stats(m)["server.reload_failure"] == "1", seconds=20), m.logs()
    assert m.proc.poll() is None
    logs = m.logs()
    assert "bomb.yaml:" in logs and "YAML aliases would add more than" in logs, logs
    assert stats(m)["server.config_version"] == version
    assert all(version_of(m.gw) == (200, "v1") for _ in range(20))
    grown_kb = rss_kb(m.proc.pid) - rss_before
    assert grown_kb < 64 * 1024, f"RSS grew by {grown_kb} kB"


def test_configmap_volume_update_reloads(canary, tmp_path):
    """A ConfigMap volume: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>; the
    kubelet updates it by renaming a new ..data symlink over the old one, and only hidden
    names change in the watched directory."""
    from configs import canary_config
    old = tmp_path / "..2026_01_01_00_00_00.1"
    old.mkdir()
    (old / "config.yaml").write_text((tmp_path / "config.yaml").read_text())
    (tmp_path / "config.yaml").unlink()
    (tmp_path / "..data").symlink_to(old.name)
    (tmp_path / "config.yaml").symlink_to("..data/config.yaml")
    m = canary()
    assert version_of(m.gw) == (200, "v1")
    new = tmp_path / "..2026_01_01_00_01_00.2"
    new.mkdir()
    (new / "config.yaml").write_text(canary_config(m.gw, m.v1.port, m.v2.port, weights=(0, 100)))
    (tmp_path / "..data_tmp").symlink_to(new.name)
    (tmp_path / "..data_tmp").rename(tmp_path / "..data")
    assert eventually(lambda: version_of(m.gw) == (200, "v2")), m.logs()
