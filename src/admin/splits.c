/* SPDX-License-Identifier: Apache-2.0 */
/* /splits from the live snapshot's per-worker split state: the counters of smooth weighted
 * round robin and the requests each worker sent to each destination (both written by
 * their worker only, read here with relaxed loads: a page may be a few requests old). */
#include "admin/splits.h"

#include <inttypes.h>
#include <stdio.h>

#include "model/model.h"
#include "model/route.h"

static int64_t
counter(const struct snapshot *s, size_t worker, size_t slot)
{
    return __atomic_load_n(&s->split_counters[worker * (s->n_split_slots + 1) + slot],
                           __ATOMIC_RELAXED);
}

static uint64_t
picks(const struct snapshot *s, size_t slot)
{
    uint64_t n = 0;
    for (size_t w = 0; s->split_picks && w < s->n_split_workers; w++)
        n += __atomic_load_n(&s->split_picks[w * (s->n_split_slots + 1) + slot], __ATOMIC_RELAXED);
    return n;
}

/* The destination's FQDN when it resolved to a pool, else the host as configured. */
static const char *
host_of(const struct model_destination *d)
{
    return d->cluster ? d->cluster->host : d->host;
}

/* "orders.shop.svc.cluster.local subset v1" */
static void
dest_label(const struct model_destination *d, char *out, size_t cap)
{
    snprintf(out, cap, *d->subset ? "%s subset %s" : "%s", host_of(d), d->subset);
}

static void
route_text(struct strbuf *sb, const struct snapshot *s, const struct model_listener *l,
           const struct model_vhost *vh, size_t ri)
{
    const struct model_route *r = &vh->routes[ri];
    uint64_t total = 0;
    for (size_t d = 0; d < r->n_dests; d++) total += picks(s, r->split_offset + d);
    strbuf_printf(sb, "\n%s, host %s, route %zu", l->name, vh->host, ri);
    if (*r->name) strbuf_printf(sb, " '%s'", r->name);
    strbuf_printf(sb, " (VirtualService %s): %" PRIu64 " request(s)\n", r->vs, total);
    if (route_sticky_source(r))
        strbuf_printf(sb,
                      "  sticky on %s %s: a request with it goes where hash(user) falls; "
                      "without it, weighted round robin\n",
                      route_sticky_source(r), r->sticky_name);
    strbuf_printf(sb, "  %-56s %10s %10s %10s\n", "destination", "weight", "configured",
                  "observed");
    for (size_t d = 0; d < r->n_dests; d++) {
        const struct model_destination *dd = &r->dests[d];
        char label[512], observed[32] = "-";
        dest_label(dd, label, sizeof(label));
        uint64_t n = picks(s, r->split_offset + d);
        if (total)
            snprintf(observed, sizeof(observed), "%.1f%%", 100.0 * (double)n / (double)total);
        strbuf_printf(sb, "  %-56s %10u %9.1f%% %10s  (%" PRIu64 ")\n", label, dd->weight,
                      100.0 * dd->weight / r->total_weight, observed, n);
    }
}

static void
route_json(struct strbuf *sb, const struct snapshot *s, const struct model_listener *l,
           const struct model_vhost *vh, size_t ri, bool first)
{
    const struct model_route *r = &vh->routes[ri];
    uint64_t total = 0;
    for (size_t d = 0; d < r->n_dests; d++) total += picks(s, r->split_offset + d);
    strbuf_puts(sb, first ? "{\"listener\":" : ",{\"listener\":");
    strbuf_json_str(sb, l->name);
    strbuf_puts(sb, ",\"virtual_host\":");
    strbuf_json_str(sb, vh->host);
    strbuf_printf(sb, ",\"route\":%zu,\"name\":", ri);
    strbuf_json_str(sb, r->name);
    strbuf_puts(sb, ",\"virtual_service\":");
    strbuf_json_str(sb, r->vs);
    if (route_sticky_source(r)) {
        strbuf_printf(sb, ",\"sticky\":{\"source\":\"%s\",\"name\":", route_sticky_source(r));
        strbuf_json_str(sb, r->sticky_name);
        strbuf_puts(sb, "}");
    } else {
        strbuf_puts(sb, ",\"sticky\":null");
    }
    strbuf_printf(sb, ",\"requests\":%" PRIu64 ",\"destinations\":[", total);
    for (size_t d = 0; d < r->n_dests; d++) {
        const struct model_destination *dd = &r->dests[d];
        uint64_t n = picks(s, r->split_offset + d);
        strbuf_puts(sb, d ? ",{\"host\":" : "{\"host\":");
        strbuf_json_str(sb, host_of(dd));
        strbuf_puts(sb, ",\"subset\":");
        strbuf_json_str(sb, dd->subset);
        strbuf_puts(sb, ",\"cluster\":");
        if (dd->cluster)
            strbuf_json_str(sb, dd->cluster->name);
        else
            strbuf_puts(sb, "null");
        strbuf_printf(sb, ",\"weight\":%u,\"configured_percent\":%.2f,\"requests\":%" PRIu64,
                      dd->weight, 100.0 * dd->weight / r->total_weight, n);
        if (total)
            strbuf_printf(sb, ",\"observed_percent\":%.2f}", 100.0 * (double)n / (double)total);
        else
            strbuf_puts(sb, ",\"observed_percent\":null}");
    }
    strbuf_puts(sb, "],\"workers\":[");
    for (size_t w = 0; w < s->n_split_workers; w++) {
        strbuf_printf(sb, "%s{\"worker\":%zu,\"counters\":[", w ? "," : "", w);
        for (size_t d = 0; d < r->n_dests; d++)
            strbuf_printf(sb, "%s%" PRId64, d ? "," : "", counter(s, w, r->split_offset + d));
        strbuf_puts(sb, "]}");
    }
    strbuf_puts(sb, "]}");
}

void
splits_write(const struct admin *a, struct strbuf *sb, bool json)
{
    const struct snapshot *s = a->snap;
    if (!json)
        strbuf_printf(sb,
                      "Weighted routes of config version %" PRIu64 ": each destination's "
                      "weight, the share it is\nconfigured to get, and the share of requests "
                      "it got since this version (all workers).\n",
                      s->version);
    if (json) strbuf_printf(sb, "{\"version\":%" PRIu64 ",\"routes\":[", s->version);
    size_t n = 0;
    for (size_t li = 0; li < s->n_listeners; li++) {
        const struct model_listener *l = &s->listeners[li];
        for (const struct model_vhost *vh = l->vhosts; vh; vh = vh->next) {
            for (size_t ri = 0; ri < vh->n_routes; ri++) {
                if (vh->routes[ri].n_listed_dests < 2) continue;
                if (json)
                    route_json(sb, s, l, vh, ri, !n);
                else
                    route_text(sb, s, l, vh, ri);
                n++;
            }
        }
    }
    if (!json && !n) strbuf_puts(sb, "\nno route has several destinations\n");
    if (json) strbuf_puts(sb, "]}");
}
