/* SPDX-License-Identifier: Apache-2.0 */
/* Admin endpoints. Requests are tiny and rare: each connection is read until its head is
 * complete, answered, and closed. Worker counters are read without locks (they are only
 * ever incremented by their worker; a scrape may see a value a few requests old). */
#include "admin/admin.h"
#include "admin/prom.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/compiler.h"
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

static void
clusters_page(struct admin *a, struct strbuf *sb)
{
    const struct snapshot *s = a->snap;
    for (size_t i = 0; i < s->n_clusters; i++) {
        const struct model_cluster *c = s->clusters[i];
        for (size_t e = 0; e < c->n_endpoints; e++) {
            const struct model_endpoint *ep = &c->endpoints[e];
            /* Envoy's flag for an endpoint outlier detection has ejected */
            strbuf_printf(sb, "%s::%s:%u::health_flags::%s\n", c->name, ep->address, ep->port,
                          outlier_ejected(c, e) ? "/failed_outlier_check" : "healthy");
            /* mTLS: the mode, and the identity the last handshake verified */
            char peer[256];
            endpoint_peer_get(ep->state, peer, sizeof(peer));
            strbuf_printf(sb, "%s::%s:%u::tls::%s\n", c->name, ep->address, ep->port,
                          ep->mtls ? "istio_mutual" : "none");
            if (ep->mtls && peer[0])
                strbuf_printf(sb, "%s::%s:%u::peer_identity::%s\n", c->name, ep->address, ep->port,
                              peer);
            for (size_t l = 0; l < ep->n_labels; l++)
                strbuf_printf(sb, "%s::%s:%u::label::%s=%s\n", c->name, ep->address, ep->port,
                              ep->label_keys[l], ep->label_vals[l]);
        }
        if (!c->n_endpoints) strbuf_printf(sb, "%s::no endpoints\n", c->name);
    }
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

/* Envoy's /stats lines for each cluster's upstream counters. */
static void
stats_cluster(const struct metrics_cluster_view *v, void *arg)
{
    struct strbuf *sb = arg;
    static const char *const ev[] = {"upstream_rq_total", "upstream_rq_retry",
                                     "upstream_rq_retry_overflow", "upstream_rq_timeout",
                                     "upstream_rq_pending_overflow"};
    for (size_t e = 0; e < sizeof(ev) / sizeof(ev[0]); e++)
        strbuf_printf(sb, "cluster.%s.%s: %" PRIu64 "\n", v->name, ev[e], v->ev[e]);
    for (int x = 1; x <= 5; x++)
        strbuf_printf(sb, "cluster.%s.upstream_rq_%dxx: %" PRIu64 "\n", v->name, x, v->xx[x]);
    uint64_t open = v->ev[UP_CX_OPEN], closed = v->ev[UP_CX_CLOSE];
    strbuf_printf(sb, "cluster.%s.upstream_cx_active: %" PRIu64 "\n", v->name,
                  open > closed ? open - closed : 0);
}

static void
handle(struct admin *a, int fd, const struct h1_request *r)
{
    struct strbuf sb;
    strbuf_init(&sb, 16 << 20);
    int status = 200;
    const char *type = "text/plain";
    if (slice_eq(r->path, "/ready")) {
        status = a->ready ? 200 : 503;
        strbuf_puts(&sb, a->ready ? "LIVE\n" : "NOT READY\n");
    } else if (slice_eq(r->path, "/reload")) {
        if (!slice_eq(r->method, "POST")) {
            status = 405;
            strbuf_puts(&sb, "use POST /reload\n");
        } else if (!a->reload || a->reload(a->reload_arg, &sb)) {
            status = 400;
        }
    } else if (slice_eq(r->path, "/healthz")) {
        strbuf_puts(&sb, "ok\n");
    } else if (slice_eq(r->path, "/stats/prometheus")) {
        type = "text/plain; version=0.0.4";
        prom_write(a, &sb);
    } else if (slice_eq(r->path, "/clusters")) {
        clusters_page(a, &sb);
    } else if (slice_eq(r->path, "/splits")) {
        splits_page(a, &sb);
    } else if (slice_eq(r->path, "/stats")) {
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
        strbuf_printf(&sb, "tls.upstream_handshakes: %" PRIu64 "\n", hs);
        strbuf_printf(&sb, "tls.upstream_session_resumed: %" PRIu64 "\n", resumed);
        strbuf_printf(&sb, "server.config_version: %" PRIu64 "\n", a->snap->version);
        strbuf_printf(&sb, "server.reload_success: %" PRIu64 "\n", a->reloads_ok);
        strbuf_printf(&sb, "server.reload_failure: %" PRIu64 "\n", a->reloads_failed);
        struct metrics_shard *shards[256];
        size_t n = a->n_workers < 256 ? a->n_workers : 256;
        for (size_t i = 0; i < n; i++) shards[i] = a->workers[i].metrics;
        metrics_each_cluster(shards, n, stats_cluster, &sb);
    } else {
        status = 404;
        strbuf_puts(&sb, "unknown admin path\n");
    }
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
