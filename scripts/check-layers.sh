#!/usr/bin/env bash
# Fails when a file reaches, directly or through the headers it includes, a header of a layer
# it may not use: the "Dependency direction" table of LAYOUT.md (and CONTRIBUTING.md).
# Scans src/, tests/unit/ and fuzz/. Includes are followed transitively, so a header of an
# allowed layer that pulls in a forbidden one is caught, and the message names the chain:
#   src/http/x.c -> src/model/cluster.h -> src/config/resource.h: files in http/ may include
#   only: core/ model/ lb/ tls/ http/
# Every `#include "..."` counts, even under #if, resolved as the Makefile's -I flags do:
# the including file's directory, then src/, then (tests) tests/unit/. Headers of cli/ are
# not followed: only files that may include everything reach them.
# Usage: scripts/check-layers.sh [ROOT]   (ROOT: the tree to check; the repository by default)
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

mapfile -t files < <(find src tests/unit fuzz -name '*.[ch]' 2>/dev/null | LC_ALL=C sort)
[ "${#files[@]}" -gt 0 ] || {
    echo "check-layers: no sources under $PWD" >&2
    exit 2
}

# shellcheck disable=SC2016 # awk program, not shell
prog='
# The table. A word ending in "/" is a layer, anything else one header of a layer.
function rules(layer) {
    if (layer == "core") return "core/"
    if (layer == "config") return "core/ config/"
    if (layer == "model") return "core/ config/ model/"
    if (layer == "tls") return "core/ model/ tls/"
    if (layer == "lb") return "core/ model/ lb/"
    if (layer == "http") return "core/ model/ lb/ tls/ http/"
    if (layer == "control") return "core/ config/ model/ lb/ tls/ control/ http/h1_parse.h"
    if (layer == "admin") return "core/ model/ lb/ tls/ http/ control/ admin/ config/diag.h"
    if (layer == "rollout") return "core/ config/ model/ control/ rollout/ http/h1_parse.h"
    if (layer == "cli") return "*"
    return ""
}

function dirname(p) { return sub(/\/[^\/]*$/, "", p) ? p : "." }

# a/b/../c -> a/c, ./x -> x
function normalize(p,    n, i, k, part, out, stack) {
    n = split(p, part, "/")
    k = 0
    for (i = 1; i <= n; i++) {
        if (part[i] == "." || part[i] == "") continue
        if (part[i] == ".." && k > 0 && stack[k] != "..") { k--; continue }
        stack[++k] = part[i]
    }
    out = ""
    for (i = 1; i <= k; i++) out = out (i > 1 ? "/" : "") stack[i]
    return out
}

function resolve(from, name,    p) {
    p = normalize(dirname(from) "/" name)
    if (p in known) return p
    p = normalize("src/" name)
    if (p in known) return p
    if (from ~ /^tests\/unit\//) {
        p = normalize("tests/unit/" name)
        if (p in known) return p
    }
    return ""
}

# What a file is, for the table: "main", "src:<layer>", "test:<layer>", "harness", "fuzz";
# and "model-header": model/ may use config/ to build the snapshot, but its headers are
# what the data plane reads, so they may not reach config/.
function kind_of(f,    p) {
    if (f == "src/main.c") return "main"
    if (f ~ /^src\/model\/.*\.h$/) return "model-header"
    if (f ~ /^src\/[^\/]+\//) { p = substr(f, 5); sub(/\/.*/, "", p); return "src:" p }
    if (f ~ /^tests\/unit\/harness\.[ch]$/) return "harness"
    if (f ~ /^tests\/unit\/[^\/]+\//) { p = substr(f, 12); sub(/\/.*/, "", p); return "test:" p }
    if (f ~ /^fuzz\//) return "fuzz"
    return "other"
}

# What a file of kind <k> may reach, as paths from the root: a word ending in "/" is a
# directory, anything else one file. "" when its layer is not in the table.
function allowed(k,    layer, r, w, n, i, out) {
    if (k == "main") return "src/cli/cli.h"
    if (k == "fuzz") return "src/ fuzz/"
    if (k == "harness") return "src/ tests/unit/harness.h"
    if (k == "model-header") return "src/core/ src/model/"
    layer = k; sub(/^[a-z]+:/, "", layer)
    r = rules(layer)
    if (r == "") return ""
    if (r == "*") {
        out = "src/"
    } else {
        n = split(r, w, " ")
        out = ""
        for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") "src/" w[i]
    }
    if (k ~ /^test:/) out = out " tests/unit/harness.h tests/unit/" layer "/"
    return out
}

function permits(words, node,    w, n, i) {
    n = split(words, w, " ")
    for (i = 1; i <= n; i++)
        if (w[i] ~ /\/$/ ? index(node, w[i]) == 1 : node == w[i]) return 1
    return 0
}

# The words as a reader of the table writes them: src/ dropped.
function pretty(words,    w, n, i, out) {
    n = split(words, w, " ")
    out = ""
    for (i = 1; i <= n; i++) {
        if (w[i] == "src/") w[i] = "any header under src/"
        else sub(/^src\//, "", w[i])
        out = out (i > 1 ? " " : "") w[i]
    }
    return out
}

function where(k) {
    if (k == "main") return "src/main.c"
    if (k == "fuzz") return "files in fuzz/"
    if (k == "harness") return "tests/unit/harness"
    if (k == "model-header") return "headers in model/"
    if (k ~ /^src:/) return "files in " substr(k, 5) "/"
    return "files in tests/unit/" substr(k, 6) "/"
}

FNR == 1 { files[++n_files] = FILENAME; known[FILENAME] = 1 }
/^[ \t]*#[ \t]*include[ \t]*"/ {
    s = $0
    sub(/^[ \t]*#[ \t]*include[ \t]*"/, "", s)
    sub(/".*/, "", s)
    n_inc[FILENAME]++
    inc[FILENAME, n_inc[FILENAME]] = s
}

END {
    for (i = 1; i <= n_files; i++) {
        f = files[i]
        for (j = 1; j <= n_inc[f]; j++) edge[f, j] = resolve(f, inc[f, j])
    }
    bad = 0
    for (i = 1; i <= n_files; i++) {
        root = files[i]
        k = kind_of(root)
        if (k == "other") continue
        words = allowed(k)
        if (words == "") {
            layer = k; sub(/^[a-z]+:/, "", layer)
            printf "%s: layer %s/ is not in the table of LAYOUT.md (scripts/check-layers.sh)\n", root, layer
            bad = 1
            continue
        }
        # Breadth first, so the chain reported is a shortest one.
        gen++
        head = 1; tail = 0
        queue[++tail] = root; seen[root] = gen; parent[root] = ""
        while (head <= tail) {
            v = queue[head++]
            if (v != root && v ~ /^src\/cli\//) continue
            for (j = 1; j <= n_inc[v]; j++) {
                w = edge[v, j]
                if (w == "" || seen[w] == gen) continue
                seen[w] = gen; parent[w] = v
                if (permits(words, w)) {
                    queue[++tail] = w
                    continue
                }
                chain = w
                for (p = v; p != ""; p = parent[p]) chain = p " -> " chain
                printf "%s: %s may include only: %s%s\n", chain, where(k), pretty(words), \
                    k == "model-header" ? " (config/ only from model/ .c files: the data plane reads model/ headers)" : ""
                bad = 1
            }
        }
    }
    exit bad
}
'
awk "$prog" "${files[@]}"
