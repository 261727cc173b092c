#!/usr/bin/env bash
# House rules a compiler does not check (STYLE.md): no banned calls, no `//` comments,
# a TODO names its issue, files stay under the length cap, each .c starts with SPDX.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_LINES=1500
bad=0
say() {
    echo "$1"
    bad=1
}

files=$(find src tests/unit fuzz -name '*.[ch]' 2>/dev/null | sort || true)
for f in $files; do
    n=$(wc -l <"$f")
    [ "$n" -le "$MAX_LINES" ] || say "$f: $n lines, over the $MAX_LINES cap: split it"
    head -1 "$f" | grep -q 'SPDX-License-Identifier' || say "$f:1: first line must be the SPDX line"
    # Strip string literals before looking for code patterns.
    sed -e 's/"\([^"\\]\|\\.\)*"/""/g' "$f" | grep -nE '(^|[^:])//' | sed "s|^|$f:|;s|$| (use /* */)|" || true
    sed -e 's/"\([^"\\]\|\\.\)*"/""/g' "$f" | grep -nE '(^|[^:])//' >/dev/null && bad=1
    if sed -e 's/"\([^"\\]\|\\.\)*"/""/g' "$f" |
        grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets|strtok|atoi|atol)[[:space:]]*\(' >/tmp/checksrc.$$; then
        sed "s|^|$f:|;s|$| (banned call)|" /tmp/checksrc.$$
        bad=1
    fi
    if grep -nE 'TODO' "$f" | grep -vE 'TODO\(#[0-9]+\)|TODO #[0-9]+' >/tmp/checksrc.$$; then
        sed "s|^|$f:|;s|$| (TODO without issue number)|" /tmp/checksrc.$$
        bad=1
    fi
done
rm -f /tmp/checksrc.$$
exit $bad
