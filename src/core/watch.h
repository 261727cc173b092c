/* SPDX-License-Identifier: Apache-2.0 */
/* inotify on config paths: a directory is watched whole, a file through its directory
 * (editors and kubectl-style tools replace files by renaming a new one over them). Only
 * finished writes count: a file closed after writing, moved in or out, created, deleted;
 * never a write in progress. In a directory only names the config loader reads count
 * (.yaml, .yml, .json, subdirectories; not hidden ones). [M] */
#ifndef MESHLET_CORE_WATCH_H
#define MESHLET_CORE_WATCH_H

#include <stddef.h>

#include "core/loop.h"

struct watch_item {
    int wd;
    char *name; /* the file watched in that directory; NULL: anything in it */
};

struct watch {
    struct loop_watch w;
    struct loop *loop;
    struct watch_item *items;
    size_t n;
    void (*changed)(struct watch *wt); /* once per batch of relevant events */
};

/* Start the inotify instance on <loop>. 0 or -errno. */
int watch_init(struct watch *wt, struct loop *loop, void (*changed)(struct watch *wt));

/* Watch <path> (a file or a directory). 0 or -errno. */
int watch_add(struct watch *wt, const char *path);

void watch_fini(struct watch *wt);

#endif
