/* SPDX-License-Identifier: Apache-2.0 */
/* /stats: per-worker and total downstream requests, upstream TLS handshakes, the server's
 * config version, reloads, state and uptime, and each cluster's upstream counters. Every
 * value goes through one emit(), which applies the filter and the format. */
#include "admin/stats.h"
#include "admin/certs.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/dns.h"
#include "core/compiler.h"
#include "core/now.h"
#include "core/regex.h"
#include "http/metrics.h"

struct out {
    struct strbuf *sb;
    bool json;
    size_t n; /* stats written so far */
    const struct regex *filter;
};

static void emit(struct out *o, uint64_t value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
emit(struct out *o, uint64_t value, const char *fmt, ...)
{
    char name[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    if (len < 0) return;
    if ((size_t)len >= sizeof(name)) len = (int)sizeof(name) - 1;
    if (o->filter && !regex_search(o->filter, name, (size_t)len)) return;
    if (o->json) {
        strbuf_puts(o->sb, o->n ? ",{\"name\":" : "{\"name\":");
        strbuf_json_str(o->sb, name);
        strbuf_printf(o->sb, ",\"value\":%" PRIu64 "}", value);
    } else {
        strbuf_printf(o->sb, "%s: %" PRIu64 "\n", name, value);
    }
    o->n++;
}

static uint64_t
sum(const struct admin *a, size_t offset)
{
    uint64_t total = 0;
    for (size_t i = 0; i < a->n_workers; i++)
        total += __atomic_load_n((const uint64_t *)((const char *)&a->workers[i] + offset),
                                 __ATOMIC_RELAXED);
    return total;
}

/* Client connections open, and those a limit ended or refused, under Envoy's names. */
static void
downstream(struct out *o, const struct admin *a)
{
    struct worker_cx_counts total = {0};
    size_t open = 0;
    for (size_t i = 0; i < a->n_workers; i++) {
        const struct worker_cx_counts *cx = &a->workers[i].cx;
        open += atomic_load_explicit(&a->workers[i].n_conns, memory_order_relaxed);
        total.idle_timeout += __atomic_load_n(&cx->idle_timeout, __ATOMIC_RELAXED);
        total.header_timeout += __atomic_load_n(&cx->header_timeout, __ATOMIC_RELAXED);
        total.stream_timeout += __atomic_load_n(&cx->stream_timeout, __ATOMIC_RELAXED);
        total.overflow += __atomic_load_n(&cx->overflow, __ATOMIC_RELAXED);
        total.fd_exhausted += __atomic_load_n(&cx->fd_exhausted, __ATOMIC_RELAXED);
        total.upgrades += __atomic_load_n(&cx->upgrades, __ATOMIC_RELAXED);
        total.upgrades_ended += __atomic_load_n(&cx->upgrades_ended, __ATOMIC_RELAXED);
        total.upgrade_refused += __atomic_load_n(&cx->upgrade_refused, __ATOMIC_RELAXED);
    }
    emit(o, total.overflow, "listener.downstream_cx_overflow");
    emit(o, total.fd_exhausted, "listener.downstream_cx_fd_exhausted");
    emit(o, open, "http.downstream_cx_active");
    emit(o, total.idle_timeout, "http.downstream_cx_idle_timeout");
    emit(o, total.header_timeout, "http.downstream_rq_header_timeout");
    emit(o, total.stream_timeout, "http.downstream_rq_idle_timeout");
    emit(o, total.upgrades, "http.downstream_cx_upgrades_total");
    /* Each worker counts its ends after its starts: the sum never goes below zero. */
    emit(o, total.upgrades - total.upgrades_ended, "http.downstream_cx_upgrades_active");
    emit(o, total.upgrade_refused, "http.downstream_rq_ws_on_non_ws_route");
}

/* What the HTTP/2 codecs refused, under Envoy's names: clients' (the listeners'), then
 * upstream servers' under "upstream." (Envoy keeps those per cluster, cluster.<name>.http2.*;
 * these are every pool's). */
static void
http2(struct out *o, const struct admin *a)
{
    static const struct {
        size_t offset;
        const char *name;
        bool upstream; /* also counted for upstream connections */
    } rows[] = {
        {offsetof(struct worker_h2_counts, rx_reset), "http2.rx_reset", false},
        {offsetof(struct worker_h2_counts, premature_resets),
         "http.downstream_rq_too_many_premature_resets", false},
        {offsetof(struct worker_h2_counts, header_overflow), "http2.header_overflow", true},
        {offsetof(struct worker_h2_counts, continuations),
         "http2.inbound_continuation_frames_flood", true},
        {offsetof(struct worker_h2_counts, empty_frames), "http2.inbound_empty_frames_flood", true},
        {offsetof(struct worker_h2_counts, priority_frames), "http2.inbound_priority_frames_flood",
         true},
        {offsetof(struct worker_h2_counts, window_updates),
         "http2.inbound_window_update_frames_flood", true},
        {offsetof(struct worker_h2_counts, outbound_control), "http2.outbound_control_flood", true},
        {offsetof(struct worker_h2_counts, outbound_frames), "http2.outbound_flood", true},
        {offsetof(struct worker_h2_counts, protocol_errors), "http.downstream_cx_protocol_error",
         false},
        {offsetof(struct worker_h2_counts, frames_shed), "http2.frame_buffers_shed", false},
    };
    for (size_t r = 0; r < ARRAY_SIZE(rows); r++)
        emit(o, sum(a, offsetof(struct worker, h2) + rows[r].offset), "%s", rows[r].name);
    for (size_t r = 0; r < ARRAY_SIZE(rows); r++)
        if (rows[r].upstream)
            emit(o, sum(a, offsetof(struct worker, h2_up) + rows[r].offset), "upstream.%s",
                 rows[r].name);
    emit(
        o,
        sum(a, offsetof(struct worker, h2_up) + offsetof(struct worker_h2_counts, protocol_errors)),
        "upstream.http2.protocol_errors");
}

/* The resolver of DNS endpoints: Envoy's c-ares totals, and per name its queries,
 * failures, answers that changed its addresses, and how many addresses it has. */
static void
dns(struct out *o, const struct admin *a)
{
    if (!a->dns) return;
    size_t n;
    struct dns_name_view *v = dns_names_all(a->dns, &n);
    uint64_t queries, failures;
    dns_totals(a->dns, &queries, &failures);
    emit(o, queries, "dns.cares.resolve_total");
    emit(o, failures, "dns.cares.get_addr_failure");
    for (size_t i = 0; i < n; i++) {
        emit(o, v[i].queries, "dns.name.%s.queries", v[i].name);
        emit(o, v[i].failures, "dns.name.%s.failures", v[i].name);
        emit(o, v[i].changes, "dns.name.%s.changes", v[i].name);
        emit(o, v[i].n_addrs, "dns.name.%s.addresses", v[i].name);
    }
    free(v);
}

/* Istio's metadata exchange (http/mx.h): peer values read, the distinct peers kept, and
 * the values that named none: malformed, or new past the cap (a series bound). */
static void
exchange(struct out *o, const struct admin *a)
{
    size_t at = offsetof(struct worker, mx);
    emit(o, sum(a, at + offsetof(struct mx, read)), "metadata_exchange.peer_values_read");
    emit(o, sum(a, at + offsetof(struct mx, n)), "metadata_exchange.peers_known");
    emit(o, sum(a, at + offsetof(struct mx, malformed)), "metadata_exchange.peer_values_malformed");
    emit(o, sum(a, at + offsetof(struct mx, overflow)), "metadata_exchange.peers_overflow");
}

void
stats_write(const struct admin *a, struct strbuf *sb, bool json, const struct regex *filter)
{
    struct out o = {.sb = sb, .json = json, .filter = filter};
    if (json) strbuf_puts(sb, "{\"stats\":[");
    for (size_t i = 0; i < a->n_workers; i++)
        emit(&o, __atomic_load_n(&a->workers[i].requests, __ATOMIC_RELAXED),
             "worker.%zu.downstream_rq_total", i);
    emit(&o, sum(a, offsetof(struct worker, requests)), "http.downstream_rq_total");
    downstream(&o, a);
    http2(&o, a);
    emit(&o, sum(a, offsetof(struct worker, tls_handshakes)), "tls.upstream_handshakes");
    exchange(&o, a);
    emit(&o, sum(a, offsetof(struct worker, tls_resumed)), "tls.upstream_session_resumed");
    emit(&o, a->snap->version, "server.config_version");
    emit(&o, a->reloads_ok, "server.reload_success");
    emit(&o, a->reloads_failed, "server.reload_failure");
    emit(&o, !strcmp(admin_state(a), "LIVE"), "server.live");
    emit(&o, a->n_workers, "server.concurrency");
    emit(&o, (now_ms() - a->started_ms) / 1000, "server.uptime");
    int cert_days = certs_days_until_first_expiring(a);
    if (cert_days >= 0) emit(&o, (uint64_t)cert_days, "server.days_until_first_cert_expiring");
    struct metrics_shard *shards[256];
    size_t len, n = admin_shards(a, shards, 256);
    struct metrics_cluster_view *v = metrics_clusters(shards, n, &len);
    for (size_t i = 0; i < len; i++) {
        for (size_t e = 0; e < UP_CX_OPEN; e++)
            emit(&o, v[i].ev[e], "cluster.%s.%s", v[i].name, upstream_event_name[e]);
        for (int x = 1; x <= 5; x++)
            emit(&o, v[i].xx[x], "cluster.%s.upstream_rq_%dxx", v[i].name, x);
        emit(&o, metrics_cx_active(&v[i]), "cluster.%s.upstream_cx_active", v[i].name);
    }
    free(v);
    dns(&o, a);
    if (json) strbuf_puts(sb, "]}");
}
