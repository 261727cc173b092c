/* SPDX-License-Identifier: Apache-2.0 */
/* `meshlet ca init` and `meshlet ca issue`: a mesh root and workload certificates for
 * ISTIO_MUTUAL, laid out as Istio mounts them (cert-chain.pem, key.pem, root-cert.pem). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/field.h"
#include "tls/ca.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: meshlet ca init --dir DIR [--trust-domain DOMAIN] [--ttl DURATION]\n"
               "       meshlet ca issue --dir DIR --ns NAMESPACE --sa SERVICE_ACCOUNT --out DIR "
               "[--ttl DURATION]\n"
               "  init: a root CA (ECDSA P-256) in DIR; trust domain cluster.local, 10 years\n"
               "  issue: a workload certificate for spiffe://<trust domain>/ns/NS/sa/SA in\n"
               "         OUT: cert-chain.pem, key.pem (0600), root-cert.pem; 24h by default\n");
}

/* A Kubernetes name: lower-case letters, digits, '-' and '.', as namespaces and service
 * accounts are; anything else would make a SPIFFE ID that nothing can match. */
static bool
k8s_name(const char *s)
{
    if (!*s || strlen(s) > 253) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return false;
    return true;
}

int
cmd_ca(int argc, char **argv)
{
    enum { OPT_DIR = 256, OPT_TD, OPT_TTL, OPT_NS, OPT_SA, OPT_OUT };
    static const struct option opts[] = {
        {"dir", required_argument, NULL, OPT_DIR},
        {"trust-domain", required_argument, NULL, OPT_TD},
        {"ttl", required_argument, NULL, OPT_TTL},
        {"ns", required_argument, NULL, OPT_NS},
        {"sa", required_argument, NULL, OPT_SA},
        {"out", required_argument, NULL, OPT_OUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || (strcmp(argv[1], "init") && strcmp(argv[1], "issue"))) {
        usage(stderr);
        return CLI_USAGE;
    }
    bool init = !strcmp(argv[1], "init");
    const char *dir = NULL, *td = "cluster.local", *ttl = NULL, *ns = NULL, *sa = NULL, *out = NULL;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DIR: dir = optarg; break;
        case OPT_TD: td = optarg; break;
        case OPT_TTL: ttl = optarg; break;
        case OPT_NS: ns = optarg; break;
        case OPT_SA: sa = optarg; break;
        case OPT_OUT: out = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (!dir || optind != argc || (!init && (!ns || !sa || !out))) {
        usage(stderr);
        return CLI_USAGE;
    }
    int64_t ns_ttl = init ? (int64_t)87600 * 3600 * 1000000000 : (int64_t)24 * 3600 * 1000000000;
    if (ttl && (field_parse_duration(ttl, &ns_ttl) || ns_ttl < 1000000000)) {
        fprintf(stderr, "meshlet ca: --ttl %s: not a duration of at least 1s (e.g. 24h)\n", ttl);
        return CLI_USAGE;
    }
    if (!k8s_name(td) || (!init && (!k8s_name(ns) || !k8s_name(sa)))) {
        fprintf(stderr, "meshlet ca: trust domain, namespace and service account must be "
                        "lower-case letters, digits, '-' and '.'\n");
        return CLI_USAGE;
    }
    char err[1024], id[1024];
    uint64_t secs = (uint64_t)(ns_ttl / 1000000000);
    if (init ? tls_ca_init(dir, td, secs, err, sizeof(err))
             : tls_ca_issue(dir, ns, sa, out, secs, id, sizeof(id), err, sizeof(err))) {
        fprintf(stderr, "meshlet ca %s: %s\n", argv[1], err);
        return CLI_ERRORS;
    }
    if (init)
        printf("mesh root for trust domain %s in %s (root-cert.pem, root-key.pem)\n", td, dir);
    else
        printf("%s: %s/cert-chain.pem, key.pem, root-cert.pem\n", id, out);
    return CLI_OK;
}
