/* SPDX-License-Identifier: Apache-2.0 */
/* Upstream connections: non-blocking connect, the connect result, and the life of a
 * connection parked in its worker's keep-alive pool (closed when the server closes it). */
#include <stdlib.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/sock.h"
#include "http/h1_int.h"
#include "lb/outlier.h"

static void
on_io(struct loop_watch *w, unsigned events)
{
    struct upstream *u = container_of(w, struct upstream, w);
    if (!u->connected && (events & (LOOP_OUT | LOOP_ERR | LOOP_HUP))) {
        if (!(events & (LOOP_ERR | LOOP_HUP)) && sock_error(u->w.fd) == 0) {
            u->connected = true;
            if (u->cluster->outlier.split) /* clears local-origin failures */
                outlier_local(u->cluster, u->endpoint, OUTLIER_CONNECT_OK, 0);
        } else {
            u->failed = true;
        }
    }
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR)) u->in_ready = true;
    if (u->shadow) {
        shadow_io(u->shadow);
        return;
    }
    if (u->owner) {
        h1_conn_pump(u->owner);
        return;
    }
    /* Idle: the server closed it (or sent bytes nobody asked for). */
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR)) {
        worker_unlink_idle(u->wk, u);
        upstream_close(u);
    }
}

struct upstream *
upstream_open(struct worker *wk, const struct model_cluster *c, size_t ep)
{
    const struct model_endpoint *e = &c->endpoints[ep];
    int fd = sock_connect((const struct sockaddr *)&e->addr, e->addr_len);
    if (fd < 0) return NULL;
    struct upstream *u = calloc(1, sizeof(*u));
    if (!u) goto fail_fd;
    buf_init_empty(&u->in, 1 << 20); /* storage from the worker's blocks while in use */
    buf_init_empty(&u->out, 1 << 20);
    u->w.fd = fd;
    u->w.cb = on_io;
    u->wk = wk;
    u->cluster = c;
    u->endpoint = ep;
    if (loop_add(&wk->loop, &u->w, LOOP_IN | LOOP_OUT)) goto fail_u;
    return u;
fail_u:
    free(u);
fail_fd:
    close(fd);
    return NULL;
}

void
upstream_close(struct upstream *u)
{
    loop_kill(&u->wk->loop, &u->w);
    buf_fini(&u->in);
    buf_fini(&u->out);
    worker_defer_free(u->wk, u);
}
