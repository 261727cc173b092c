/* SPDX-License-Identifier: Apache-2.0 */
/* meshlet status --etcd URL: the fleet following a store, one line per live instance (its
 * lease-bound key PREFIX/.status/<instance>, control/status.c): the revision and config
 * version it serves and whether that is the store's latest config, lags behind it, or was
 * refused (with the reason). Read in one range of the prefix. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/fleet.h"
#include "control/etcd_http.h"
#include "tls/conn.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: meshlet status --etcd URL[,URL...] [--etcd-prefix PREFIX] [-o table|json]\n"
            "                      [--etcd-cacert FILE] [--etcd-cert FILE --etcd-key FILE]\n"
            "The instances of `meshlet run --etcd` following the store, as their status keys\n"
            "say: the store revision and config version each serves, and whether that is\n"
            "the latest config in the store (latest), an older one (lagging) or an older one\n"
            "because the newer was refused (refused, with the reason). An instance that\n"
            "stops, or dies, is gone from the list within its lease (10 s).\n"
            "Exit status: 0 every instance serves the latest config, 1 not every one (or\n"
            "none runs), 2 usage errors, 3 the store cannot be read.\n");
}

int
cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"etcd", required_argument, NULL, 'e'},
        {"etcd-prefix", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"etcd-cacert", required_argument, NULL, 'C'},
        {"etcd-cert", required_argument, NULL, 'T'},
        {"etcd-key", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *urls = NULL, *prefix = "/meshlet", *output = "table";
    const char *ca = NULL, *cert = NULL, *key = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'e': urls = optarg; break;
        case 'p': prefix = optarg; break;
        case 'o': output = optarg; break;
        case 'C': ca = optarg; break;
        case 'T': cert = optarg; break;
        case 'K': key = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        default:
            fprintf(stderr, "meshlet status: unknown option or missing value: %s\n",
                    argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (!urls || *prefix != '/' || (strcmp(output, "table") && strcmp(output, "json"))) {
        usage(stderr);
        return CLI_USAGE;
    }
    struct etcd_endpoint *eps = NULL;
    size_t n_eps;
    char err[512];
    struct tls_upstream *tls = NULL;
    if (etcd_endpoints_parse(urls, &eps, &n_eps, err, sizeof(err)) ||
        etcd_endpoints_tls(eps, n_eps, ca, cert, key, &tls, err, sizeof(err))) {
        fprintf(stderr, "meshlet status: --etcd %s\n", err);
        free(eps);
        return CLI_USAGE;
    }
    char full[1024];
    snprintf(full, sizeof(full), "%s%s", prefix, prefix[strlen(prefix) - 1] == '/' ? "" : "/");
    struct fleet f;
    int rc = CLI_OK;
    if (fleet_read(eps, n_eps, full, &f, err, sizeof(err))) {
        fprintf(stderr, "meshlet status: %s\n", err);
        rc = 3;
        goto out;
    }
    size_t current = 0;
    for (size_t i = 0; i < f.n; i++) current += !strcmp(fleet_state(&f, &f.items[i]), "latest");
    if (!strcmp(output, "json")) {
        struct strbuf j;
        strbuf_init(&j, 64u << 20);
        strbuf_printf(&j, "{\"latest_revision\":%" PRId64 ",\"instances\":[", f.latest);
        for (size_t i = 0; i < f.n; i++) {
            const struct fleet_instance *in = &f.items[i];
            strbuf_puts(&j, i ? ",{\"instance\":" : "{\"instance\":");
            strbuf_json_str(&j, in->name);
            strbuf_puts(&j, ",\"address\":");
            strbuf_json_str(&j, in->address);
            strbuf_printf(&j,
                          ",\"revision\":%" PRId64 ",\"config_version\":%" PRIu64
                          ",\"state\":\"%s\",\"last_error\":",
                          in->revision, in->version, fleet_state(&f, in));
            strbuf_json_str(&j, in->error);
            strbuf_puts(&j, ",\"time\":");
            strbuf_json_str(&j, in->time);
            strbuf_puts(&j, "}");
        }
        strbuf_puts(&j, "]}\n");
        fputs(strbuf_str(&j), stdout);
        strbuf_fini(&j);
    } else {
        printf("latest config revision %" PRId64 ": %zu of %zu instance(s) serve it\n", f.latest,
               current, f.n);
        if (f.n)
            printf("%-28s %-22s %9s %8s  %-8s %-20s %s\n", "INSTANCE", "ADDRESS", "REVISION",
                   "VERSION", "STATE", "WRITTEN", "LAST ERROR");
        for (size_t i = 0; i < f.n; i++) {
            const struct fleet_instance *in = &f.items[i];
            printf("%-28s %-22s %9" PRId64 " %8" PRIu64 "  %-8s %-20s %s\n", in->name, in->address,
                   in->revision, in->version, fleet_state(&f, in), in->time,
                   *in->error ? in->error : "-");
        }
    }
    rc = f.n && current == f.n ? CLI_OK : 1;
out:
    fleet_free(&f);
    free(eps);
    tls_upstream_free(tls);
    return rc;
}
