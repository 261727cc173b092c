/* SPDX-License-Identifier: Apache-2.0 */
/* Reload when the config files change: inotify events (core/watch.c says which count)
 * arm a settle timer; when it fires, the config is read again through control/reload.c.
 * Knows nothing of what a reload does. */
#include "control/files.h"

#include <string.h>

#include "control/reload.h"
#include "core/compiler.h"
#include "core/now.h"

/* File events settle for SETTLE_MS without a new one (at most SETTLE_MAX_MS after the
 * first) before the config is read again: a tool writing several files reloads once. */
#define SETTLE_MS 100
#define SETTLE_MAX_MS 1000

static void
on_settled(struct wheel_timer *t)
{
    struct files *f = container_of(t, struct files, settle);
    f->first_event_ms = 0;
    reload_run(f->rl, NULL, "config files changed", NULL);
}

static void
on_changed(struct watch *wt)
{
    struct files *f = container_of(wt, struct files, watch);
    uint64_t now = now_ms();
    if (!f->first_event_ms) f->first_event_ms = now;
    uint64_t due = now + SETTLE_MS;
    if (due > f->first_event_ms + SETTLE_MAX_MS) due = f->first_event_ms + SETTLE_MAX_MS;
    wheel_arm(&f->loop->wheel, &f->settle, due);
}

void
files_zero(struct files *f)
{
    memset(f, 0, sizeof(*f));
    f->watch.w.fd = -1;
}

int
files_init(struct files *f, struct loop *loop, const char *const *paths, size_t n,
           struct reload *rl)
{
    f->loop = loop;
    f->rl = rl;
    f->settle.cb = on_settled;
    int rc = watch_init(&f->watch, loop, on_changed);
    for (size_t i = 0; !rc && i < n; i++) rc = watch_add(&f->watch, paths[i]);
    return rc;
}

void
files_fini(struct files *f)
{
    if (f->loop) wheel_disarm(&f->loop->wheel, &f->settle);
    watch_fini(&f->watch);
}
