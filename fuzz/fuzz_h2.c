/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the downstream HTTP/2 codec (http/h2_conn.c) and the request core
 * under it: the input is what a client sends on an h2c connection (the preface, then frames).
 * A real worker (loop, wheel, pools, metrics) serves a snapshot built once from YAML: local
 * answers (direct responses, redirects, fault aborts and delays, CORS, no endpoint) and
 * routes to an HTTP/1.1 upstream. No socket is read or written: the client connection is
 * handed to the codec as the HTTP/1.1 codec hands one over (h2_conn_adopt), on an eventfd for
 * the loop to watch, with a transport (core/xprt.h) that reads the input in pieces and takes
 * what the codec writes; the upstream's connections are made here the same way and parked in
 * the worker's keep-alive pool (the cluster's maxConnections keeps the request core from
 * opening others), and they answer what the input says after UPSTREAM_MARK, else a canned
 * response picked by the request's path (/up/chunked, /up/big, /up/cut, /up/503, /up/silent).
 * Time is a fake clock the input moves: idle timeouts, fault delays and route timeouts fire.
 * At the end of each input, the client's end of stream, then every client connection closed
 * and freed: ASan's leak check sees anything left behind.
 *
 * The first two input bytes are control. The first: its low 4 bits the read size (0: 16 KiB;
 * else n*61 bytes), bit 4 writes taken 100 bytes at a time (client and upstream), bits 5-7
 * the milliseconds each step moves the clock (0, 1, 10, 100, 1000, 5000, 20000, 60000). The
 * second: the step (a read) before which the worker drains the connection, as on SIGTERM
 * (0: never). The client's bytes must open with the preface, as the HTTP/1.1 codec hands
 * over only then.
 * $FUZZ_H2_OUT names a file that gets what the codec wrote to the client (to check the
 * harness by eye). */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "http/conn.h"
#include "http/h2_conn.h"
#include "http/metrics.h"
#include "http/req.h"
#include "http/upstream.h"
#include "http/worker.h"
#include "lb/lb.h"
#include "model/endpoint.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* %u: the upstream's port, bound and never listened on (the fake connections stand in). */
static const char config_yaml[] =
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
    "metadata: {name: svc, namespace: default}\nspec:\n  hosts: [svc.test]\n"
    "  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  resolution: STATIC\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
    "metadata: {name: up, namespace: default}\nspec:\n  hosts: [up.test]\n"
    "  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  resolution: STATIC\n"
    "  endpoints:\n  - {address: 127.0.0.1, ports: {http: %u}}\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
    "metadata: {name: up, namespace: default}\nspec:\n  host: up.test\n"
    "  trafficPolicy:\n    connectionPool:\n"
    "      tcp: {maxConnections: 16}\n      http: {http1MaxPendingRequests: 64}\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
    "metadata: {name: svc, namespace: default}\nspec:\n  hosts: [svc.test]\n  http:\n"
    "  - match:\n    - uri: {prefix: /redirect}\n"
    "    redirect: {uri: /new, authority: other.test, redirectCode: 308}\n"
    "  - match:\n    - uri: {prefix: /abort}\n"
    "    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}\n"
    "    route:\n    - destination: {host: svc.test}\n"
    "  - match:\n    - uri: {prefix: /delay}\n"
    "    fault: {delay: {fixedDelay: 1s, percentage: {value: 100}}}\n"
    "    route:\n    - destination: {host: up.test}\n"
    "  - match:\n    - uri: {prefix: /cors}\n"
    "    corsPolicy: {allowOrigins: [{exact: 'http://a.test'}], allowMethods: [GET, POST],\n"
    "                 allowHeaders: [x-a], maxAge: 60s}\n"
    "    directResponse: {status: 204}\n"
    "  - match:\n    - headers: {x-route: {exact: none}}\n"
    "    route:\n    - destination: {host: svc.test}\n"
    "  - match:\n    - uri: {prefix: /up}\n"
    "    route:\n    - destination: {host: up.test}\n"
    "    timeout: 2s\n    retries: {attempts: 2, retryOn: '5xx,reset'}\n"
    "  - directResponse: {status: 200, body: {string: hello from meshlet}}\n";

/* Bytes of the input after this are every upstream response (else one by the path). */
#define UPSTREAM_MARK "\r\n--upstream--\r\n"
#define FAKE_UPSTREAMS 16 /* the cluster's maxConnections */

static struct worker wk;
static struct proxy_options popt;
static struct snapshot *snap;
static const struct model_listener *mesh;
static const struct model_cluster *up_cluster;
static uint64_t clock_ms = 1000000;
static bool slow_wr; /* writes taken 100 bytes at a time */

/* --- The client's side of the connection: the input, read in pieces. --- */

static const uint8_t *in_p;
static size_t in_left, read_size;
static bool in_end; /* the client's end of stream may be read now */

static FILE *answers; /* $FUZZ_H2_OUT */

static ssize_t
client_read(void *t, int fd, void *buf, size_t n)
{
    (void)t, (void)fd;
    if (!in_left) return in_end ? 0 : -EAGAIN;
    size_t k = n < read_size ? n : read_size;
    if (k > in_left) k = in_left;
    memcpy(buf, in_p, k);
    in_p += k;
    in_left -= k;
    return (ssize_t)k;
}

static ssize_t
client_write(void *t, int fd, const void *buf, size_t n)
{
    (void)t, (void)fd;
    size_t k = slow_wr && n > 100 ? 100 : n;
    if (answers && fwrite(buf, 1, k, answers) != k) abort();
    return (ssize_t)k;
}

static int
no_shutdown(void *t, int fd)
{
    (void)t, (void)fd;
    return 0;
}

static const struct xprt_ops client_xprt = {
    .read = client_read,
    .write = client_write,
    .shutdown = no_shutdown,
};

static void
ignore_io(struct loop_watch *w, unsigned events)
{
    (void)w, (void)events;
}

/* --- The upstream: connections made here, answering from the input or by the path. --- */

struct fake {
    struct upstream *u; /* NULL: free slot (closed by the request core) */
    const char *resp;   /* what it answers to the request it has taken, or NULL */
    size_t resp_len, sent;
    size_t big_left; /* /up/big: body bytes still to come after <resp> */
    bool cut;        /* the end of stream after <resp> */
};

static struct fake fakes[FAKE_UPSTREAMS];
static const uint8_t *up_resp; /* the input's upstream response, or NULL */
static size_t up_resp_len;

#define LIT(s) s, sizeof(s) - 1
static const struct {
    const char *path;
    const char *resp;
    size_t len;
} canned[] = {
    {"/up/chunked",
     LIT("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n")},
    {"/up/big", LIT("HTTP/1.1 200 OK\r\ncontent-length: 300000\r\n\r\n")},
    {"/up/cut", LIT("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort")},
    {"/up/503", LIT("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")},
    {"/up/silent", NULL, 0},
    {"/up/100", LIT("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")},
    {"", LIT("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello")},
};

static struct fake *
fake_of_fd(int fd)
{
    for (size_t i = 0; i < FAKE_UPSTREAMS; i++)
        if (fakes[i].u && fakes[i].u->w.fd == fd) return &fakes[i];
    return NULL;
}

/* A request head written to <f>: pick its answer (the input's, or by the path). */
static void
fake_request(struct fake *f, const char *p, size_t n)
{
    const char *sp = memchr(p, ' ', n < 16 ? n : 16);
    if (!sp || sp == p) return; /* body bytes */
    for (const char *m = p; m < sp; m++)
        if (*m < 'A' || *m > 'Z') return;
    f->sent = 0;
    f->big_left = 0;
    f->cut = false;
    if (up_resp) {
        f->resp = (const char *)up_resp;
        f->resp_len = up_resp_len;
        f->cut = true;
        return;
    }
    const char *path = sp + 1;
    size_t left = n - (size_t)(path - p);
    for (size_t i = 0; i < ARRAY_SIZE(canned); i++) {
        size_t k = strlen(canned[i].path);
        if (k > left || memcmp(path, canned[i].path, k)) continue;
        f->resp = canned[i].resp;
        f->resp_len = canned[i].len;
        f->cut = !strcmp(canned[i].path, "/up/cut");
        if (!strcmp(canned[i].path, "/up/big")) f->big_left = 300000;
        return;
    }
}

static ssize_t
fake_read(void *t, int fd, void *buf, size_t n)
{
    (void)t;
    struct fake *f = fake_of_fd(fd);
    if (!f || !f->resp) return -EAGAIN;
    if (f->sent < f->resp_len) {
        size_t k = f->resp_len - f->sent < n ? f->resp_len - f->sent : n;
        if (slow_wr && k > 100) k = 100;
        memcpy(buf, f->resp + f->sent, k);
        f->sent += k;
        return (ssize_t)k;
    }
    if (f->big_left) {
        size_t k = f->big_left < n ? f->big_left : n;
        memset(buf, 'x', k);
        f->big_left -= k;
        return (ssize_t)k;
    }
    if (f->cut) return 0;
    f->resp = NULL; /* answered: ready for the next request (keep-alive) */
    return -EAGAIN;
}

static ssize_t
fake_write(void *t, int fd, const void *buf, size_t n)
{
    (void)t;
    size_t k = slow_wr && n > 100 ? 100 : n;
    struct fake *f = fake_of_fd(fd);
    /* Idle, or its last answer all read: a request line starts the next exchange. */
    if (f && (!f->resp || (f->sent == f->resp_len && !f->big_left && !f->cut)))
        fake_request(f, buf, k);
    return (ssize_t)k;
}

static const struct xprt_ops fake_xprt = {
    .read = fake_read,
    .write = fake_write,
    .shutdown = no_shutdown,
};

/* What upstream.c's socket callback does for a connected connection: wake its request. */
static void
fake_io(struct loop_watch *w, unsigned events)
{
    struct upstream *u = container_of(w, struct upstream, w);
    if (events & LOOP_IN) u->in_ready = true;
    if (u->owner) req_wake(u->owner);
}

/* Its idleTimeout, as upstream.c's: an idle connection is closed. */
static void
fake_timer(struct wheel_timer *t)
{
    struct upstream *u = container_of(t, struct upstream, timer);
    if (u->owner || u->shadow) return;
    worker_unlink_idle(u->wk, u);
    upstream_close(u);
}

/* A connected upstream connection in the pool, set up as upstream_open_as sets one up. */
static void
fake_open(struct fake *f)
{
    const struct model_cluster *c = up_cluster;
    struct upstream *u = calloc(1, sizeof(*u));
    if (!u) abort();
    buf_init_empty(&u->in, 1 << 20);
    buf_init_empty(&u->out, 2u << 20);
    u->w.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    u->w.cb = fake_io;
    if (u->w.fd < 0 || loop_add(&wk.loop, &u->w, LOOP_IN | LOOP_OUT)) abort();
    u->ops = &h1_upstream_ops;
    u->wk = &wk;
    u->cluster = c;
    u->xprt = &fake_xprt;
    u->pool = worker_pool(&wk, c, 0);
    if (!u->pool) abort();
    u->pool->open++;
    u->pstate = c->state;
    metrics_upstream(wk.metrics, u->pstate, UP_CX_OPEN);
    atomic_fetch_add_explicit(&c->state->connections, 1, memory_order_relaxed);
    u->counted = true;
    u->timer.cb = fake_timer;
    u->connected = u->tcp_up = true;
    *f = (struct fake){.u = u};
    worker_put_idle(&wk, u);
}

/* Back to FAKE_UPSTREAMS connections (the request core closed some). */
static void
fakes_fill(void)
{
    for (size_t i = 0; i < FAKE_UPSTREAMS; i++)
        if (!fakes[i].u) fake_open(&fakes[i]);
}

/* The upstream's socket events: a connection with something to say wakes its request. */
static void
fakes_poll(void)
{
    for (size_t i = 0; i < FAKE_UPSTREAMS; i++) {
        struct upstream *u = fakes[i].u;
        if (u && fakes[i].resp && u->owner) fake_io(&u->w, LOOP_IN);
    }
}

/* --- The worker, once. --- */

static int
setup(void)
{
    /* The endpoint's port: bound, never listened on, so a connection the request core
     * opened itself (none should) would be refused at once. */
    int hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (hold < 0 || bind(hold, (struct sockaddr *)&a, alen) ||
        getsockname(hold, (struct sockaddr *)&a, &alen))
        abort();
    char text[sizeof(config_yaml) + 16];
    int len = snprintf(text, sizeof(text), config_yaml, (unsigned)ntohs(a.sin_port));
    int fd = memfd_create("fuzz_h2.yaml", 0);
    if (fd < 0 || write(fd, text, (size_t)len) != len) abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    const char *paths[] = {path};
    struct resource_set set;
    struct diag_list dl;
    config_init(&set);
    diag_list_init(&dl);
    if (config_load(&set, paths, 1, NULL, &dl) || dl.errors) abort();
    struct model_options opt = {
        .mesh_port = 15001,
        .ns = "default",
        .prepare_cluster = lb_prepare_cluster,
        .numeric_only = true,
    };
    char err[256];
    snap = model_build(&set, &opt, err, sizeof(err));
    diag_list_fini(&dl);
    config_fini(&set);
    close(fd);
    if (!snap) {
        fprintf(stderr, "fuzz_h2: %s\n", err);
        abort();
    }
    for (size_t i = 0; i < snap->n_listeners; i++)
        if (snap->listeners[i].mesh) mesh = &snap->listeners[i];
    for (size_t i = 0; i < snap->n_clusters; i++)
        if (!strcmp(snap->clusters[i]->host, "up.test") && !*snap->clusters[i]->subset)
            up_cluster = snap->clusters[i];
    if (!mesh || !up_cluster || !up_cluster->limits.any) abort();
    /* The mesh listener is bound to an ephemeral loopback port, never connected to. */
    struct sockaddr_in *m = (struct sockaddr_in *)&popt.mesh_addr;
    m->sin_family = AF_INET;
    m->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    popt.mesh_addr_len = sizeof(*m);
    popt.workload = "fuzz";
    popt.ns = "default";
    h1_limits_default(&popt.limits);
    popt.idle_timeout_ms = 30000;
    popt.stream_idle_timeout_ms = 20000;
    atomic_store(&now__fake_ms, clock_ms);
    const char *out = getenv("FUZZ_H2_OUT");
    if (out && !(answers = fopen(out, "wb"))) abort();
    log_set_level(LOG_ERROR); /* refused clients are warned about, rate-limited by time */
    if (worker_init(&wk, 0, snap, &popt, err, sizeof(err))) {
        fprintf(stderr, "fuzz_h2: worker: %s\n", err);
        abort();
    }
    return 0;
}

/* What the worker does after each batch of events (worker.c's reap): resume waiters, then
 * free what was closed in the batch (an upstream connection among it leaves its slot). */
static void
after_batch(void)
{
    req_resume_waiters(&wk);
    h2_upstream_wake_deferred(&wk);
    for (size_t i = 0; i < wk.n_dead; i++) {
        for (size_t k = 0; k < FAKE_UPSTREAMS; k++)
            if (fakes[k].u == wk.dead[i]) fakes[k].u = NULL;
        free(wk.dead[i]);
    }
    wk.n_dead = 0;
}

static void
tick(uint64_t ms)
{
    clock_ms += ms;
    atomic_store(&now__fake_ms, clock_ms);
    wheel_advance(&wk.loop.wheel, clock_ms);
    after_batch();
}

/* A client connection on the mesh listener, handed to the HTTP/2 codec with the bytes
 * "read" so far (at least the preface). */
static bool
open_conn(void)
{
    struct conn from = {
        .w = {.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .cb = ignore_io},
        .wk = &wk,
        .ml = mesh,
        .xprt = &client_xprt,
        .peer = {127, 0, 0, 1},
        .peer_family = AF_INET,
        .peer_port = 40000,
    };
    if (from.w.fd < 0 || loop_add(&wk.loop, &from.w, LOOP_IN | LOOP_OUT)) abort();
    from.gen = worker_gen_hold(wk.gen);
    worker_conn_opened(&wk, &from);
    struct buf in;
    buf_init_empty(&in, popt.limits.max_head_bytes + 65536);
    worker_buf_ensure(&wk, &in);
    size_t first = read_size < H2_PREFACE_LEN ? H2_PREFACE_LEN : read_size;
    if (first > in_left) first = in_left;
    if (buf_append(&in, in_p, first)) abort();
    in_p += first;
    in_left -= first;
    if (h2_conn_adopt(&from, &in)) { /* out of memory: as the HTTP/1.1 codec would close */
        worker_conn_closed(&wk, &from);
        worker_gen_put(from.gen);
        loop_kill(&wk.loop, &from.w);
        worker_buf_drop(&wk, &in);
        return false;
    }
    worker_buf_drop(&wk, &in); /* adopt left it empty */
    return true;
}

/* One batch: the client's socket event, then the upstream's, then the clock moves. */
static void
step(uint64_t ms)
{
    if (wk.conns) wk.conns->w.cb(&wk.conns->w, LOOP_IN | LOOP_OUT);
    after_batch();
    fakes_poll();
    after_batch();
    tick(ms);
    fakes_fill();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) ready = !setup();
    if (size < 2 + H2_PREFACE_LEN) return 0;
    static const uint64_t steps_ms[] = {0, 1, 10, 100, 1000, 5000, 20000, 60000};
    uint8_t ctl = data[0];
    read_size = (ctl & 0x0f) ? (size_t)(ctl & 0x0f) * 61 : 16384;
    slow_wr = ctl & 0x10;
    uint64_t step_ms = steps_ms[ctl >> 5];
    int drain_at = data[1];
    in_p = data + 2;
    in_left = size - 2;
    in_end = false;
    up_resp = memmem(in_p, in_left, UPSTREAM_MARK, sizeof(UPSTREAM_MARK) - 1);
    if (up_resp) {
        in_left = (size_t)(up_resp - in_p);
        up_resp += sizeof(UPSTREAM_MARK) - 1;
        up_resp_len = (size_t)(data + size - up_resp);
    }
    if (h2_preface((const char *)in_p, in_left) != 1) return 0;
    fakes_fill();
    if (!open_conn()) return 0;
    after_batch();

    /* Feed the input a read at a time, the clock moving between reads; then the client's
     * end of stream, and time for delays and timeouts to fire. Bounded in steps. */
    for (int i = 0; i < 4096 && wk.conns; i++) {
        bool fed = !in_left;
        in_end = fed; /* all read: the next read is the end of stream */
        if (i + 1 == drain_at && wk.conns) wk.conns->ops->drain(wk.conns);
        step(step_ms);
        if (fed) break;
    }
    /* Then time by growing steps, each after a step that does not move it: whatever the
     * upstream has to say gets through before the timeouts fire. */
    static const uint64_t end_ms[] = {0, 100, 0, 1000, 0, 1000, 0, 5000, 0, 30000, 0, 60000};
    for (size_t i = 0; i < ARRAY_SIZE(end_ms) && wk.conns; i++) step(end_ms[i]);
    while (wk.conns) wk.conns->ops->close(wk.conns);
    after_batch();
    return 0;
}
