#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Generate the config-load benchmark: N VirtualServices, N DestinationRules and N
ServiceEntries (one service each: two subsets, a 90/10 split, timeout, retries, outlier
detection), plus the same routing written for HAProxy and nginx.

usage: gen_config.py N OUTDIR   -> OUTDIR/istio/config.yaml, OUTDIR/haproxy.cfg, OUTDIR/nginx.conf
"""
import os
import sys


def istio(i):
    host = f"svc{i}.bench.svc.cluster.local"
    return f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: svc{i}
  namespace: bench
spec:
  hosts:
  - {host}
  location: MESH_INTERNAL
  ports:
  - number: 8080
    name: http
    protocol: HTTP
  resolution: STATIC
  endpoints:
  - address: 10.{i // 250 % 256}.{i % 250}.1
    labels: {{app: svc{i}, version: v1}}
  - address: 10.{i // 250 % 256}.{i % 250}.2
    labels: {{app: svc{i}, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: svc{i}
  namespace: bench
spec:
  host: {host}
  trafficPolicy:
    connectionPool:
      http: {{http1MaxPendingRequests: 1024, maxRequestsPerConnection: 0}}
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 10s
      baseEjectionTime: 30s
      maxEjectionPercent: 100
  subsets:
  - name: v1
    labels: {{version: v1}}
  - name: v2
    labels: {{version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: svc{i}
  namespace: bench
spec:
  hosts:
  - svc{i}.example.com
  gateways:
  - bench/edge
  http:
  - name: canary
    match:
    - headers:
        x-canary: {{exact: "true"}}
      uri: {{prefix: /api/v{i}}}
    route:
    - destination: {{host: {host}, subset: v2}}
  - name: split
    match:
    - uri: {{prefix: /api/v{i}}}
    route:
    - destination: {{host: {host}, subset: v1}}
      weight: 90
    - destination: {{host: {host}, subset: v2}}
      weight: 10
    timeout: 3s
    retries: {{attempts: 2, perTryTimeout: 1s, retryOn: "connect-failure,503"}}
"""


GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: bench
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
"""


def haproxy(n):
    out = ["global\n    maxconn 10000\ndefaults\n    mode http\n    timeout connect 10s\n"
           "    timeout client 30s\n    timeout server 3s\n    retries 2\n"
           "frontend edge\n    bind 127.0.0.1:18080\n"]
    for i in range(n):
        out.append(f"    acl h{i} hdr(host) -i svc{i}.example.com\n"
                   f"    acl p{i} path_beg /api/v{i}\n"
                   f"    use_backend svc{i}_v2 if h{i} p{i} {{ req.hdr(x-canary) -m str true }}\n"
                   f"    use_backend svc{i} if h{i} p{i}\n")
    for i in range(n):
        a, b = i // 250 % 256, i % 250
        out.append(f"backend svc{i}\n    balance roundrobin\n    retry-on conn-failure 503\n"
                   f"    server v1 10.{a}.{b}.1:8080 weight 90 check observe layer7 error-limit 5\n"
                   f"    server v2 10.{a}.{b}.2:8080 weight 10 check observe layer7 error-limit 5\n"
                   f"backend svc{i}_v2\n    server v2 10.{a}.{b}.2:8080\n")
    return "".join(out)


def nginx(n, prefix):
    out = [f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\nhttp {{\n"
           f"    access_log off;\n    client_body_temp_path {prefix};\n"
           f"    proxy_temp_path {prefix};\n    fastcgi_temp_path {prefix};\n"
           f"    uwsgi_temp_path {prefix};\n    scgi_temp_path {prefix};\n"
           "    server_names_hash_max_size 65536;\n    server_names_hash_bucket_size 128;\n"]
    for i in range(n):
        a, b = i // 250 % 256, i % 250
        out.append(f"    upstream svc{i} {{ server 10.{a}.{b}.1:8080 weight=9 max_fails=5 "
                   f"fail_timeout=30s; server 10.{a}.{b}.2:8080 weight=1 max_fails=5 "
                   f"fail_timeout=30s; }}\n"
                   f"    upstream svc{i}_v2 {{ server 10.{a}.{b}.2:8080; }}\n"
                   f"    server {{ listen 127.0.0.1:18081; server_name svc{i}.example.com;\n"
                   f"        location /api/v{i} {{ proxy_read_timeout 3s; "
                   f"proxy_next_upstream error http_503; proxy_next_upstream_tries 3;\n"
                   f"            if ($http_x_canary = \"true\") {{ proxy_pass http://svc{i}_v2; }}\n"
                   f"            proxy_pass http://svc{i}; }} }}\n")
    out.append("}\n")
    return "".join(out)


def main():
    n, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(f"{outdir}/istio", exist_ok=True)
    with open(f"{outdir}/istio/config.yaml", "w") as f:
        f.write(GATEWAY)
        for i in range(n):
            f.write("---\n")
            f.write(istio(i))
    with open(f"{outdir}/haproxy.cfg", "w") as f:
        f.write(haproxy(n))
    with open(f"{outdir}/nginx.conf", "w") as f:
        f.write(nginx(n, os.path.abspath(outdir)))


if __name__ == "__main__":
    main()
