/* SPDX-License-Identifier: Apache-2.0 */
/* When the client-side timeouts of an HTTP/1.1 connection are due, Envoy's connection
 * manager's three: idle_timeout (no request in progress for that long: the connection is
 * closed), request_headers_timeout (a head must arrive whole within it, counted from its
 * first byte) and stream_idle_timeout (a request, or its response, that moves no byte
 * either way for that long), and what happens then, as Envoy does it.
 *
 * One wheel timer per connection, and a read or a write only stores the time: the timer
 * looks at the connection when it fires and sleeps again until the earliest deadline, but
 * never longer than the shortest timeout, so a deadline that starts later (a head begins)
 * is never missed and nothing is re-armed per request. */
#include "core/compiler.h"
#include "core/metric.h"
#include "core/now.h"
#include "http/h1_int.h"

/* <kind> is due at <base> + <ms> when it is on (<ms> > 0) and earlier than *<due>. */
static void
consider(enum h1_timeout kind, uint64_t base, uint64_t ms, uint64_t *due, enum h1_timeout *which)
{
    if (!ms || base + ms >= *due) return;
    *due = base + ms;
    *which = kind;
}

enum h1_timeout
h1_timeout_check(const struct proxy_options *o, const struct h1_timing *k, uint64_t now_ms,
                 uint64_t *next_ms)
{
    uint64_t due = UINT64_MAX;
    enum h1_timeout which = H1_TIMEOUT_NONE;
    if (!k->stream) {
        consider(H1_TIMEOUT_IDLE, k->active_ms, o->idle_timeout_ms, &due, &which);
    } else {
        /* A head that trickles in keeps the stream busy: only its own deadline stops it. */
        if (k->head)
            consider(H1_TIMEOUT_HEADERS, k->head_ms, o->request_headers_timeout_ms, &due, &which);
        consider(H1_TIMEOUT_STREAM, k->active_ms, o->stream_idle_timeout_ms, &due, &which);
    }
    if (which != H1_TIMEOUT_NONE && due <= now_ms) return which;
    uint64_t shortest = UINT64_MAX;
    const uint64_t all[] = {o->idle_timeout_ms, o->request_headers_timeout_ms,
                            o->stream_idle_timeout_ms};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        if (all[i] && all[i] < shortest) shortest = all[i];
    *next_ms = shortest == UINT64_MAX ? 0 : now_ms + shortest < due ? now_ms + shortest : due;
    return H1_TIMEOUT_NONE;
}

/* <what> is due on <c>: an idle connection is closed; a head not whole in time is
 * answered 408 (and the connection closes); a request that moved no byte for
 * stream_idle_timeout is answered 408 while it is still coming, 504 once it has all been
 * read (flag SI), and a response already begun is cut. */
static void
expire(struct h1_conn *c, enum h1_timeout what)
{
    struct worker *wk = c->base.wk;
    struct h1_exchange *ex = c->ex;
    if (what == H1_TIMEOUT_IDLE || !ex) { /* no request, or one not begun (pipelined) */
        metric_add(what == H1_TIMEOUT_IDLE ? &wk->cx.idle_timeout : &wk->cx.stream_timeout, 1);
        h1_conn_close(c);
        return;
    }
    metric_add(what == H1_TIMEOUT_HEADERS ? &wk->cx.header_timeout : &wk->cx.stream_timeout, 1);
    struct req *q = &ex->q;
    if (what == H1_TIMEOUT_STREAM) q->flags |= RF_SI;
    bool whole = q->started && (q->body == REQ_BODY_NONE || q->body_done);
    bool begun = q->resp_head; /* cut: what it still holds for the client may never go */
    h1_conn_abort(c, whole ? 504 : 408,
                  what == H1_TIMEOUT_HEADERS ? "request header timeout" : "stream timeout");
    if (begun && !c->base.closed) h1_conn_close(c);
}

static void
timing_of(const struct h1_conn *c, struct h1_timing *k)
{
    k->head = c->ex && !c->ex->q.started; /* an exchange is taken at the head's first byte */
    k->stream = c->ex || !buf_empty(&c->in) || !buf_empty(&c->out);
    k->active_ms = c->active_ms;
    k->head_ms = k->head ? c->ex->q.head_ms : 0;
}

static void
on_timer(struct wheel_timer *t)
{
    struct h1_conn *c = container_of(t, struct h1_conn, timer);
    struct h1_timing k;
    uint64_t now = now_ms(), next;
    timing_of(c, &k);
    enum h1_timeout due = h1_timeout_check(c->base.wk->opt, &k, now, &next);
    if (due != H1_TIMEOUT_NONE) {
        expire(c, due);
        if (c->base.closed) return;
        c->active_ms = now; /* it answered and goes on (504 after a whole request) */
        timing_of(c, &k);
        if (h1_timeout_check(c->base.wk->opt, &k, now, &next) != H1_TIMEOUT_NONE)
            next = now + WHEEL_TICK_MS; /* cannot be: every deadline starts from now */
    }
    if (next) wheel_arm(&c->base.wk->loop.wheel, &c->timer, next);
}

void
h1_timeout_start(struct h1_conn *c)
{
    c->active_ms = now_ms();
    c->timer.cb = on_timer;
    on_timer(&c->timer);
}
