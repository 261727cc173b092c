/* SPDX-License-Identifier: Apache-2.0 */
/* meshlet rollout [status|abort|resume]: the plan from a Rollout resource (or flags), checked
 * against the config it shifts, and where its weights and state live (a VirtualService file
 * with a state file beside it, or an etcd prefix); rollout/ does the stepping. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/rollout_store.h"
#include "config/config.h"
#include "config/diag.h"
#include "config/field.h"
#include "rollout/rollout.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: meshlet rollout [start|status|abort|resume] -f ROLLOUT.yaml [options]\n"
            "       meshlet rollout [start|...] --virtual-service NS/NAME --stable HOST[:SUBSET]\n"
            "                       --canary HOST[:SUBSET] --steps 5,25,50,100 [options]\n"
            "Shifts a route's weights from the stable destination to the canary step by step,\n"
            "watching Istio's metrics of both on the proxies (or Prometheus): each step lasts\n"
            "at least its minimum time and canary requests with every check passing; a check\n"
            "that fails puts 100%% back on the stable destination at once.\n"
            "  start          (default) run the rollout; `status`, `abort` (100%% stable now),\n"
            "                 `resume` (go on from the saved step after a crash or Ctrl-C)\n"
            "  -f FILE        the Rollout (kind Rollout, apiVersion meshlet.io/v1alpha1)\n"
            "  -c, --config PATH   the config holding the VirtualService (file or directory,\n"
            "                 repeatable; default: the Rollout file's directory)\n"
            "  -n, --namespace NS  namespace of resources without one (default: default)\n"
            "  --etcd URL[,URL...] [--etcd-prefix P] [--etcd-cacert F --etcd-cert F\n"
            "                 --etcd-key F]   the config lives in etcd instead: each step is one\n"
            "                 transaction on the VirtualService's key; the state is kept under\n"
            "                 PREFIX/.rollout/\n"
            "  --metrics HOST:PORT   a proxy's admin address (repeatable: the whole fleet)\n"
            "  --prometheus URL      run the checks as PromQL against this server instead\n"
            "  --state FILE   where the state is kept (default: beside the VirtualService's\n"
            "                 file, NS.NAME.rollout-state)\n"
            "  -o text|json   a live line per step and a summary, or JSON events\n"
            "Flags that replace or give the Rollout's fields: --name NS/NAME, --route NAME,\n"
            "  --steps W,W,...  --min-duration 30s  --min-requests N  --interval 1s\n"
            "  --min-success-rate PCT  --max-success-drop POINTS  --max-p99 500ms\n"
            "  --max-p99-ratio K  --failure-threshold N  --reporter source|destination\n"
            "  --apply-timeout 15s\n"
            "Exit status: 0 the canary has 100%%, 1 config errors, 2 usage errors, 3 rolled\n"
            "back (a check failed; which and its numbers on stderr) or could not go on, 4 the\n"
            "store cannot be reached, 6 aborted or interrupted (resume continues).\n");
}

struct flags {
    const char *file, *ns, *state, *output;
    const char *paths[64];
    size_t n_paths;
    const char *metrics[64];
    size_t n_metrics;
    const char *prometheus;
    const char *etcd, *prefix, *ca, *cert, *key;
    const char *name, *vs, *route, *stable, *canary, *steps, *reporter;
    const char *min_duration, *min_requests, *interval, *apply_timeout;
    const char *min_success, *max_drop, *max_p99, *max_p99_ratio, *failure_threshold;
};

static int
parse_flags(int argc, char **argv, struct flags *f)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"config", required_argument, NULL, 'c'},
        {"namespace", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"state", required_argument, NULL, 'S'},
        {"metrics", required_argument, NULL, 'M'},
        {"prometheus", required_argument, NULL, 'P'},
        {"etcd", required_argument, NULL, 'E'},
        {"etcd-prefix", required_argument, NULL, 'X'},
        {"etcd-cacert", required_argument, NULL, 'C'},
        {"etcd-cert", required_argument, NULL, 'T'},
        {"etcd-key", required_argument, NULL, 'K'},
        {"name", required_argument, NULL, 'N'},
        {"virtual-service", required_argument, NULL, 'V'},
        {"route", required_argument, NULL, 'R'},
        {"stable", required_argument, NULL, 's'},
        {"canary", required_argument, NULL, 'y'},
        {"steps", required_argument, NULL, 'w'},
        {"reporter", required_argument, NULL, 'r'},
        {"min-duration", required_argument, NULL, 'd'},
        {"min-requests", required_argument, NULL, 'q'},
        {"failure-threshold", required_argument, NULL, 'F'},
        {"interval", required_argument, NULL, 'i'},
        {"apply-timeout", required_argument, NULL, 'a'},
        {"min-success-rate", required_argument, NULL, 'm'},
        {"max-success-drop", required_argument, NULL, 'D'},
        {"max-p99", required_argument, NULL, 'L'},
        {"max-p99-ratio", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(f, 0, sizeof(*f));
    f->ns = "default";
    f->output = "text";
    f->prefix = "/meshlet";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "f:c:n:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': f->file = optarg; break;
        case 'c':
            if (f->n_paths == 64) goto usage;
            f->paths[f->n_paths++] = optarg;
            break;
        case 'n': f->ns = optarg; break;
        case 'o': f->output = optarg; break;
        case 'S': f->state = optarg; break;
        case 'M':
            if (f->n_metrics == 64) goto usage;
            f->metrics[f->n_metrics++] = optarg;
            break;
        case 'P': f->prometheus = optarg; break;
        case 'E': f->etcd = optarg; break;
        case 'X': f->prefix = optarg; break;
        case 'C': f->ca = optarg; break;
        case 'T': f->cert = optarg; break;
        case 'K': f->key = optarg; break;
        case 'N': f->name = optarg; break;
        case 'V': f->vs = optarg; break;
        case 'R': f->route = optarg; break;
        case 's': f->stable = optarg; break;
        case 'y': f->canary = optarg; break;
        case 'w': f->steps = optarg; break;
        case 'r': f->reporter = optarg; break;
        case 'd': f->min_duration = optarg; break;
        case 'q': f->min_requests = optarg; break;
        case 'F': f->failure_threshold = optarg; break;
        case 'i': f->interval = optarg; break;
        case 'a': f->apply_timeout = optarg; break;
        case 'm': f->min_success = optarg; break;
        case 'D': f->max_drop = optarg; break;
        case 'L': f->max_p99 = optarg; break;
        case 'k': f->max_p99_ratio = optarg; break;
        case 'h': usage(stdout); return 1;
        default:
            fprintf(stderr, "meshlet rollout: unknown or incomplete option \"%s\"\n",
                    argv[optind - 1]);
            goto usage;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meshlet rollout: unexpected argument \"%s\"\n", argv[optind]);
        goto usage;
    }
    if (strcmp(f->output, "text") && strcmp(f->output, "json")) {
        fprintf(stderr, "meshlet rollout: -o is text or json\n");
        goto usage;
    }
    if (!f->file && !f->vs) {
        fprintf(stderr, "meshlet rollout: give the Rollout (-f FILE) or --virtual-service\n");
        goto usage;
    }
    return 0;
usage:
    usage(stderr);
    return -1;
}

/* "HOST[:SUBSET]" into a destination. */
static bool
parse_dest(struct arena *a, const char *text, struct destination **out)
{
    struct destination *d = arena_alloc(a, sizeof(*d));
    const char *colon = strchr(text, ':');
    d->host = colon ? arena_strndup(a, text, (size_t)(colon - text)) : arena_strdup(a, text);
    d->subset = colon ? arena_strdup(a, colon + 1) : "";
    *out = d;
    return *d->host && (!colon || colon[1]);
}

/* The Rollout as flags give it (all of it, or fields over the file's). false: said. */
static bool
apply_flags(struct arena *a, const struct flags *f, struct rollout *ro, const char **name)
{
#define BAD(what)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "meshlet rollout: %s\n", what);                                            \
        return false;                                                                              \
    } while (0)
    if (f->name) *name = f->name;
    if (f->vs) ro->virtual_service = f->vs;
    if (f->route) ro->route = f->route;
    if (f->stable && !parse_dest(a, f->stable, &ro->stable)) BAD("--stable is HOST[:SUBSET]");
    if (f->canary && !parse_dest(a, f->canary, &ro->canary)) BAD("--canary is HOST[:SUBSET]");
    if (f->reporter) ro->reporter = f->reporter;
    if (f->prometheus) ro->prometheus = f->prometheus;
    if (f->steps) {
        size_t n = 1;
        for (const char *p = f->steps; *p; p++) n += *p == ',';
        if (n > ROLLOUT_MAX_STEPS) BAD("--steps: too many steps");
        ro->steps = arena_alloc(a, n * sizeof(*ro->steps));
        ro->steps_len = 0;
        char *copy = arena_strdup(a, f->steps), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            long w;
            if (!cli_parse_int(tok, 1, 100, &w))
                BAD("--steps: weights from 1 to 100, e.g. 5,50,100");
            ro->steps[ro->steps_len].weight = (struct opt_int){true, w};
            ro->steps_len++;
        }
    }
    uint64_t ms;
    long n;
    char *end;
    if (f->min_duration) {
        if (!cli_parse_seconds(f->min_duration, 86400000, &ms)) BAD("--min-duration: e.g. 30s");
        ro->min_duration = (struct opt_dur){true, (int64_t)ms * 1000000};
    }
    if (f->interval) {
        if (!cli_parse_seconds(f->interval, 60000, &ms) || ms < 100)
            BAD("--interval: 100ms to 60s");
        ro->interval = (struct opt_dur){true, (int64_t)ms * 1000000};
    }
    if (f->min_requests) {
        if (!cli_parse_int(f->min_requests, 0, 1000000000, &n)) BAD("--min-requests: a count");
        ro->min_requests = (struct opt_int){true, n};
    }
    const char *pct[2] = {f->min_success, f->max_drop};
    struct opt_dbl dv[2];
    for (int i = 0; i < 2; i++) {
        dv[i].set = pct[i] != NULL;
        if (!pct[i]) continue;
        dv[i].v = strtod(pct[i], &end);
        if (!*pct[i] || *end || !(dv[i].v >= 0 && dv[i].v <= 100))
            BAD("--min-success-rate and --max-success-drop are percentages (0 to 100)");
    }
    if (f->min_success || f->max_drop || f->max_p99 || f->max_p99_ratio || f->failure_threshold) {
        if (!ro->checks) ro->checks = arena_alloc(a, sizeof(*ro->checks));
        if (f->failure_threshold) {
            if (!cli_parse_int(f->failure_threshold, 1, 1000, &n))
                BAD("--failure-threshold: failed evaluations in a row, 1 to 1000");
            ro->checks->failure_threshold = (struct opt_int){true, n};
        }
        if (dv[0].set) ro->checks->min_success_rate = dv[0];
        if (dv[1].set) ro->checks->max_success_rate_drop = dv[1];
        if (f->max_p99) {
            if (!cli_parse_seconds(f->max_p99, 3600000, &ms) || !ms) BAD("--max-p99: e.g. 500ms");
            ro->checks->max_p99 = (struct opt_dur){true, (int64_t)ms * 1000000};
        }
        if (f->max_p99_ratio) {
            double k = strtod(f->max_p99_ratio, &end);
            if (!*f->max_p99_ratio || *end || !(k >= 1 && k <= 1000))
                BAD("--max-p99-ratio: a factor from 1 to 1000");
            ro->checks->max_p99_ratio = (struct opt_dbl){true, k};
        }
    }
    return true;
#undef BAD
}

/* Everything one invocation holds. */
struct session {
    struct flags f;
    struct resource_set set;
    struct diag_list dl;
    struct arena a;
    struct rollout_plan plan;
    struct rollout_store store;
    struct rs_ctx ctx;
    char *rollout_text;
};

/* The version label of <subset> of <fqdn> (its DestinationRule), for Istio's metrics. */
static const char *
subset_version(const struct resource_set *set, struct arena *a, const char *fqdn,
               const char *subset)
{
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_DESTINATION_RULE || !r->spec.dr || !r->spec.dr->host) continue;
        if (strcmp(config_fqdn(a, r->spec.dr->host, r->ns), fqdn)) continue;
        for (size_t s = 0; s < r->spec.dr->subsets_len; s++) {
            const struct subset *ss = &r->spec.dr->subsets[s];
            if (!ss->name || strcmp(ss->name, subset)) continue;
            for (size_t k = 0; k < ss->labels.len; k++)
                if (!strcmp(ss->labels.keys[k], "version")) return ss->labels.vals[k];
        }
    }
    return NULL;
}

/* The plan from the loaded config and the Rollout <r> (with the flags applied). */
static int
make_plan(struct session *s, const struct resource *r, const struct rollout *ro)
{
    struct arena *a = &s->a;
    struct rollout_plan *p = &s->plan;
    const char *ns = r ? r->ns : s->f.ns;
    const struct resource *vr = config_find(&s->set, KIND_VIRTUAL_SERVICE, ro->virtual_service, ns);
    if (!vr) {
        fprintf(stderr, "meshlet rollout: VirtualService %s%s%s is not in the config\n",
                strchr(ro->virtual_service, '/') ? "" : ns,
                strchr(ro->virtual_service, '/') ? "" : "/", ro->virtual_service);
        return CLI_ERRORS;
    }
    const struct http_route *h = rollout_route(a, vr, ro, ns);
    const char *sw = h ? rollout_route_host(a, h, ro->stable, vr->ns, ns) : NULL;
    const char *cw = h ? rollout_route_host(a, h, ro->canary, vr->ns, ns) : NULL;
    if (!sw || !cw) {
        fprintf(stderr,
                "meshlet rollout: VirtualService %s/%s has no http route%s%s%s that lists both "
                "%s%s%s and %s%s%s\n",
                vr->ns, vr->name, ro->route ? " \"" : "", ro->route ? ro->route : "",
                ro->route ? "\"" : "", ro->stable->host, *ro->stable->subset ? ":" : "",
                ro->stable->subset, ro->canary->host, *ro->canary->subset ? ":" : "",
                ro->canary->subset);
        return CLI_ERRORS;
    }
    p->name = r           ? arena_printf(a, "%s/%s", r->ns, r->name)
              : s->f.name ? s->f.name
                          : arena_printf(a, "%s/%s", vr->ns, vr->name);
    p->vs = arena_printf(a, "%s/%s", vr->ns, vr->name);
    p->route = h->name ? h->name : "";
    const struct destination *ds[2] = {ro->stable, ro->canary};
    struct dest_ref *refs[2] = {&p->stable, &p->canary};
    struct traffic_query *qs[2] = {&p->q_stable, &p->q_canary};
    const char *reporter = ro->reporter ? ro->reporter : "source";
    for (int k = 0; k < 2; k++) {
        const char *fqdn = config_fqdn(a, ds[k]->host, ns);
        refs[k]->host = fqdn;
        refs[k]->subset = ds[k]->subset ? ds[k]->subset : "";
        qs[k]->service = fqdn;
        qs[k]->reporter = reporter;
        qs[k]->version =
            *refs[k]->subset ? subset_version(&s->set, a, fqdn, refs[k]->subset) : NULL;
    }
    s->ctx.edit[0] = (struct dest_ref){sw, p->stable.subset};
    s->ctx.edit[1] = (struct dest_ref){cw, p->canary.subset};
    if (!strcmp(p->q_stable.service, p->q_canary.service) &&
        (!p->q_stable.version || !p->q_canary.version ||
         !strcmp(p->q_stable.version, p->q_canary.version))) {
        fprintf(stderr,
                "meshlet rollout: Istio's metrics cannot tell %s from %s: give both subsets "
                "of %s a distinct `version` label in the DestinationRule\n",
                p->stable.subset, p->canary.subset, p->q_stable.service);
        return CLI_ERRORS;
    }
    p->n_steps = ro->steps_len;
    uint64_t dflt_ms = ro->min_duration.set ? (uint64_t)(ro->min_duration.ns / 1000000) : 30000;
    uint64_t dflt_rq = ro->min_requests.set ? (uint64_t)ro->min_requests.v : 100;
    for (size_t i = 0; i < p->n_steps; i++) {
        const struct rollout_step *st = &ro->steps[i];
        p->weight[i] = (int)st->weight.v;
        p->min_ms[i] = st->min_duration.set ? (uint64_t)(st->min_duration.ns / 1000000) : dflt_ms;
        p->min_requests[i] = st->min_requests.set ? (uint64_t)st->min_requests.v : dflt_rq;
    }
    p->interval_ms = ro->interval.set ? (uint64_t)(ro->interval.ns / 1000000) : 1000;
    p->apply_timeout_ms = 15000;
    if (s->f.apply_timeout &&
        !cli_parse_seconds(s->f.apply_timeout, 600000, &p->apply_timeout_ms)) {
        fprintf(stderr, "meshlet rollout: --apply-timeout: e.g. 15s\n");
        return CLI_USAGE;
    }
    const struct rollout_checks_spec *c = ro->checks;
    p->checks.min_success_rate = c && c->min_success_rate.set ? c->min_success_rate.v : 99;
    p->checks.max_success_drop =
        c && c->max_success_rate_drop.set ? c->max_success_rate_drop.v : -1;
    p->checks.max_p99_ms = c && c->max_p99.set ? (double)c->max_p99.ns / 1e6 : 0;
    p->checks.max_p99_ratio = c && c->max_p99_ratio.set ? c->max_p99_ratio.v : 0;
    p->failure_threshold = c && c->failure_threshold.set ? (unsigned)c->failure_threshold.v : 1;
    p->prometheus = ro->prometheus;
    if (s->f.n_metrics) {
        p->metrics = s->f.metrics;
        p->n_metrics = s->f.n_metrics;
    } else {
        p->metrics = ro->metrics.v;
        p->n_metrics = ro->metrics.len;
    }
    if (p->n_metrics > 64) {
        fprintf(stderr, "meshlet rollout: at most 64 --metrics addresses\n");
        return CLI_USAGE;
    }
    s->ctx.vs_file = vr->file;
    s->ctx.vs_name = vr->name;
    s->ctx.vs_ns = vr->ns;
    s->ctx.route = p->route;
    return CLI_OK;
}

/* Load the Rollout file and the config, check both, and make the plan. */
static int
load(struct session *s)
{
    struct config_options opt = {.default_ns = s->f.ns};
    config_init(&s->set);
    diag_list_init(&s->dl);
    arena_init(&s->a, 16384, true);
    const char *paths[66];
    size_t n = 0;
    int rc = CLI_OK;
    if (s->f.etcd) {
        rc = rs_etcd_open(&s->ctx, s->f.etcd, s->f.prefix, s->f.ca, s->f.cert, s->f.key);
        if (rc) return rc;
        const struct source_doc *docs = NULL;
        ssize_t nd = rs_etcd_docs(&s->ctx, &docs);
        if (nd < 0) return EXIT_STORE;
        struct source_doc *all = arena_alloc(&s->a, ((size_t)nd + 1) * sizeof(*all));
        memcpy(all, docs, (size_t)nd * sizeof(*all));
        if (s->f.file) {
            size_t len = 0;
            s->rollout_text = cli_read_file(s->f.file, &len);
            if (!s->rollout_text) {
                fprintf(stderr, "meshlet rollout: %s: %s\n", s->f.file, strerror(errno));
                return CLI_USAGE;
            }
            all[nd++] = (struct source_doc){s->f.file, s->rollout_text, len};
        }
        config_load_docs(&s->set, all, (size_t)nd, &opt, &s->dl);
    } else {
        if (s->f.file) paths[n++] = s->f.file;
        for (size_t i = 0; i < s->f.n_paths; i++) paths[n++] = s->f.paths[i];
        if (!s->f.n_paths) {
            if (!s->f.file) {
                fprintf(stderr, "meshlet rollout: give the config (-c PATH) or --etcd\n");
                return CLI_USAGE;
            }
            char *dir = arena_strdup(&s->a, s->f.file), *slash = strrchr(dir, '/');
            if (slash)
                slash[slash == dir ? 1 : 0] = 0;
            else
                dir = ".";
            paths[0] = dir; /* the directory holds the Rollout file too */
        }
        if (config_load(&s->set, paths, n, &opt, &s->dl)) {
            struct strbuf out;
            strbuf_init(&out, 1 << 20);
            diag_list_format(&s->dl, false, &out);
            fputs(strbuf_str(&out), stderr);
            strbuf_fini(&out);
            return CLI_USAGE;
        }
    }
    config_analyze(&s->set, &s->dl);
    if (s->dl.errors) {
        struct strbuf out;
        strbuf_init(&out, 1 << 24);
        diag_list_format(&s->dl, false, &out);
        fputs(strbuf_str(&out), stderr);
        strbuf_fini(&out);
        fprintf(stderr, "meshlet rollout: the config has errors; nothing was changed\n");
        return CLI_ERRORS;
    }
    /* The Rollout: the file's (there must be one), with the flags over it. */
    const struct resource *r = NULL;
    struct rollout *ro = arena_alloc(&s->a, sizeof(*ro));
    if (s->f.file) {
        for (size_t i = 0; i < s->set.len; i++) {
            const struct resource *x = s->set.items[i];
            if (x->kind == KIND_ROLLOUT && x->spec.ro && !strcmp(x->file, s->f.file)) {
                if (r) {
                    fprintf(stderr, "meshlet rollout: %s holds several Rollouts; give one\n",
                            s->f.file);
                    return CLI_USAGE;
                }
                r = x;
            }
        }
        if (!r) {
            fprintf(stderr,
                    "meshlet rollout: %s holds no Rollout (kind: Rollout, apiVersion: "
                    "meshlet.io/v1alpha1)\n",
                    s->f.file);
            return CLI_USAGE;
        }
        *ro = *r->spec.ro;
    }
    const char *name = NULL;
    if (!apply_flags(&s->a, &s->f, ro, &name)) return CLI_USAGE;
    if (!ro->virtual_service || !ro->stable || !ro->canary || !ro->steps_len) {
        fprintf(stderr, "meshlet rollout: --virtual-service, --stable, --canary and --steps "
                        "are needed without a Rollout file\n");
        return CLI_USAGE;
    }
    if (name) s->f.name = name;
    return make_plan(s, r, ro);
}

static void
session_fini(struct session *s)
{
    rs_fini(&s->ctx);
    diag_list_fini(&s->dl);
    config_fini(&s->set);
    arena_fini(&s->a);
    free(s->rollout_text);
}

static volatile int interrupted;

static void
on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void
print_status(const struct session *s, const struct rollout_state *st, int weight, bool json)
{
    if (json) {
        struct strbuf sb;
        strbuf_init(&sb, 1 << 16);
        strbuf_puts(&sb, "{\"rollout\":");
        strbuf_json_str(&sb, s->plan.name);
        strbuf_printf(&sb, ",\"weight_in_config\":%d,\"state\":", weight);
        rollout_state_json(st, &sb);
        strbuf_puts(&sb, "}\n");
        fputs(strbuf_str(&sb), stdout);
        strbuf_fini(&sb);
        return;
    }
    printf("rollout %s: %s", s->plan.name, rollout_phase_name(st->phase));
    if (st->step >= 0 && (size_t)st->step < s->plan.n_steps)
        printf(", step %d/%zu (%d%% canary)", st->step + 1, s->plan.n_steps,
               s->plan.weight[st->step]);
    printf("\n  VirtualService %s route \"%s\": %s%s%s %d%%, %s%s%s %d%%\n", s->plan.vs,
           s->plan.route, s->plan.stable.host, *s->plan.stable.subset ? " subset " : "",
           s->plan.stable.subset, 100 - weight, s->plan.canary.host,
           *s->plan.canary.subset ? " subset " : "", s->plan.canary.subset, weight);
    if (st->pid) printf("  running as pid %d%s\n", st->pid, kill(st->pid, 0) ? " (gone)" : "");
    if (*st->message) printf("  %s\n", st->message);
}

int
cmd_rollout(int argc, char **argv)
{
    const char *sub = "start";
    if (argc >= 2 && argv[1][0] != '-') {
        sub = argv[1];
        argc--;
        argv++;
        if (strcmp(sub, "start") && strcmp(sub, "status") && strcmp(sub, "abort") &&
            strcmp(sub, "resume")) {
            fprintf(stderr, "meshlet rollout: unknown subcommand \"%s\"\n", sub);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    struct session *s = calloc(1, sizeof(*s));
    if (!s) return CLI_USAGE;
    int rc = parse_flags(argc, argv, &s->f);
    if (rc) {
        free(s);
        return rc > 0 ? CLI_OK : CLI_USAGE;
    }
    rc = load(s);
    if (!rc) rc = rs_open(&s->ctx, &s->plan, s->f.state, &s->store);
    if (rc) goto out;

    char err[512];
    struct rollout_state st;
    int have = s->store.load(s->store.arg, &st, err, sizeof(err));
    if (have < 0) {
        fprintf(stderr, "meshlet rollout: %s\n", err);
        rc = CLI_USAGE;
        goto out;
    }
    if (!strcmp(sub, "status")) {
        int w = -1;
        if (s->store.read_weight(s->store.arg, &w, err, sizeof(err)))
            fprintf(stderr, "meshlet rollout: %s\n", err);
        if (!have) {
            memset(&st, 0, sizeof(st));
            st.step = -1;
            snprintf(st.message, sizeof(st.message), "not started");
        }
        print_status(s, &st, w, !strcmp(s->f.output, "json"));
        goto out;
    }
    if (!strcmp(sub, "abort")) {
        if (rollout_abort(&s->plan, &s->store, err, sizeof(err))) {
            fprintf(stderr, "meshlet rollout: abort: %s\n", err);
            rc = CLI_ERRORS;
        } else {
            printf("rollout %s aborted: 100%% %s%s%s\n", s->plan.name, s->plan.stable.host,
                   *s->plan.stable.subset ? " subset " : "", s->plan.stable.subset);
        }
        goto out;
    }
    int from = 0;
    bool running =
        have && st.pid && st.pid != getpid() && !kill(st.pid, 0) && !rollout_phase_final(st.phase);
    if (running) {
        fprintf(stderr, "meshlet rollout: %s is running (pid %d); `status` shows it\n",
                s->plan.name, st.pid);
        rc = CLI_USAGE;
        goto out;
    }
    if (!strcmp(sub, "resume")) {
        if (!have || rollout_phase_final(st.phase)) {
            fprintf(stderr, "meshlet rollout: nothing to resume (%s)\n",
                    have ? rollout_phase_name(st.phase) : "never started");
            rc = CLI_USAGE;
            goto out;
        }
        from = st.step < 0 ? 0 : st.step;
        if ((size_t)from >= s->plan.n_steps) from = (int)s->plan.n_steps - 1;
    } else if (have && !rollout_phase_final(st.phase)) {
        fprintf(stderr,
                "meshlet rollout: %s is %s at step %d; `resume` continues it, `abort` "
                "restores stable\n",
                s->plan.name, rollout_phase_name(st.phase), st.step + 1);
        rc = CLI_USAGE;
        goto out;
    } else {
        /* Never a jump back: a second run of a finished rollout does nothing, and a canary
         * that already has more than the first steps starts at the first step above it. */
        int w0 = 0;
        if (s->store.read_weight(s->store.arg, &w0, err, sizeof(err))) {
            fprintf(stderr, "meshlet rollout: %s\n", err);
            rc = CLI_ERRORS;
            goto out;
        }
        if (have && st.phase == ROLLOUT_SUCCEEDED && w0 == 100) {
            fprintf(stderr, "rollout %s has succeeded already: the canary has 100%%\n",
                    s->plan.name);
            goto out;
        }
        while ((size_t)from + 1 < s->plan.n_steps && s->plan.weight[from] < w0) from++;
        if (from)
            fprintf(stderr, "rollout %s: the canary has %d%% already; starting at step %d (%d%%)\n",
                    s->plan.name, w0, from + 1, s->plan.weight[from]);
    }
    if (!s->plan.n_metrics) {
        fprintf(stderr, "meshlet rollout: give the proxies' admin addresses (--metrics "
                        "HOST:PORT, or spec.metrics): the weights must be seen in force\n");
        rc = CLI_USAGE;
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct rollout_run run = {
        .plan = &s->plan,
        .store = &s->store,
        .output = strcmp(s->f.output, "json") ? ROLLOUT_OUT_TEXT : ROLLOUT_OUT_JSON,
        .tty = isatty(STDOUT_FILENO),
        .interrupted = &interrupted,
    };
    rc = rollout_execute(&run, from);
out:
    session_fini(s);
    free(s);
    return rc;
}
