# SPDX-License-Identifier: Apache-2.0
"""scripts/check-layers.sh (issue 13): the dependency table of LAYOUT.md, enforced on what a
file reaches through the headers it includes, in src/, tests/unit/ and fuzz/. Each case
plants files in a copy of the tree and reads the script's verdict."""
import shutil
import subprocess

import pytest


def tree_copy(repo_root, tmp_path):
    root = tmp_path / "tree"
    for d in ("src", "tests/unit", "fuzz"):
        shutil.copytree(repo_root / d, root / d)
    return root


def check(repo_root, root):
    return subprocess.run([str(repo_root / "scripts" / "check-layers.sh"), str(root)],
                          capture_output=True, text=True, timeout=60)


def plant(root, files):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_layers_the_tree_as_it_is_passes(repo_root, tmp_path):
    p = check(repo_root, tree_copy(repo_root, tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == ""


def test_layers_a_header_that_pulls_in_config_fails_naming_the_chain(repo_root, tmp_path):
    root = tree_copy(repo_root, tmp_path)
    plant(root, {
        "src/model/leak.h": '#include "config/resource.h"\n',
        "src/lb/leak.h": '#include "core/slice.h"\n#include "model/leak.h"\n',
        "src/http/leak.c": '#include "http/h1_parse.h"\n#include "lb/leak.h"\n',
    })
    p = check(repo_root, root)
    assert p.returncode == 1, p.stdout
    lines = p.stdout.splitlines()
    assert ("src/http/leak.c -> src/lb/leak.h -> src/model/leak.h -> src/config/resource.h: "
            "files in http/ may include only: core/ model/ lb/ tls/ http/") in lines, p.stdout
    assert ("src/lb/leak.h -> src/model/leak.h -> src/config/resource.h: "
            "files in lb/ may include only: core/ model/ lb/") in lines, p.stdout
    # model/ .c files may use config/, model/ headers may not: the data plane reads them.
    assert ("src/model/leak.h -> src/config/resource.h: headers in model/ may include only: "
            "core/ model/ (config/ only from model/ .c files: the data plane reads model/ "
            "headers)") in lines, p.stdout
    assert len(lines) == 3, p.stdout


@pytest.mark.parametrize("path,text,expected", [
    # lb/ and tls/ never include each other
    ("src/tls/leak.c", '#include "lb/lb.h"\n',
     "src/tls/leak.c -> src/lb/lb.h: files in tls/ may include only: core/ model/ tls/"),
    # control/ may use http/h1_parse.h only of http/
    ("src/control/leak.c", '#include "http/h1_parse.h"\n#include "http/worker.h"\n',
     "src/control/leak.c -> src/http/worker.h: files in control/ may include only: core/ "
     "config/ model/ lb/ tls/ control/ http/h1_parse.h"),
    # admin/ may use config/diag.h only of config/
    ("src/admin/leak.c", '#include "config/diag.h"\n#include "config/config.h"\n',
     "src/admin/leak.c -> src/config/config.h: files in admin/ may include only: core/ model/ "
     "lb/ tls/ http/ control/ admin/ config/diag.h"),
    # rollout/ may use control/, and not what a control/ header pulls in beyond its row
    ("src/rollout/leak.c", '#include "control/leak.h"\n',
     "src/rollout/leak.c -> src/control/leak.h -> src/tls/ctx.h: files in rollout/ may include "
     "only: core/ config/ model/ control/ rollout/ http/h1_parse.h"),
    # a test has its layer's row, the harness and its own directory
    ("tests/unit/lb/test_leak.c", '#include "harness.h"\n#include "http/h1_parse.h"\n',
     "tests/unit/lb/test_leak.c -> src/http/h1_parse.h: files in tests/unit/lb/ may include "
     "only: core/ model/ lb/ tests/unit/harness.h tests/unit/lb/"),
    # fuzz/ may use any src/ header, not the unit harness
    ("fuzz/fuzz_leak.c", '#include "lb/lb.h"\n#include "../tests/unit/harness.h"\n',
     "fuzz/fuzz_leak.c -> tests/unit/harness.h: files in fuzz/ may include only: any header "
     "under src/ fuzz/"),
    # main.c: only the cli entry
    ("src/main.c", '#include "cli/cli.h"\n#include "core/log.h"\n',
     "src/main.c -> src/core/log.h: src/main.c may include only: cli/cli.h"),
    ("src/model/leak.c", '#include "config/config.h"\n#include "lb/lb.h"\n',
     "src/model/leak.c -> src/lb/lb.h: files in model/ may include only: core/ config/ model/"),
    ("src/h9/leak.c", '#include "core/slice.h"\n',
     "src/h9/leak.c: layer h9/ is not in the table of LAYOUT.md (scripts/check-layers.sh)"),
])
def test_layers_each_row_of_the_table(repo_root, tmp_path, path, text, expected):
    root = tree_copy(repo_root, tmp_path)
    plant(root, {path: text, "src/control/leak.h": '#include "tls/ctx.h"\n',
                 "src/tls/ctx.h": "/* stand-in */\n"})
    p = check(repo_root, root)
    assert p.returncode == 1, p.stdout
    assert p.stdout.splitlines() == [expected], p.stdout
