/* SPDX-License-Identifier: Apache-2.0 */
/* `meshlet validate` and `meshlet check`: load, validate, optionally analyze, print the
 * messages (text or JSON) and map them to an exit code. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/store.h"
#include "config/config.h"
#include "core/strbuf.h"

static void
usage(FILE *f, const char *cmd)
{
    fprintf(
        f,
        "usage: meshlet %s [-o text|json] [--namespace NS] [-v] PATH...\n"
        "       meshlet %s [-o text|json] [--namespace NS] --etcd URL[,URL...]\n"
        "                  [--etcd-prefix P] [--etcd-cacert FILE] [--etcd-cert F --etcd-key F]\n"
        "  PATH           files or directories (.yaml, .yml, .json; directories recursively)\n"
        "  --etcd URL     instead: the config `meshlet run --etcd` follows, every key under\n"
        "                 P (default /meshlet); messages name KEY@REVISION:line:col\n"
        "  -o, --output   text (default) or json\n"
        "  -n, --namespace NS  namespace for resources without metadata.namespace (default)\n"
        "  -v, --verbose  also list the documents of other kinds that were skipped\n"
        "exit: 0 no errors (warnings allowed), 1 errors, 2 usage or unreadable input, 4\n"
        "etcd unreachable\n",
        cmd, cmd);
}

int
cmd_check(int argc, char **argv, int analyze)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"namespace", required_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {"etcd", required_argument, NULL, 'E'},
        {"etcd-prefix", required_argument, NULL, 'P'},
        {"etcd-cacert", required_argument, NULL, 'C'},
        {"etcd-cert", required_argument, NULL, 'T'},
        {"etcd-key", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = analyze ? "check" : "validate";
    struct config_options opt = {0};
    bool json = false;
    const char *urls = NULL, *prefix = "/meshlet", *ca = NULL, *cert = NULL, *key = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:n:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (!strcmp(optarg, "json")) {
                json = true;
            } else if (strcmp(optarg, "text")) {
                fprintf(stderr, "meshlet %s: -o takes text or json\n", cmd);
                return CLI_USAGE;
            }
            break;
        case 'n': opt.default_ns = optarg; break;
        case 'v': opt.verbose = true; break;
        case 'E': urls = optarg; break;
        case 'P': prefix = optarg; break;
        case 'C': ca = optarg; break;
        case 'T': cert = optarg; break;
        case 'K': key = optarg; break;
        case 'h': usage(stdout, cmd); return CLI_OK;
        default: usage(stderr, cmd); return CLI_USAGE;
        }
    }
    if ((optind >= argc) == !urls) { /* files, or the store */
        usage(stderr, cmd);
        return CLI_USAGE;
    }

    struct resource_set set;
    struct diag_list dl;
    config_init(&set);
    diag_list_init(&dl);
    struct store st = {0};
    int rc;
    if (urls) {
        const struct source_doc *docs = NULL;
        ssize_t n = 0;
        rc = store_open(&st, cmd, urls, prefix, ca, cert, key);
        if (!rc) rc = store_read(&st, st.prefix, false);
        if (!rc && (n = store_docs(&st, &docs)) < 0) rc = EXIT_STORE;
        if (rc) {
            store_fini(&st);
            diag_list_fini(&dl);
            config_fini(&set);
            return rc;
        }
        config_load_docs(&set, docs, (size_t)n, &opt, &dl);
    } else {
        rc = config_load(&set, (const char *const *)argv + optind, (size_t)(argc - optind), &opt,
                         &dl);
    }
    if (!rc && analyze) config_analyze(&set, &dl);

    struct strbuf out;
    strbuf_init(&out, (size_t)1 << 30);
    diag_list_format(&dl, json, &out);
    if (!json && !rc) {
        strbuf_printf(&out, "%s: %zu resource(s), %zu error(s), %zu warning(s)\n",
                      dl.errors ? "Failed" : "OK", set.len + set.n_services + set.n_workloads,
                      dl.errors, dl.warnings);
    }
    fwrite(strbuf_str(&out), 1, out.len, json || !dl.errors ? stdout : stdout);
    strbuf_fini(&out);

    int exit_code = rc ? CLI_USAGE : dl.errors ? CLI_ERRORS : CLI_OK;
    diag_list_fini(&dl);
    config_fini(&set);
    store_fini(&st);
    return exit_code;
}
