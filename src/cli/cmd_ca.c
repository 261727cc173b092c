/* SPDX-License-Identifier: Apache-2.0 */
/* `meshlet ca init` and `meshlet ca issue`: a mesh root and workload certificates for
 * ISTIO_MUTUAL, laid out as Istio mounts them (cert-chain.pem, key.pem, root-cert.pem). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/field.h"
#include "tls/ca.h"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: meshlet ca init --dir DIR [--trust-domain DOMAIN] [--ttl DURATION]\n"
            "       meshlet ca issue --dir DIR --ns NAMESPACE --sa SERVICE_ACCOUNT --out DIR\n"
            "                        [--ttl DURATION]\n"
            "A mesh root CA and SPIFFE workload certificates for ISTIO_MUTUAL, in the files\n"
            "Istio mounts (`meshlet run --identity OUT` reads them).\n"
            "  init    make a root CA (ECDSA P-256) in DIR: root-cert.pem, root-key.pem (0600)\n"
            "  issue   make a certificate for spiffe://<trust domain>/ns/NS/sa/SA, signed by\n"
            "          the root in DIR, into OUT: cert-chain.pem, key.pem (0600), root-cert.pem\n"
            "options:\n"
            "  --dir DIR              the CA's directory (created by init; read by issue)\n"
            "  --trust-domain DOMAIN  init: the mesh's trust domain (default cluster.local)\n"
            "  --ttl DURATION         how long the certificate is valid, at least 1s (24h, 90m,\n"
            "                         8760h); default 10 years for init, 24h for issue\n"
            "  --ns NAMESPACE         issue: the workload's namespace\n"
            "  --sa SERVICE_ACCOUNT   issue: the workload's service account\n"
            "  --out DIR              issue: where the workload's files go (created)\n"
            "  -h, --help             this text\n"
            "Names are lower-case letters, digits, '-' and '.'. Exit status: 0 done, 1 the\n"
            "certificate could not be made, 2 a usage error.\n");
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
    if (argc >= 2 &&
        (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc < 2 || (strcmp(argv[1], "init") && strcmp(argv[1], "issue"))) {
        if (argc >= 2) fprintf(stderr, "meshlet ca: unknown subcommand \"%s\"\n", argv[1]);
        usage(stderr);
        return CLI_USAGE;
    }
    bool init = !strcmp(argv[1], "init");
    const char *dir = NULL, *td = "cluster.local", *ttl = NULL, *ns = NULL, *sa = NULL, *out = NULL;
    int c;
    optind = 2;
    opterr = 0; /* getopt's messages would not say "meshlet ca" */
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DIR: dir = optarg; break;
        case OPT_TD: td = optarg; break;
        case OPT_TTL: ttl = optarg; break;
        case OPT_NS: ns = optarg; break;
        case OPT_SA: sa = optarg; break;
        case OPT_OUT: out = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        case ':':
            fprintf(stderr, "meshlet ca %s: %s needs a value\n", argv[1], argv[optind - 1]);
            return CLI_USAGE;
        default:
            fprintf(stderr, "meshlet ca %s: unknown option %s; `meshlet ca --help` lists them\n",
                    argv[1], argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    const char *missing = !dir   ? "--dir"
                          : init ? NULL
                          : !ns  ? "--ns"
                          : !sa  ? "--sa"
                          : !out ? "--out"
                                 : NULL;
    if (missing || optind != argc) {
        if (missing)
            fprintf(stderr, "meshlet ca %s: %s is required\n", argv[1], missing);
        else
            fprintf(stderr, "meshlet ca %s: unexpected argument \"%s\"\n", argv[1], argv[optind]);
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
    char key_path[4096];
    snprintf(key_path, sizeof(key_path), "%s/root-key.pem", dir);
    if (!init && access(key_path, R_OK)) {
        fprintf(stderr,
                "meshlet ca issue: --dir %s: no mesh CA there (cannot read %s: %s); make one "
                "with `meshlet ca init --dir %s`\n",
                dir, key_path, strerror(errno), dir);
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
