/* SPDX-License-Identifier: Apache-2.0 */
/* The byte relay under TCP routes and HTTP upgrades. Each direction reads its source only
 * while its buffer has room (one worker block, 16 KiB), so back-pressure is the sockets'
 * own; an empty buffer goes back to the worker's blocks, so an idle tunnel holds none. */
#include "http/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/loop.h"
#include "core/now.h"
#include "http/conn.h"
#include "http/peer_metadata.h"
#include "http/upstream.h"
#include "http/worker.h"

#define TUNNEL_PRELOAD_MAX 65536
/* The most a direction's pipe holds before its destination must take some (the kernel's
 * default pipe size: 16 pages). */
#define PIPE_BYTES 65536

/* This worker's spare pipes: a tunnel holds one only while bytes sit in it, so idle
 * connections hold none, and a busy worker reuses them without a syscall. */
#define SPARE_PIPES 32
static _Thread_local int spare_pipes[SPARE_PIPES][2];
static _Thread_local size_t n_spare_pipes;

static bool
pipe_take(struct tunnel_dir *d)
{
    if (d->pipe[0] >= 0) return true;
    if (n_spare_pipes) {
        n_spare_pipes--;
        d->pipe[0] = spare_pipes[n_spare_pipes][0];
        d->pipe[1] = spare_pipes[n_spare_pipes][1];
        return true;
    }
    return pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) == 0 || (d->pipe[0] = d->pipe[1] = -1, false);
}

/* Give an empty pipe back (a pipe with bytes in it is closed: they are lost anyway). */
static void
pipe_give(struct tunnel_dir *d)
{
    if (d->pipe[0] < 0) return;
    if (!d->pipe_bytes && n_spare_pipes < SPARE_PIPES) {
        spare_pipes[n_spare_pipes][0] = d->pipe[0];
        spare_pipes[n_spare_pipes][1] = d->pipe[1];
        n_spare_pipes++;
    } else {
        close(d->pipe[0]);
        close(d->pipe[1]);
    }
    d->pipe[0] = d->pipe[1] = -1;
    d->pipe_bytes = 0;
}

static void pump(struct tunnel *t);

static void
on_up_event(struct upstream *u)
{
    struct tunnel *t = u->user;
    if (u->in_ready) t->to_down.ready = true;
    if (u->hup) t->to_down.hup = true;
    u->in_ready = false;
    pump(t);
}

/* Only the event op is used: the connection is no request's any more. */
static const struct upstream_ops tunnel_up_ops = {.event = on_up_event};

static void
arm(struct tunnel *t)
{
    uint64_t at = UINT64_MAX;
    if (t->lim.idle_timeout_ms) at = t->active_ms + t->lim.idle_timeout_ms;
    if (t->lim.max_duration_ms && t->started_ms + t->lim.max_duration_ms < at)
        at = t->started_ms + t->lim.max_duration_ms;
    if (at != UINT64_MAX) wheel_arm(&t->wk->loop.wheel, &t->timer, at);
}

static void
release(struct tunnel *t)
{
    t->ended = true;
    wheel_disarm(&t->wk->loop.wheel, &t->timer);
    worker_buf_drop(t->wk, &t->to_up.buf);
    worker_buf_drop(t->wk, &t->to_down.buf);
    pipe_give(&t->to_up);
    pipe_give(&t->to_down);
    if (t->up) {
        t->up->user = NULL;
        upstream_close(t->up);
        t->up = NULL;
    }
}

static void
finish(struct tunnel *t, enum tunnel_end why)
{
    release(t);
    t->end(t, why); /* may free t */
}

/* The idle timeout is checked lazily: a byte moved only stores the time, and the timer,
 * when it fires early, is armed again for what is left. */
static void
on_timer(struct wheel_timer *w)
{
    struct tunnel *t = container_of(w, struct tunnel, timer);
    uint64_t now = now_ms();
    if (t->lim.max_duration_ms && now >= t->started_ms + t->lim.max_duration_ms) {
        finish(t, TUNNEL_MAX_DURATION);
        return;
    }
    if (t->lim.idle_timeout_ms && now >= t->active_ms + t->lim.idle_timeout_ms) {
        finish(t, TUNNEL_IDLE_TIMEOUT);
        return;
    }
    arm(t);
}

int
tunnel_start(struct tunnel *t, struct worker *wk, struct conn *down, struct upstream *up,
             const struct tunnel_limits *lim, tunnel_end_cb *end)
{
    memset(t, 0, sizeof(*t));
    t->wk = wk;
    t->down = down;
    t->up = up;
    t->lim = *lim;
    t->end = end;
    buf_init_empty(&t->to_up.buf, TUNNEL_PRELOAD_MAX);
    buf_init_empty(&t->to_down.buf, TUNNEL_PRELOAD_MAX);
    t->to_up.pipe[0] = t->to_up.pipe[1] = t->to_down.pipe[0] = t->to_down.pipe[1] = -1;
    t->splice = down->xprt == &sock_xprt && up->xprt == &sock_xprt;
    /* Whatever the sockets hold now is read on the first pump. */
    t->to_up.ready = t->to_down.ready = true;
    t->to_down.hup = up->hup;
    wheel_disarm(&wk->loop.wheel, &up->timer); /* its pool's idle timeout is not ours */
    up->ops = &tunnel_up_ops;
    up->owner = NULL;
    up->user = t;
    up->in_ready = false;
    t->started_ms = t->active_ms = now_ms();
    t->timer.cb = on_timer;
    arm(t);
    return 0;
}

int
tunnel_preload(struct tunnel *t, bool to_up, const void *p, size_t n)
{
    struct buf *b = to_up ? &t->to_up.buf : &t->to_down.buf;
    if (!n) return 0;
    worker_buf_ensure(t->wk, b);
    return buf_append(b, p, n) ? -1 : 0;
}

/* One read from the source into the direction's buffer, within the storage it has: 1 on
 * progress (bytes or the end of stream), 0 when nothing came or there is no room, -1 on an
 * error. */
static int
read_some(struct tunnel *t, struct tunnel_dir *d, int fd, const struct xprt_ops *x, void *xs)
{
    struct buf *b = &d->buf;
    if (!b->data) {
        worker_buf_ensure(t->wk, b);
        if (!b->data) return -1;
    }
    if (b->wr == b->cap && b->rd) buf_reserve(b, b->rd); /* compacts: never grows */
    size_t room = b->cap - b->wr;
    if (!room) return 0;
    ssize_t n = x->read(xs, fd, b->data + b->wr, room);
    if (n > 0) {
        b->wr += (size_t)n;
        d->bytes += (uint64_t)n;
        if ((size_t)n == room) d->bulk = true; /* a full read: splice from now on */
        if (!x->record_reads && (size_t)n < room && !d->hup) d->ready = false;
        return 1;
    }
    if (n == 0) {
        d->eof = true;
        d->ready = false;
        return 1;
    }
    if (n == -EAGAIN) {
        d->ready = false;
        return 0;
    }
    return -1;
}

/* The end of stream of direction <d> goes on to its destination: a shutdown, unless the
 * other direction is over too, when the close that follows at once says the same with one
 * call less (plain text only: TLS sends its close_notify first). */
static void
pass_end(struct tunnel *t, struct tunnel_dir *d, int fd, const struct xprt_ops *x, void *xs)
{
    d->shut = true;
    const struct tunnel_dir *other = d == &t->to_up ? &t->to_down : &t->to_up;
    if (other->shut && x == &sock_xprt) return;
    x->shutdown(xs, fd); /* an error shows on the next read or write */
}

/* Write what <d> holds to the destination: 1 on progress, 0 when it must wait, -1 on an
 * error. Its end of stream follows once the buffer is empty. */
static int
write_some(struct tunnel *t, struct tunnel_dir *d, int fd, const struct xprt_ops *x, void *xs)
{
    int progress = 0;
    if (!buf_empty(&d->buf)) {
        ssize_t n = x->write(xs, fd, buf_head(&d->buf), buf_len(&d->buf));
        if (n > 0) {
            buf_consume(&d->buf, (size_t)n);
            progress = 1;
        } else if (n != -EAGAIN) {
            return -1;
        }
    }
    if (buf_empty(&d->buf)) {
        worker_buf_shed(t->wk, &d->buf);
        if (d->eof && !d->shut) {
            pass_end(t, d, fd, x, xs);
            progress = 1;
        }
    }
    return progress;
}

/* The splice path of one direction (both sides plain, nothing left in its buffer): source
 * -> pipe -> destination. 1 on progress, 0 when it must wait, -1 on an error of the source
 * (*src_err) or the destination. An EAGAIN from the source with bytes in the pipe may mean
 * the pipe has no slot left rather than a drained socket: the source stays ready until an
 * EAGAIN with an empty pipe says so. */
static int
splice_some(struct tunnel *t, struct tunnel_dir *d, int from, int to, bool *src_err)
{
    int progress = 0;
    *src_err = false;
    if (d->ready && !d->eof && d->pipe_bytes < PIPE_BYTES) {
        ssize_t n = splice(from, NULL, d->pipe[1], NULL, PIPE_BYTES - d->pipe_bytes,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            d->pipe_bytes += (size_t)n;
            d->bytes += (uint64_t)n;
            progress = 1;
        } else if (n == 0) {
            d->eof = true;
            d->ready = false;
            progress = 1;
        } else if (errno == EAGAIN) {
            if (!d->pipe_bytes) d->ready = false;
        } else {
            *src_err = true;
            return -1;
        }
    }
    if (d->pipe_bytes) {
        ssize_t n =
            splice(d->pipe[0], NULL, to, NULL, d->pipe_bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            d->pipe_bytes -= (size_t)n;
            progress = 1;
        } else if (n < 0 && errno != EAGAIN) {
            return -1;
        }
    }
    if (!d->pipe_bytes) {
        pipe_give(d);
        if (d->eof && !d->shut) {
            pass_end(t, d, to, &sock_xprt, NULL);
            progress = 1;
        }
    }
    return progress;
}

/* The exchange <d>'s source sends first (tunnel_dir.prefix), once all of it is in the
 * buffer, goes to the owner; one too long to read, or cut short by the end of stream, is
 * dropped (no one's bytes). true while nothing may go on yet. A readable one fits a buffer
 * block: PEER_EXCHANGE_MAX is below one. */
static bool
take_prefix(struct tunnel *t, struct tunnel_dir *d)
{
    struct buf *b = &d->buf;
    if (d->prefix) {
        const unsigned char *p = (const unsigned char *)buf_head(b);
        int64_t n = peer_exchange_length(p, buf_len(b)); /* 0: no header yet; -1: not one */
        bool too_long = n - 8 > PEER_EXCHANGE_MAX;
        bool wait = n == 0 || (n > 0 && !too_long && (uint64_t)n > buf_len(b));
        if (wait && !d->eof) return true;
        tunnel_prefix_cb *cb = d->prefix;
        d->prefix = NULL;
        if (n > 0 && !wait && !too_long) {
            d->bytes -= (uint64_t)n; /* before the owner reports them */
            cb(t, p + 8, (size_t)n - 8);
            buf_consume(b, (size_t)n);
            return false;
        }
        if (n > 0) d->skip = wait ? buf_len(b) : (uint64_t)n;
        cb(t, NULL, 0); /* fewer bytes than a header, or another magic: they go on */
    }
    size_t k = buf_len(b) < d->skip ? buf_len(b) : (size_t)d->skip;
    buf_consume(b, k);
    d->bytes -= k;
    d->skip -= k;
    return d->skip && !d->eof;
}

/* Move what can be moved in direction <d>, from <from> to <to>: 1 on progress, 0 when it
 * must wait, -1 on an error of the source (*src_err) or of the destination. */
static int
move(struct tunnel *t, struct tunnel_dir *d, const struct xprt_ops *fx, void *fs, int from,
     const struct xprt_ops *tx, void *ts, int to, bool *src_err)
{
    *src_err = false;
    /* A pipe that holds bytes is emptied first, even once splicing stopped (the other
     * direction found no pipe): bytes read later must not pass it. */
    if (d->pipe[0] >= 0 || (t->splice && d->bulk && buf_empty(&d->buf))) {
        if (d->pipe[0] >= 0 || pipe_take(d)) return splice_some(t, d, from, to, src_err);
        t->splice = false; /* out of pipes: through user space from now on */
    }
    int p = 0, r;
    if (!(t->splice && d->bulk) && d->ready && !d->eof) { /* spliced: only empty the buffer */
        if ((r = read_some(t, d, from, fx, fs)) < 0) {
            *src_err = true;
            return -1;
        }
        p |= r;
    }
    if ((d->prefix || d->skip) && take_prefix(t, d)) return p;
    if ((r = write_some(t, d, to, tx, ts)) < 0) return -1;
    return p | r;
}

static void
pump(struct tunnel *t)
{
    if (t->ended || t->in_pump) return;
    t->in_pump = true;
    struct conn *c = t->down;
    struct upstream *u = t->up;
    const struct xprt_ops *dx = c->xprt, *ux = u->xprt;
    void *ds = c->tls, *us = u->tls;
    int dfd = c->w.fd, ufd = u->w.fd;
    enum tunnel_end why = TUNNEL_DONE;
    bool moved = false, src_err;
    /* Until nothing moves, as nginx's stream proxy does: each turn is bounded by the
     * sockets' buffers, and with edge-triggered readiness a turn left undone would wait
     * for an event that may never come. */
    for (;;) {
        int p = 0, r;
        if ((r = move(t, &t->to_up, dx, ds, dfd, ux, us, ufd, &src_err)) < 0) {
            why = src_err ? TUNNEL_DOWN_RESET : TUNNEL_UP_RESET;
            goto end;
        }
        p |= r;
        if ((r = move(t, &t->to_down, ux, us, ufd, dx, ds, dfd, &src_err)) < 0) {
            why = src_err ? TUNNEL_UP_RESET : TUNNEL_DOWN_RESET;
            goto end;
        }
        p |= r;
        moved |= p != 0;
        if (t->to_up.shut && t->to_down.shut) goto end;
        if (!p) break;
    }
    t->in_pump = false;
    if (moved) {
        t->active_ms = now_ms();
        if (t->moved) t->moved(t);
    }
    return;
end:
    t->in_pump = false;
    if (moved && t->moved) t->moved(t);
    finish(t, why);
}

void
tunnel_down_event(struct tunnel *t, unsigned events)
{
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR)) t->to_up.ready = true;
    if (events & LOOP_RDHUP) t->to_up.hup = true;
    pump(t);
}

void
tunnel_close(struct tunnel *t)
{
    if (!t->ended) release(t);
}
