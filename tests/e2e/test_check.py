# SPDX-License-Identifier: Apache-2.0
"""`meshlet validate` and `meshlet check` over the shared Istio samples, their invalid
cases, and bad input of every kind: exit codes, codes, field paths and locations."""
import json
import os
import pathlib
import re
import resource
import shutil
import subprocess
import tempfile
import textwrap
import threading

import pytest

from meshlet import messages, run

REGISTRY = "tests/fixtures/samples-registry"
ANALYZE_REGISTRY = "tests/fixtures/analyze-registry"


def valid_samples(samples):
    return sorted(p for p in samples.glob("*.yaml"))


def test_every_valid_sample_passes_validate(meshlet_bin, samples):
    files = valid_samples(samples)
    assert files, "no samples found"
    for f in files:
        r = run(meshlet_bin, "validate", f)
        assert r.code == 0, f"{f.name}: {r}"
        assert "Error" not in r.out, f"{f.name}: {r}"


def test_every_valid_sample_passes_check_with_its_services(meshlet_bin, samples, repo_root):
    for f in valid_samples(samples):
        r = run(meshlet_bin, "check", f, repo_root / REGISTRY)
        assert r.code == 0, f"{f.name}: {r}"


# invalid/<file>: (field path, substring of the message) that `validate` must report.
INVALID = {
    "dr-bad-host-double-wildcard.yaml": [("spec.host", 'domain name "**" invalid (label "**" invalid)')],
    "dr-missing-host.yaml": [("spec.host", "empty domain name not allowed")],
    "gateway-no-servers.yaml": [("spec.servers", "gateway must have at least one server")],
    "pa-empty-port-level-mtls.yaml": [
        ("spec.portLevelMtls", "port level mTLS, if defined, must have at least one element")],
    "se-missing-hosts.yaml": [
        ("spec.hosts", "service entry must have at least one host"),
        ("spec.endpoints", "no endpoints should be provided for resolution type none")],
    "se-negative-port.yaml": [
        ("spec.ports[0].number", "-1"),
        ("spec.endpoints", "no endpoints should be provided for resolution type none")],
    "vs-negative-weight.yaml": [("spec.http[0].route[1].weight", "weight -15 < 0")],
    "vs-non-re2-regex.yaml": [
        ("spec.http[0].match[0].uri.regex", "invalid or unsupported Perl syntax: `(?!`")],
    "we-empty-address.yaml": [("spec.address", "address is required")],
}


def test_invalid_files_are_rejected_for_their_reason(meshlet_bin, samples):
    plain = sorted(p.name for p in (samples / "invalid").glob("*.yaml")
                   if not p.name.startswith(("analyze-", "crd-")))
    # A new fixture must not break the suite, but every one we know is checked.
    for name in plain:
        code, msgs = messages(meshlet_bin, "validate", samples / "invalid" / name)
        assert code == 1, f"{name}: exit {code}: {msgs}"
        for path, text in INVALID.get(name, []):
            assert any(m["path"] == path and text in m["message"] and m["severity"] == "Error"
                       for m in msgs), f"{name}: no error at {path} with {text!r}: {msgs}"
        for m in msgs:
            assert m["file"] and m["line"] > 0 and m["column"] > 0, f"{name}: unlocated {m}"
    assert set(INVALID) <= set(plain)


# CRD harness: the _err text the API server gives -> (path prefix, our message substring).
CRD = {
    "spec.trafficPolicy.loadBalancer.warmup.minimumPercent: Invalid value":
        ("spec.trafficPolicy.loadBalancer.warmup.minimumPercent", ""),
    "spec.trafficPolicy.loadBalancer.warmup.duration: Required value":
        ("spec.trafficPolicy.loadBalancer.warmup.duration", "duration is required"),
    "spec.trafficPolicy.loadBalancer.warmup.aggression: Invalid value":
        ("spec.trafficPolicy.loadBalancer.warmup.aggression", "greater than 0"),
    'Unsupported value: "BLAH"': ("spec.mtls.mode", 'Unsupported value: "BLAH"'),
    "type conversion error from": ("spec.portLevelMtls", "type conversion error from"),
    "portLevelMtls requires selector":
        ("spec.portLevelMtls", "mesh/namespace peer authentication cannot have port level mTLS"),
    "spec.portLevelMtls in body should have at least 1 properties":
        ("spec.portLevelMtls", "must have at least one element"),
    "port must be between 1-65535": ("spec.", "1..65535"),
    "spec: Required value": ("spec", "Required value"),
    "spec.hosts: Required value": ("spec.hosts", "must have at least one host"),
    "wildcard is not supported in selector": ("spec.workloadSelector", "wildcard not allowed"),
    "only one of WorkloadSelector or Endpoints can be set":
        ("spec.workloadSelector", "only one of WorkloadSelector or Endpoints"),
    "hostname cannot be wildcard": ("spec.hosts[0]", "invalid host *"),
    "CIDR addresses are allowed only for NONE/STATIC resolution types":
        ("spec.addresses[0]", "CIDR addresses are allowed only for NONE/STATIC resolution types"),
    "Duplicate value": ("spec.ports[1]", "already defined"),
    "port number cannot be duplicated": ("spec.ports[1].number", "already defined"),
    "NONE mode cannot set endpoints":
        ("spec.endpoints", "no endpoints should be provided for resolution type none"),
    "DNS_ROUND_ROBIN mode cannot have multiple endpoints":
        ("spec.endpoints", "there must only be 0 or 1 endpoint"),
    "Address is required": ("spec.address", "address is required"),
    "UDS may not be a dir": ("spec.address", "UDS may not be a dir"),
    "UDS must be an absolute path or abstract socket":
        ("spec.address", "UDS must be an absolute path or abstract socket"),
    "UDS may not include ports": ("spec.ports", "must not include ports"),
    "spec.ports: Invalid value": ("spec.ports", "invalid port name"),
}


def crd_documents(path):
    """Split a CRD harness file into (expected _err, document without _err)."""
    for doc in re.split(r"^---\s*$", path.read_text(), flags=re.M):
        m = re.search(r"^_err:\s*(.*)$", doc, flags=re.M)
        if not m:
            continue
        err = m.group(1).strip().strip("'\"")
        yield err, re.sub(r"^_err:.*$", "", doc, flags=re.M)


def test_crd_invalid_documents_are_each_rejected(meshlet_bin, samples, tmp_path):
    files = sorted((samples / "invalid").glob("crd-*.yaml"))
    assert files
    seen = 0
    for f in files:
        for i, (err, body) in enumerate(crd_documents(f)):
            doc = tmp_path / f"{f.stem}-{i}.yaml"
            doc.write_text(body)
            code, msgs = messages(meshlet_bin, "validate", doc)
            assert code == 1, f"{f.name} #{i} ({err}): exit {code}: {msgs}"
            if err in CRD:
                path, text = CRD[err]
                assert any(m["path"].startswith(path) and text in m["message"] for m in msgs), \
                    f"{f.name} #{i}: want {path!r} {text!r} for {err!r}: {msgs}"
            seen += 1
    assert seen >= 25


# analyze-<file>: code -> (severity, resources it must be reported on), and whether the
# ServiceEntries of tests/fixtures/analyze-registry go beside it.
ANALYZE = {
    "analyze-dr-mutual-port-no-ca.yaml": {"IST0129": ("Warning", ["default/db-mtls"])},
    "analyze-dr-simple-no-ca.yaml": {"IST0128": ("Warning", ["default/db-tls"])},
    "analyze-vs-conflicting-mesh-hosts.yaml": {"IST0109": ("Error", [
        "team3/ratings", "team4/ratings", "foo/ratings", "bar/ratings", "foo/productpage",
        "foo/bogus-productpage", "team2/ratings"])},
    "analyze-vs-duplicate-matches.yaml": {
        "IST0130": ("Warning", ["default/duplicate-match", "foo/sample-foo-cluster01",
                                "default/duplicate-tcp-match", "default/duplicate-empty-tcp",
                                "none/tls-routing"]),
        "IST0131": ("Info", ["default/almost-duplicate-match", "default/duplicate-match",
                             "default/almost-duplicate-tcp-match", "default/duplicate-tcp-match",
                             "none/tls-routing-almostmatch", "none/tls-routing"])},
    "analyze-vs-gateway-route-ignores-mesh-subset.yaml": {
        "IST0140": ("Warning", ["default/testing-service-01-test-01"])},
    "analyze-vs-missing-gateway.yaml": {
        "IST0101": ("Error", ["default/httpbin-bogus"]),
        "IST0132": ("Warning", ["default/cross-test", "default/httpbin-bogus", "default/httpbin"])},
    "analyze-vs-missing-subset.yaml": {
        "IST0101": ("Error", ["default/reviews-bogussubset", "default/reviews-mirror-bogussubset"])},
    "analyze-vs-overlapping-prefix.yaml": {"IST0131": ("Info", [
        "default/non-method-get", "default/overlapping-in-single-match",
        "default/overlapping-in-two-matches", "default/overlapping-mathes-with-different-methods"])},
    "analyze-vs-unknown-destination-host.yaml": {
        "IST0101": ("Error", ["default/reviews-bogushost", "default/reviews-bookinfo-other",
                              "default/reviews-mirror-bogushost", "default/reviews-bogusport",
                              "istio-system/cross-namespace-details", "hello/hello-export-to-bogus"]),
        "IST0112": ("Error", ["default/reviews-2port-missing"])},
}

# Errors the fixture itself carries beyond its point (istioctl analyze with every analyzer
# reports them too): the VirtualServices of overlapping-prefix all claim one mesh host.
EXTRA_ERRORS = {"analyze-vs-overlapping-prefix.yaml": {"IST0109"}}


def test_analyze_fixtures_report_their_codes(meshlet_bin, samples, repo_root):
    for name, want in ANALYZE.items():
        f = samples / "invalid" / name
        if not f.exists():
            continue
        code, msgs = messages(meshlet_bin, "check", f, repo_root / ANALYZE_REGISTRY)
        for ist, (severity, resources) in want.items():
            got = {f"{m['namespace']}/{m['name']}" for m in msgs
                   if m["code"] == ist and m["severity"] == severity}
            missing = set(resources) - got
            assert not missing, f"{name}: {ist} {severity} missing on {missing}: {msgs}"
        expected_error = any(sev == "Error" for sev, _ in want.values())
        errors = {m["code"] for m in msgs if m["severity"] == "Error"}
        if not expected_error:
            assert errors <= EXTRA_ERRORS.get(name, set()), f"{name}: unexpected errors {errors}"
        assert code == (1 if errors else 0), f"{name}: exit {code} with errors {errors}"
        if expected_error:
            assert code == 1


def test_analyze_codes_absent_from_validate(meshlet_bin, samples):
    """validate runs per-resource rules only: no cross-resource code."""
    code, msgs = messages(meshlet_bin, "validate",
                          samples / "invalid" / "analyze-vs-missing-subset.yaml")
    assert code == 0
    assert not [m for m in msgs if m["code"] in ("IST0101", "IST0109", "IST0132")]


def test_text_output_names_file_line_column_path_and_fix(meshlet_bin, samples):
    r = run(meshlet_bin, "validate", samples / "invalid" / "vs-negative-weight.yaml")
    assert r.code == 1
    line = next(l for l in r.out.splitlines() if l.startswith("Error"))
    assert re.match(r"Error \[IST0106\] \(VirtualService default/invalid-virtual-service "
                    r".*vs-negative-weight\.yaml:\d+:\d+\) spec\.http\[0\]\.route\[1\]\.weight: "
                    r"weight -15 < 0 -- .+", line), line


def test_json_output_is_valid_json(meshlet_bin, samples, repo_root):
    r = run(meshlet_bin, "check", "-o", "json", samples / "invalid", repo_root / REGISTRY)
    doc = json.loads(r.out)
    assert doc["errors"] > 0 and r.code == 1
    assert all({"severity", "code", "kind", "namespace", "name", "file", "line", "column",
                "path", "message", "hint"} <= set(m) for m in doc["messages"])
    # Every message says what to change, and where.
    for m in doc["messages"]:
        assert m["hint"], m
        assert m["file"], m
        if m["kind"]:
            assert m["line"] > 0 and m["column"] > 0, m


def test_directory_of_kubernetes_manifests_checks_subsets_against_pods(meshlet_bin, tmp_path):
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "reviews.yaml").write_text("""\
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  selector: {app: reviews}
  ports: [{port: 9080, name: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: shop}
spec:
  template:
    metadata: {labels: {app: reviews, version: v1}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other, namespace: shop}
""")
    (tmp_path / "istio").mkdir()
    (tmp_path / "istio" / "dr.yml").write_text("""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
""")
    code, msgs = messages(meshlet_bin, "check", "-v", tmp_path)
    assert code == 1
    hits = [m for m in msgs if m["code"] == "IST0173"]
    assert [h["path"] for h in hits] == ["spec.subsets[1].labels"], msgs
    assert "Subset v2" in hits[0]["message"]
    assert any(m["code"] == "ML0003" and "ConfigMap" in m["message"] for m in msgs)


def test_namespace_flag_sets_default_namespace(meshlet_bin, samples):
    code, msgs = messages(meshlet_bin, "validate", "--namespace", "shop",
                          samples / "invalid" / "vs-negative-weight.yaml")
    assert code == 1 and msgs[0]["namespace"] == "shop"


@pytest.mark.parametrize("content,what", [
    (b"apiVersion: v1\nkind: [unclosed\n", "malformed YAML"),
    (bytes(range(256)) * 64, "binary data"),
    (b"", "no Istio or Kubernetes resources found"),
    (b"- just\n- a list\n", "document is not a mapping"),
    (b"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n"
     b"  hosts: " + b"[" * 5000 + b"\n", "malformed YAML"),
], ids=["malformed", "binary", "empty", "not-a-mapping", "deep-nesting"])
def test_bad_input_gets_a_clear_error(meshlet_bin, tmp_path, content, what):
    f = tmp_path / "bad.yaml"
    f.write_bytes(content)
    r = run(meshlet_bin, "validate", f)
    assert r.code == 1, r
    assert what in r.out, r
    assert str(f) in r.out


def test_fifty_megabyte_file_is_refused_clearly(meshlet_bin, tmp_path):
    f = tmp_path / "huge.yaml"
    doc = (b"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\n"
           b"spec:\n  hosts: [a.example.com]\n---\n")
    with open(f, "wb") as out:
        for _ in range((50 << 20) // len(doc) + 1):
            out.write(doc)
    assert f.stat().st_size >= 50 << 20
    r = run(meshlet_bin, "validate", f)
    assert r.code == 1, r
    assert "config files are read up to 16 MB" in r.out


def test_usage_errors_exit_2(meshlet_bin, tmp_path):
    assert run(meshlet_bin).code == 2
    assert run(meshlet_bin, "frobnicate").code == 2
    assert run(meshlet_bin, "check").code == 2
    assert run(meshlet_bin, "check", "-o", "yaml", tmp_path).code == 2
    r = run(meshlet_bin, "check", tmp_path / "missing.yaml")
    assert r.code == 2 and "cannot read" in r.out


def test_demo_canary_config_passes_check(meshlet_bin, repo_root):
    r = run(meshlet_bin, "check", repo_root / "examples" / "canary")
    assert r.code == 0, r
    assert "Error" not in r.out


def alias_bomb():
    """Nine items, nested eight deep through anchors: 9**9 nodes once expanded."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def istio(kind, name, spec):
    """A networking.istio.io/v1 resource of <kind> named <name>; <spec> is the YAML of its
    spec, unindented."""
    return (f"apiVersion: networking.istio.io/v1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
            "spec:\n" + textwrap.indent(spec, "  "))


def run_limited(meshlet_bin, *args, address_space=None, cpu_seconds=None):
    """Run meshlet under resource limits: (exit code, output, the child's own peak RSS in
    KiB). A limit stops a runaway (the test fails on its signal) without timing anything.
    AddressSanitizer and ThreadSanitizer reserve terabytes of address space: there, only the
    CPU limit applies."""
    image = pathlib.Path(meshlet_bin).read_bytes()
    sanitized = b"libasan.so" in image or b"libtsan.so" in image

    def limit():
        if address_space and not sanitized:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))

    proc = subprocess.Popen([str(meshlet_bin), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=limit)
    timer = threading.Timer(120, proc.kill)  # bounded even if a limit were lost
    timer.start()
    out = proc.stdout.read()
    # reaped here, not by Popen, for the child's own peak RSS (KiB on Linux)
    _, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    proc.stdout.close()
    return os.waitstatus_to_exitcode(status), out, usage.ru_maxrss


def test_yaml_alias_bomb_is_refused_at_its_alias_within_bounded_memory(meshlet_bin, tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text(alias_bomb())
    assert f.stat().st_size < 500
    # address space: the expansion would need gigabytes
    code, out, max_rss = run_limited(meshlet_bin, "check", f, address_space=512 << 20)
    assert code == 1, (code, out)
    assert max_rss < 200 * 1024, f"peak RSS {max_rss} KiB"
    # the first alias whose expansion passes the bound, in document order
    m = re.search(r"Error \[ML0001\] \(" + re.escape(str(f)) + r":(\d+):(\d+)\) YAML aliases "
                  r"would add more than \d+ nodes", out)
    assert m, out
    line = alias_bomb().splitlines()[int(m.group(1)) - 1]
    assert line[int(m.group(2)) - 1] == "*", (m.groups(), line)


def test_long_sequences_load_without_quadratic_work(meshlet_bin, tmp_path):
    """A 2.6 MB file with two lists of 150,000 items, one in block and one in flow style:
    putting Go-style scalars back walked each list by index (half a minute of CPU per list).
    A CPU-time limit of 20 s, not a clock, tells linear from quadratic."""
    n = 150_000
    f = tmp_path / "long.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: long}\ndata:\n  block:\n"
                 + "  - a\n" * n + "  flow: [" + ", ".join(["2001:db8::"] * n) + "]\n")
    code, out, _ = run_limited(meshlet_bin, "check", f, cpu_seconds=20)
    assert code == 0, (code, out[-2000:])
    assert "OK" in out, out[-2000:]



def anchored_list(anchors, aliases):
    """<anchors> anchored items, then <aliases> aliases of the last one."""
    return "\n".join(["anchors:"] + [f"  - &a{i} x" for i in range(anchors)] + ["refs:"]
                     + [f"  - *a{anchors - 1}"] * aliases) + "\n"


def test_anchor_work_is_bounded_where_libfyaml_is_quadratic(meshlet_bin, tmp_path):
    """libfyaml walks a document's list of anchors to find an alias's anchor and to free an
    anchored node: 150,000 anchors (2 MB) took 35 s of CPU, 9,000 anchors with 100,000
    aliases (1.2 MB) about as long. Both are refused in a fraction of that, at the place the
    bound is passed; a CPU-time limit of 20 s, not a clock, tells the difference."""
    f = tmp_path / "anchors.yaml"
    f.write_text(anchored_list(150_000, 0))
    code, out, _ = run_limited(meshlet_bin, "check", f, cpu_seconds=20)
    assert code == 1, (code, out[:2000])
    assert f"({f}:10002:5) file has more than 10000 YAML anchors (&name): refused" in out, out
    f.write_text(anchored_list(9_000, 100_000))
    code, out, _ = run_limited(meshlet_bin, "check", f, cpu_seconds=20)
    assert code == 1, (code, out[:2000])
    assert re.search(re.escape(f"({f}:") + r"\d+:5\) YAML aliases of this document would take "
                     r"more than \d+ anchor lookups \(100000 aliases, 9000 anchors\)", out), out

def test_aliases_and_merge_keys_within_bounds_still_work(meshlet_bin, tmp_path):
    f = tmp_path / "anchors.yaml"
    f.write_text(istio("ServiceEntry", "a", """\
hosts: &hosts [a.example.com]
ports: [{number: 80, name: http, protocol: HTTP}]
resolution: DNS
endpoints: [&ep {address: a.example.com, labels: {version: v1}}, {<<: *ep, labels: *hosts}]
"""))
    code, msgs = messages(meshlet_bin, "validate", f)
    # the merged endpoint got the anchor's address and its own (wrong-typed) labels
    assert [m["path"] for m in msgs] == ["spec.endpoints[1].labels"], msgs
    f.write_text("a: *nowhere\n")
    r = run(meshlet_bin, "validate", f)
    assert r.code == 1 and f"{f}:1:4) YAML alias names no anchor" in r.out, r


UNENFORCED = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: prod}
spec: {}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: prod}
spec: {jwtRules: [{issuer: "https://example.com"}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: route, namespace: prod}
spec: {parentRefs: [{name: gw}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: prod}
spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: prod}
spec: {egress: [{hosts: ["./*"]}]}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef, namespace: istio-system}
spec: {}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec: {accessLogging: [{providers: [{name: envoy}]}]}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: wasm, namespace: prod}
spec: {url: "oci://example.com/filter:1"}
---
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata: {name: pc, namespace: prod}
spec: {concurrency: 2}
"""


def test_kinds_meshlet_does_not_enforce_are_warnings_naming_each(meshlet_bin, tmp_path):
    f = tmp_path / "policies.yaml"
    f.write_text(UNENFORCED)
    code, msgs = messages(meshlet_bin, "check", f)
    assert code == 0, msgs
    assert not [m for m in msgs if m["severity"] == "Error"], msgs
    got = {(m["kind"], f"{m['namespace']}/{m['name']}"): m for m in msgs if m["code"] == "ML0109"}
    want = [("AuthorizationPolicy", "prod/deny-all"), ("RequestAuthentication", "prod/jwt"),
            ("HTTPRoute", "prod/route"), ("Gateway", "prod/gw"), ("Sidecar", "prod/default"),
            ("EnvoyFilter", "istio-system/ef"), ("Telemetry", "istio-system/mesh-default"),
            ("WasmPlugin", "prod/wasm"), ("ProxyConfig", "prod/pc")]
    assert sorted(got) == sorted(want), msgs
    starts = [i + 1 for i, l in enumerate(UNENFORCED.splitlines()) if l.startswith("apiVersion")]
    for (key, m), line in zip(sorted(got.items(), key=lambda kv: kv[1]["line"]), starts):
        assert m["severity"] == "Warning" and m["file"] == str(f), m
        assert (m["line"], m["column"]) == (line, 1), m
        assert "not enforced by meshlet" in m["message"], m
    assert "no access control is applied" in got[("AuthorizationPolicy", "prod/deny-all")]["message"]
    r = run(meshlet_bin, "check", f)
    assert re.search(r"Warning \[ML0109\] \(AuthorizationPolicy prod/deny-all "
                     + re.escape(str(f)) + r":1:1\) ", r.out), r
    assert "OK: " in r.out and "9 warning(s)" in r.out, r
    # a file with no Kubernetes object at all keeps its error
    (tmp_path / "policies.yaml").write_text("just: yaml\n")
    assert run(meshlet_bin, "check", f).code == 1


def test_tcp_and_tls_routes_are_no_longer_warned_as_not_enforced(meshlet_bin, samples):
    code, msgs = messages(meshlet_bin, "validate", samples / "tcp-echo-all-v1.yaml")
    assert code == 0, msgs
    assert not [m for m in msgs if m["code"] == "ML0109"], msgs
    code, msgs = messages(meshlet_bin, "validate",
                          samples / "invalid" / "analyze-vs-duplicate-matches.yaml")
    assert not [m for m in msgs if m["code"] == "ML0109"], msgs


L4_CHECK = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: prod}
spec:
  hosts: [db.example.com]
  addresses: [10.0.0.5]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pg, namespace: prod}
spec:
  hosts: [pg.example.com]
  addresses: [10.0.0.6]
  ports:
  - {number: 5432, name: tcp, protocol: TCP}
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: prod}
spec:
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: all, namespace: prod}
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp:
  - match: [{port: 8080}]
    route: [{destination: {host: db.example.com}}]
  - route: [{destination: {host: db.example.com}}]
  tls:
  - match: [{sniHosts: [db.example.com]}]
    route: [{destination: {host: db.example.com}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: late, namespace: prod}
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp:
  - route: [{destination: {host: pg.example.com}}]
"""


def test_check_reports_l4_rules_that_route_nothing(meshlet_bin, tmp_path):
    f = tmp_path / "l4.yaml"
    f.write_text(L4_CHECK)
    code, msgs = messages(meshlet_bin, "check", f)
    assert code == 0, msgs  # warnings only
    lines = L4_CHECK.splitlines()

    def at(code, name, path):
        hits = [m for m in msgs if m["code"] == code and m["name"] == name and m["path"] == path]
        assert len(hits) == 1, (code, name, path, msgs)
        m = hits[0]
        assert m["severity"] == "Warning" and m["file"] == str(f), m
        return m, lines[m["line"] - 1]

    m, line = at("ML0111", "all", "spec.tcp[0]")
    assert "whose server on port 8080 is HTTP" in m["message"], m
    assert line[m["column"] - 1:].startswith("match: [{port: 8080}]"), (m, line)
    m, line = at("ML0111", "all", "spec.tls[0]")
    assert "which has no TLS PASSTHROUGH server" in m["message"], m
    assert line[m["column"] - 1:].startswith("match: [{sniHosts"), (m, line)
    m, line = at("ML0112", "pg", "spec.ports[0].number")
    assert "port 5432 go to db.example.com (ServiceEntry prod/db) only" in m["message"], m
    assert line.strip().startswith("- {number: 5432"), (m, line)
    m, _ = at("ML0113", "late", "spec.tcp[0]")
    assert "VirtualService prod/all's tcp[1] takes every connection first" in m["message"], m
    # the tcp rule on the TCP port itself is fine
    assert not [m for m in msgs if m["name"] == "all" and m["path"] == "spec.tcp[1]"], msgs
    r = run(meshlet_bin, "check", f)
    assert re.search(r"Warning \[ML0112\] \(ServiceEntry prod/pg " + re.escape(str(f))
                     + r":17:\d+\) spec\.ports\[0\]\.number: ", r.out), r


def test_run_starts_with_unenforced_kinds_beside_its_config(canary, tmp_path):
    (tmp_path / "policies.yaml").write_text(UNENFORCED)
    m = canary()
    from test_reload import version_of
    assert version_of(m.gw) == (200, "v1")
    assert "AuthorizationPolicy prod/deny-all" in m.logs(), m.logs()


def test_istio_lenient_service_entry_is_accepted(meshlet_bin, tmp_path):
    """Istio accepts protocol "" (sniffing) and HTTP_PROXY, and reads `2001:db8::` in a flow
    sequence as a string (Go's YAML: a ':' not followed by a space does not end a plain
    scalar); libfyaml alone makes it a mapping."""
    f = tmp_path / "se.yaml"
    f.write_text(istio("ServiceEntry", "v6", """\
hosts: [v6.example.com]
addresses: [1.2.3.4, 2001:db8::, "2001:db8::1", 2001:db8::/64, fe80::1:2]
ports:
- {number: 80, name: http, protocol: ""}
- {number: 3128, name: proxy, protocol: HTTP_PROXY}
resolution: STATIC
endpoints: [{address: 10.0.0.1}]
"""))
    r = run(meshlet_bin, "check", f)
    assert r.code == 0 and "Error" not in r.out, r
    f.write_text(f.read_text().replace("2001:db8::,", "2001:db8: ,"))
    code, msgs = messages(meshlet_bin, "validate", f)
    # still a mapping where Go's YAML reads one too (": " is a value indicator)
    assert code == 1 and [(m["path"], m["message"]) for m in msgs] == [
        ("spec.addresses[1]", "invalid type: got a mapping, expected a string")], msgs


def test_unreadable_input_says_path_and_reason_and_exits_2(meshlet_bin, tmp_path):
    r = run(meshlet_bin, "check", "/nope")
    assert r.code == 2, r
    assert r.out.startswith("Error [ML0001] (/nope) cannot read: No such file or directory"), r
    assert "()" not in r.out
    # a config entry in a directory that cannot be read (a symlink to nothing) is exit 2 too
    d = tmp_path / "conf"
    d.mkdir()
    (d / "se.yaml").write_text(istio("ServiceEntry", "s", "hosts: [a.example.com]\n"))
    (d / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    (d / "gone.txt").symlink_to(tmp_path / "nowhere.txt")  # not config: ignored
    r = run(meshlet_bin, "check", d)
    assert r.code == 2, r
    assert f"({d / 'gone.yaml'}) cannot read: No such file or directory" in r.out, r
    assert "gone.txt" not in r.out


def test_unreadable_file_exits_2_like_a_missing_one(meshlet_bin):
    """chmod 000 (run as nobody when the tests run as root, who reads anything)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="meshlet-perm-"))
    try:
        d.chmod(0o755)
        f = d / "secret.yaml"
        f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
        f.chmod(0)
        sub = d / "locked"
        sub.mkdir()
        (sub / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\n")
        sub.chmod(0)

        # nobody must reach the binary: a checkout in a private directory (mktemp -d) is
        # out of its reach, so it runs from a copy beside the files.
        binary = d / "meshlet"
        shutil.copy(meshlet_bin, binary)
        binary.chmod(0o755)

        def as_nobody():
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)

        for path, why in ((f, "cannot read the file: Permission denied"),
                          (d, "cannot read the file: Permission denied"),
                          (sub, "cannot list the directory: Permission denied")):
            proc = subprocess.run([str(binary), "check", str(path)], capture_output=True,
                                  text=True, preexec_fn=as_nobody, timeout=60)
            assert proc.returncode == 2, (path, proc.returncode, proc.stdout, proc.stderr)
            assert why in proc.stdout, (path, proc.stdout)
    finally:
        for p in (d / "locked", d / "secret.yaml"):
            p.chmod(0o700)
        shutil.rmtree(d)


def test_bad_regex_quotes_it_with_offset_and_a_relevant_hint(meshlet_bin, tmp_path):
    f = tmp_path / "vs.yaml"
    f.write_text(istio("VirtualService", "r", """\
hosts: [a.example.com]
http:
- match:
  - headers: {x-v: {regex: "v[12"}}
  - uri: {regex: "/api/(v1|v2"}
  - uri: {regex: "(?!admin).*"}
  route:
  - destination: {host: a.example.com}
"""))
    code, msgs = messages(meshlet_bin, "validate", f)
    assert code == 1
    by_path = {m["path"]: m for m in msgs}
    m = by_path["spec.http[0].match[0].headers.x-v.regex"]
    assert 'regex "v[12": error parsing regexp: missing closing ]: `[12` at offset 1' \
        in m["message"], m
    assert "character class" in m["hint"] and "lookaround" not in m["hint"], m
    m = by_path["spec.http[0].match[1].uri.regex"]
    assert 'regex "/api/(v1|v2"' in m["message"] and "at offset 11" in m["message"], m
    assert "parenthes" in m["hint"], m
    m = by_path["spec.http[0].match[2].uri.regex"]
    assert "invalid or unsupported Perl syntax: `(?!` at offset 0" in m["message"], m
    assert "lookaround" in m["hint"], m


def test_virtual_service_without_hosts_is_told_hosts_are_required(meshlet_bin, tmp_path):
    f = tmp_path / "vs.yaml"
    f.write_text(istio("VirtualService", "r", """\
gateways: [gw]
http:
- route:
  - destination: {host: a.example.com}
"""))
    code, msgs = messages(meshlet_bin, "check", f)
    assert code == 1
    m = next(m for m in msgs if m["path"] == "spec.gateways")
    assert m["message"].startswith("hosts is required unless this VirtualService is a delegate"), m
    assert m["hint"].startswith("add hosts"), m
    assert any(m["code"] == "ML0110" and m["severity"] == "Warning" for m in msgs), msgs
