/* SPDX-License-Identifier: Apache-2.0 */
/* The admin server and its endpoint table: each path with whether it changes the server
 * (then only POST, as Envoy: 405 "Method GET not allowed, POST required."), a one-line
 * description for / and /help, and its handler. Requests are tiny and rare: each
 * connection is read until its head and its body (POST /rollout) are complete, answered,
 * and closed. Worker counters are read without locks (they are only ever incremented by
 * their worker; a scrape may see a value a few requests old). The pages themselves live in
 * their own files. */
#include "admin/admin.h"
#include "admin/certs.h"
#include "admin/clusters.h"
#include "admin/config_dump.h"
#include "admin/dashboard.h"
#include "admin/explain.h"
#include "admin/listeners.h"
#include "admin/prom.h"
#include "admin/server_info.h"
#include "admin/splits.h"
#include "admin/stats.h"
#include "admin/traffic.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "core/regex.h"
#include "core/sock.h"
#include "core/strbuf.h"
#include "http/h1_parse.h"

struct admin_conn {
    struct loop_watch w;
    struct admin *a;
    struct buf in;
    bool continued; /* "100 Continue" sent */
    /* The answer, written as the socket takes it: a page may be megabytes (a scrape of
     * many series) and the loop is the main thread's, which must not wait on a reader. The
     * page is the one its handler wrote, not a copy. */
    bool answered;
    char head[256];
    size_t head_len;
    struct strbuf page;
    size_t sent;                 /* of head, then page */
    struct wheel_timer deadline; /* the whole answer must be taken by then */
};

#define ADMIN_WRITE_DEADLINE_MS 30000
/* The largest page: a scrape is tens of KiB per Istio series (every histogram bucket
 * repeats the labels), so a proxy with thousands of series serves tens of MiB. */
#define ADMIN_PAGE_MAX ((size_t)256 << 20)

static void
admin_conn_close(struct admin_conn *ac)
{
    wheel_disarm(&ac->a->loop->wheel, &ac->deadline);
    loop_del(ac->a->loop, &ac->w);
    close(ac->w.fd);
    buf_fini(&ac->in);
    strbuf_fini(&ac->page);
    free(ac);
}

static void
on_deadline(struct wheel_timer *t)
{
    admin_conn_close(container_of(t, struct admin_conn, deadline));
}

/* Write what the answer has left; the connection closes once it is all written (or the
 * client is gone), else waits for the socket to take more, up to its deadline. */
static void
flush(struct admin_conn *ac)
{
    size_t total = ac->head_len + ac->page.len;
    while (ac->sent < total) {
        struct iovec iov[2];
        int n = 0;
        if (ac->sent < ac->head_len)
            iov[n++] = (struct iovec){ac->head + ac->sent, ac->head_len - ac->sent};
        size_t at = ac->sent > ac->head_len ? ac->sent - ac->head_len : 0;
        if (ac->page.len > at) iov[n++] = (struct iovec){ac->page.data + at, ac->page.len - at};
        ssize_t w = sendmsg(ac->w.fd, &(struct msghdr){.msg_iov = iov, .msg_iovlen = (size_t)n},
                            MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!ac->deadline.cb) {
                ac->deadline.cb = on_deadline;
                wheel_arm(&ac->a->loop->wheel, &ac->deadline, now_ms() + ADMIN_WRITE_DEADLINE_MS);
            }
            return;
        }
        if (w < 0 && errno != EINTR) break;
        if (w > 0) ac->sent += (size_t)w;
    }
    admin_conn_close(ac);
}

static const char *
reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Not Found";
    }
}

/* The answer: <page> (taken over, left empty) under a head of <status> and <type>, queued
 * on <ac> (written by flush). */
static void
respond_page(struct admin_conn *ac, int status, const char *type, struct strbuf *page)
{
    int n = snprintf(ac->head, sizeof(ac->head),
                     "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
                     "connection: close\r\n\r\n",
                     status, reason(status), type, page->len);
    ac->head_len = n > 0 && (size_t)n < sizeof(ac->head) ? (size_t)n : 0;
    ac->page = *page;
    memset(page, 0, sizeof(*page));
    ac->answered = true;
}

/* The same with a short <body> of its own. */
static void
respond(struct admin_conn *ac, int status, const char *type, const char *body, size_t len)
{
    struct strbuf page;
    strbuf_init(&page, len + 1);
    strbuf_add(&page, body, len);
    respond_page(ac, status, type, &page);
}

size_t
admin_shards(const struct admin *a, struct metrics_shard **out, size_t cap)
{
    size_t n = a->n_workers < cap ? a->n_workers : cap;
    for (size_t i = 0; i < n; i++) out[i] = a->workers[i].metrics;
    return n;
}

static bool
hex_digit(char c, unsigned *v)
{
    if (c >= '0' && c <= '9')
        *v = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
        *v = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
        *v = (unsigned)(c - 'A' + 10);
    else
        return false;
    return true;
}

bool
admin_query_get(const struct admin_request *q, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    const char *p = q->query.ptr, *end = q->query.ptr + q->query.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > n && !memcmp(p, name, n) && p[n] == '=') {
            size_t len = 0;
            for (const char *v = p + n + 1; v < stop; v++) {
                unsigned hi, lo;
                char ch = *v;
                if (ch == '%' && stop - v > 2 && hex_digit(v[1], &hi) && hex_digit(v[2], &lo)) {
                    ch = (char)(hi << 4 | lo);
                    v += 2;
                }
                if (len + 1 >= cap) return false;
                out[len++] = ch;
            }
            out[len] = '\0';
            return true;
        }
        p = stop + 1;
    }
    return false;
}

bool
admin_wants_json(const struct admin_request *q)
{
    char v[16];
    return admin_query_get(q, "format", v, sizeof(v)) && !strcmp(v, "json");
}

const char *
admin_state(const struct admin *a)
{
    if (a->draining || a->health_failed) return "DRAINING";
    return a->ready ? "LIVE" : "PRE_INITIALIZING";
}

/* A handler writes its page into <sb>, may set its content type, and returns the status. */
typedef int admin_handler(struct admin *a, const struct admin_request *q, struct strbuf *sb,
                          const char **type);

static admin_handler help_page;

static int
ready_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)q;
    (void)type;
    strbuf_printf(sb, "%s\n", admin_state(a));
    if (a->snap && a->snap->revision) /* a config store's: which of its states is in force */
        strbuf_printf(sb, "etcd revision %" PRId64 "\n", a->snap->revision);
    return strcmp(admin_state(a), "LIVE") ? 503 : 200;
}

static int
healthz_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)a;
    (void)q;
    (void)type;
    strbuf_puts(sb, "ok\n");
    return 200;
}

static int
healthcheck_fail(struct admin *a, const struct admin_request *q, struct strbuf *sb,
                 const char **type)
{
    (void)q;
    (void)type;
    if (!a->health_failed) log_msg(LOG_WARNING, "health check failed by POST /healthcheck/fail");
    a->health_failed = true;
    strbuf_puts(sb, "OK\n");
    return 200;
}

static int
healthcheck_ok(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)q;
    (void)type;
    if (a->health_failed) log_msg(LOG_INFO, "health check passing again (POST /healthcheck/ok)");
    a->health_failed = false;
    strbuf_puts(sb, "OK\n");
    return 200;
}

static int
quit_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)q;
    (void)type;
    if (!a->quit) {
        strbuf_puts(sb, "not offered by this server\n");
        return 404;
    }
    log_msg(LOG_INFO, "POST /quitquitquit: draining, then exiting");
    a->quit(a->quit_arg);
    strbuf_puts(sb, "OK\n");
    return 200;
}

static int
reload_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)q;
    (void)type;
    return a->reload && !a->reload(a->reload_arg, sb) ? 200 : 400;
}

/* GET /logging: the level; POST /logging?level=L sets it. */
static int
logging_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)a;
    (void)type;
    if (slice_eq(q->method, "POST")) {
        char want[16];
        enum log_level lvl;
        if (!admin_query_get(q, "level", want, sizeof(want)) || !log_level_parse(want, &lvl)) {
            strbuf_puts(sb, "usage: POST /logging?level=" LOG_LEVEL_NAMES "\n");
            return 400;
        }
        log_set_level(lvl);
        log_msg(LOG_INFO, "log level set to %s", log_level_name(lvl));
    }
    strbuf_printf(sb, "level: %s\n", log_level_name(log_get_level()));
    return 200;
}

static int
stats_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    char pattern[1024], err[256] = "it does not compile";
    struct regex *filter = NULL;
    if (admin_query_get(q, "filter", pattern, sizeof(pattern)) && *pattern) {
        if (regex_check(pattern, err, sizeof(err)) || !(filter = regex_compile_search(pattern))) {
            strbuf_printf(sb, "Invalid re2 regex in filter=%s: %s\n", pattern, err);
            return 400;
        }
    }
    bool json = admin_wants_json(q);
    if (json) *type = "application/json";
    stats_write(a, sb, json, filter);
    regex_free(filter);
    return 200;
}

static int
prometheus_page(struct admin *a, const struct admin_request *q, struct strbuf *sb,
                const char **type)
{
    (void)q;
    *type = "text/plain; version=0.0.4";
    prom_write(a, sb);
    return 200;
}

static int
clusters_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    bool json = admin_wants_json(q);
    if (json) *type = "application/json";
    clusters_write(a, sb, json);
    return 200;
}

static int
config_dump_page(struct admin *a, const struct admin_request *q, struct strbuf *sb,
                 const char **type)
{
    (void)q;
    *type = "application/json";
    config_dump_write(a->snap, sb);
    return 200;
}

static int
splits_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    bool json = admin_wants_json(q);
    if (json) *type = "application/json";
    splits_write(a, sb, json);
    return 200;
}

static int
listeners_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    bool json = admin_wants_json(q);
    if (json) *type = "application/json";
    listeners_write(a, sb, json);
    return 200;
}

static int
server_info_page(struct admin *a, const struct admin_request *q, struct strbuf *sb,
                 const char **type)
{
    (void)q;
    *type = "application/json";
    server_info_write(a, sb);
    return 200;
}

static int
dashboard_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)a;
    (void)q;
    *type = "text/html; charset=utf-8";
    dashboard_write(sb);
    return 200;
}

static int
explain_handler(struct admin *a, const struct admin_request *q, struct strbuf *sb,
                const char **type)
{
    return explain_page(a->snap, q->query, sb, type);
}

static int
traffic_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)q;
    *type = "application/json";
    traffic_write(a, sb);
    return 200;
}

/* GET /rollout: the last status posted, with its age; POST /rollout: keep a new one. */
static int
rollout_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    *type = "application/json";
    if (!slice_eq(q->method, "POST")) {
        rollout_view_write(&a->rollout, now_ms(), sb);
        return 200;
    }
    int rc = rollout_view_post(&a->rollout, q->body, now_ms());
    if (rc == -EMSGSIZE) {
        strbuf_printf(sb, "{\"error\":\"the status is over %d bytes\"}\n", ADMIN_MAX_BODY);
        return 413;
    }
    if (rc) {
        strbuf_puts(sb, rc == -EINVAL ? "{\"error\":\"the body must be one JSON object\"}\n"
                                      : "{\"error\":\"out of memory\"}\n");
        return rc == -EINVAL ? 400 : 503;
    }
    strbuf_puts(sb, "{\"ok\":true}\n");
    return 200;
}

static int
certs_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)q;
    *type = "application/json";
    certs_write(a, sb);
    return 200;
}

/* Every endpoint, in the order / and /help list them (alphabetical, as Envoy's). */
static const struct admin_endpoint {
    const char *path;
    bool mutates; /* changes the server: POST only */
    admin_handler *fn;
    const char *help;
} endpoints[] = {
    {"/", false, help_page, "this list of admin endpoints"},
    {"/certs", false, certs_page,
     "certificates in use (workload identity, gateway and upstream TLS): subject, SANs, "
     "expiry, days until expiration (JSON)"},
    {"/clusters", false, clusters_page,
     "clusters and their endpoints: labels, health, outlier ejection, counters "
     "(?format=json)"},
    {"/config_dump", false, config_dump_page,
     "the config snapshot in force, its version and files (JSON)"},
    {"/dashboard", false, dashboard_page,
     "live page: per weighted route the configured and observed split, req/s, 5xx, p50/p99 "
     "per version, ejections, TLS, and the rollout's step and checks (open in a browser)"},
    {"/explain", false, explain_handler,
     "which route a request takes and why: ?method=M&url=U[&header=k:v...] (meshlet explain "
     "--admin)"},
    {"/healthcheck/fail", true, healthcheck_fail, "make /ready fail (503 DRAINING) (POST)"},
    {"/healthcheck/ok", true, healthcheck_ok, "undo /healthcheck/fail (POST)"},
    {"/healthz", false, healthz_page, "the admin server answers: ok"},
    {"/help", false, help_page, "this list of admin endpoints"},
    {"/listeners", false, listeners_page, "listeners: name and address (?format=json)"},
    {"/logging", false, logging_page,
     "the log level; POST /logging?level=" LOG_LEVEL_NAMES " changes it"},
    {"/quitquitquit", true, quit_page, "drain, then exit cleanly, as SIGTERM (POST)"},
    {"/ready", false, ready_page, "server state: 200 LIVE, else 503 DRAINING or PRE_INITIALIZING"},
    {"/reload", true, reload_page,
     "read the config again; refused configs keep the running one (POST)"},
    {"/rollout", false, rollout_page,
     "the status `meshlet rollout` last POSTed (JSON object, at most 64 KiB), with its age_s; "
     "{\"active\":false} when none"},
    {"/server_info", false, server_info_page,
     "version, state, uptime and command-line options (JSON)"},
    {"/splits", false, splits_page,
     "weighted routes: configured and observed share per destination (?format=json)"},
    {"/stats", false, stats_page,
     "counters, name: value (?filter=REGEX on the name, ?format=json)"},
    {"/stats/prometheus", false, prometheus_page, "Istio and Envoy metrics, Prometheus text"},
    {"/traffic", false, traffic_page,
     "requests, 5xx answers and the duration histogram per destination service and version "
     "(JSON)"},
};

static void
list_endpoints(struct strbuf *sb)
{
    strbuf_puts(sb, "admin commands are:\n");
    for (size_t i = 0; i < ARRAY_SIZE(endpoints); i++)
        strbuf_printf(sb, "  %s: %s\n", endpoints[i].path, endpoints[i].help);
}

static int
help_page(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    (void)a;
    (void)q;
    (void)type;
    list_endpoints(sb);
    return 200;
}

int
admin_dispatch(struct admin *a, const struct admin_request *q, struct strbuf *sb, const char **type)
{
    const struct admin_endpoint *ep = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(endpoints) && !ep; i++)
        if (slice_eq(q->path, endpoints[i].path)) ep = &endpoints[i];
    if (!ep) {
        strbuf_puts(sb, "invalid path. ");
        list_endpoints(sb);
        return 404;
    }
    if (ep->mutates && !slice_eq(q->method, "POST")) {
        log_msg(LOG_WARNING, "admin path \"%s\" mutates state, method=%.*s rather than POST",
                ep->path, (int)q->method.len, q->method.ptr);
        strbuf_printf(sb, "Method %.*s not allowed, POST required.\n", (int)q->method.len,
                      q->method.ptr);
        return 405;
    }
    return ep->fn(a, q, sb, type);
}

static void
handle(struct admin_conn *ac, const struct h1_request *r, struct slice body)
{
    struct admin *a = ac->a;
    struct strbuf sb;
    strbuf_init(&sb, ADMIN_PAGE_MAX);
    const char *type = "text/plain";
    const char *qm = memchr(r->path.ptr, '?', r->path.len);
    struct admin_request q = {
        .method = r->method,
        .path = qm ? slice_make(r->path.ptr, (size_t)(qm - r->path.ptr)) : r->path,
        .query = qm ? slice_make(qm + 1, r->path.len - (size_t)(qm + 1 - r->path.ptr))
                    : slice_make("", 0),
        .body = body,
    };
    int status = admin_dispatch(a, &q, &sb, &type);
    log_msg(LOG_DEBUG, "admin: %.*s %.*s -> %d", (int)r->method.len, r->method.ptr,
            (int)r->path.len, r->path.ptr, status);
    if (sb.truncated) { /* a page cut short would be read as a whole one (a broken scrape) */
        static const char cut[] = "page larger than the admin port's limit (256 MiB)\n";
        log_msg(LOG_WARNING, "admin: %.*s: %s", (int)r->path.len, r->path.ptr, cut);
        respond(ac, 500, "text/plain", cut, sizeof(cut) - 1);
    } else {
        respond_page(ac, status, type, &sb);
    }
    strbuf_fini(&sb);
}

/* A client that asked (curl does for bodies over 1 KiB) is told to send the body now
 * rather than after its own wait (RFC 9110 §10.1.1). */
static void
send_continue(struct admin_conn *ac, const struct h1_request *r)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!r->expect_continue || ac->continued) return;
    ac->continued = true;
    if (write(ac->w.fd, line, sizeof(line) - 1) < 0)
        log_msg(LOG_DEBUG, "admin: 100 Continue not sent: %s", strerror(errno));
}

/* Heads are small. The buffer holds the largest head and body the server reads, and the
 * 4 KiB a read wants free (core/buf.c) on top. */
#define ADMIN_MAX_HEAD (16 * 1024)
#define ADMIN_BUF_BYTES (ADMIN_MAX_HEAD + ADMIN_MAX_BODY + 4096)

static void
on_conn(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct admin_conn *ac = container_of(w, struct admin_conn, w);
    if (ac->answered) { /* what follows its request is not read */
        flush(ac);
        return;
    }
    bool full = false;
    for (;;) {
        ssize_t n = buf_read_fd(&ac->in, w->fd);
        if (n == -EAGAIN) break;
        if (n == -ENOBUFS) { /* more than a head and a body may hold: judge what came */
            full = true;
            break;
        }
        if (n <= 0) {
            admin_conn_close(ac);
            return;
        }
    }
    struct h1_limits lim;
    h1_limits_default(&lim);
    lim.max_head_bytes = ADMIN_MAX_HEAD;
    lim.max_content_length = ADMIN_MAX_BODY; /* a longer Content-Length: 413 */
    static struct h1_request r;
    ssize_t rc = h1_parse_request(buf_head(&ac->in), buf_len(&ac->in), &lim, &r);
    if (rc == H1_NEED_MORE && !full) return;
    if (rc == H1_NEED_MORE) {
        respond(ac, 431, "text/plain", "request head too large\n", 23);
    } else if (rc < 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "bad request: %s\n", r.head.error ? r.head.error : "");
        respond(ac, r.head.status ? r.head.status : 400, "text/plain", msg, strlen(msg));
    } else if (r.head.body == H1_BODY_CHUNKED) {
        respond(ac, 411, "text/plain", "a body needs a content-length\n", 30);
    } else {
        size_t body_len = r.head.body == H1_BODY_LENGTH ? (size_t)r.head.content_length : 0;
        if (buf_len(&ac->in) - (size_t)rc >= body_len) {
            handle(ac, &r, slice_make(buf_head(&ac->in) + rc, body_len));
        } else if (!full) {
            send_continue(ac, &r);
            return; /* the body is on its way */
        } else {
            respond(ac, 413, "text/plain", "request too large\n", 18);
        }
    }
    flush(ac);
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
        if (!ac || buf_init(&ac->in, 4096, ADMIN_BUF_BYTES)) {
            free(ac);
            close(fd);
            continue;
        }
        ac->a = a;
        ac->w.fd = fd;
        ac->w.cb = on_conn;
        if (loop_add(a->loop, &ac->w, LOOP_IN | LOOP_OUT)) {
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
    rollout_view_fini(&a->rollout);
}
