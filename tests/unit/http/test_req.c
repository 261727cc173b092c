/* SPDX-License-Identifier: Apache-2.0 */
/* The protocol-neutral request (req.c) driven through a fake codec: a test connection with
 * fake conn_ops and stream_ops that record what the client would get (status, location,
 * body, done how), on a real worker (loop, wheel, metrics, generation) serving a snapshot
 * built from YAML. No client socket: the upstream is HTTP/1.1 (h1_upstream_ops) connected
 * to listeners this test opens on 127.0.0.1 and never reads, so the bytes a try sends are
 * read from the upstream's output buffer, and the response is handed to the request the
 * way an upstream codec does (req_response_head/data/end, req_try_failed). Time is the
 * harness's fake clock: back-offs and timeouts fire when a test moves it and the worker's
 * wheel with it. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/now.h"
#include "core/sock.h"
#include "harness.h"
#include "http/conn.h"
#include "http/metrics.h"
#include "http/req.h"
#include "http/retry.h"
#include "http/stream.h"
#include "http/upstream.h"
#include "http/worker.h"
#include "lb/lb.h"
#include "model/model.h"

#define MESH_PORT 15001

/* The client side of one request, as a codec would hold it. */
struct fake_conn {
    struct conn base;
    struct req q;
    struct req_head head;
    struct h1_header fields[4];
    /* What the client got, in order: "reply 404", "head 200", "data ...", "end", "done 0". */
    char events[1024];
    int status;         /* of the local reply or the response head; 0: none */
    char location[256]; /* a local reply's location field */
    char body[512];     /* a local reply's body, or the response body */
    char trailers[256]; /* the response's trailers, "name: value\n" each */
    size_t body_len;
    int done_calls, done_how;
    uint32_t done_flags; /* the request's response flags when it ended */
    uint32_t done_attempt;
    int pumps; /* times the request woke its codec */
};

static struct worker wk;
static struct proxy_options popt;
static struct snapshot *snap;
static int upstream_fd[2] = {-1, -1}; /* listeners standing in for the endpoints */
static int fds_at_start;              /* open before the fixture: as many after it */
static uint16_t upstream_port[2];

static void
event(struct fake_conn *f, const char *fmt, int v)
{
    size_t n = strlen(f->events);
    snprintf(f->events + n, sizeof(f->events) - n, fmt, v);
}

static struct fake_conn *
fake_of(const struct req *q)
{
    return container_of(q, struct fake_conn, q);
}

/* --- The fake codec: stream_ops. --- */

static const struct req_head *
fake_head(struct req *q)
{
    return &fake_of(q)->head;
}

static int
fake_proceed(struct req *q)
{
    (void)q;
    return 0;
}

static int
fake_reply(struct req *q, const struct local_reply *r)
{
    struct fake_conn *f = fake_of(q);
    event(f, "reply %d;", r->status);
    f->status = r->status;
    for (size_t i = 0; i < r->n_fields; i++)
        if (slice_eq(r->fields[i].name, "location"))
            snprintf(f->location, sizeof(f->location), "%.*s", (int)r->fields[i].value.len,
                     r->fields[i].value.ptr);
    f->body_len = r->body.len < sizeof(f->body) - 1 ? r->body.len : sizeof(f->body) - 1;
    if (f->body_len) memcpy(f->body, r->body.ptr, f->body_len); /* an empty body may be NULL */
    f->body[f->body_len] = '\0';
    return 0;
}

static int
fake_send_head(struct req *q, const struct resp_head *h, uint64_t upstream_ms)
{
    (void)upstream_ms;
    struct fake_conn *f = fake_of(q);
    event(f, "head %d;", h->code);
    f->status = h->code;
    return 0;
}

static int
fake_send_data(struct req *q, const char *p, size_t n)
{
    struct fake_conn *f = fake_of(q);
    event(f, "data %d;", (int)n);
    if (n > sizeof(f->body) - 1 - f->body_len) return -1;
    memcpy(f->body + f->body_len, p, n);
    f->body_len += n;
    f->body[f->body_len] = '\0';
    return 0;
}

static int
fake_send_end(struct req *q, const struct h1_header *t, size_t n)
{
    struct fake_conn *f = fake_of(q);
    event(f, "end;", 0);
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(f->trailers);
        snprintf(f->trailers + k, sizeof(f->trailers) - k, "%.*s: %.*s\n", (int)t[i].name.len,
                 t[i].name.ptr, (int)t[i].value.len, t[i].value.ptr);
    }
    return 0;
}

static size_t
fake_room(const struct req *q)
{
    (void)q;
    return 1 << 20;
}

/* As a codec must: release the request before returning. */
static void
fake_done(struct req *q, int how)
{
    struct fake_conn *f = fake_of(q);
    event(f, "done %d;", how);
    f->done_calls++;
    f->done_how = how;
    f->done_flags = q->flags;
    f->done_attempt = q->attempt;
    req_release(q, f->body_len);
}

static const struct stream_ops fake_stream = {
    .head = fake_head,
    .proceed = fake_proceed,
    .reply = fake_reply,
    .send_head = fake_send_head,
    .send_data = fake_send_data,
    .send_end = fake_send_end,
    .room = fake_room,
    .done = fake_done,
};

/* --- conn_ops: the request wakes its codec after its own timers. --- */

static void
fake_pump(struct conn *c)
{
    container_of(c, struct fake_conn, base)->pumps++;
}

static void
fake_noop(struct conn *c)
{
    (void)c;
}

static const struct conn_ops fake_conn_ops = {
    .pump = fake_pump,
    .rebind_idle = fake_noop,
    .drain = fake_noop,
    .close = fake_noop,
};

/* --- Fixture: endpoints, snapshot, worker. --- */

static int
open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static bool
fd_closed(int fd)
{
    return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static int
listen_ephemeral(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = sock_listen((const struct sockaddr *)&a, sizeof(a), 16);
    assert_true(fd >= 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static const char *const routes_yaml =
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
    "metadata: {name: svc, namespace: default}\nspec:\n  hosts: [svc.test]\n  http:\n"
    "  - match:\n    - uri: {prefix: /direct}\n"
    "    directResponse: {status: 418, body: {string: short and stout}}\n"
    "  - match:\n    - uri: {prefix: /old}\n"
    "    redirect: {uri: /new, authority: other.test, redirectCode: 308}\n"
    "  - match:\n    - uri: {prefix: /retry}\n"
    "    route:\n    - destination: {host: svc.test}\n"
    "    retries: {attempts: 2, retryOn: 5xx}\n"
    "  - match:\n    - uri: {prefix: /noretry}\n"
    "    route:\n    - destination: {host: svc.test}\n"
    "    retries: {attempts: 0}\n"
    "  - match:\n    - uri: {prefix: /slow}\n"
    "    route:\n    - destination: {host: svc.test}\n"
    "    timeout: 1s\n    retries: {attempts: 0}\n"
    "  - match:\n    - uri: {prefix: /pertry}\n"
    "    route:\n    - destination: {host: svc.test}\n"
    "    retries: {attempts: 1, perTryTimeout: 100ms, retryOn: 5xx}\n"
    "  - match:\n    - uri: {prefix: /delayed}\n"
    "    fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}\n"
    "    route:\n    - destination: {host: svc.test}\n"
    "  - match:\n    - uri: {prefix: /abort}\n"
    "    fault: {abort: {httpStatus: 429, percentage: {value: 100}}}\n"
    "    route:\n    - destination: {host: svc.test}\n"
    "  - route:\n    - destination: {host: svc.test}\n"
    "---\n"
    /* One request in flight at a time (Envoy's max_requests circuit breaker). */
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
    "metadata: {name: busy, namespace: default}\nspec:\n  host: busy.test\n"
    "  trafficPolicy: {connectionPool: {http: {http2MaxRequests: 1}}}\n";

/* The snapshot of <text> on the mesh listener (MESH_PORT). */
static struct snapshot *
build_snapshot(const char *text)
{
    const char *paths[] = {harness_write(harness_tmpdir(), "c.yaml", text)};
    struct model_options opt = {
        .mesh_port = MESH_PORT,
        .ns = "default",
        .prepare_cluster = lb_prepare_cluster,
    };
    return harness_snapshot(paths, 1, &opt);
}

static int
setup(void **state)
{
    (void)state;
    fds_at_start = open_fds();
    for (int i = 0; i < 2; i++) upstream_fd[i] = listen_ephemeral(&upstream_port[i]);
    char text[8192];
    snprintf(text, sizeof(text),
             "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
             "metadata: {name: svc, namespace: default}\nspec:\n  hosts: [svc.test]\n"
             "  ports:\n  - {number: 80, name: http, protocol: HTTP}\n"
             "  resolution: STATIC\n  endpoints:\n"
             "  - {address: 127.0.0.1, ports: {http: %u}}\n"
             "  - {address: 127.0.0.1, ports: {http: %u}}\n---\n"
             "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
             "metadata: {name: busy, namespace: default}\nspec:\n  hosts: [busy.test]\n"
             "  ports:\n  - {number: 80, name: http, protocol: HTTP}\n"
             "  resolution: STATIC\n  endpoints:\n"
             "  - {address: 127.0.0.1, ports: {http: %u}}\n---\n"
             "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
             "metadata: {name: svc, namespace: default}\nspec:\n  host: svc.test\n"
             "  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n---\n%s",
             upstream_port[0], upstream_port[1], upstream_port[0], routes_yaml);
    snap = build_snapshot(text);
    /* The worker binds the mesh listener here: an ephemeral port, never connected to. */
    struct sockaddr_in *mesh = (struct sockaddr_in *)&popt.mesh_addr;
    mesh->sin_family = AF_INET;
    mesh->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    popt.mesh_addr_len = sizeof(*mesh);
    popt.workload = "test";
    popt.ns = "default";
    /* Test time: the worker's wheel starts at it and moves only when a test moves it. */
    harness_clock_set(1000000);
    char err[256];
    if (worker_init(&wk, 0, snap, &popt, err, sizeof(err))) fail_msg("worker: %s", err);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    worker_join(&wk, false);
    harness_clock_real();
    model_release(snap);
    for (int i = 0; i < 2; i++) close(upstream_fd[i]);
    harness_cleanup();
    /* Every upstream connection, parked or not, was closed with the worker. */
    int left = open_fds();
    if (left != fds_at_start) {
        print_error("%d file descriptors open after the worker ended, %d before\n", left,
                    fds_at_start);
        return -1;
    }
    return 0;
}

/* A connection on the mesh listener with a fresh request whose head is GET <path> with
 * Host <host>; not started. */
static void
fake_open(struct fake_conn *f, const char *host, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->base.ops = &fake_conn_ops;
    f->base.wk = &wk;
    f->base.gen = worker_gen_hold(wk.gen);
    f->base.ml = model_listener_for(wk.gen->snap, MESH_PORT);
    assert_non_null(f->base.ml);
    f->fields[0] = (struct h1_header){SLICE_LIT("host"), slice_make(host, strlen(host))};
    f->fields[1] = (struct h1_header){SLICE_LIT("user-agent"), SLICE_LIT("test_req")};
    f->head = (struct req_head){
        .method = SLICE_LIT("GET"),
        .authority = slice_make(host, strlen(host)),
        .path = slice_make(path, strlen(path)),
        .fields = f->fields,
        .n_fields = 2,
    };
    req_init(&f->q, &f->base, &fake_stream);
}

static void
fake_start(struct fake_conn *f)
{
    req_begin(&f->q, &f->head, 64);
    req_start(&f->q, &f->head);
}

static void
fake_close(struct fake_conn *f)
{
    worker_gen_put(f->base.gen);
}

/* The request head the current try wrote for its upstream, as text; the output is then
 * consumed, as if written, so the connection can be parked after the response. */
static const char *
try_head(struct fake_conn *f)
{
    static char text[4096];
    struct upstream *u = f->q.up;
    assert_non_null(u);
    size_t n = buf_len(&u->out) < sizeof(text) - 1 ? buf_len(&u->out) : sizeof(text) - 1;
    memcpy(text, buf_head(&u->out), n);
    text[n] = '\0';
    buf_consume(&u->out, buf_len(&u->out));
    return text;
}

/* An upstream response head with a Content-Length body of <len> bytes. */
static bool
respond_head(struct fake_conn *f, int code, size_t len)
{
    static char cl[24];
    snprintf(cl, sizeof(cl), "%zu", len);
    struct h1_header fields[] = {{SLICE_LIT("content-length"), slice_make(cl, strlen(cl))}};
    struct resp_head h = {
        .code = code,
        .fields = fields,
        .n_fields = 1,
        .body = len ? RESP_BODY_LENGTH : RESP_BODY_NONE,
        .body_len = len,
        .content_length = &fields[0],
    };
    return req_response_head(&f->q, &h);
}

/* The retry timer of <f> waits within Envoy's back-off window for its <attempt> (25 ms
 * base), from now. */
static void
assert_backoff_within_window(const struct fake_conn *f, uint32_t attempt)
{
    assert_true(wheel_armed(&f->q.retry_wait));
    assert_true(f->q.retry_wait.deadline_ms >= now_ms());
    assert_true(f->q.retry_wait.deadline_ms < now_ms() + retry_backoff_window_ms(25, attempt));
}

/* Move the fake clock to <ms> and the worker's wheel with it, as the loop does after a
 * batch: every timer due by then fires. */
static void
clock_to(uint64_t ms)
{
    assert_true(ms >= now_ms());
    harness_clock_set(ms);
    wheel_advance(&wk.loop.wheel, ms);
}

/* Move the clock to the tick of armed timer <t>, so that it fires with every timer due
 * before it; a timer its callback arms for later waits for the next call. */
static void
fire(struct wheel_timer *t)
{
    assert_true(wheel_armed(t));
    clock_to((t->deadline_ms + WHEEL_TICK_MS - 1) / WHEEL_TICK_MS * WHEEL_TICK_MS);
}

/* --- Cases. --- */

static void
test_no_route_is_a_local_404_flagged_nr(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "unknown.test", "/");
    uint64_t before = wk.requests;
    fake_start(&f);
    assert_string_equal(f.events, "reply 404;done 0;");
    assert_int_equal(f.status, 404);
    assert_int_equal(f.body_len, 0);
    assert_int_equal(f.done_calls, 1);
    assert_true(f.done_flags & RF_NR);
    assert_null(f.q.up);
    assert_int_equal(wk.requests, before + 1);
    fake_close(&f);
}

static void
test_direct_response_sends_status_and_body(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/direct/x");
    fake_start(&f);
    assert_string_equal(f.events, "reply 418;done 0;");
    assert_string_equal(f.body, "short and stout");
    assert_int_equal(f.done_flags, 0);
    assert_null(f.q.up);
    fake_close(&f);
}

static void
test_redirect_sends_code_and_location_keeping_the_query(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/old/page?a=1");
    fake_start(&f);
    assert_string_equal(f.events, "reply 308;done 0;");
    assert_string_equal(f.location, "http://other.test/new?a=1");
    assert_int_equal(f.body_len, 0);
    assert_int_equal(f.done_calls, 1);
    fake_close(&f);
}

/* A route to a cluster: the try binds an upstream and sends the head with attempt count 1;
 * the response reaches the client in order and the connection is parked for reuse. */
static void
test_route_to_cluster_forwards_the_response_in_order(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/items?id=7");
    fake_start(&f);
    assert_string_equal(f.events, "");
    struct upstream *u = f.q.up;
    assert_non_null(u);
    assert_ptr_equal(u->owner, &f.q);
    assert_ptr_equal(u->ops, &h1_upstream_ops);
    assert_true(f.q.sent);
    const char *head = try_head(&f);
    assert_true(strncmp(head, "GET /items?id=7 HTTP/1.1\r\n", 26) == 0);
    assert_non_null(strstr(head, "\r\nx-envoy-attempt-count: 1\r\n\r\n"));
    assert_non_null(strstr(head, "\r\nhost: svc.test\r\n"));
    assert_non_null(strstr(head, "\r\nx-request-id: "));
    size_t ep = u->endpoint;
    struct idle_pool *pool = worker_pool(&wk, u->cluster, ep);
    assert_non_null(pool);
    size_t idle_before = pool->n;

    assert_true(respond_head(&f, 200, 5));
    assert_int_equal(req_response_data(&f.q, "hello", 5), 0);
    req_response_end(&f.q, true, NULL, 0);
    assert_string_equal(f.events, "head 200;data 5;end;done 0;");
    assert_string_equal(f.body, "hello");
    assert_int_equal(f.done_calls, 1);
    assert_int_equal(f.done_flags, 0);
    assert_null(f.q.up);
    assert_int_equal(pool->n, idle_before + 1); /* kept alive for the next request */
    assert_null(u->owner);
    fake_close(&f);
}

/* retryOn 5xx: a 503 is dropped with its connection, the back-off timer starts try 2 on
 * the other endpoint with attempt count 2, and its 200 reaches the client. */
static void
test_retry_on_503_starts_try_two_after_the_backoff(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/retry");
    fake_start(&f);
    const char *first = try_head(&f);
    assert_non_null(strstr(first, "\r\nx-envoy-attempt-count: 1\r\n\r\n"));
    char rid[64] = ""; /* "x-request-id: <uuid>" */
    const char *at = strstr(first, "\r\nx-request-id: ");
    assert_non_null(at);
    snprintf(rid, sizeof(rid), "%.*s", (int)strcspn(at + 2, "\r"), at + 2);
    assert_int_equal(strlen(rid), 14 + 36);
    size_t first_ep = f.q.up->endpoint;

    assert_false(respond_head(&f, 503, 0));
    assert_string_equal(f.events, ""); /* the client saw nothing */
    assert_null(f.q.up);
    assert_backoff_within_window(&f, 1);
    assert_int_equal(f.q.attempt, 2);

    fire(&f.q.retry_wait);
    assert_false(wheel_armed(&f.q.retry_wait));
    assert_int_equal(f.pumps, 1); /* the timer woke the codec */
    assert_non_null(f.q.up);
    assert_int_not_equal(f.q.up->endpoint, first_ep); /* previous hosts are avoided */
    const char *head = try_head(&f);
    assert_true(strncmp(head, "GET /retry HTTP/1.1\r\n", 21) == 0);
    assert_non_null(strstr(head, "\r\nx-envoy-attempt-count: 2\r\n\r\n"));
    assert_null(strstr(head, "x-envoy-attempt-count: 1"));
    assert_non_null(strstr(head, rid)); /* a retry resends the request id */

    assert_true(respond_head(&f, 200, 2));
    assert_int_equal(req_response_data(&f.q, "ok", 2), 0);
    req_response_end(&f.q, true, NULL, 0);
    assert_string_equal(f.events, "head 200;data 2;end;done 0;");
    assert_string_equal(f.body, "ok");
    assert_int_equal(f.done_attempt, 2);
    assert_int_equal(f.done_flags & RF_URX, 0);
    fake_close(&f);
}

/* attempts: 2 is two retries (Envoy's num_retries): the third 503 goes to the client,
 * flagged URX. */
static void
test_retries_exhausted_send_the_last_503_flagged_urx(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/retry");
    fake_start(&f);
    for (int attempt = 1; attempt <= 2; attempt++) {
        char want[64];
        snprintf(want, sizeof(want), "\r\nx-envoy-attempt-count: %d\r\n\r\n", attempt);
        assert_non_null(strstr(try_head(&f), want));
        assert_false(respond_head(&f, 503, 0));
        assert_null(f.q.up);
        assert_backoff_within_window(&f, (uint32_t)attempt);
        fire(&f.q.retry_wait);
    }
    assert_non_null(strstr(try_head(&f), "\r\nx-envoy-attempt-count: 3\r\n\r\n"));
    assert_true(respond_head(&f, 503, 4));
    assert_int_equal(req_response_data(&f.q, "busy", 4), 0);
    req_response_end(&f.q, true, NULL, 0);
    assert_string_equal(f.events, "head 503;data 4;end;done 0;");
    assert_string_equal(f.body, "busy");
    assert_int_equal(f.done_attempt, 3);
    assert_true(f.done_flags & RF_URX);
    assert_int_equal(f.pumps, 2);
    fake_close(&f);
}

/* A connect failure on a route that does not retry: Envoy's 503 UF and its body. */
static void
test_connect_failure_without_retries_is_503_uf(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/noretry");
    fake_start(&f);
    assert_non_null(f.q.up);
    assert_null(f.q.replay); /* nothing kept: no try follows */
    int fd = f.q.up->w.fd;
    assert_false(fd_closed(fd));
    req_try_failed(&f.q, REQ_TRY_CONNECT_FAILED);
    assert_true(fd_closed(fd)); /* a failed connection is not parked */
    assert_string_equal(f.events, "reply 503;done 0;");
    assert_string_equal(f.body, "upstream connect error or disconnect/reset before headers. "
                                "reset reason: connection failure");
    assert_true(f.done_flags & RF_UF);
    assert_false(f.done_flags & RF_URX);
    assert_int_equal(f.done_calls, 1);
    assert_null(f.q.up);
    fake_close(&f);
}

/* Istio's default policy (no `retries`) retries a connect failure: try 2 follows. */
static void
test_connect_failure_with_the_default_policy_is_retried(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/default");
    fake_start(&f);
    assert_non_null(strstr(try_head(&f), "\r\nx-envoy-attempt-count: 1\r\n\r\n"));
    req_try_failed(&f.q, REQ_TRY_CONNECT_FAILED);
    assert_string_equal(f.events, "");
    assert_true(wheel_armed(&f.q.retry_wait));
    fire(&f.q.retry_wait);
    assert_non_null(strstr(try_head(&f), "\r\nx-envoy-attempt-count: 2\r\n\r\n"));
    /* A reset is not retried by the default policy (connect-failure only): UC. */
    req_try_failed(&f.q, REQ_TRY_RESET);
    assert_string_equal(f.events, "reply 503;done 0;");
    assert_string_equal(f.body, "upstream connect error or disconnect/reset before headers. "
                                "reset reason: connection termination");
    assert_true(f.done_flags & RF_UC);
    fake_close(&f);
}

/* A body request: the body goes after the head, is kept, and a retry sends both again. */
static void
test_retry_sends_the_kept_body_again(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/upload");
    f.head.method = SLICE_LIT("POST");
    f.fields[2] = (struct h1_header){SLICE_LIT("content-length"), SLICE_LIT("5")};
    f.head.n_fields = 3;
    f.q.body = REQ_BODY_LENGTH; /* as the codec says before it starts the request */
    f.q.body_len = 5;
    fake_start(&f);
    assert_non_null(f.q.up);
    assert_false(f.q.sent);
    assert_true(req_body_room(&f.q) > 0);
    assert_int_equal(req_body_data(&f.q, "hello", 5), 0);
    assert_false(f.q.sent);
    assert_int_equal(req_body_end(&f.q, NULL, 0), 0);
    assert_true(f.q.sent && f.q.body_done);
    const char *first = try_head(&f);
    assert_true(strncmp(first, "POST /upload HTTP/1.1\r\n", 23) == 0);
    assert_non_null(strstr(first, "\r\nx-envoy-attempt-count: 1\r\n\r\nhello"));

    req_try_failed(&f.q, REQ_TRY_CONNECT_FAILED); /* retried by the default policy */
    fire(&f.q.retry_wait);
    const char *second = try_head(&f);
    assert_true(strncmp(second, "POST /upload HTTP/1.1\r\n", 23) == 0);
    assert_non_null(strstr(second, "\r\nx-envoy-attempt-count: 2\r\n\r\nhello"));
    assert_true(f.q.sent);

    assert_true(respond_head(&f, 201, 0));
    req_response_end(&f.q, true, NULL, 0);
    assert_string_equal(f.events, "head 201;end;done 0;");
    fake_close(&f);
}

/* The route timeout runs from the end of the request: 504 UT, the upstream closed. */
static void
test_route_timeout_is_504_ut(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/slow");
    fake_start(&f);
    assert_non_null(f.q.up);
    int fd = f.q.up->w.fd;
    assert_true(wheel_armed(&f.q.timer));
    assert_int_equal(f.q.timer.deadline_ms, f.q.start_ms + 1000);
    clock_to(f.q.start_ms + 999); /* never early */
    assert_string_equal(f.events, "");
    assert_non_null(f.q.up);
    fire(&f.q.timer);
    assert_string_equal(f.events, "reply 504;done 0;");
    assert_string_equal(f.body, "upstream request timeout");
    assert_true(f.done_flags & RF_UT);
    assert_int_equal(f.pumps, 1);
    assert_true(fd_closed(fd));
    fake_close(&f);
}

/* perTryTimeout cuts a try like a reset: retried (5xx retries resets) with attempt count 2,
 * then, with no retry left, 504 UT flagged URX. */
static void
test_per_try_timeout_retries_then_504(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/pertry");
    fake_start(&f);
    try_head(&f);
    fire(&f.q.try_timer);
    assert_string_equal(f.events, "");
    assert_null(f.q.up);
    fire(&f.q.retry_wait);
    assert_non_null(strstr(try_head(&f), "\r\nx-envoy-attempt-count: 2\r\n\r\n"));
    fire(&f.q.try_timer);
    assert_string_equal(f.events, "reply 504;done 0;");
    assert_string_equal(f.body, "upstream request timeout");
    assert_true(f.done_flags & RF_UT);
    assert_true(f.done_flags & RF_URX);
    assert_int_equal(f.done_attempt, 2);
    fake_close(&f);
}

/* An injected delay holds the request; when it ends the request is routed from the head
 * its codec gives again (stream_ops.head) and its try starts. */
static void
test_fault_delay_routes_the_held_request_later(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/delayed");
    fake_start(&f);
    assert_true(f.q.fault_delayed);
    assert_null(f.q.up);
    assert_true(f.q.flags & RF_DI);
    fire(&f.q.timer);
    assert_false(f.q.fault_delayed);
    assert_non_null(f.q.up);
    assert_true(strncmp(try_head(&f), "GET /delayed HTTP/1.1\r\n", 23) == 0);
    assert_true(respond_head(&f, 200, 0));
    req_response_end(&f.q, true, NULL, 0);
    assert_string_equal(f.events, "head 200;end;done 0;");
    assert_true(f.done_flags & RF_DI);
    fake_close(&f);
}

static void
test_fault_abort_is_a_local_reply_flagged_fi(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/abort");
    fake_start(&f);
    assert_string_equal(f.events, "reply 429;done 0;");
    assert_string_equal(f.body, "fault filter abort");
    assert_true(f.done_flags & RF_FI);
    assert_null(f.q.up);
    fake_close(&f);
}

/* http2MaxRequests 1: a second request while the first is in flight overflows (503 UO);
 * once the first ends, a third is admitted. */
static void
test_max_requests_overflow_is_503_uo(void **state)
{
    (void)state;
    struct fake_conn a, b, c;
    fake_open(&a, "busy.test", "/");
    fake_start(&a);
    assert_non_null(a.q.up);
    fake_open(&b, "busy.test", "/");
    fake_start(&b);
    assert_string_equal(b.events, "reply 503;done 0;");
    assert_string_equal(b.body, "upstream connect error or disconnect/reset before headers. "
                                "reset reason: overflow");
    assert_true(b.done_flags & RF_UO);
    assert_true(respond_head(&a, 200, 0));
    req_response_end(&a.q, true, NULL, 0);
    assert_string_equal(a.events, "head 200;end;done 0;");
    fake_open(&c, "busy.test", "/");
    fake_start(&c);
    assert_non_null(c.q.up);
    assert_true(respond_head(&c, 204, 0));
    req_response_end(&c.q, true, NULL, 0);
    assert_string_equal(c.events, "head 204;end;done 0;");
    fake_close(&a);
    fake_close(&b);
    fake_close(&c);
}

/* Trailers are data of the request: a streamed body's trailers are kept (copied: the
 * codec's storage goes) for the next try, which sends the body again; the response's
 * trailers reach the client with its end. */
static void
test_trailers_are_kept_for_a_retry_and_reach_the_client(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/retry/stream");
    f.head.method = SLICE_LIT("POST");
    f.fields[2] = (struct h1_header){SLICE_LIT("transfer-encoding"), SLICE_LIT("chunked")};
    f.head.n_fields = 3;
    f.q.body = REQ_BODY_STREAM;
    fake_start(&f);
    assert_int_equal(req_body_data(&f.q, "hello", 5), 0);
    char name[] = "x-checksum", value[] = "abc123";
    struct h1_header t = {slice_make(name, strlen(name)), slice_make(value, strlen(value))};
    assert_int_equal(req_body_end(&f.q, &t, 1), 0);
    memset(name, 'z', strlen(name)); /* the codec's buffer moves on */
    memset(value, 'z', strlen(value));
    assert_non_null(strstr(try_head(&f), "\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    assert_int_equal(f.q.n_trailers, 1);
    assert_true(slice_eq(f.q.trailers[0].name, "x-checksum"));
    assert_true(slice_eq(f.q.trailers[0].value, "abc123"));

    assert_false(respond_head(&f, 500, 0));
    fire(&f.q.retry_wait);
    const char *second = try_head(&f);
    assert_non_null(strstr(second, "\r\nx-envoy-attempt-count: 2\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));

    assert_true(respond_head(&f, 200, 0));
    struct h1_header rt = {SLICE_LIT("grpc-status"), SLICE_LIT("0")};
    req_response_end(&f.q, true, &rt, 1);
    assert_string_equal(f.events, "head 200;end;done 0;");
    assert_string_equal(f.trailers, "grpc-status: 0\n");
    fake_close(&f);
}

/* A fake upstream codec: req_pump drives the try through upstream_ops (io, then deliver),
 * and deliver hands its scripted response over as a codec does. */
static int fake_io_calls;

static bool
fake_up_io(struct upstream *u, struct req *q)
{
    (void)u;
    (void)q;
    fake_io_calls++;
    return false;
}

static bool
fake_up_deliver(struct upstream *u, struct req *q)
{
    (void)u;
    if (!respond_head(fake_of(q), 200, 3)) return true;
    req_response_data(q, "abc", 3);
    req_response_end(q, false, NULL, 0);
    return true;
}

static void
test_pump_moves_the_response_through_upstream_ops(void **state)
{
    (void)state;
    struct fake_conn f;
    fake_open(&f, "svc.test", "/pumped");
    fake_start(&f);
    try_head(&f);
    struct upstream_ops ops = h1_upstream_ops;
    ops.io = fake_up_io;
    ops.deliver = fake_up_deliver;
    struct upstream *u = f.q.up;
    int fd = u->w.fd;
    u->ops = &ops;
    fake_io_calls = 0;
    assert_true(req_pump(&f.q));
    assert_int_equal(fake_io_calls, 1);
    assert_string_equal(f.events, "head 200;data 3;end;done 0;");
    assert_string_equal(f.body, "abc");
    assert_true(fd_closed(fd));   /* not reusable: closed, not parked */
    assert_false(req_pump(&f.q)); /* nothing left to move */
    fake_close(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_route_is_a_local_404_flagged_nr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_response_sends_status_and_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redirect_sends_code_and_location_keeping_the_query,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_to_cluster_forwards_the_response_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retry_on_503_starts_try_two_after_the_backoff, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retries_exhausted_send_the_last_503_flagged_urx, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connect_failure_without_retries_is_503_uf, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connect_failure_with_the_default_policy_is_retried,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_sends_the_kept_body_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_timeout_is_504_ut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_try_timeout_retries_then_504, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_delay_routes_the_held_request_later, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fault_abort_is_a_local_reply_flagged_fi, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max_requests_overflow_is_503_uo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailers_are_kept_for_a_retry_and_reach_the_client,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pump_moves_the_response_through_upstream_ops, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
