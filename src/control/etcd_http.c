/* SPDX-License-Identifier: Apache-2.0 */
/* See etcd_http.h. The client writes its request once connected, then reads: the head
 * (h1_parse_response), then the body by Content-Length, chunks or the connection's end.
 * Every path out of an exchange goes through finish(), which closes the socket before it
 * calls back, so the callback may start the next exchange on the same struct. [M] */
#include "control/etcd_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/now.h"
#include "core/sock.h"
#include "tls/conn.h"

#define ETCD_HTTP_READ 65536
#define ETCD_HTTP_MAX_IN (256u << 20) /* a range of a large config is one response */

static void
stop(struct etcd_http *h)
{
    tls_conn_free(h->tls);
    h->tls = NULL;
    if (h->w.fd >= 0) {
        loop_del(h->loop, &h->w);
        close(h->w.fd);
        h->w.fd = -1;
    }
    wheel_disarm(&h->loop->wheel, &h->deadline);
    h->busy = false;
    h->in_len = 0;
}

static void
finish(struct etcd_http *h, int err)
{
    stop(h);
    etcd_http_end_fn *end = h->end;
    if (end) end(h, err);
}

/* Hand over what the body holds in <in>; false when the exchange ended. */
static bool
body(struct etcd_http *h, bool eof)
{
    size_t used = 0;
    while (used < h->in_len) {
        const char *p = h->in + used;
        size_t n = h->in_len - used;
        if (h->body == H1_BODY_LENGTH) {
            if (n > h->left) n = (size_t)h->left;
            h->left -= n;
            used += n;
            if (n) h->data(h, p, n);
            if (!h->left) break;
        } else if (h->body == H1_BODY_CHUNKED) {
            struct slice data;
            ssize_t k = h1_chunked_parse(&h->chunked, p, n, &data);
            if (k < 0) {
                finish(h, -EPROTO);
                return false;
            }
            if (!k) break;
            used += (size_t)k;
            if (data.len) h->data(h, data.ptr, data.len);
            if (h1_chunked_done(&h->chunked)) break;
        } else { /* until the connection ends */
            h->data(h, p, n);
            used += n;
        }
        if (!h->busy) return false; /* the callback cancelled it */
    }
    memmove(h->in, h->in + used, h->in_len - used);
    h->in_len -= used;
    bool whole = (h->body == H1_BODY_LENGTH && !h->left) || h->body == H1_BODY_NONE ||
                 (h->body == H1_BODY_CHUNKED && h1_chunked_done(&h->chunked)) ||
                 (h->body == H1_BODY_UNTIL_CLOSE && eof);
    if (whole) {
        finish(h, 0);
        return false;
    }
    if (eof) {
        finish(h, -ECONNRESET);
        return false;
    }
    return true;
}

static void
readable(struct etcd_http *h)
{
    for (;;) {
        if (h->in_cap - h->in_len < ETCD_HTTP_READ) {
            size_t cap = h->in_cap ? h->in_cap * 2 : 2 * ETCD_HTTP_READ;
            char *in = cap <= ETCD_HTTP_MAX_IN ? realloc(h->in, cap) : NULL;
            if (!in) {
                finish(h, -ENOMEM);
                return;
            }
            h->in = in;
            h->in_cap = cap;
        }
        ssize_t n = h->tls
                        ? tls_conn_read(h->tls, h->in + h->in_len, h->in_cap - h->in_len)
                        : sock_xprt.read(NULL, h->w.fd, h->in + h->in_len, h->in_cap - h->in_len);
        if (n == -EAGAIN) return;
        if (n < 0) {
            finish(h, (int)n);
            return;
        }
        h->in_len += (size_t)n;
        bool eof = n == 0;
        if (!h->head_done) {
            struct h1_response r;
            ssize_t k = h1_parse_response(h->in, h->in_len, &h->lim, false, &r);
            if (k == H1_NEED_MORE && !eof) continue;
            if (k < 0) {
                finish(h, k == H1_NEED_MORE ? -ECONNRESET : -EPROTO);
                return;
            }
            h->head_done = true;
            h->status = r.code;
            h->body = r.head.body;
            h->left = r.head.content_length;
            h1_chunked_init(&h->chunked, &h->lim);
            memmove(h->in, h->in + k, h->in_len - (size_t)k);
            h->in_len -= (size_t)k;
        }
        if (!body(h, eof)) return;
    }
}

/* The connect's outcome, then (https) the handshake: false while not ready (or failed). */
static bool
ready(struct etcd_http *h, unsigned events)
{
    if (!h->connected) {
        if (!(events & (LOOP_OUT | LOOP_ERR | LOOP_HUP))) return false;
        int err = sock_error(h->w.fd);
        if (err) {
            finish(h, err < 0 ? err : -err);
            return false;
        }
        h->connected = true;
    }
    if (h->handshaking) {
        int rc = tls_conn_handshake(h->tls);
        if (rc < 0) {
            snprintf(h->why, sizeof(h->why), "TLS: %s", tls_conn_error(h->tls));
            finish(h, -EPROTO);
            return false;
        }
        if (!rc) return false;
        h->handshaking = false;
    }
    return true;
}

static void
writable(struct etcd_http *h)
{
    while (h->out_off < h->out.len) {
        const char *p = h->out.data + h->out_off;
        size_t len = h->out.len - h->out_off;
        ssize_t n =
            h->tls ? tls_conn_write(h->tls, p, len) : sock_xprt.write(NULL, h->w.fd, p, len);
        if (n == -EAGAIN) return;
        if (n < 0) {
            finish(h, (int)n);
            return;
        }
        h->out_off += (size_t)n;
    }
}

static void
on_io(struct loop_watch *w, unsigned events)
{
    struct etcd_http *h = container_of(w, struct etcd_http, w);
    if (!h->busy || !ready(h, events)) return;
    writable(h); /* edge-triggered: try both ways whatever the event said */
    if (h->busy) readable(h);
}

static void
on_deadline(struct wheel_timer *t)
{
    finish(container_of(t, struct etcd_http, deadline), -ETIMEDOUT);
}

void
etcd_http_init(struct etcd_http *h, struct loop *loop)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop;
    h->w.fd = -1;
    h->w.cb = on_io;
    h->deadline.cb = on_deadline;
    h1_limits_default(&h->lim);
    h->lim.max_content_length = ETCD_HTTP_MAX_IN;
    strbuf_init(&h->out, 64u << 20);
}

int
etcd_http_post(struct etcd_http *h, const struct etcd_endpoint *ep, const char *path,
               const char *body, size_t n, uint64_t timeout_ms, etcd_http_data_fn *data,
               etcd_http_end_fn *end)
{
    return etcd_http_request(h, ep, "POST", path, body ? body : "", n, timeout_ms, data, end);
}

int
etcd_http_request(struct etcd_http *h, const struct etcd_endpoint *ep, const char *method,
                  const char *path, const char *body, size_t n, uint64_t timeout_ms,
                  etcd_http_data_fn *data, etcd_http_end_fn *end)
{
    etcd_http_cancel(h);
    const char *host = ep->host;
    h->why[0] = '\0';
    if (ep->https && !ep->tls) return -EPROTONOSUPPORT;
    int fd = sock_connect((const struct sockaddr *)&ep->addr, ep->len);
    if (fd < 0) return fd;
    if (ep->https && !(h->tls = tls_conn_upstream(ep->tls, fd, ep->name, NULL, 0))) {
        close(fd);
        return -ENOMEM;
    }
    h->handshaking = ep->https;
    h->w.fd = fd;
    if (loop_add(h->loop, &h->w, LOOP_IN | LOOP_OUT | LOOP_RDHUP)) {
        int err = -errno;
        close(fd);
        h->w.fd = -1;
        return err ? err : -EIO;
    }
    h->out.len = 0;
    h->out_off = 0;
    if (body)
        strbuf_printf(&h->out,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, host, n);
    else /* no body, no Content-Length: a plain GET */
        strbuf_printf(&h->out, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method,
                      path, host);
    if (body) strbuf_add(&h->out, body, n);
    h->busy = true;
    h->connected = h->head_done = false;
    h->status = 0;
    h->in_len = 0;
    h->data = data;
    h->end = end;
    if (timeout_ms) wheel_arm(&h->loop->wheel, &h->deadline, now_ms() + timeout_ms);
    return 0;
}

void
etcd_http_cancel(struct etcd_http *h)
{
    if (h->busy || h->w.fd >= 0) stop(h);
}

void
etcd_http_fini(struct etcd_http *h)
{
    etcd_http_cancel(h);
    free(h->in);
    h->in = NULL;
    h->in_cap = 0;
    strbuf_fini(&h->out);
}

int
etcd_endpoints_parse(const char *urls, struct etcd_endpoint **out, size_t *n_out, char *err,
                     size_t err_len)
{
    char *copy = strdup(urls), *save = NULL;
    size_t n = 1;
    for (const char *p = urls; *p; p++) n += *p == ',';
    struct etcd_endpoint *eps = calloc(n, sizeof(*eps));
    *out = eps;
    *n_out = 0;
    if (!copy || !eps) {
        snprintf(err, err_len, "out of memory");
        free(copy);
        return -1;
    }
    for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        struct etcd_endpoint *ep = &eps[*n_out];
        ep->https = !strncmp(u, "https://", 8);
        const char *hostport = !strncmp(u, "http://", 7) ? u + 7 : ep->https ? u + 8 : u;
        size_t len = strcspn(hostport, "/");
        if (!len || len >= sizeof(ep->host)) {
            snprintf(err, err_len, "'%s': expected http://HOST:PORT", u);
            free(copy);
            return -1;
        }
        memcpy(ep->host, hostport, len);
        ep->host[len] = '\0';
        size_t name = ep->host[0] == '[' ? strcspn(ep->host, "]") : strcspn(ep->host, ":");
        snprintf(ep->name, sizeof(ep->name), "%.*s", (int)(name - (ep->host[0] == '[')),
                 ep->host + (ep->host[0] == '['));
        if (!strncmp(ep->host, "localhost:", 10)) { /* no resolver on the main loop */
            char ip[sizeof(ep->host)];
            snprintf(ip, sizeof(ip), "127.0.0.1:%s", ep->host + 10);
            if (sock_parse_addr(ip, &ep->addr, &ep->len)) ep->len = 0;
        } else if (sock_parse_addr(ep->host, &ep->addr, &ep->len)) {
            ep->len = 0;
        }
        if (!ep->len) {
            snprintf(err, err_len,
                     "'%s': expected http://IP:PORT or https://IP:PORT (e.g. "
                     "http://127.0.0.1:2379)",
                     u);
            free(copy);
            return -1;
        }
        (*n_out)++;
    }
    free(copy);
    if (!*n_out) {
        snprintf(err, err_len, "no endpoint");
        return -1;
    }
    return 0;
}

struct call {
    struct strbuf *out;
    int err;
};

static void
call_data(struct etcd_http *h, const char *p, size_t n)
{
    struct call *c = h->arg;
    strbuf_add(c->out, p, n);
}

static void
call_end(struct etcd_http *h, int err)
{
    struct call *c = h->arg;
    c->err = err;
    loop_stop(h->loop);
}

int
etcd_call(const struct etcd_endpoint *eps, size_t n, const char *path, const char *body, size_t len,
          uint64_t timeout_ms, int *status, struct strbuf *out, char *err, size_t err_len)
{
    int rc = etcd_http_call(eps, n, "POST", path, body, len, timeout_ms, status, out, err, err_len);
    if (rc && n) { /* "etcd HOST:PORT: why" */
        char why[256];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, err_len, "etcd %s", why);
    } else if (rc) {
        snprintf(err, err_len, "no etcd endpoint");
    }
    return rc;
}

int
etcd_http_call(const struct etcd_endpoint *eps, size_t n, const char *method, const char *path,
               const char *body, size_t len, uint64_t timeout_ms, int *status, struct strbuf *out,
               char *err, size_t err_len)
{
    struct loop loop;
    if (loop_init(&loop)) {
        snprintf(err, err_len, "out of resources");
        return -ENOMEM;
    }
    int rc = -EINVAL;
    snprintf(err, err_len, "no endpoint");
    for (size_t i = 0; i < n; i++) {
        struct etcd_http h;
        struct call c = {out, 0};
        size_t mark = out->len;
        etcd_http_init(&h, &loop);
        h.arg = &c;
        rc = etcd_http_request(&h, &eps[i], method, path, body, len, timeout_ms, call_data,
                               call_end);
        if (!rc) {
            loop_run(&loop, NULL, NULL);
            rc = c.err;
        }
        *status = h.status;
        etcd_http_fini(&h);
        if (!rc) break;
        out->len = mark; /* a cut answer is not kept */
        if (out->data) out->data[mark] = '\0';
        snprintf(err, err_len, "%s: %s", eps[i].host, h.why[0] ? h.why : strerror(-rc));
    }
    loop_fini(&loop);
    return rc;
}

int
etcd_endpoints_tls(struct etcd_endpoint *eps, size_t n, const char *ca, const char *cert,
                   const char *key, struct tls_upstream **ctx, char *err, size_t err_len)
{
    *ctx = NULL;
    bool any = false;
    for (size_t i = 0; i < n; i++) any |= eps[i].https;
    if (!any) {
        if (ca || cert || key) {
            snprintf(err, err_len, "TLS files given but no https:// endpoint");
            return -1;
        }
        return 0;
    }
    if (!cert != !key) {
        snprintf(err, err_len, "a client certificate needs its key, and a key its certificate");
        return -1;
    }
    *ctx = tls_upstream_load(ca, cert, key, false, err, err_len);
    if (!*ctx) return -1;
    for (size_t i = 0; i < n; i++)
        if (eps[i].https) eps[i].tls = *ctx;
    return 0;
}
