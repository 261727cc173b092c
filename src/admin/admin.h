/* SPDX-License-Identifier: Apache-2.0 */
/* The admin server on loopback, on the main thread: /ready, /healthz, /clusters and
 * /stats. One request per connection. [M] */
#ifndef MESHLET_ADMIN_ADMIN_H
#define MESHLET_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/strbuf.h"
#include "http/worker.h"

struct admin {
    struct loop_watch w;    /* listening socket */
    struct loop *loop;      /* borrowed: the main loop */
    struct worker *workers; /* borrowed */
    size_t n_workers;
    struct snapshot *snap; /* borrowed: the live snapshot */
    bool ready;            /* listeners up and config loaded; false while draining */
    uint64_t reloads_ok, reloads_failed;
    uint64_t started_ms; /* monotonic, for uptime */
    /* Reload the config (POST /reload): 0 or -1, with what happened in <out>. */
    int (*reload)(void *arg, struct strbuf *out);
    void *reload_arg;
};

/* The workers' metric shards into <out> (at most <cap>); how many. */
struct metrics_shard;
size_t admin_shards(const struct admin *a, struct metrics_shard **out, size_t cap);

/* Listen on <addr>. 0 or -errno. */
int admin_init(struct admin *a, struct loop *loop, const struct sockaddr *addr, socklen_t len);
void admin_fini(struct admin *a);

#endif
