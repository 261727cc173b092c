/* SPDX-License-Identifier: Apache-2.0 */
/* Config files as a source of reloads: the --config paths watched with inotify
 * (core/watch.c: .yaml, .yml, .json and directories), and their events left to settle so
 * that a tool writing several files reloads once. [M] */
#ifndef MESHLET_CONTROL_FILES_H
#define MESHLET_CONTROL_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/watch.h"
#include "core/wheel.h"

struct reload;

struct files {
    struct watch watch;
    struct wheel_timer settle; /* events settle before a reload */
    uint64_t first_event_ms;   /* of the batch waiting to settle; 0: none */
    struct loop *loop;         /* borrowed */
    struct reload *rl;         /* borrowed: what the files feed */
};

/* Make files_fini safe on <f> whether or not files_init ran. */
void files_zero(struct files *f);

/* Watch <paths> on <loop>: once their events settle, reload_run(<rl>) with its own source
 * and "config files changed" as the cause. 0 or -errno. */
int files_init(struct files *f, struct loop *loop, const char *const *paths, size_t n,
               struct reload *rl);
void files_fini(struct files *f);

#endif
