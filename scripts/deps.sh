#!/usr/bin/env bash
# Installs the Debian packages meshlet needs; a fast no-op when every one is present.
#
#   scripts/deps.sh          build and run (`make run`): compiler, libraries, curl
#   scripts/deps.sh --test   also everything the tests use (`make test`, `make asan`,
#                            `make tsan`): lint, cmocka, pytest, the clients the end-to-end
#                            tests run (openssl, curl, ss, wrk, chromium), promtool and
#                            prometheus
#   scripts/deps.sh --bench  also what the benchmarks run (`make bench`): HAProxy, nginx,
#                            wrk, h2load, GNU time, bc, etcd
#   scripts/deps.sh --fuzz   also what `make fuzz` builds with: clang and its libFuzzer and
#                            sanitizer runtimes
#   scripts/deps.sh [--test] [--bench] [--fuzz] --list   print the packages, one a line;
#                            install nothing
#
# Every program or Python module a test or the demo starts is listed here, so a fresh
# Debian 12 machine needs nothing installed by hand. Python modules of the tests are the
# standard library's plus pytest.
set -euo pipefail

test=false
bench=false
fuzz=false
list=false
for arg in "$@"; do
    case "$arg" in
    --test) test=true ;;
    --bench) bench=true ;;
    --fuzz) fuzz=true ;;
    --list) list=true ;;
    *)
        echo "usage: scripts/deps.sh [--test] [--bench] [--fuzz] [--list]" >&2
        exit 2
        ;;
    esac
done

pkgs=(
    gcc make pkg-config
    libfyaml-dev        # YAML/JSON with line/column marks
    libpcre2-dev        # regex (JIT), RE2-subset checks
    libxxhash-dev       # xxHash64 for consistent hashing, as Envoy
    libssl-dev          # OpenSSL 3: mesh CA, mTLS
    libnghttp2-dev      # HTTP/2 framing, HPACK and flow control
    libc-ares-dev       # asynchronous DNS on the main loop (ServiceEntry resolution: DNS)
    curl                # the demo's commands and its background traffic
)
if $test; then
    pkgs+=(
        clang-format    # make lint
        libcmocka-dev   # unit tests
        python3-pytest  # end-to-end tests (/usr/bin/python3)
        openssl         # e2e tests inspect certificates and connect with s_client
        iproute2        # ss: the e2e tests look at upstream sockets
        wrk             # e2e tests load the proxy through reloads and the rollout
        nghttp2-client  # h2load and nghttp: HTTP/2 clients for the e2e tests
        python3-h2      # raw HTTP/2 frames in e2e tests
        python3-grpcio  # a real gRPC client and server in e2e tests (and examples/grpc)
        python3-hyperframe  # HTTP/2 attacks frame by frame (test_h2_abuse.py)
        python3-hpack   # header blocks: CONTINUATION floods, conformance answers decoded
        etcd-server     # a real etcd for the config-store tests (each starts its own)
        python3-yaml    # test_etcd_apply.py compares `meshlet get -o json` with the files
        python3-websockets  # test_websocket.py: a real WebSocket client and server (10.4: asyncio API)
        chromium        # test_dashboard.py: /dashboard in a real headless browser
    )
fi

if $bench; then
    pkgs+=(
        haproxy nginx       # what meshlet is compared with (nginx: the server binary)
        libnginx-mod-stream # tcp.sh: nginx's stream module (TCP proxy, ssl_preread for SNI)
        wrk                 # the load
        nghttp2-client      # h2.sh: h2load (the HTTP/2 load) and nghttp (its split check)
        python3-h2          # h2.sh: idle HTTP/2 connections and open streams (memory.py)
        procps              # pgrep: the proxy's CPU time with its children's
        time bc             # peak RSS (/usr/bin/time) and ratios
        python3             # the config generator and free ports
        linux-perf          # compare.sh: syscalls per request (perf stat)
        etcd-server         # fleet.sh: the store 50 instances follow
    )
fi

if $fuzz; then
    pkgs+=(
        clang               # make fuzz: -fsanitize=fuzzer,address,undefined
        libclang-rt-dev     # its libFuzzer, ASan and UBSan runtimes
    )
fi

if $list; then
    printf '%s\n' "${pkgs[@]}"
    exit 0
fi

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

$test || exit 0

# promtool, Prometheus's own checker of the /stats/prometheus exposition, and prometheus,
# the server the rollout's PromQL checks are tested against (e2e tests): the binaries alone,
# unpacked from Debian's prometheus package, so no service gets installed or started.
tools="$(dirname "$0")/../build/tools"
want=()
[ -x "$tools/promtool" ] || command -v promtool >/dev/null || want+=(./usr/bin/promtool)
[ -x "$tools/prometheus" ] || command -v prometheus >/dev/null || want+=(./usr/bin/prometheus)
if [ ${#want[@]} -gt 0 ]; then
    echo "deps: fetching ${want[*]#./usr/bin/} (Debian package prometheus, binaries only)"
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
        $sudo apt-get update -qq
        (cd "$tmp" && apt-get download prometheus >/dev/null)
    fi
    dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" "${want[@]}"
    mkdir -p "$tools"
    for f in "${want[@]}"; do mv "$tmp/${f#./}" "$tools/"; done
    rm -rf "$tmp"
fi
