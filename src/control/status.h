/* SPDX-License-Identifier: Apache-2.0 */
/* This instance's status in the store (`meshlet run --etcd`): the key
 * PREFIX/.status/<instance>, bound to a lease of its own and kept alive, so it goes when the
 * instance dies; its value (JSON) says the instance, its admin address, the store revision
 * and config version in force, the last refused reload's reason and when it was written.
 * Written at start and after every reload; `meshlet status` reads every instance's. All on
 * the main loop, one call at a time. [M] */
#ifndef MESHLET_CONTROL_STATUS_H
#define MESHLET_CONTROL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/etcd_http.h"
#include "control/reload.h"
#include "core/loop.h"
#include "core/strbuf.h"

#define STATUS_DIR ".status/" /* under the prefix: not config (etcd_source.c skips it) */

enum status_call { STATUS_NONE, STATUS_GRANT, STATUS_PUT, STATUS_KEEPALIVE };

struct etcd_status {
    struct loop *loop;                     /* borrowed */
    const struct reload *rl;               /* borrowed: what is in force */
    const struct etcd_endpoint *endpoints; /* borrowed (etcd_source's) */
    size_t n_endpoints, current;
    char *key;
    char instance[128], address[128];
    unsigned ttl_s;
    int64_t lease; /* 0: none granted (or it expired) */
    enum status_call call;
    bool stale; /* the value changed since it was last written */
    unsigned failures;
    struct etcd_http http;
    struct strbuf got;
    struct wheel_timer timer; /* the next keep-alive, or a retry */
    uint64_t keepalive_due;   /* when the lease needs its next keep-alive (a put renews none) */
    uint64_t writes;          /* values written (for tests) */
};

/* Start keeping PREFIX/.status/<instance> (lease of <ttl_s> seconds) for <rl>. <prefix> ends
 * with '/'. */
void etcd_status_start(struct etcd_status *st, struct loop *loop, const struct etcd_endpoint *eps,
                       size_t n_eps, const char *prefix, const char *instance, const char *address,
                       unsigned ttl_s, const struct reload *rl);

/* What is in force changed (a reload, refused or not): write the value again. */
void etcd_status_changed(struct etcd_status *st);

void etcd_status_fini(struct etcd_status *st);

#endif
