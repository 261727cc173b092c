/* SPDX-License-Identifier: Apache-2.0 */
/* Admin endpoints. Requests are tiny and rare: each connection is read until its head is
 * complete, answered, and closed. Worker counters are read without locks (they are only
 * ever incremented by their worker; a scrape may see a value a few requests old). */
#include "admin/admin.h"
#include "admin/clusters.h"
#include "admin/config_dump.h"
#include "admin/explain.h"
#include "admin/prom.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "core/sock.h"
#include "core/strbuf.h"
#include "http/h1_parse.h"
#include "http/metrics.h"
#include "lb/outlier.h"
#include "model/endpoint.h"

struct admin_conn {
    struct loop_watch w;
    struct admin *a;
    struct buf in;
};

static void
admin_conn_close(struct admin_conn *ac)
{
    loop_del(ac->a->loop, &ac->w);
    close(ac->w.fd);
    buf_fini(&ac->in);
    free(ac);
}

static void
respond(int fd, int status, const char *type, const char *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
                     "connection: close\r\n\r\n",
                     status,
                     status == 200   ? "OK"
                     : status == 503 ? "Service Unavailable"
                     : status == 400 ? "Bad Request"
                     : status == 405 ? "Method Not Allowed"
                     : status == 409 ? "Conflict"
                                     : "Not Found",
                     type, len);
    /* Loopback and small: a blocking-style write loop is fine on the admin port. */
    struct buf out;
    if (buf_init(&out, (size_t)n + len + 1, (size_t)n + len + 1)) return;
    buf_append(&out, head, (size_t)n);
    buf_append(&out, body, len);
    for (int i = 0; i < 1000 && !buf_empty(&out); i++)
        if (buf_write_fd(&out, fd) < 0 && errno != EAGAIN) break;
    buf_fini(&out);
}

/* Each worker's smooth-split counters for every route with several destinations, one line
 * per route and worker: listener, virtual host, route index, worker, counters. `meshlet
 * explain --admin` reads it to show where the split stands. */
static void
splits_page(struct admin *a, struct strbuf *sb)
{
    const struct snapshot *s = a->snap;
    for (size_t li = 0; li < s->n_listeners; li++) {
        const struct model_listener *l = &s->listeners[li];
        for (const struct model_vhost *vh = l->vhosts; vh; vh = vh->next) {
            for (size_t ri = 0; ri < vh->n_routes; ri++) {
                const struct model_route *r = &vh->routes[ri];
                if (r->n_dests < 2) continue;
                for (size_t w = 0; w < s->n_split_workers; w++) {
                    const int64_t *cur = s->split_counters + w * (s->n_split_slots + 1);
                    strbuf_printf(sb, "%s\t%s\t%zu\t%zu\t", l->name, vh->host, ri, w);
                    for (size_t d = 0; d < r->n_dests; d++)
                        strbuf_printf(sb, "%s%" PRId64, d ? " " : "",
                                      __atomic_load_n(&cur[r->split_offset + d], __ATOMIC_RELAXED));
                    strbuf_puts(sb, "\n");
                }
            }
        }
    }
}

size_t
admin_shards(const struct admin *a, struct metrics_shard **out, size_t cap)
{
    size_t n = a->n_workers < cap ? a->n_workers : cap;
    for (size_t i = 0; i < n; i++) out[i] = a->workers[i].metrics;
    return n;
}

/* Envoy's /stats lines for each cluster's upstream counters. */
static void
stats_clusters(const struct admin *a, struct strbuf *sb)
{
    struct metrics_shard *shards[256];
    size_t len, n = admin_shards(a, shards, 256);
    struct metrics_cluster_view *v = metrics_clusters(shards, n, &len);
    for (size_t i = 0; i < len; i++) {
        for (size_t e = 0; e < UP_CX_OPEN; e++)
            strbuf_printf(sb, "cluster.%s.%s: %" PRIu64 "\n", v[i].name, upstream_event_name[e],
                          v[i].ev[e]);
        for (int x = 1; x <= 5; x++)
            strbuf_printf(sb, "cluster.%s.upstream_rq_%dxx: %" PRIu64 "\n", v[i].name, x,
                          v[i].xx[x]);
        strbuf_printf(sb, "cluster.%s.upstream_cx_active: %" PRIu64 "\n", v[i].name,
                      metrics_cx_active(&v[i]));
    }
    free(v);
}

/* Is <param> ("name=value" or "name") one of the query's parameters? */
static bool
query_has(struct slice query, const char *param)
{
    size_t n = strlen(param);
    for (size_t i = 0; i + n <= query.len; i++) {
        if ((i == 0 || query.ptr[i - 1] == '&') && !memcmp(query.ptr + i, param, n) &&
            (i + n == query.len || query.ptr[i + n] == '&'))
            return true;
    }
    return false;
}

/* The value of query parameter <name> into <out>; false when absent. */
static bool
query_get(struct slice query, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (size_t i = 0; i + n < query.len; i++) {
        if ((i == 0 || query.ptr[i - 1] == '&') && !memcmp(query.ptr + i, name, n) &&
            query.ptr[i + n] == '=') {
            const char *v = query.ptr + i + n + 1, *end = query.ptr + query.len;
            const char *amp = memchr(v, '&', (size_t)(end - v));
            size_t len = (size_t)((amp ? amp : end) - v);
            if (len >= cap) return false;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
    }
    return false;
}

/* GET /logging: the level; POST /logging?level=L sets it. */
static int
logging(const struct h1_request *r, struct slice query, struct strbuf *sb)
{
    char want[16];
    if (slice_eq(r->method, "POST")) {
        enum log_level lvl;
        if (!query_get(query, "level", want, sizeof(want)) || !log_level_parse(want, &lvl)) {
            strbuf_puts(sb, "usage: POST /logging?level=debug|info|warning|error|off\n");
            return 400;
        }
        log_set_level(lvl);
        log_msg(LOG_INFO, "log level set to %s", log_level_name(lvl));
    }
    strbuf_printf(sb, "level: %s\n", log_level_name(log_get_level()));
    return 200;
}

/* Client connections open, and those a limit ended or refused, under Envoy's names. */
static void
stats_downstream(const struct admin *a, struct strbuf *sb)
{
    struct worker_cx_counts sum = {0};
    size_t open = 0;
    for (size_t i = 0; i < a->n_workers; i++) {
        const struct worker_cx_counts *cx = &a->workers[i].cx;
        open += atomic_load_explicit(&a->workers[i].n_conns, memory_order_relaxed);
        sum.idle_timeout += __atomic_load_n(&cx->idle_timeout, __ATOMIC_RELAXED);
        sum.header_timeout += __atomic_load_n(&cx->header_timeout, __ATOMIC_RELAXED);
        sum.stream_timeout += __atomic_load_n(&cx->stream_timeout, __ATOMIC_RELAXED);
        sum.overflow += __atomic_load_n(&cx->overflow, __ATOMIC_RELAXED);
        sum.fd_exhausted += __atomic_load_n(&cx->fd_exhausted, __ATOMIC_RELAXED);
    }
    strbuf_printf(sb, "listener.downstream_cx_overflow: %" PRIu64 "\n", sum.overflow);
    strbuf_printf(sb, "listener.downstream_cx_fd_exhausted: %" PRIu64 "\n", sum.fd_exhausted);
    strbuf_printf(sb, "http.downstream_cx_active: %zu\n", open);
    strbuf_printf(sb, "http.downstream_cx_idle_timeout: %" PRIu64 "\n", sum.idle_timeout);
    strbuf_printf(sb, "http.downstream_rq_header_timeout: %" PRIu64 "\n", sum.header_timeout);
    strbuf_printf(sb, "http.downstream_rq_idle_timeout: %" PRIu64 "\n", sum.stream_timeout);
}

static void
handle(struct admin *a, int fd, const struct h1_request *r)
{
    struct strbuf sb;
    strbuf_init(&sb, 16 << 20);
    int status = 200;
    const char *type = "text/plain";
    const char *q = memchr(r->path.ptr, '?', r->path.len);
    struct slice path = q ? slice_make(r->path.ptr, (size_t)(q - r->path.ptr)) : r->path;
    struct slice query =
        q ? slice_make(q + 1, r->path.len - (size_t)(q + 1 - r->path.ptr)) : slice_make("", 0);
    if (slice_eq(path, "/ready")) {
        status = a->ready ? 200 : 503;
        strbuf_puts(&sb, a->ready ? "LIVE\n" : "NOT READY\n");
    } else if (slice_eq(path, "/reload")) {
        if (!slice_eq(r->method, "POST")) {
            status = 405;
            strbuf_puts(&sb, "use POST /reload\n");
        } else if (!a->reload || a->reload(a->reload_arg, &sb)) {
            status = 400;
        }
    } else if (slice_eq(path, "/healthz")) {
        strbuf_puts(&sb, "ok\n");
    } else if (slice_eq(path, "/stats/prometheus")) {
        type = "text/plain; version=0.0.4";
        prom_write(a, &sb);
    } else if (slice_eq(path, "/clusters")) {
        bool json = query_has(query, "format=json");
        if (json) type = "application/json";
        clusters_write(a, &sb, json);
    } else if (slice_eq(path, "/config_dump")) {
        type = "application/json";
        config_dump_write(a->snap, &sb);
    } else if (slice_eq(path, "/logging")) {
        status = logging(r, query, &sb);
    } else if (slice_eq(path, "/splits")) {
        splits_page(a, &sb);
    } else if (slice_eq(path, "/explain")) {
        status = explain_page(a->snap, query, &sb, &type);
    } else if (slice_eq(path, "/stats")) {
        uint64_t total = 0;
        for (size_t i = 0; i < a->n_workers; i++) {
            uint64_t n = __atomic_load_n(&a->workers[i].requests, __ATOMIC_RELAXED);
            strbuf_printf(&sb, "worker.%zu.downstream_rq_total: %" PRIu64 "\n", i, n);
            total += n;
        }
        strbuf_printf(&sb, "http.downstream_rq_total: %" PRIu64 "\n", total);
        uint64_t hs = 0, resumed = 0;
        for (size_t i = 0; i < a->n_workers; i++) {
            hs += __atomic_load_n(&a->workers[i].tls_handshakes, __ATOMIC_RELAXED);
            resumed += __atomic_load_n(&a->workers[i].tls_resumed, __ATOMIC_RELAXED);
        }
        stats_downstream(a, &sb);
        strbuf_printf(&sb, "tls.upstream_handshakes: %" PRIu64 "\n", hs);
        strbuf_printf(&sb, "tls.upstream_session_resumed: %" PRIu64 "\n", resumed);
        strbuf_printf(&sb, "server.config_version: %" PRIu64 "\n", a->snap->version);
        strbuf_printf(&sb, "server.reload_success: %" PRIu64 "\n", a->reloads_ok);
        strbuf_printf(&sb, "server.reload_failure: %" PRIu64 "\n", a->reloads_failed);
        stats_clusters(a, &sb);
    } else {
        status = 404;
        strbuf_puts(&sb, "unknown admin path\n");
    }
    log_msg(LOG_DEBUG, "admin: %.*s %.*s -> %d", (int)r->method.len, r->method.ptr,
            (int)r->path.len, r->path.ptr, status);
    respond(fd, status, type, strbuf_str(&sb), sb.len);
    strbuf_fini(&sb);
}

static void
on_conn(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct admin_conn *ac = container_of(w, struct admin_conn, w);
    for (;;) {
        ssize_t n = buf_read_fd(&ac->in, w->fd);
        if (n == -EAGAIN) break;
        if (n <= 0) {
            admin_conn_close(ac);
            return;
        }
    }
    struct h1_limits lim;
    h1_limits_default(&lim);
    static struct h1_request r;
    ssize_t rc = h1_parse_request(buf_head(&ac->in), buf_len(&ac->in), &lim, &r);
    if (rc == H1_NEED_MORE) return;
    if (rc > 0)
        handle(ac->a, w->fd, &r);
    else
        respond(w->fd, 400, "text/plain", "bad request\n", 12);
    admin_conn_close(ac);
}

static void
on_accept(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct admin *a = container_of(w, struct admin, w);
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len;
        int fd = sock_accept(w->fd, &peer, &len);
        if (fd < 0) return;
        struct admin_conn *ac = calloc(1, sizeof(*ac));
        if (!ac || buf_init(&ac->in, 4096, 65536)) {
            free(ac);
            close(fd);
            continue;
        }
        ac->a = a;
        ac->w.fd = fd;
        ac->w.cb = on_conn;
        if (loop_add(a->loop, &ac->w, LOOP_IN)) {
            buf_fini(&ac->in);
            free(ac);
            close(fd);
        }
    }
}

int
admin_init(struct admin *a, struct loop *loop, const struct sockaddr *addr, socklen_t len)
{
    int fd = sock_listen(addr, len, 64);
    if (fd < 0) return fd;
    a->w.fd = fd;
    a->w.cb = on_accept;
    a->loop = loop;
    a->started_ms = now_ms();
    int rc = loop_add(loop, &a->w, LOOP_IN);
    if (rc) close(fd);
    return rc;
}

void
admin_fini(struct admin *a)
{
    if (a->w.fd > 0) close(a->w.fd);
    a->w.fd = -1;
}
