/* SPDX-License-Identifier: Apache-2.0 */
/* Rollout: decoding tables, per-resource rules and the check against its VirtualService. */
#include "config/rollout_spec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/field.h"
#include "config/rules.h"

FIELD_SCHEMA(rollout_step, RES_ROLLOUT_STEP)
FIELD_SCHEMA(rollout_checks_spec, RES_ROLLOUT_CHECKS)
FIELD_SCHEMA(rollout, RES_ROLLOUT)

#define NS_PER_S INT64_C(1000000000)

static void
check_destination(struct vctx *v, const struct rollout *ro, const struct destination *d,
                  const char *key)
{
    if (!d) {
        rules_error(v, ro, key, -1, "name the destination: host and subset",
                    "%s destination is required", key);
        return;
    }
    if (!d->host || !*d->host) {
        rules_error(v, d, "host", -1, "the service host, as in the VirtualService's route",
                    "host is required");
    } else {
        const char *bad = rules_wildcard_domain(d->host);
        if (bad || strchr(d->host, '*'))
            rules_error(v, d, "host", -1, RULES_DNS_HINT, "%s",
                        bad ? bad : "a rollout's destination is one service, not a wildcard");
    }
}

static bool
same_destination(const struct destination *a, const struct destination *b)
{
    return a && b && a->host && b->host && !strcmp(a->host, b->host) &&
           !strcmp(a->subset ? a->subset : "", b->subset ? b->subset : "");
}

static void
check_duration(struct vctx *v, const void *obj, const char *key, const struct opt_dur *d,
               int64_t min_ns, const char *hint)
{
    if (d->set && d->ns < min_ns)
        rules_error(v, obj, key, -1, hint, "%s must be at least %" PRId64 "ms", key,
                    min_ns / 1000000);
}

static void
check_steps(struct vctx *v, const struct rollout *ro)
{
    if (!ro->steps_len) {
        rules_error(v, ro, "steps", -1, "list the canary weights, e.g. 5, 25, 50, 100",
                    "steps are required");
        return;
    }
    if (ro->steps_len > ROLLOUT_MAX_STEPS)
        rules_error(v, ro, "steps", -1, "merge steps", "at most %d steps", ROLLOUT_MAX_STEPS);
    int64_t prev = 0;
    for (size_t i = 0; i < ro->steps_len; i++) {
        const struct rollout_step *s = &ro->steps[i];
        if (!s->weight.set) {
            rules_error(v, s, "weight", -1, "the canary's share in percent at this step",
                        "weight is required");
            continue;
        }
        if (s->weight.v < 1 || s->weight.v > 100) {
            rules_error(v, s, "weight", -1, "a percentage from 1 to 100",
                        "weight %" PRId64 " is out of range", s->weight.v);
        } else if (s->weight.v <= prev) {
            rules_error(v, s, "weight", -1, "each step gives the canary more than the one before",
                        "weight %" PRId64 " does not grow from the previous step's %" PRId64,
                        s->weight.v, prev);
        }
        if (s->weight.v > prev) prev = s->weight.v;
        check_duration(v, s, "minDuration", &s->min_duration, 0, "a duration such as 30s");
    }
}

static void
check_percent(struct vctx *v, const void *obj, const char *key, const struct opt_dbl *d)
{
    if (d->set && !(d->v >= 0 && d->v <= 100))
        rules_error(v, obj, key, -1, "a percentage from 0 to 100", "%s %g is out of range", key,
                    d->v);
}

static void
check_checks(struct vctx *v, const struct rollout_checks_spec *c)
{
    check_percent(v, c, "minSuccessRate", &c->min_success_rate);
    check_percent(v, c, "maxSuccessRateDrop", &c->max_success_rate_drop);
    check_duration(v, c, "maxP99", &c->max_p99, 1000000, "a latency such as 500ms");
    if (c->failure_threshold.set && (c->failure_threshold.v < 1 || c->failure_threshold.v > 1000))
        rules_error(v, c, "failureThreshold", -1,
                    "how many failed evaluations in a row roll back, from 1 (the default) to 1000",
                    "failureThreshold %" PRId64 " is out of range", c->failure_threshold.v);
    if (c->max_p99_ratio.set && !(c->max_p99_ratio.v >= 1 && c->max_p99_ratio.v <= 1000))
        rules_error(v, c, "maxP99Ratio", -1, "a factor of stable's p99 from 1 to 1000, e.g. 1.5",
                    "maxP99Ratio %g is out of range", c->max_p99_ratio.v);
}

/* "HOST:PORT" with a port in 1..65535. */
static bool
host_port(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] && !*end && port >= 1 && port <= 65535;
}

void
rollout_validate(const struct resource *r, struct diag_list *dl)
{
    struct vctx v = {dl, r};
    const struct rollout *ro = r->spec.ro;
    if (!ro->virtual_service || !*ro->virtual_service)
        rules_error(&v, ro, "virtualService", -1, "the name of the VirtualService to shift",
                    "virtualService is required");
    check_destination(&v, ro, ro->stable, "stable");
    check_destination(&v, ro, ro->canary, "canary");
    if (same_destination(ro->stable, ro->canary))
        rules_error(&v, ro->canary, "subset", -1, "the canary is another subset or service",
                    "canary and stable are the same destination");
    check_steps(&v, ro);
    check_duration(&v, ro, "minDuration", &ro->min_duration, 0, "a duration such as 30s");
    check_duration(&v, ro, "interval", &ro->interval, 100000000, "a duration such as 1s");
    if (ro->interval.set && ro->interval.ns > 60 * NS_PER_S)
        rules_error(&v, ro, "interval", -1, "check at least once a minute",
                    "interval may be at most 60s");
    if (ro->checks) check_checks(&v, ro->checks);
    if (ro->reporter && strcmp(ro->reporter, "source") && strcmp(ro->reporter, "destination"))
        rules_error(&v, ro, "reporter", -1, "source (the proxy in front) or destination",
                    "unknown reporter \"%s\"", ro->reporter);
    for (size_t i = 0; i < ro->metrics.len; i++)
        if (!host_port(ro->metrics.v[i]))
            rules_error(&v, ro, "metrics", (int)i, "an admin address, e.g. 127.0.0.1:15000",
                        "\"%s\" is not HOST:PORT", ro->metrics.v[i]);
    if (ro->prometheus && strncmp(ro->prometheus, "http://", 7))
        rules_error(&v, ro, "prometheus", -1, "a URL such as http://127.0.0.1:9090",
                    "prometheus must be an http:// URL");
}

const char *
rollout_route_host(struct arena *a, const struct http_route *h, const struct destination *d,
                   const char *vs_ns, const char *ro_ns)
{
    const char *want = config_fqdn(a, d->host, ro_ns);
    for (size_t i = 0; i < h->route_len; i++) {
        const struct destination *x = h->route[i].destination;
        if (x && x->host && !strcmp(config_fqdn(a, x->host, vs_ns), want) &&
            !strcmp(x->subset ? x->subset : "", d->subset ? d->subset : ""))
            return x->host;
    }
    return NULL;
}

const struct http_route *
rollout_route(struct arena *a, const struct resource *vs, const struct rollout *ro, const char *ns)
{
    const struct virtual_service *s = vs->spec.vs;
    for (size_t i = 0; i < s->http_len; i++) {
        const struct http_route *h = &s->http[i];
        if (ro->route && *ro->route) {
            if (h->name && !strcmp(h->name, ro->route)) return h;
        } else if (rollout_route_host(a, h, ro->stable, vs->ns, ns) &&
                   rollout_route_host(a, h, ro->canary, vs->ns, ns)) {
            return h;
        }
    }
    return NULL;
}

static void
analyze_one(struct arena *a, const struct resource_set *set, struct diag_list *dl,
            const struct resource *r)
{
    struct vctx v = {dl, r};
    const struct rollout *ro = r->spec.ro;
    if (!r->valid || !ro->virtual_service || !ro->stable || !ro->canary) return;
    const struct resource *vs = config_find(set, KIND_VIRTUAL_SERVICE, ro->virtual_service, r->ns);
    if (!vs) return; /* checked alone: the VirtualService is elsewhere */
    const struct http_route *h = rollout_route(a, vs, ro, r->ns);
    if (!h) {
        rules_error(&v, ro, ro->route && *ro->route ? "route" : "virtualService", -1,
                    "name an http route of the VirtualService that lists both destinations",
                    ro->route && *ro->route ? "VirtualService %s/%s has no http route \"%s\""
                                            : "VirtualService %s/%s has no http route to both "
                                              "the stable and the canary destination%s",
                    vs->ns, vs->name, ro->route ? ro->route : "");
        return;
    }
    const struct destination *ds[2] = {ro->stable, ro->canary};
    const char *keys[2] = {"stable", "canary"};
    for (int k = 0; k < 2; k++)
        if (!rollout_route_host(a, h, ds[k], vs->ns, r->ns))
            rules_error(&v, ro, keys[k], -1,
                        "list it in the route's destinations (weight 0 is fine before the "
                        "rollout starts)",
                        "route \"%s\" of VirtualService %s/%s does not route to %s%s%s",
                        h->name ? h->name : "", vs->ns, vs->name, ds[k]->host,
                        ds[k]->subset && *ds[k]->subset ? " subset " : "",
                        ds[k]->subset ? ds[k]->subset : "");
}

void
rollout_analyze(const struct resource_set *set, struct diag_list *dl)
{
    struct arena a;
    arena_init(&a, 4096, true);
    for (size_t i = 0; i < set->len; i++)
        if (set->items[i]->kind == KIND_ROLLOUT && set->items[i]->spec.ro)
            analyze_one(&a, set, dl, set->items[i]);
    arena_fini(&a);
}
