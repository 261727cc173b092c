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

#define ETCD_HTTP_READ 65536
#define ETCD_HTTP_MAX_IN (256u << 20) /* a range of a large config is one response */

static void
stop(struct etcd_http *h)
{
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
        ssize_t n = read(h->w.fd, h->in + h->in_len, h->in_cap - h->in_len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n < 0) {
            finish(h, -errno);
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

static void
writable(struct etcd_http *h)
{
    if (!h->connected) {
        int err = sock_error(h->w.fd);
        if (err) {
            finish(h, err < 0 ? err : -err);
            return;
        }
        h->connected = true;
    }
    while (h->out_off < h->out.len) {
        ssize_t n = write(h->w.fd, h->out.data + h->out_off, h->out.len - h->out_off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n < 0) {
            finish(h, -errno);
            return;
        }
        h->out_off += (size_t)n;
    }
}

static void
on_io(struct loop_watch *w, unsigned events)
{
    struct etcd_http *h = container_of(w, struct etcd_http, w);
    if (events & (LOOP_OUT | LOOP_ERR)) writable(h);
    if (h->busy && h->connected && (events & (LOOP_IN | LOOP_HUP | LOOP_ERR | LOOP_RDHUP)))
        readable(h);
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
etcd_http_post(struct etcd_http *h, const struct sockaddr *addr, socklen_t len, const char *host,
               const char *path, const char *body, size_t n, uint64_t timeout_ms,
               etcd_http_data_fn *data, etcd_http_end_fn *end)
{
    etcd_http_cancel(h);
    int fd = sock_connect(addr, len);
    if (fd < 0) return fd;
    h->w.fd = fd;
    if (loop_add(h->loop, &h->w, LOOP_IN | LOOP_OUT | LOOP_RDHUP)) {
        int err = -errno;
        close(fd);
        h->w.fd = -1;
        return err ? err : -EIO;
    }
    h->out.len = 0;
    h->out_off = 0;
    strbuf_printf(&h->out,
                  "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                  path, host, n);
    strbuf_add(&h->out, body, n);
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
        const char *hostport = !strncmp(u, "http://", 7) ? u + 7 : u;
        if (!strncmp(u, "https://", 8)) {
            snprintf(err, err_len, "'%s': TLS to etcd is not supported yet; use http://", u);
            free(copy);
            return -1;
        }
        size_t len = strcspn(hostport, "/");
        if (!len || len >= sizeof(ep->host)) {
            snprintf(err, err_len, "'%s': expected http://HOST:PORT", u);
            free(copy);
            return -1;
        }
        memcpy(ep->host, hostport, len);
        ep->host[len] = '\0';
        if (!strncmp(ep->host, "localhost:", 10)) { /* no resolver on the main loop */
            char ip[sizeof(ep->host)];
            snprintf(ip, sizeof(ip), "127.0.0.1:%s", ep->host + 10);
            if (sock_parse_addr(ip, &ep->addr, &ep->len)) ep->len = 0;
        } else if (sock_parse_addr(ep->host, &ep->addr, &ep->len)) {
            ep->len = 0;
        }
        if (!ep->len) {
            snprintf(err, err_len, "'%s': expected http://IP:PORT (e.g. http://127.0.0.1:2379)", u);
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
    struct loop loop;
    if (loop_init(&loop)) {
        snprintf(err, err_len, "out of resources");
        return -ENOMEM;
    }
    int rc = -EINVAL;
    snprintf(err, err_len, "no etcd endpoint");
    for (size_t i = 0; i < n; i++) {
        struct etcd_http h;
        struct call c = {out, 0};
        size_t mark = out->len;
        etcd_http_init(&h, &loop);
        h.arg = &c;
        rc = etcd_http_post(&h, (const struct sockaddr *)&eps[i].addr, eps[i].len, eps[i].host,
                            path, body, len, timeout_ms, call_data, call_end);
        if (!rc) {
            loop_run(&loop, NULL, NULL);
            rc = c.err;
        }
        *status = h.status;
        etcd_http_fini(&h);
        if (!rc) break;
        out->len = mark; /* a cut answer is not kept */
        if (out->data) out->data[mark] = '\0';
        snprintf(err, err_len, "etcd %s: %s", eps[i].host, strerror(-rc));
    }
    loop_fini(&loop);
    return rc;
}
