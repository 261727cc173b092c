#!/usr/bin/env bash
# Config-load benchmark: meshlet check over N VirtualServices + N DestinationRules +
# N ServiceEntries, against libfyaml alone, `haproxy -c` and `nginx -t` over the same
# routing written for them. Prints medians of RUNS runs and ratios. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
RUNS=${RUNS:-7}
OUT=build/bench

scripts/deps.sh --bench
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

mkdir -p "$OUT"
/usr/bin/python3 bench/gen_config.py "$N" "$OUT"
cc -O2 -o "$OUT/fy_parse" bench/fy_parse.c $(pkg-config --cflags --libs libfyaml)
yaml="$OUT/istio/config.yaml"
printf 'config: %d VS + %d DR + %d SE, %.1f MB of YAML\n' "$N" "$N" "$N" \
    "$(echo "$(stat -c %s "$yaml") / 1048576" | bc -l)"

# median wall seconds and median peak RSS (MB) of RUNS runs of "$@"
measure() {
    local times=() rss=()
    for _ in $(seq "$RUNS"); do
        local line
        line=$(/usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1)
        times+=("${line% *}")
        rss+=("${line#* }")
    done
    local t m
    t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
    m=$(printf '%s\n' "${rss[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
    echo "$t $(echo "$m / 1024" | bc -l)"
}

read -r t_meshlet m_meshlet < <(measure ./meshlet check "$OUT/istio")
read -r t_fy m_fy < <(measure "$OUT/fy_parse" "$yaml")
read -r t_haproxy m_haproxy < <(measure "$HAPROXY" -c -q -f "$OUT/haproxy.cfg")
read -r t_nginx m_nginx < <(measure "$NGINX" -t -q -c "$(pwd)/$OUT/nginx.conf")

row() { printf '%-34s %8.3f s %8.1f MB   time x%.2f  memory x%.2f\n' "$1" "$2" "$3" \
        "$(echo "$2 / $t_meshlet" | bc -l)" "$(echo "$3 / $m_meshlet" | bc -l)"; }
echo "median of $RUNS runs; ratios are tool / meshlet (above 1: meshlet is faster or smaller)"
row "meshlet check (parse+validate+analyze)" "$t_meshlet" "$m_meshlet"
row "libfyaml alone (parse only)" "$t_fy" "$m_fy"
row "haproxy -c (same routing)" "$t_haproxy" "$m_haproxy"
row "nginx -t (same routing)" "$t_nginx" "$m_nginx"
