/* SPDX-License-Identifier: Apache-2.0 */
/* An etcd prefix as the source of reloads (`meshlet run --etcd`): one range read at a
 * revision, then a watch of the prefix from the next one. Each key under the prefix,
 * PREFIX/<Kind>/<namespace>/<name>, holds one resource (YAML or JSON); keys whose first
 * segment starts with '.' (.status/) are not config. Changes settle for 100 ms (istiod's
 * debounce) and go through control/reload.c as one reload; a refused state keeps the last
 * good snapshot. When etcd goes away the watch resumes, with jittered back-off across the
 * endpoints, from the revision after the last one applied; a watch cancelled because that
 * revision was compacted away starts over with a full read. All on the main loop. [M] */
#ifndef MESHLET_CONTROL_ETCD_SOURCE_H
#define MESHLET_CONTROL_ETCD_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "control/etcd_http.h"
#include "control/reload.h"
#include "core/loop.h"
#include "core/strbuf.h"

struct etcd_entry {
    char *key;
    char *value;
    size_t value_len;
    int64_t mod_revision;
    char *name; /* the document's name in messages: KEY@MOD_REVISION */
};

enum etcd_source_state { ETCD_IDLE, ETCD_RANGE, ETCD_WATCH, ETCD_BACKOFF };

#define ETCD_SETTLE_MS 100 /* istiod's debounce: changes this close reload once */

struct etcd_source {
    struct loop *loop; /* borrowed */
    struct reload *rl; /* borrowed: what the store feeds */
    struct etcd_endpoint *endpoints;
    size_t n_endpoints, current;
    char *prefix;
    enum etcd_source_state state;
    struct etcd_http http;    /* the range, or the watch */
    struct strbuf got;        /* the range's answer; the watch's partial message */
    struct etcd_entry *items; /* sorted by key */
    size_t n_items, cap_items;
    struct etcd_entry *next_items; /* a range's answer, before it replaces <items> */
    size_t n_next, cap_next;
    int64_t revision;     /* the store revision <items> reflect */
    int64_t applied;      /* the revision of the config in force (0: none yet) */
    bool synced;          /* a first range has been read */
    bool dirty;           /* <items> changed since the last reload */
    bool watch_confirmed; /* the watch said created (a resumed one: no back-off reset yet) */
    unsigned failures;    /* in a row, for the back-off */
    uint64_t first_change_ms;
    uint64_t settle_ms; /* the debounce (--etcd-debounce; 0 before start: ETCD_SETTLE_MS) */
    struct wheel_timer settle, backoff;
    char last_error[512];
    struct reload_source source;  /* what reloads read (rl->store): docs of <items> */
    struct source_doc *docs;      /* owned array */
    uint64_t reloads, watch_msgs; /* for tests and /stats */
};

/* Parse "http://HOST:PORT[,http://...]" (the scheme may be left out) into <es>'s endpoints.
 * 0, or -1 with the reason in <err>. */
int etcd_source_endpoints(struct etcd_source *es, const char *urls, char *err, size_t err_len);

/* Set up <es> to follow <prefix> on <loop> and feed <rl> (rl->store is pointed at it).
 * Endpoints were parsed before. Starts reading at once. */
void etcd_source_start(struct etcd_source *es, struct loop *loop, const char *prefix,
                       struct reload *rl);

/* Run <es->loop> until the store holds resources no load has read yet: the first range
 * (the first load waits for it, as an Envoy waits for its first xDS answer, retrying with
 * back-off), or a change after a first load that was refused. An empty prefix is waited
 * on. */
void etcd_source_wait(struct etcd_source *es);

void etcd_source_fini(struct etcd_source *es);

#endif
