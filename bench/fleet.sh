#!/usr/bin/env bash
# Fleet benchmark (issue 15): one etcd and FLEET (50) meshlet instances following one prefix.
# A put's propagation to every instance (p50/p99/max over PUTS puts), the fleet after etcd is
# SIGKILLed and restarted, and one instance's first sync of 10,000 resources (time to LIVE,
# RSS). The work is bench/fleet.py's; see bench/README.md. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v etcd >/dev/null || { echo "bench: etcd missing (scripts/deps.sh --bench)"; exit 1; }
[ -x ./meshlet ] || make -j2 >/dev/null
exec /usr/bin/python3 bench/fleet.py ./meshlet
