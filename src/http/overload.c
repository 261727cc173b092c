/* SPDX-License-Identifier: Apache-2.0 */
/* Refusing client connections the proxy cannot hold: the connection limit, the reserve file
 * descriptor for when accept() runs out of them, and the answer those connections get. It
 * does not decide when accepting pauses and resumes (worker.c).
 *
 * Out of fds, a worker closes its reserve, accepts into the freed slot, answers, and puts a
 * duplicate back in that slot with dup3(), which replaces the socket in one step: no other
 * thread can take the slot between the close of the socket and the new reserve. While fds
 * are short, accept() itself is serialized across workers, so one worker's accept does not
 * take the slot another freed for its refusal; nothing else waits on that lock. */
#include "http/overload.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metric.h"
#include "core/now.h"
#include "core/sock.h"
#include "http/worker.h"

#define LOG_EVERY_MS 10000
#define PRESSURE_MS 1000 /* accepts stay serialized this long after fds last ran out */

/* File descriptors are the process's, so this is too. */
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t pressure_until_ms;

/* Envoy's answer when its overload manager stops requests. */
static const char overloaded[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                 "content-length: 16\r\n"
                                 "content-type: text/plain\r\n"
                                 "server: meshlet\r\n"
                                 "x-envoy-overloaded: true\r\n"
                                 "connection: close\r\n"
                                 "\r\n"
                                 "envoy overloaded";

int
overload_reserve_open(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

bool
overload_admit(const struct worker *wk)
{
    const struct proxy_options *o = wk->opt;
    return !o->max_connections || !o->downstream_cx ||
           atomic_load_explicit(o->downstream_cx, memory_order_relaxed) < o->max_connections;
}

/* Whether <wl> speaks plain-text HTTP from the first byte (no TLS, no sniffing; not a TCP
 * or TLS-passthrough port, whose clients would read the answer as their protocol's bytes). */
static bool
plain_http(const struct worker_listener *wl)
{
    const struct model_listener *ml = wl->ml;
    return ml->kind == MODEL_LISTENER_HTTP && !ml->tls_ext &&
           (!ml->inbound || ml->peer_mode == MODEL_PEER_DISABLE);
}

/* Answer 503 where the client understands it; the caller closes <fd>. */
static void
answer(const struct worker_listener *wl, int fd)
{
    if (!plain_http(wl) || send(fd, overloaded, sizeof(overloaded) - 1,
                                MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(overloaded) - 1)
        return;
    /* Read what the request sent already, so the close is a FIN: a reset would let the
     * client's kernel drop the answer. Bounded: this is one connection of a flood. */
    char sink[2048];
    for (int i = 0; i < 4 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++) {
    }
}

/* " (N refused since the last message)" when some were, else "" (a thread's buffer). */
static const char *
since_last(uint64_t held)
{
    static _Thread_local char text[64];
    if (!held) return "";
    snprintf(text, sizeof(text), " (%llu refused since the last message)",
             (unsigned long long)held);
    return text;
}

void
overload_refuse(struct worker_listener *wl, int fd)
{
    static struct log_limit said;
    struct worker *wk = wl->wk;
    metric_add(&wk->cx.overflow, 1);
    answer(wl, fd);
    close(fd);
    uint64_t held;
    if (log_limit_pass(&said, now_ms(), LOG_EVERY_MS, &held))
        log_msg(LOG_WARNING,
                "%zu client connections open, the --max-connections limit: refusing new ones "
                "with 503%s",
                wk->opt->max_connections, since_last(held));
}

/* Out of fds (<err>): take the next connection in the reserve's slot and refuse it. Under
 * fd_lock. */
static int
shed(struct worker_listener *wl, int err)
{
    static struct log_limit said;
    struct worker *wk = wl->wk;
    if (wk->reserve_fd < 0) return err;
    close(wk->reserve_fd);
    struct sockaddr_storage peer;
    socklen_t len;
    int fd = sock_accept(wl->w.fd, &peer, &len);
    if (fd < 0) {
        wk->reserve_fd = overload_reserve_open();
        if (fd == -EMFILE || fd == -ENFILE) return err; /* another fd took the slot */
        return fd == -EAGAIN ? fd : -ECONNABORTED;      /* none waits, or it left: go on */
    }
    metric_add(&wk->cx.fd_exhausted, 1);
    answer(wl, fd);
    wk->reserve_fd = dup3(wk->mail.fd, fd, O_CLOEXEC); /* closes the socket, keeps the slot */
    if (wk->reserve_fd < 0) close(fd);
    uint64_t held;
    if (log_limit_pass(&said, now_ms(), LOG_EVERY_MS, &held))
        log_msg(LOG_WARNING,
                "out of file descriptors (%s): refusing new connections with 503%s; raise the "
                "open-file limit or lower --max-connections",
                strerror(-err), since_last(held));
    return -ECONNABORTED;
}

int
overload_accept(struct worker_listener *wl, struct sockaddr_storage *peer, socklen_t *len)
{
    struct worker *wk = wl->wk;
    bool locked = now_ms() < atomic_load_explicit(&pressure_until_ms, memory_order_relaxed);
    if (locked) {
        pthread_mutex_lock(&fd_lock);
        if (wk->reserve_fd < 0) wk->reserve_fd = overload_reserve_open(); /* before a client */
    }
    int fd = sock_accept(wl->w.fd, peer, len);
    if (fd == -EMFILE || fd == -ENFILE) {
        atomic_store_explicit(&pressure_until_ms, now_ms() + PRESSURE_MS, memory_order_relaxed);
        if (!locked) pthread_mutex_lock(&fd_lock);
        locked = true;
        fd = shed(wl, fd);
    }
    if (locked) pthread_mutex_unlock(&fd_lock);
    return fd;
}
