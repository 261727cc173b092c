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
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
