/* SPDX-License-Identifier: Apache-2.0 */
/* inotify wrapper for config paths. */
#include "core/watch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/compiler.h"

#define WATCH_MASK                                                                                 \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF)

/* In a watched directory, only what the config loader reads counts: .yaml, .yml and .json
 * files and subdirectories, never hidden names (an editor's .x.swp, a tool's temporary
 * .config.yaml.new before it is renamed) nor notes.txt. The directory itself going away
 * (no name) counts, and so does "..data": a Kubernetes ConfigMap volume updates its
 * files by renaming that symlink to a new hidden directory (the kubelet's AtomicWriter),
 * while the visible config.yaml -> ..data/config.yaml links never change. */
static bool
config_name(const struct inotify_event *ev)
{
    if (!ev->len || !ev->name[0]) return true;
    if (!strcmp(ev->name, "..data")) return true;
    if (ev->name[0] == '.') return false;
    if (ev->mask & IN_ISDIR) return true;
    const char *dot = strrchr(ev->name, '.');
    return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") || !strcmp(dot, ".json"));
}

static bool
relevant(const struct watch *wt, const struct inotify_event *ev)
{
    for (size_t i = 0; i < wt->n; i++) {
        if (wt->items[i].wd != ev->wd) continue;
        if (!wt->items[i].name && config_name(ev)) return true;
        if (wt->items[i].name && ev->len && !strcmp(wt->items[i].name, ev->name)) return true;
    }
    return false;
}

static void
on_events(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct watch *wt = container_of(w, struct watch, w);
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool hit = false;
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof(buf));
        if (n <= 0) break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            hit |= relevant(wt, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
    if (hit) wt->changed(wt);
}

int
watch_init(struct watch *wt, struct loop *loop, void (*changed)(struct watch *wt))
{
    memset(wt, 0, sizeof(*wt));
    wt->loop = loop;
    wt->changed = changed;
    wt->w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (wt->w.fd < 0) return -errno;
    wt->w.cb = on_events;
    int rc = loop_add(loop, &wt->w, LOOP_IN);
    if (rc) {
        close(wt->w.fd);
        wt->w.fd = -1;
    }
    return rc;
}

int
watch_add(struct watch *wt, const char *path)
{
    struct stat st;
    if (stat(path, &st)) return -errno;
    bool dir = S_ISDIR(st.st_mode);
    char parent[4096];
    const char *name = NULL;
    if (dir) {
        snprintf(parent, sizeof(parent), "%s", path);
    } else {
        const char *slash = strrchr(path, '/');
        if (slash) {
            snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path) ? (int)(slash - path) : 1,
                     path);
            name = slash + 1;
        } else {
            snprintf(parent, sizeof(parent), ".");
            name = path;
        }
    }
    int wd = inotify_add_watch(wt->w.fd, parent, WATCH_MASK);
    if (wd < 0) return -errno;
    struct watch_item *items = realloc(wt->items, (wt->n + 1) * sizeof(*items));
    if (!items) return -ENOMEM;
    wt->items = items;
    items[wt->n].wd = wd;
    items[wt->n].name = name ? strdup(name) : NULL;
    if (name && !items[wt->n].name) return -ENOMEM;
    wt->n++;
    return 0;
}

void
watch_fini(struct watch *wt)
{
    if (wt->w.fd >= 0 && wt->loop) {
        loop_del(wt->loop, &wt->w);
        close(wt->w.fd);
    }
    wt->w.fd = -1;
    for (size_t i = 0; i < wt->n; i++) free(wt->items[i].name);
    free(wt->items);
    wt->items = NULL;
    wt->n = 0;
}
