#!/usr/bin/env bash
# Installs the Debian packages that building and testing meshlet need.
# Fast no-op when every package is already installed.
set -euo pipefail

pkgs=(
    gcc make pkg-config
    clang-format        # make lint
    libfyaml-dev        # YAML/JSON with line/column marks
    libpcre2-dev        # regex (JIT), RE2-subset checks
    libxxhash-dev       # xxHash64 for consistent hashing, as Envoy
    libssl-dev          # OpenSSL 3: mesh CA, mTLS
    openssl             # e2e tests inspect certificates and connect with s_client
    curl                # e2e tests: a real HTTP client
    libcmocka-dev       # unit tests
    python3-pytest      # end-to-end tests
    iproute2            # ss: the e2e tests look at upstream sockets
)

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# promtool, Prometheus's own checker of the /stats/prometheus exposition (e2e tests): the
# binary alone, unpacked from Debian's prometheus package, so no server gets installed.
tools="$(dirname "$0")/../build/tools"
if [ ! -x "$tools/promtool" ] && ! command -v promtool >/dev/null; then
    echo "deps: fetching promtool (Debian package prometheus, binary only)"
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
        $sudo apt-get update -qq
        (cd "$tmp" && apt-get download prometheus >/dev/null)
    fi
    dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
    mkdir -p "$tools"
    mv "$tmp/usr/bin/promtool" "$tools/promtool"
    rm -rf "$tmp"
fi
