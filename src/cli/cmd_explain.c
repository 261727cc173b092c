/* SPDX-License-Identifier: Apache-2.0 */
/* `meshlet explain`: flags, then the report (admin/explain.c) on a snapshot built from -c
 * with the proxy's own build, or, with --admin, asked of a running meshlet (GET /explain) so
 * that it is its own snapshot and split state that answer. The exit status says the
 * outcome. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "admin/explain.h"
#include "cli/cli.h"
#include "cli/store.h"
#include "config/config.h"
#include "core/sock.h"
#include "core/strbuf.h"
#include "lb/lb.h"
#include "model/model.h"
#include "config/source.h"

/* Exit statuses beyond cli.h's (README, `explain --help`). */
enum {
    EXIT_LOCAL_REPLY = 3,  /* the proxy answers itself: 404 NR, 503 NC/UH */
    EXIT_NO_LISTENER = 4,  /* the Gateway named is unknown, or nothing listens there */
    EXIT_ADMIN = 5,        /* the admin endpoint cannot be reached or does not explain */
    EXIT_OTHER_CONFIG = 6, /* -c and --admin: the proxy runs another config */
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: meshlet explain -c PATH... [options] METHOD URL\n"
            "       meshlet explain --etcd URL [--etcd-prefix P] [options] METHOD URL\n"
            "       meshlet explain --admin HOST:PORT [options] METHOD URL\n"
            "       meshlet explain (-c PATH... | --admin HOST:PORT) --port N [--sni HOST]\n"
            "               [--source IP] [--dest IP] [options] tcp\n"
            "\n"
            "Which listener, virtual host and route a request takes, and why: each route\n"
            "skipped with the condition that failed, the destinations with their shares, the\n"
            "pools' endpoints and policy, or why the proxy answers itself. Options may come\n"
            "before or after METHOD and URL (http:// or https://).\n"
            "\n"
            "  -c, --config PATH      the config, as `meshlet run -c` reads it (repeatable)\n"
            "  --etcd URL[,URL...]    the config in etcd, as `meshlet run --etcd` reads it\n"
            "  --etcd-prefix P        its key prefix (default /meshlet)\n"
            "  --admin HOST:PORT      ask the meshlet running there: its own config and the\n"
            "                         state of its splits (next requests per worker); with\n"
            "                         -c, refused unless it runs that same config\n"
            "  -H, --header 'K: V'    a request header (repeatable); Host decides the virtual\n"
            "                         host, as in the proxy, else the URL's host\n"
            "  --gateway NS/NAME      the Gateway's listeners only (as `run --gateway`)\n"
            "  --mesh                 the mesh listener (sidecar outbound) instead of a Gateway\n"
            "  --port N               the listener's port (default: the URL's port)\n"
            "\n"
            "A connection to a TCP or TLS listener (`tcp` instead of METHOD URL): the route of\n"
            "the VirtualService tcp or tls rules (or the default) it takes on listener --port.\n"
            "  --sni HOST             the server name of the client's TLS ClientHello (picks\n"
            "                         the virtual host on a TLS passthrough listener)\n"
            "  --source IP            the client's address (shown)\n"
            "  --dest IP              the address the connection reached (destinationSubnets);\n"
            "                         default: unknown, so no subnet holds it\n"
            "\n"
            "  -n, --namespace NS     namespace of resources without one (default: default),\n"
            "                         and of short names on the mesh; with -c only\n"
            "  -o, --output FORMAT    text (default) or json\n"
            "  -h, --help             this text\n"
            "\n"
            "Exit status: 0 routed (a route matched: forwarded, redirected or answered as\n"
            "configured); 1 the config cannot be compiled; 2 usage or unreadable config,\n"
            "or several listeners and no port; 3 the proxy answers itself (404 NR, 503 NC/UH);\n"
            "4 unknown Gateway or no listener on that port; 5 the admin endpoint cannot be\n"
            "reached; 6 -c and --admin disagree (the proxy runs another config).\n");
}

static int
usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "meshlet explain: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(meshlet explain --help lists the options)\n");
    return CLI_USAGE;
}

static int
exit_for(enum explain_outcome o)
{
    switch (o) {
    case EXPLAIN_ROUTED: return CLI_OK;
    case EXPLAIN_LOCAL_REPLY: return EXIT_LOCAL_REPLY;
    case EXPLAIN_UNKNOWN_GATEWAY:
    case EXPLAIN_NO_LISTENER: return EXIT_NO_LISTENER;
    default: return CLI_USAGE;
    }
}

/* Percent-encode <s> into <sb> as a query value. */
static void
query_value(struct strbuf *sb, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~/:", c))
            strbuf_add(sb, s, 1);
        else
            strbuf_printf(sb, "%%%02X", c);
    }
}

/* GET <path> from the admin endpoint at <addr> (blocking, each step bounded by 5 s): its
 * status into <status> and body into <body>. false, with the reason on stderr, when no HTTP
 * answer comes. */
static bool
admin_get(const char *addr, const char *path, int *status, struct strbuf *body)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (sock_parse_addr(addr, &ss, &len)) {
        fprintf(stderr, "meshlet explain: --admin takes HOST:PORT, not %s\n", addr);
        return false;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 5};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
        connect(fd, (struct sockaddr *)&ss, len)) {
        fprintf(stderr, "meshlet explain: cannot reach the admin endpoint %s: %s\n", addr,
                strerror(errno));
        if (fd >= 0) close(fd);
        return false;
    }
    struct strbuf req;
    strbuf_init(&req, 1 << 20);
    strbuf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr);
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = write(fd, req.data + off, req.len - off);
        if (n <= 0) break;
        off += (size_t)n;
    }
    bool sent = off == req.len;
    strbuf_fini(&req);
    struct strbuf all;
    strbuf_init(&all, 16 << 20);
    char chunk[65536];
    ssize_t got;
    while (sent && (got = read(fd, chunk, sizeof(chunk))) > 0) strbuf_add(&all, chunk, (size_t)got);
    close(fd);
    const char *text = strbuf_str(&all);
    const char *sep = strstr(text, "\r\n\r\n");
    bool ok = sep && !strncmp(text, "HTTP/1.1 ", 9);
    if (ok) {
        *status = (int)strtol(text + 9, NULL, 10);
        strbuf_puts(body, sep + 4);
    } else {
        fprintf(stderr, "meshlet explain: the admin endpoint %s gave no answer to %s\n", addr,
                path);
    }
    strbuf_fini(&all);
    return ok;
}

/* The string at <key> of JSON object <doc> (malloc'ed), or NULL. */
static char *
json_string(struct fy_document *doc, const char *key)
{
    struct fy_node *n = fy_node_by_path(fy_document_root(doc), key, FY_NT, FYNWF_DONT_FOLLOW);
    size_t len;
    const char *v = n ? fy_node_get_scalar(n, &len) : NULL;
    return v ? strndup(v, len) : NULL;
}

/* The running proxy explains: GET /explain on <admin> with the request and, when <digest>
 * is given, the config the user expects it to run. Prints its report; the exit status. */
struct l4_args {
    bool on; /* `tcp`: a connection */
    const char *sni, *source, *dest;
};

static int
ask_proxy(const char *admin, const char *method, const char *url, char **headers, size_t n_headers,
          const char *gateway, const char *port, bool mesh, bool json, const char *digest,
          const struct l4_args *l4)
{
    struct strbuf path, body;
    strbuf_init(&path, 1 << 20);
    strbuf_init(&body, 16 << 20);
    if (l4->on) {
        strbuf_puts(&path, "/explain?format=json&l4=1");
        const char *keys[] = {"sni", "source", "dest"}, *vals[] = {l4->sni, l4->source, l4->dest};
        for (size_t i = 0; i < 3; i++) {
            if (!vals[i]) continue;
            strbuf_printf(&path, "&%s=", keys[i]);
            query_value(&path, vals[i]);
        }
    } else {
        strbuf_puts(&path, "/explain?format=json&method=");
        query_value(&path, method);
        strbuf_puts(&path, "&url=");
        query_value(&path, url);
    }
    for (size_t i = 0; i < n_headers; i++) {
        strbuf_puts(&path, "&header=");
        query_value(&path, headers[i]);
    }
    if (gateway) {
        strbuf_puts(&path, "&gateway=");
        query_value(&path, gateway);
    }
    if (port) strbuf_printf(&path, "&port=%s", port);
    if (mesh) strbuf_puts(&path, "&mesh=1");
    if (!json) strbuf_puts(&path, "&text=1");
    if (digest) strbuf_printf(&path, "&digest=%s", digest);
    int status = 0, rc = EXIT_ADMIN;
    if (!admin_get(admin, strbuf_str(&path), &status, &body)) goto out;
    if (status == 409) {
        fprintf(stderr,
                "meshlet explain: refused: the local config (-c) is not the one the proxy at %s "
                "runs: %s"
                "meshlet explain: drop -c to explain with the proxy's own config, or point -c "
                "at the files it runs (GET /config_dump lists them)\n",
                admin, strbuf_str(&body));
        rc = EXIT_OTHER_CONFIG;
        goto out;
    }
    if (status == 400) {
        fprintf(stderr, "meshlet explain: %s", strbuf_str(&body));
        rc = CLI_USAGE;
        goto out;
    }
    if (status != 200) {
        fprintf(stderr, "meshlet explain: the admin endpoint %s answered %d to /explain%s\n", admin,
                status, status == 404 ? " (a meshlet too old to explain?)" : "");
        goto out;
    }
    struct fy_document *doc = source_document(body.data, body.len, true);
    char *outcome = doc ? json_string(doc, "/outcome") : NULL;
    char *text = doc && !json ? json_string(doc, "/text") : NULL;
    if (!outcome || (!json && !text)) {
        fprintf(stderr, "meshlet explain: the admin endpoint %s gave no report\n", admin);
    } else {
        fputs(json ? strbuf_str(&body) : text, stdout);
        static const enum explain_outcome all[] = {EXPLAIN_ROUTED, EXPLAIN_LOCAL_REPLY,
                                                   EXPLAIN_UNKNOWN_GATEWAY, EXPLAIN_NO_LISTENER,
                                                   EXPLAIN_AMBIGUOUS};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
            if (!strcmp(outcome, explain_outcome_name(all[i]))) rc = exit_for(all[i]);
    }
    free(outcome);
    free(text);
    fy_document_destroy(doc);
out:
    strbuf_fini(&path);
    strbuf_fini(&body);
    return rc;
}

/* A -c path cannot be read: say so, as `meshlet check` does. */
static void
load_failed(const struct diag_list *dl)
{
    struct strbuf sb;
    strbuf_init(&sb, 1 << 20);
    diag_list_format(dl, false, &sb);
    fputs(strbuf_str(&sb), stderr);
    strbuf_fini(&sb);
}

/* Load the config of <etcd> (under <prefix>) into <set> and <dl>, as cli_load loads files:
 * <st> holds the documents until the caller is done with <set>. */
static int
load_store(struct store *st, const char *etcd, const char *prefix, const char *ns,
           struct resource_set *set, struct diag_list *dl)
{
    config_init(set);
    diag_list_init(dl);
    const struct source_doc *docs = NULL;
    ssize_t n = 0;
    int rc = store_open(st, "explain", etcd, prefix, NULL, NULL, NULL);
    if (!rc) rc = store_read(st, st->prefix, false);
    if (!rc && (n = store_docs(st, &docs)) < 0) rc = EXIT_STORE;
    if (rc) return rc;
    struct config_options copt = {.default_ns = ns};
    config_load_docs(set, docs, (size_t)n, &copt, dl);
    config_analyze(set, dl);
    return CLI_OK;
}

/* Explain against a snapshot built from <paths> (or the config in <etcd>) as `meshlet run`
 * builds it. */
static int
explain_local(const char *const *paths, size_t n_paths, const char *etcd, const char *prefix,
              const char *ns, const char *const *gateways, size_t n_gateways, bool mesh,
              const struct explain_request *rq, bool json)
{
    struct resource_set set;
    struct diag_list dl;
    struct store st = {0};
    int loaded = etcd ? load_store(&st, etcd, prefix, ns, &set, &dl)
                 : cli_load(paths, n_paths, ns, &set, &dl) ? CLI_USAGE
                                                           : CLI_OK;
    if (loaded) {
        load_failed(&dl);
        cli_unload(&set, &dl);
        store_fini(&st);
        return loaded;
    }
    /* `run --gateway` of a Gateway the config lacks serves nothing: say which exist. */
    for (size_t g = 0; g < n_gateways; g++) {
        bool known = false;
        for (size_t i = 0; i < set.len && !known; i++) {
            const struct resource *r = set.items[i];
            known = r->kind == KIND_GATEWAY && !strncmp(gateways[g], r->ns, strlen(r->ns)) &&
                    gateways[g][strlen(r->ns)] == '/' &&
                    !strcmp(gateways[g] + strlen(r->ns) + 1, r->name);
        }
        if (known) continue;
        struct strbuf sb;
        strbuf_init(&sb, 1 << 20);
        for (size_t i = 0; i < set.len; i++)
            if (set.items[i]->kind == KIND_GATEWAY)
                strbuf_printf(&sb, "%s%s/%s", sb.len ? ", " : "", set.items[i]->ns,
                              set.items[i]->name);
        if (json) {
            struct strbuf js;
            strbuf_init(&js, 4096);
            strbuf_json_str(&js, gateways[g]);
            printf("{\"gateway\":%s,\"status\":0,\"reason\":\"no listener\","
                   "\"outcome\":\"%s\"}\n",
                   strbuf_str(&js), explain_outcome_name(EXPLAIN_UNKNOWN_GATEWAY));
            strbuf_fini(&js);
        } else {
            printf("no listener: no Gateway %s in the config; its Gateways: %s\n", gateways[g],
                   sb.len ? strbuf_str(&sb) : "none");
        }
        strbuf_fini(&sb);
        cli_unload(&set, &dl);
        store_fini(&st);
        return EXIT_NO_LISTENER;
    }
    struct model_options mopt = {
        .gateways = gateways,
        .n_gateways = n_gateways,
        .mesh_port = mesh ? 15001 : 0,
        .ns = ns,
        .prepare_cluster = lb_prepare_cluster,
    };
    char err[512];
    struct snapshot *snap = model_build(&set, &mopt, err, sizeof(err));
    size_t errors = dl.errors;
    cli_unload(&set, &dl);
    store_fini(&st);
    if (!snap) {
        fprintf(stderr, "meshlet explain: %s\n", err);
        return CLI_ERRORS;
    }
    struct strbuf text, doc;
    strbuf_init(&text, 1 << 20);
    strbuf_init(&doc, 1 << 20);
    if (errors)
        strbuf_printf(&text,
                      "note: the config has %zu error(s) (see meshlet check); "
                      "meshlet run would refuse it\n",
                      errors);
    enum explain_outcome o = explain_write(snap, rq, &text, &doc);
    fputs(json ? strbuf_str(&doc) : strbuf_str(&text), stdout);
    if (json) fputs("\n", stdout);
    strbuf_fini(&text);
    strbuf_fini(&doc);
    model_release(snap);
    return exit_for(o);
}

/* The digest `meshlet run` would show for <paths> read with namespace <ns>, as hex. */
static int
local_digest(const char *const *paths, size_t n_paths, const char *ns, char out[32])
{
    struct resource_set set;
    struct diag_list dl;
    int rc = cli_load(paths, n_paths, ns, &set, &dl);
    if (!rc) snprintf(out, 32, "%016" PRIx64, cli_config_digest(&set, ns));
    if (rc) load_failed(&dl);
    cli_unload(&set, &dl);
    return rc ? CLI_USAGE : CLI_OK;
}

int
cmd_explain(int argc, char **argv)
{
    enum {
        OPT_GATEWAY = 256,
        OPT_MESH,
        OPT_PORT,
        OPT_ADMIN,
        OPT_ETCD,
        OPT_ETCD_PREFIX,
        OPT_SNI,
        OPT_SOURCE,
        OPT_DEST
    };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"gateway", required_argument, NULL, OPT_GATEWAY},
        {"mesh", no_argument, NULL, OPT_MESH},
        {"port", required_argument, NULL, OPT_PORT},
        {"namespace", required_argument, NULL, 'n'},
        {"header", required_argument, NULL, 'H'},
        {"output", required_argument, NULL, 'o'},
        {"admin", required_argument, NULL, OPT_ADMIN},
        {"etcd", required_argument, NULL, OPT_ETCD},
        {"etcd-prefix", required_argument, NULL, OPT_ETCD_PREFIX},
        {"sni", required_argument, NULL, OPT_SNI},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"dest", required_argument, NULL, OPT_DEST},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct l4_args l4 = {0};
    const char *paths[64], *gateways[8], *ns = NULL, *admin = NULL, *port_arg = NULL;
    const char *etcd = NULL, *etcd_prefix = "/meshlet";
    size_t n_paths = 0, n_gateways = 0;
    char *raw_headers[EXPLAIN_MAX_HEADERS];
    struct route_header hdrs[EXPLAIN_MAX_HEADERS];
    size_t n_hdrs = 0;
    bool mesh = false, json = false;
    unsigned long port = 0;
    int c;
    optind = 1;
    opterr = 0; /* our messages say what was wrong and how to fix it */
    /* No '+': options may follow METHOD and URL, as with curl. */
    while ((c = getopt_long(argc, argv, ":c:n:H:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (n_paths == 64) return usage_error("at most 64 -c paths (%s)", optarg);
            paths[n_paths++] = optarg;
            break;
        case OPT_GATEWAY:
            if (!strchr(optarg, '/') || optarg[0] == '/' || !strchr(optarg, '/')[1])
                return usage_error("--gateway takes NAMESPACE/NAME, not \"%s\"", optarg);
            if (n_gateways == 8) return usage_error("at most 8 --gateway (%s)", optarg);
            gateways[n_gateways++] = optarg;
            break;
        case OPT_MESH: mesh = true; break;
        case OPT_PORT: {
            char *end;
            port = strtoul(optarg, &end, 10);
            if (*end || !*optarg || !port || port > 65535)
                return usage_error("--port takes a number from 1 to 65535, not \"%s\"", optarg);
            port_arg = optarg;
            break;
        }
        case OPT_ADMIN: admin = optarg; break;
        case 'n': ns = optarg; break;
        case 'o':
            if (strcmp(optarg, "json") && strcmp(optarg, "text"))
                return usage_error("-o takes text or json, not \"%s\"", optarg);
            json = !strcmp(optarg, "json");
            break;
        case 'H':
            if (n_hdrs == EXPLAIN_MAX_HEADERS)
                return usage_error("at most 64 headers (%s)", optarg);
            if (!explain_header_parse(optarg, &hdrs[n_hdrs]))
                return usage_error("-H takes 'name: value' (with a colon), not \"%s\"", optarg);
            raw_headers[n_hdrs++] = optarg;
            break;
        case OPT_ETCD: etcd = optarg; break;
        case OPT_ETCD_PREFIX: etcd_prefix = optarg; break;
        case OPT_SNI: l4.sni = optarg; break;
        case OPT_SOURCE: l4.source = optarg; break;
        case OPT_DEST: l4.dest = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
    }
    int left = argc - optind;
    l4.on = left == 1 && !strcmp(argv[optind], "tcp");
    if (!l4.on && (l4.sni || l4.source || l4.dest))
        return usage_error("--sni, --source and --dest explain a connection: end with `tcp` "
                           "instead of METHOD URL%s",
                           "");
    if (l4.on && !port)
        return usage_error("a connection needs the listener's port: --port N%s", "");
    if (left == 0)
        return usage_error("give METHOD and URL, e.g. GET http://api.example.com/%s", "");
    if (left == 1 && !l4.on && strstr(argv[optind], "://"))
        return usage_error("give the METHOD (GET, POST, ...) before the URL %s", argv[optind]);
    if (left == 1 && !l4.on) return usage_error("give the URL after the METHOD %s", argv[optind]);
    if (left > 2)
        return usage_error("unexpected argument \"%s\" after METHOD and URL", argv[optind + 2]);
    if (!n_paths && !admin && !etcd)
        return usage_error("give the config with -c PATH or --etcd URL, or --admin HOST:PORT to "
                           "ask a running meshlet%s",
                           "");
    if (etcd && (n_paths || admin))
        return usage_error("--etcd is the config: not with -c or --admin (%s)", etcd);
    if (mesh && n_gateways)
        return usage_error("--mesh and --gateway exclude each other (%s)", gateways[0]);
    if (admin && n_gateways > 1)
        return usage_error("with --admin, one --gateway (%s)", gateways[1]);
    if (admin && !n_paths && ns)
        return usage_error("-n %s applies to -c's config; the proxy at --admin has its own "
                           "--namespace",
                           ns);
    const char *method = argv[optind], *url = l4.on ? "" : argv[optind + 1];
    struct explain_request rq;
    const char *gw = n_gateways == 1 ? gateways[0] : NULL;
    const char *why =
        l4.on ? explain_request_init_l4(&rq, (uint16_t)port, l4.sni, l4.source, l4.dest, mesh, gw)
              : explain_request_init(&rq, method, url, hdrs, n_hdrs, (uint16_t)port, mesh, gw);
    if (why) return usage_error("%s", why);
    if (!ns) ns = "default";
    if (!admin)
        return explain_local(paths, n_paths, etcd, etcd_prefix, ns, gateways, n_gateways, mesh, &rq,
                             json);
    char digest[32];
    if (n_paths) {
        int rc = local_digest(paths, n_paths, ns, digest);
        if (rc) return rc;
    }
    return ask_proxy(admin, method, url, raw_headers, n_hdrs, n_gateways ? gateways[0] : NULL,
                     port_arg, mesh, json, n_paths ? digest : NULL, &l4);
}
