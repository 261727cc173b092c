/* SPDX-License-Identifier: Apache-2.0 */
/* `meshlet explain`: which listener, virtual host and route a request would take, why each
 * earlier route was skipped, and what the chosen route does (destinations with their
 * shares, the pools' endpoints and effective policy), or why nothing can serve it. It runs
 * the proxy's own snapshot build and matcher (model/route.c), so it cannot disagree with
 * `meshlet run` on the same config. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/sock.h"
#include "core/strbuf.h"
#include "lb/lb.h"
#include "lb/outlier.h"
#include "lb/split.h"
#include "model/model.h"
#include "model/route.h"

#define MAX_HEADERS 64

static void
usage(FILE *f)
{
    fprintf(f, "usage: meshlet explain -c PATH [--gateway NS/NAME | --mesh] [--port N]\n"
               "                       [-n NS] [-H 'name: value']... [-o text|json]\n"
               "                       [--admin HOST:PORT] METHOD URL\n"
               "  --admin  ask a running meshlet where its split of the matched route stands\n");
}

static const char *
lb_name(const struct model_cluster *c)
{
    switch (lb_kind(c)) {
    case LB_ROUND_ROBIN: return "ROUND_ROBIN";
    case LB_RANDOM: return "RANDOM";
    case LB_PASSTHROUGH: return "PASSTHROUGH";
    case LB_CONSISTENT_HASH:
        return c->policy.lb->consistent_hash->maglev ? "CONSISTENT_HASH (maglev)"
                                                     : "CONSISTENT_HASH (ring hash)";
    default: return "LEAST_REQUEST";
    }
}

static void
json_kv(struct strbuf *sb, const char *k, const char *v, bool comma)
{
    strbuf_printf(sb, "%s\"%s\":", comma ? "," : "", k);
    strbuf_json_str(sb, v ? v : "");
}

struct out {
    struct strbuf text, json;
    bool first_route;
};

static void
describe_policy(struct out *o, const struct model_cluster *c)
{
    const struct model_policy *p = &c->policy;
    strbuf_printf(&o->text, "      load balancer: %s\n", lb_name(c));
    if (c->warmup_ms)
        strbuf_printf(&o->text,
                      "      slow start: new endpoints ramp up over %.1fs from %.0f%% of their "
                      "weight (aggression %.1f)\n",
                      (double)c->warmup_ms / 1000, c->warmup_min * 100, c->warmup_aggression);
    const struct model_limits *l = &c->limits;
    if (l->max_connections != UINT32_MAX)
        strbuf_printf(&o->text, "      max connections: %u\n", l->max_connections);
    if (l->max_pending != UINT32_MAX)
        strbuf_printf(&o->text, "      max pending requests: %u\n", l->max_pending);
    if (l->max_requests != UINT32_MAX)
        strbuf_printf(&o->text, "      max requests: %u\n", l->max_requests);
    if (l->max_retries != UINT32_MAX)
        strbuf_printf(&o->text, "      max concurrent retries: %u\n", l->max_retries);
    if (c->max_requests_per_conn)
        strbuf_printf(&o->text, "      max requests per connection: %u\n",
                      c->max_requests_per_conn);
    strbuf_printf(&o->text, "      connect timeout: %" PRIu64 "ms, idle timeout: %" PRIu64 "ms\n",
                  l->connect_timeout_ms, l->idle_timeout_ms);
    const struct model_outlier *od = &c->outlier;
    if (od->enabled) {
        strbuf_puts(&o->text, "      outlier detection: eject after");
        if (od->consecutive_5xx)
            strbuf_printf(&o->text, " %u consecutive 5xx", od->consecutive_5xx);
        if (od->consecutive_gw)
            strbuf_printf(&o->text, "%s %u consecutive gateway errors",
                          od->consecutive_5xx ? " or" : "", od->consecutive_gw);
        if (od->consecutive_local)
            strbuf_printf(&o->text, "%s %u consecutive local-origin failures",
                          od->consecutive_5xx || od->consecutive_gw ? " or" : "",
                          od->consecutive_local);
        if (!od->consecutive_5xx && !od->consecutive_gw && !od->consecutive_local)
            strbuf_puts(&o->text, " nothing (every detector is off)");
        strbuf_printf(&o->text,
                      ", interval %" PRIu64 "ms, base ejection %" PRIu64 "ms, at most %u%% of "
                      "%zu endpoint(s) ejected%s",
                      od->interval_ms, od->base_ms, od->max_percent, c->n_endpoints,
                      (uint64_t)od->max_percent * c->n_endpoints < 100 ? " (so none can be)" : "");
        if (od->min_health_percent)
            strbuf_printf(&o->text, ", panic below %u%% healthy\n", od->min_health_percent);
        else
            strbuf_puts(&o->text, ", no panic mode\n");
        size_t ejected = 0;
        for (size_t i = 0; i < c->n_endpoints; i++) ejected += outlier_ejected(c, i);
        if (ejected)
            strbuf_printf(&o->text, "      ejected now: %zu of %zu\n", ejected, c->n_endpoints);
    } else {
        strbuf_puts(&o->text, "      outlier detection: off\n");
    }
    static const char *const modes[] = {"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"};
    size_t mtls = 0;
    for (size_t i = 0; i < c->n_endpoints; i++) mtls += c->endpoints[i].mtls;
    if (p->tls && p->tls->mode.set && p->tls->mode.v != TLS_ISTIO_MUTUAL)
        strbuf_printf(&o->text, "      tls: %s%s\n", modes[p->tls->mode.v & 3],
                      p->tls->mode.v == TLS_DISABLE ? " (plain text)"
                                                    : " (not built yet: plain text)");
    else if (!p->tls && !mtls)
        strbuf_puts(&o->text, "      tls: not set, no endpoint labelled "
                              "security.istio.io/tlsMode=istio: plain text\n");
    if (mtls) {
        strbuf_printf(&o->text, "      tls: ISTIO_MUTUAL%s to %zu of %zu endpoint(s), SNI %s, ",
                      p->tls ? "" : " (automatic, by the tlsMode label)", mtls, c->n_endpoints,
                      c->tls_sni);
        if (!c->n_tls_sans) strbuf_puts(&o->text, "any identity the mesh root signed");
        for (size_t i = 0; i < c->n_tls_sans; i++)
            strbuf_printf(&o->text, "%s%s", i ? " or " : "the server must be ", c->tls_sans[i]);
        strbuf_puts(&o->text, "\n");
    }
}

static int
describe_route(struct out *o, const struct model_route *r)
{
    strbuf_printf(&o->json, ",\"route\":{");
    json_kv(&o->json, "name", r->name, false);
    json_kv(&o->json, "virtualService", r->vs, true);
    strbuf_printf(&o->json, ",\"rule\":%zu", r->rule_index);
    if (r->action == MODEL_DIRECT_RESPONSE) {
        strbuf_printf(&o->text, "action: direct response %d \"%.*s\"\n", r->direct_status,
                      (int)r->direct_body.len, r->direct_body.ptr);
        strbuf_printf(&o->json, ",\"action\":\"direct_response\",\"status\":%d}", r->direct_status);
        return r->direct_status;
    }
    if (r->action == MODEL_REDIRECT) {
        strbuf_printf(&o->text, "action: redirect %d to %s%s%s\n", r->redirect_code,
                      r->redirect_authority ? r->redirect_authority : "(same host)",
                      r->redirect_uri ? " " : "", r->redirect_uri ? r->redirect_uri : "");
        strbuf_printf(&o->json, ",\"action\":\"redirect\",\"status\":%d}", r->redirect_code);
        return r->redirect_code;
    }
    strbuf_printf(&o->text, "action: route (timeout %s", r->timeout_ms ? "" : "none");
    if (r->timeout_ms) strbuf_printf(&o->text, "%" PRIu64 "ms", r->timeout_ms);
    if (!r->retry_attempts)
        strbuf_puts(&o->text, ", retries: off");
    else if (!r->retries)
        strbuf_puts(&o->text, ", retries: Istio's default, 2 on connect-failure,refused-stream,"
                              "unavailable,cancelled");
    else
        strbuf_printf(&o->text, ", retries: %u on %s", r->retry_attempts,
                      r->retries->retry_on && *r->retries->retry_on ? r->retries->retry_on
                                                                    : "Istio's default conditions");
    if (r->retry_attempts)
        strbuf_printf(&o->text, ", back-off %" PRIu64 "ms; requests with a body are not retried",
                      r->retry_backoff_ms);
    strbuf_puts(&o->text, ")\n");
    for (size_t i = 0; i < r->n_mirrors; i++)
        strbuf_printf(&o->text, "mirror: %.4g%% of requests copied to %s (host + \"-shadow\")\n",
                      r->mirrors[i].ppm / 10000.0,
                      r->mirrors[i].cluster ? r->mirrors[i].cluster->name : "no such pool");
    if (r->fault_delay_ppm)
        strbuf_printf(&o->text, "fault: delay %" PRIu64 "ms on %.4g%% of requests (DI)\n",
                      r->fault_delay_ms, r->fault_delay_ppm / 10000.0);
    if (r->fault_abort_ppm && r->fault_abort_status > 0)
        strbuf_printf(&o->text, "fault: abort with %d on %.4g%% of requests (FI)\n",
                      r->fault_abort_status, r->fault_abort_ppm / 10000.0);
    else if (r->fault_abort_ppm)
        strbuf_printf(&o->text, "fault: abort with grpc-status %d on %.4g%% of requests (FI)\n",
                      r->fault_abort_grpc, r->fault_abort_ppm / 10000.0);
    strbuf_printf(&o->json, ",\"action\":\"route\",\"timeoutMs\":%" PRIu64 ",\"destinations\":[",
                  r->timeout_ms);
    int status = 200;
    for (size_t i = 0; i < r->n_dests; i++) {
        const struct model_destination *d = &r->dests[i];
        double pct = 100.0 * d->weight / r->total_weight;
        strbuf_printf(&o->text, "  %5.1f%%  %s%s%s", pct, d->host, *d->subset ? " subset " : "",
                      d->subset);
        strbuf_printf(&o->json, "%s{", i ? "," : "");
        json_kv(&o->json, "host", d->host, false);
        json_kv(&o->json, "subset", d->subset, true);
        strbuf_printf(&o->json, ",\"percent\":%.1f", pct);
        if (!d->cluster) {
            strbuf_puts(&o->text, ": 503 NC, no such pool: the host or subset is not defined "
                                  "(no ServiceEntry, or no DestinationRule subset)\n");
            strbuf_puts(&o->json, ",\"status\":503,\"flags\":\"NC\"}");
            status = 503;
            continue;
        }
        strbuf_printf(&o->text, " -> %s\n", d->cluster->name);
        json_kv(&o->json, "cluster", d->cluster->name, true);
        if (!d->cluster->n_endpoints) {
            strbuf_puts(&o->text, "      503 UH: the subset's labels select no endpoint\n");
            strbuf_puts(&o->json, ",\"status\":503,\"flags\":\"UH\",\"endpoints\":[]}");
            status = 503;
            continue;
        }
        strbuf_puts(&o->json, ",\"endpoints\":[");
        for (size_t e = 0; e < d->cluster->n_endpoints; e++) {
            const struct model_endpoint *ep = &d->cluster->endpoints[e];
            strbuf_printf(&o->text, "      endpoint %s:%u weight %u", ep->address, ep->port,
                          ep->weight);
            strbuf_printf(&o->json, "%s{\"address\":\"%s:%u\",\"labels\":{", e ? "," : "",
                          ep->address, ep->port);
            for (size_t l = 0; l < ep->n_labels; l++) {
                strbuf_printf(&o->text, "%s%s=%s", l ? "," : " ", ep->label_keys[l],
                              ep->label_vals[l]);
                strbuf_printf(&o->json, "%s", l ? "," : "");
                strbuf_json_str(&o->json, ep->label_keys[l]);
                strbuf_puts(&o->json, ":");
                strbuf_json_str(&o->json, ep->label_vals[l]);
            }
            strbuf_puts(&o->text, "\n");
            strbuf_puts(&o->json, "}}");
        }
        strbuf_printf(&o->json, "],\"loadBalancer\":\"%s\"}", lb_name(d->cluster));
        describe_policy(o, d->cluster);
    }
    strbuf_puts(&o->json, "]}");
    return status;
}

/* GET <path> from the admin endpoint at <addr> (blocking, bounded by a 2 s receive timeout)
 * into <body>. false with a reason on stderr when it cannot be read. */
static bool
admin_get(const char *addr, const char *path, struct strbuf *body)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (sock_parse_addr(addr, &ss, &len)) {
        fprintf(stderr, "meshlet explain: --admin takes HOST:PORT, not %s\n", addr);
        return false;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 2};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
        connect(fd, (struct sockaddr *)&ss, len)) {
        fprintf(stderr, "meshlet explain: cannot reach the admin endpoint %s: %s\n", addr,
                strerror(errno));
        if (fd >= 0) close(fd);
        return false;
    }
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, addr);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return false;
    }
    struct strbuf all;
    strbuf_init(&all, 16 << 20);
    char chunk[65536];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof(chunk))) > 0) strbuf_printf(&all, "%.*s", (int)got, chunk);
    close(fd);
    const char *text = strbuf_str(&all);
    const char *sep = strstr(text, "\r\n\r\n");
    bool ok = sep && !strncmp(text, "HTTP/1.1 200", 12);
    if (ok)
        strbuf_puts(body, sep + 4);
    else
        fprintf(stderr, "meshlet explain: the admin endpoint %s did not answer %s\n", addr, path);
    strbuf_fini(&all);
    return ok;
}

/* Where the running proxy's split of route <index> of <vh> on <l> stands: per worker, the
 * destinations of the next requests, replayed from its counters with the proxy's own code. */
static void
describe_split_now(struct out *o, const char *admin, const struct model_listener *l,
                   const struct model_vhost *vh, size_t index, const struct model_route *r)
{
    struct strbuf body;
    strbuf_init(&body, 16 << 20);
    if (!admin_get(admin, "/splits", &body)) {
        strbuf_fini(&body);
        return;
    }
    char prefix[1024];
    snprintf(prefix, sizeof(prefix), "%s\t%s\t%zu\t", l->name, vh->host, index);
    strbuf_printf(&o->text, "split now (from %s; smooth weighted round robin per worker):\n",
                  admin);
    strbuf_puts(&o->json, ",\"splitNow\":[");
    size_t found = 0;
    for (const char *line = strbuf_str(&body); *line;) {
        const char *end = strchr(line, '\n');
        if (!end) break;
        if (!strncmp(line, prefix, strlen(prefix))) {
            char *p;
            unsigned long worker = strtoul(line + strlen(prefix), &p, 10);
            int64_t cur[64] = {0};
            for (size_t d = 0; d < r->n_dests && d < 64; d++) cur[d] = strtoll(p, &p, 10);
            strbuf_printf(&o->text, "  worker %lu: next 10 requests ->", worker);
            strbuf_printf(&o->json, "%s{\"worker\":%lu,\"next\":[", found ? "," : "", worker);
            for (int k = 0; k < 10; k++) {
                const struct model_destination *d = &r->dests[split_next(cur, r)];
                const char *label = *d->subset ? d->subset : d->host;
                strbuf_printf(&o->text, " %s", label);
                strbuf_printf(&o->json, "%s", k ? "," : "");
                strbuf_json_str(&o->json, label);
            }
            strbuf_puts(&o->text, "\n");
            strbuf_puts(&o->json, "]}");
            found++;
        }
        line = end + 1;
    }
    strbuf_puts(&o->json, "]");
    if (!found)
        strbuf_puts(&o->text,
                    "  the running proxy has no such route: is it serving this config?\n");
    strbuf_fini(&body);
}

static bool
parse_url(const char *url, struct slice *authority, struct slice *path, uint16_t *port)
{
    const char *p = strstr(url, "://");
    if (!p) return false;
    p += 3;
    const char *slash = strchr(p, '/');
    size_t alen = slash ? (size_t)(slash - p) : strlen(p);
    *authority = slice_make(p, alen);
    *path = slash ? slice_make(slash, strlen(slash)) : SLICE_LIT("/");
    const char *colon = memchr(p, ':', alen);
    *port = colon ? (uint16_t)strtoul(colon + 1, NULL, 10) : 0;
    return alen > 0;
}

int
cmd_explain(int argc, char **argv)
{
    enum { OPT_GATEWAY = 256, OPT_MESH, OPT_PORT, OPT_ADMIN };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"gateway", required_argument, NULL, OPT_GATEWAY},
        {"mesh", no_argument, NULL, OPT_MESH},
        {"port", required_argument, NULL, OPT_PORT},
        {"namespace", required_argument, NULL, 'n'},
        {"header", required_argument, NULL, 'H'},
        {"output", required_argument, NULL, 'o'},
        {"admin", required_argument, NULL, OPT_ADMIN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *paths[64], *gateways[8], *ns = "default";
    size_t n_paths = 0, n_gateways = 0;
    struct route_header hdrs[MAX_HEADERS];
    size_t n_hdrs = 0;
    bool mesh = false, json = false;
    const char *admin = NULL;
    uint16_t port = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:n:H:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (n_paths < 64) paths[n_paths++] = optarg;
            break;
        case OPT_GATEWAY:
            if (n_gateways < 8) gateways[n_gateways++] = optarg;
            break;
        case OPT_MESH: mesh = true; break;
        case OPT_PORT: port = (uint16_t)strtoul(optarg, NULL, 10); break;
        case OPT_ADMIN: admin = optarg; break;
        case 'n': ns = optarg; break;
        case 'o': json = !strcmp(optarg, "json"); break;
        case 'H': {
            const char *colon = strchr(optarg, ':');
            if (!colon || n_hdrs >= MAX_HEADERS) {
                fprintf(stderr, "meshlet explain: -H takes 'name: value'\n");
                return CLI_USAGE;
            }
            const char *v = colon + 1;
            while (*v == ' ') v++;
            hdrs[n_hdrs].name = slice_make(optarg, (size_t)(colon - optarg));
            hdrs[n_hdrs].value = slice_make(v, strlen(v));
            n_hdrs++;
            break;
        }
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (!n_paths || argc - optind != 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *method = argv[optind], *url = argv[optind + 1];
    struct slice authority, path;
    uint16_t url_port;
    if (!parse_url(url, &authority, &path, &url_port)) {
        fprintf(stderr, "meshlet explain: give a URL such as http://api.example.com/orders\n");
        return CLI_USAGE;
    }

    struct resource_set set;
    struct diag_list dl;
    if (cli_load(paths, n_paths, ns, &set, &dl)) {
        cli_unload(&set, &dl);
        return CLI_USAGE;
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
    if (!snap) {
        fprintf(stderr, "meshlet explain: %s\n", err);
        return CLI_ERRORS;
    }

    struct out o;
    strbuf_init(&o.text, 1 << 20);
    strbuf_init(&o.json, 1 << 20);
    if (errors)
        strbuf_printf(&o.text,
                      "note: the config has %zu error(s) (see meshlet check); "
                      "meshlet run would refuse it\n",
                      errors);
    const struct model_listener *l = NULL;
    if (mesh)
        l = model_listener_for(snap, 15001);
    else if (port || url_port)
        l = model_listener_for(snap, port ? port : url_port);
    else if (snap->n_listeners == 1)
        l = &snap->listeners[0];
    int status = 0;
    strbuf_puts(&o.json, "{");
    json_kv(&o.json, "method", method, false);
    json_kv(&o.json, "url", url, true);
    if (!l) {
        strbuf_printf(&o.text, "no listener: %s\n",
                      snap->n_listeners > 1 ? "several listeners, pick one with --port or --mesh"
                                            : "no Gateway server or mesh listener serves it");
        strbuf_puts(&o.json, ",\"status\":0,\"reason\":\"no listener\"}");
        goto print;
    }
    strbuf_printf(&o.text, "listener: %s, port %u\n", l->name, l->port);
    json_kv(&o.json, "listener", l->name, true);
    const struct model_vhost *vh = model_vhost_find(l, authority);
    if (!vh) {
        strbuf_printf(&o.text, "404 NR: no virtual host for %.*s on this listener\n",
                      (int)authority.len, authority.ptr);
        strbuf_puts(&o.json, ",\"status\":404,\"flags\":\"NR\"}");
        status = 404;
        goto print;
    }
    strbuf_printf(&o.text, "virtual host: %s\n", vh->host);
    json_kv(&o.json, "virtualHost", vh->host, true);
    struct route_request rq = {
        slice_make(method, strlen(method)), path, authority, SLICE_LIT("http"), hdrs, n_hdrs};
    strbuf_puts(&o.json, ",\"skipped\":[");
    const struct model_route *hit = NULL;
    size_t hit_index = 0;
    for (size_t i = 0; i < vh->n_routes && !hit; i++) {
        const struct model_route *r = &vh->routes[i];
        char why[512] = "";
        bool ok = r->n_matches == 0;
        for (size_t k = 0; k < r->n_matches && !ok; k++) {
            char w[256];
            ok = route_block_matches(&r->matches[k], &rq, w, sizeof(w));
            if (!ok && k == 0) snprintf(why, sizeof(why), "%s", w);
        }
        if (ok) {
            hit = r;
            hit_index = i;
            strbuf_printf(&o.text, "route %zu '%s' (%s rule %zu): matched%s\n", i, r->name, r->vs,
                          r->rule_index,
                          r->n_matches ? "" : " (no conditions: matches everything)");
            break;
        }
        strbuf_printf(&o.text, "route %zu '%s': %s\n", i, r->name, why);
        strbuf_printf(&o.json, "%s{\"index\":%zu,", i ? "," : "", i);
        json_kv(&o.json, "name", r->name, false);
        json_kv(&o.json, "why", why, true);
        strbuf_puts(&o.json, "}");
    }
    strbuf_puts(&o.json, "]");
    if (!hit) {
        strbuf_puts(&o.text, "404 NR: no route of this virtual host matches the request\n");
        strbuf_puts(&o.json, ",\"status\":404,\"flags\":\"NR\"}");
        status = 404;
        goto print;
    }
    status = describe_route(&o, hit);
    if (admin && hit->action == MODEL_ROUTE && hit->n_dests > 1)
        describe_split_now(&o, admin, l, vh, hit_index, hit);
    strbuf_printf(&o.json, ",\"status\":%d}", status);
print:
    fputs(json ? strbuf_str(&o.json) : strbuf_str(&o.text), stdout);
    if (json) fputs("\n", stdout);
    strbuf_fini(&o.text);
    strbuf_fini(&o.json);
    model_release(snap);
    return CLI_OK;
}
