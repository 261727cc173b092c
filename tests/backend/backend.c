/* SPDX-License-Identifier: Apache-2.0 */
/* The demo and test upstream: a small epoll HTTP/1.1 server that answers with its version.
 * It can be told to fail or to wait: GET /status/503 answers 503, a request with header
 * x-delay-ms: N (or query ?delay_ms=N) is answered N ms later. Keep-alive and pipelining.
 * A whole version can be broken on purpose (the demo's canary): GET /_fault?status=503
 * makes every later request answer 503, /_fault?delay_ms=300 makes them wait, and /_fault
 * alone heals it; --fail STATUS and --delay-ms N set the same from the start.
 *
 *   backend --listen 127.0.0.1:19081 --name v1
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/compiler.h"
#include "core/loop.h"
#include "core/sock.h"
#include "http/h1_parse.h"

struct conn {
    struct loop_watch w;
    struct loop_watch timer; /* delayed answer */
    struct buf in, out;
    bool waiting; /* a delayed answer is pending: stop parsing */
    int pending_status;
    char pending_path[256];
};

static struct loop loop;
static const char *name = "v1";
static struct h1_limits lim;
static int fault_status;    /* every request answers this (0: none); /_fault sets it */
static long fault_delay_ms; /* every request waits this long first */

static void conn_io(struct loop_watch *w, unsigned events);

static void
conn_close(struct conn *c)
{
    loop_del(&loop, &c->w);
    close(c->w.fd);
    if (c->timer.fd > 0) {
        loop_del(&loop, &c->timer);
        close(c->timer.fd);
    }
    buf_fini(&c->in);
    buf_fini(&c->out);
    free(c);
}

static void
answer(struct conn *c, int status, const char *path)
{
    char body[512], head[256];
    int bn =
        snprintf(body, sizeof(body), "{\"version\":\"%s\",\"status\":%d,\"path\":\"%.200s\"}\n",
                 name, status, path);
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                      "x-backend-version: %s\r\n\r\n",
                      status, status < 400 ? "OK" : "Error", bn, name);
    buf_append(&c->out, head, (size_t)hn);
    buf_append(&c->out, body, (size_t)bn);
}

/* The value of query parameter <key> in <path> (<len> bytes), or -1. */
static long
query_num(const char *path, size_t len, const char *key)
{
    const char *q = memchr(path, '?', len), *end = path + len;
    size_t k = strlen(key);
    while (q && q < end) {
        q++;
        if ((size_t)(end - q) > k && !memcmp(q, key, k) && q[k] == '=')
            return strtol(q + k + 1, NULL, 10);
        q = memchr(q, '&', (size_t)(end - q));
    }
    return -1;
}

static long
delay_of(const struct h1_request *r)
{
    const struct h1_header *h = h1_header_find(&r->head, "x-delay-ms");
    if (h) return strtol(h->value.ptr, NULL, 10);
    long d = query_num(r->path.ptr, r->path.len, "delay_ms");
    return d > 0 ? d : fault_delay_ms;
}

/* GET /_fault[?status=N][&delay_ms=N]: break (or heal) every later request. */
static bool
set_fault(const struct h1_request *r)
{
    if (r->path.len < 7 || memcmp(r->path.ptr, "/_fault", 7) ||
        (r->path.len > 7 && r->path.ptr[7] != '?'))
        return false;
    long st = query_num(r->path.ptr, r->path.len, "status");
    long d = query_num(r->path.ptr, r->path.len, "delay_ms");
    fault_status = st >= 100 && st <= 599 ? (int)st : 0;
    fault_delay_ms = d > 0 ? d : 0;
    fprintf(stderr, "backend %s: fault status %d, delay %ld ms\n", name, fault_status,
            fault_delay_ms);
    return true;
}

static void
flush(struct conn *c)
{
    while (!buf_empty(&c->out)) {
        ssize_t n = buf_write_fd(&c->out, c->w.fd);
        if (n < 0) break;
    }
}

static void
on_timer(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct conn *c = container_of(w, struct conn, timer);
    uint64_t v;
    if (read(w->fd, &v, sizeof(v)) < 0) return;
    answer(c, c->pending_status, c->pending_path);
    c->waiting = false;
    flush(c);
    conn_io(&c->w, 0);
}

/* Answer every complete request in the buffer; false when the connection must close. */
static bool
serve(struct conn *c)
{
    while (!c->waiting && !buf_empty(&c->in)) {
        struct h1_request r;
        ssize_t n = h1_parse_request(buf_head(&c->in), buf_len(&c->in), &lim, &r);
        if (n == H1_NEED_MORE) return true;
        if (n == H1_BAD) return false;
        size_t need = (size_t)n + (r.head.body == H1_BODY_LENGTH ? r.head.content_length : 0);
        if (r.head.body == H1_BODY_CHUNKED) return false; /* not needed by the demo or bench */
        if (buf_len(&c->in) < need) return true;
        int status = 200;
        if (r.path.len > 8 && !memcmp(r.path.ptr, "/status/", 8))
            status = (int)strtol(r.path.ptr + 8, NULL, 10);
        if (status < 100 || status > 599) status = 400;
        bool control = set_fault(&r);
        if (fault_status && !control) status = fault_status;
        long delay = control ? 0 : delay_of(&r);
        char path[256];
        snprintf(path, sizeof(path), "%.*s", (int)(r.path.len < 200 ? r.path.len : 200),
                 r.path.ptr);
        for (char *p = path; *p; p++)
            if (*p == '"' || *p == '\\') *p = '_';
        buf_consume(&c->in, need);
        if (delay > 0) {
            if (c->timer.fd <= 0) {
                c->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
                c->timer.cb = on_timer;
                if (c->timer.fd < 0 || loop_add(&loop, &c->timer, LOOP_IN)) return false;
            }
            struct itimerspec its = {.it_value = {delay / 1000, (delay % 1000) * 1000000}};
            timerfd_settime(c->timer.fd, 0, &its, NULL);
            c->waiting = true;
            c->pending_status = status;
            snprintf(c->pending_path, sizeof(c->pending_path), "%s", path);
            return true;
        }
        answer(c, status, path);
    }
    return true;
}

static void
conn_io(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct conn *c = container_of(w, struct conn, w);
    for (;;) {
        ssize_t n = buf_read_fd(&c->in, w->fd);
        if (n == -EAGAIN || n == -ENOBUFS) break;
        if (n <= 0) {
            conn_close(c);
            return;
        }
    }
    if (!serve(c)) {
        conn_close(c);
        return;
    }
    flush(c);
}

static void
on_accept(struct loop_watch *w, unsigned events)
{
    (void)events;
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len;
        int fd = sock_accept(w->fd, &peer, &len);
        if (fd < 0) return;
        struct conn *c = calloc(1, sizeof(*c));
        if (!c || buf_init(&c->in, 8192, 1 << 20) || buf_init(&c->out, 8192, 1 << 20)) {
            close(fd);
            free(c);
            continue;
        }
        c->w.fd = fd;
        c->w.cb = conn_io;
        if (loop_add(&loop, &c->w, LOOP_IN)) conn_close(c);
    }
}

int
main(int argc, char **argv)
{
    const char *listen_addr = "127.0.0.1:19081";
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"fail", required_argument, NULL, 'f'},
                                         {"delay-ms", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "l:n:", opts, NULL)) != -1) {
        if (o == 'l')
            listen_addr = optarg;
        else if (o == 'n')
            name = optarg;
        else if (o == 'f')
            fault_status = atoi(optarg);
        else if (o == 'd')
            fault_delay_ms = atol(optarg);
        else
            return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    h1_limits_default(&lim);
    struct sockaddr_storage ss;
    socklen_t len;
    if (sock_parse_addr(listen_addr, &ss, &len)) {
        fprintf(stderr, "backend: bad address %s\n", listen_addr);
        return 2;
    }
    int fd = sock_listen((struct sockaddr *)&ss, len, 1024);
    if (fd < 0) {
        fprintf(stderr, "backend: listen %s: %s\n", listen_addr, strerror(-fd));
        return 1;
    }
    if (loop_init(&loop)) return 1;
    struct loop_watch lw = {.fd = fd, .cb = on_accept};
    loop_add(&loop, &lw, LOOP_IN);
    fprintf(stderr, "backend %s listening on %s\n", name, listen_addr);
    loop_run(&loop, NULL, NULL);
    return 0;
}
