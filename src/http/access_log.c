/* SPDX-License-Identifier: Apache-2.0 */
/* Access log lines and their writer thread. The JSON line carries Istio's default JSON
 * access-log fields (start_time, method, path, protocol, response_code, response_flags,
 * bytes_received, bytes_sent, duration, upstream_service_time, x_forwarded_for,
 * user_agent, request_id, authority, upstream_host, upstream_cluster, route_name,
 * downstream_remote_address) and Envoy's upstream_request_attempt_count; the text line is
 * Envoy's default format followed, as in Istio's text format, by the cluster, the client
 * address (%DOWNSTREAM_REMOTE_ADDRESS%) and the route, then the attempt count. A TCP
 * connection's line has the same fields, filled as Envoy fills them for a connection, and
 * two more at the end: the address the client reached and the TLS server name. */
#include "http/access_log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/strbuf.h"

#define LINE_MAX_BYTES 16384 /* room a line may need; a buffer with less left is flushed */
#define FIELD_MAX 1024       /* longest request field kept (a longer path is cut) */

struct queued {
    char *data;
    size_t len;
};

struct access_log {
    int fd;
    bool own_fd;
    enum access_log_format fmt;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct queued q[ACCESS_LOG_QUEUE];
    size_t head, n;
    bool stop;
    bool reopen; /* open the path again (after a rotation) before the next write */
    char *path;  /* NULL: standard output */
    pthread_t thread;
    _Atomic uint64_t dropped;
};

static void
write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return; /* a log that cannot be written loses lines, not the proxy */
        p += w;
        n -= (size_t)w;
    }
}

static void *
writer(void *arg)
{
    struct access_log *log = arg;
    pthread_mutex_lock(&log->lock);
    for (;;) {
        while (!log->n && !log->stop && !log->reopen) pthread_cond_wait(&log->cond, &log->lock);
        if (log->reopen) { /* the writer alone uses the fd: swap it here */
            log->reopen = false;
            int fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                close(log->fd);
                log->fd = fd;
            }
            continue;
        }
        if (!log->n && log->stop) break;
        struct queued item = log->q[log->head];
        log->head = (log->head + 1) % ACCESS_LOG_QUEUE;
        log->n--;
        pthread_mutex_unlock(&log->lock);
        write_all(log->fd, item.data, item.len);
        free(item.data);
        pthread_mutex_lock(&log->lock);
    }
    pthread_mutex_unlock(&log->lock);
    return NULL;
}

struct access_log *
access_log_open(const char *path, enum access_log_format fmt, char *err, size_t err_len)
{
    struct access_log *log = calloc(1, sizeof(*log));
    if (!log) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    log->fmt = fmt;
    if (!strcmp(path, "-")) {
        log->fd = STDOUT_FILENO;
    } else {
        log->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        log->own_fd = true;
        log->path = strdup(path);
        if (log->fd < 0 || !log->path) {
            snprintf(err, err_len, "%s: %s", path, strerror(log->fd < 0 ? errno : ENOMEM));
            if (log->fd >= 0) close(log->fd);
            free(log->path);
            free(log);
            return NULL;
        }
    }
    pthread_mutex_init(&log->lock, NULL);
    pthread_cond_init(&log->cond, NULL);
    if (pthread_create(&log->thread, NULL, writer, log)) {
        snprintf(err, err_len, "cannot start the access log thread");
        if (log->own_fd) close(log->fd);
        free(log->path);
        free(log);
        return NULL;
    }
    return log;
}

void
access_log_close(struct access_log *log)
{
    if (!log) return;
    pthread_mutex_lock(&log->lock);
    log->stop = true;
    pthread_cond_signal(&log->cond);
    pthread_mutex_unlock(&log->lock);
    pthread_join(log->thread, NULL);
    if (log->own_fd) close(log->fd);
    pthread_mutex_destroy(&log->lock);
    pthread_cond_destroy(&log->cond);
    free(log->path);
    free(log);
}

void
access_log_reopen(struct access_log *log)
{
    if (!log || !log->path) return;
    pthread_mutex_lock(&log->lock);
    log->reopen = true;
    pthread_cond_signal(&log->cond);
    pthread_mutex_unlock(&log->lock);
}

uint64_t
access_log_dropped(const struct access_log *log)
{
    return log ? atomic_load_explicit(&log->dropped, memory_order_relaxed) : 0;
}

void
access_log_flush(struct access_log_buf *b)
{
    if (!b->log || !b->data || !b->len) return;
    struct access_log *log = b->log;
    pthread_mutex_lock(&log->lock);
    bool full = log->n == ACCESS_LOG_QUEUE;
    if (!full) {
        log->q[(log->head + log->n) % ACCESS_LOG_QUEUE] = (struct queued){b->data, b->len};
        log->n++;
        pthread_cond_signal(&log->cond);
    }
    pthread_mutex_unlock(&log->lock);
    if (full) { /* the writer is behind: drop these lines rather than wait */
        uint64_t lines = 0;
        for (size_t i = 0; i < b->len; i++) lines += b->data[i] == '\n';
        atomic_fetch_add_explicit(&log->dropped, lines, memory_order_relaxed);
        b->len = 0;
        return;
    }
    b->data = NULL;
    b->len = 0;
}

/* Fields are kept NUL-separated after an 8-byte start time: method, path, authority,
 * user agent, request id, forwarded-for, client address. */
enum { F_METHOD, F_PATH, F_AUTHORITY, F_UA, F_RID, F_XFF, F_REMOTE, F_PROTOCOL, F_N };

size_t
access_log_begin(const struct access_log_buf *b, const struct access_log_request *q, char *line,
                 size_t cap)
{
    (void)b;
    const struct slice f[F_N] = {q->method,     q->path,          q->authority, q->user_agent,
                                 q->request_id, q->forwarded_for, q->remote,    q->protocol};
    size_t len = sizeof(uint64_t);
    if (cap < len + F_N) return 0;
    memcpy(line, &q->start_wall_ms, sizeof(uint64_t));
    for (size_t i = 0; i < F_N; i++) {
        size_t n = f[i].len < FIELD_MAX ? f[i].len : FIELD_MAX;
        if (n > cap - len - (F_N - i)) n = cap - len - (F_N - i);
        if (n) memcpy(line + len, f[i].ptr, n);
        for (size_t k = 0; k < n; k++) /* a NUL inside would cut the field list short */
            if (!line[len + k]) line[len + k] = ' ';
        len += n;
        line[len++] = '\0';
    }
    return len;
}

/* <s> as a JSON string, or null when empty. */
static void
json_str(char *out, size_t cap, const char *s)
{
    if (!s || !*s)
        snprintf(out, cap, "null");
    else
        strbuf_json_quote(out, cap, s);
}

static void
iso_time(uint64_t wall_ms, char *out, size_t cap)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03uZ", (unsigned)(wall_ms % 1000));
}

void
access_log_finish(struct access_log_buf *b, const char *line, size_t len,
                  const struct exchange_record *r, const struct access_log_end *e)
{
    if (!b->log || len < sizeof(uint64_t) + F_N) return;
    if (b->data && ACCESS_LOG_BUF - b->len < LINE_MAX_BYTES) access_log_flush(b);
    if (!b->data && !(b->data = malloc(ACCESS_LOG_BUF))) return;
    uint64_t wall_ms;
    memcpy(&wall_ms, line, sizeof(wall_ms));
    const char *f[F_N];
    const char *p = line + sizeof(uint64_t);
    for (size_t i = 0; i < F_N; i++) {
        f[i] = p;
        p += strlen(p) + 1;
    }
    const char *rid = *f[F_RID] ? f[F_RID] : e->request_id ? e->request_id : "";
    char start[40], flags[96], host[300] = "", upstream_ms[24] = "";
    iso_time(wall_ms, start, sizeof(start));
    response_flags_format(r->flags, flags, sizeof(flags));
    const struct model_endpoint *ep = r->cluster && r->endpoint < r->cluster->n_endpoints
                                          ? &r->cluster->endpoints[r->endpoint]
                                          : NULL;
    if (ep) snprintf(host, sizeof(host), "%s:%u", ep->address, ep->port);
    if (e->upstream_ms >= 0) snprintf(upstream_ms, sizeof(upstream_ms), "%" PRId64, e->upstream_ms);
    const char *cluster = r->cluster ? r->cluster->name : "";
    const char *route = e->route_name ? e->route_name : "";
    char *out = b->data + b->len;
    size_t cap = ACCESS_LOG_BUF - b->len;
    int n;
    if (b->log->fmt == ACCESS_LOG_JSON) {
        char v[F_N][FIELD_MAX * 6 + 8], jrid[128], jhost[640], jcluster[1024], jroute[512], jup[32];
        for (size_t i = 0; i < F_N; i++) json_str(v[i], sizeof(v[i]), f[i]);
        json_str(jrid, sizeof(jrid), rid);
        json_str(jhost, sizeof(jhost), host);
        json_str(jcluster, sizeof(jcluster), cluster);
        json_str(jroute, sizeof(jroute), route);
        json_str(jup, sizeof(jup), upstream_ms);
        n = snprintf(out, cap,
                     "{\"start_time\":\"%s\",\"method\":%s,\"path\":%s,\"protocol\":%s,"
                     "\"response_code\":%d,\"response_flags\":\"%s\",\"bytes_received\":%" PRIu64
                     ",\"bytes_sent\":%" PRIu64 ",\"duration\":%" PRIu64
                     ",\"upstream_service_time\":%s,\"x_forwarded_for\":%s,\"user_agent\":%s,"
                     "\"request_id\":%s,\"authority\":%s,\"upstream_host\":%s,"
                     "\"upstream_cluster\":%s,\"route_name\":%s,"
                     "\"upstream_request_attempt_count\":%u,\"downstream_remote_address\":%s}\n",
                     start, v[F_METHOD], v[F_PATH], v[F_PROTOCOL], r->code, flags, r->req_bytes,
                     r->resp_bytes, r->duration_us / 1000, jup, v[F_XFF], v[F_UA], jrid,
                     v[F_AUTHORITY], jhost, jcluster, jroute, e->attempts, v[F_REMOTE]);
    } else {
#define OR_DASH(s) (*(s) ? (s) : "-")
        n = snprintf(out, cap,
                     "[%s] \"%s %s %s\" %d %s %" PRIu64 " %" PRIu64 " %" PRIu64
                     " %s \"%s\" \"%s\" \"%s\" \"%s\" \"%s\" %s %s %s %u\n",
                     start, OR_DASH(f[F_METHOD]), OR_DASH(f[F_PATH]), OR_DASH(f[F_PROTOCOL]),
                     r->code, flags, r->req_bytes, r->resp_bytes, r->duration_us / 1000,
                     OR_DASH(upstream_ms), OR_DASH(f[F_XFF]), OR_DASH(f[F_UA]), OR_DASH(rid),
                     OR_DASH(f[F_AUTHORITY]), OR_DASH(host), OR_DASH(cluster), OR_DASH(f[F_REMOTE]),
                     OR_DASH(route), e->attempts);
#undef OR_DASH
    }
    if (n > 0 && (size_t)n < cap) b->len += (size_t)n;
}

/* "IP:port" ("[v6]:port") of <sa> into <out>, or "" when NULL or not IP. */
static void
addr_text(const struct sockaddr_storage *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if (!sa) return;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)))
            snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)))
            snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    }
}

void
access_log_tcp(struct access_log_buf *b, const struct tcp_log_entry *e)
{
    if (!b->log) return;
    if (b->data && ACCESS_LOG_BUF - b->len < LINE_MAX_BYTES) access_log_flush(b);
    if (!b->data && !(b->data = malloc(ACCESS_LOG_BUF))) return;
    char start[40], flags[96], host[300] = "", local[64], remote[64], sni[256];
    iso_time(e->start_wall_ms, start, sizeof(start));
    response_flags_format(e->flags, flags, sizeof(flags));
    const struct model_endpoint *ep = e->cluster && e->endpoint < e->cluster->n_endpoints
                                          ? &e->cluster->endpoints[e->endpoint]
                                          : NULL;
    if (ep) snprintf(host, sizeof(host), "%s:%u", ep->address, ep->port);
    addr_text(e->local, local, sizeof(local));
    addr_text(e->remote, remote, sizeof(remote));
    /* the client wrote it: keep what a host name may hold, so the text line stays parseable */
    snprintf(sni, sizeof(sni), "%s", e->sni ? e->sni : "");
    for (char *p = sni; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".-_*", *p)) *p = '?';
    const char *cluster = e->cluster ? e->cluster->name : "";
    const char *route = e->route_name ? e->route_name : "";
    char *out = b->data + b->len;
    size_t cap = ACCESS_LOG_BUF - b->len;
    int n;
    if (b->log->fmt == ACCESS_LOG_JSON) {
        char jhost[640], jcluster[1024], jroute[512], jlocal[80], jremote[80], jsni[1600];
        json_str(jhost, sizeof(jhost), host);
        json_str(jcluster, sizeof(jcluster), cluster);
        json_str(jroute, sizeof(jroute), route);
        json_str(jlocal, sizeof(jlocal), local);
        json_str(jremote, sizeof(jremote), remote);
        json_str(jsni, sizeof(jsni), sni);
        n = snprintf(out, cap,
                     "{\"start_time\":\"%s\",\"method\":null,\"path\":null,\"protocol\":null,"
                     "\"response_code\":0,\"response_flags\":\"%s\",\"bytes_received\":%" PRIu64
                     ",\"bytes_sent\":%" PRIu64 ",\"duration\":%" PRIu64
                     ",\"upstream_service_time\":null,\"x_forwarded_for\":null,\"user_agent\":null,"
                     "\"request_id\":null,\"authority\":null,\"upstream_host\":%s,"
                     "\"upstream_cluster\":%s,\"route_name\":%s,"
                     "\"upstream_request_attempt_count\":%u,\"downstream_remote_address\":%s,"
                     "\"downstream_local_address\":%s,\"requested_server_name\":%s}\n",
                     start, flags, e->bytes_received, e->bytes_sent, e->duration_us / 1000, jhost,
                     jcluster, jroute, e->attempts, jremote, jlocal, jsni);
    } else {
#define OR_DASH(s) (*(s) ? (s) : "-")
        n = snprintf(out, cap,
                     "[%s] \"- - -\" 0 %s %" PRIu64 " %" PRIu64 " %" PRIu64
                     " - \"-\" \"-\" \"-\" \"-\" \"%s\" %s %s %s %u %s %s\n",
                     start, flags, e->bytes_received, e->bytes_sent, e->duration_us / 1000,
                     OR_DASH(host), OR_DASH(cluster), OR_DASH(remote), OR_DASH(route), e->attempts,
                     OR_DASH(local), OR_DASH(sni));
#undef OR_DASH
    }
    if (n > 0 && (size_t)n < cap) b->len += (size_t)n;
}
