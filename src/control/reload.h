/* SPDX-License-Identifier: Apache-2.0 */
/* The one way a config comes into force: load (files, or documents held in memory) ->
 * check (as `meshlet check`) -> build the snapshot -> attach its TLS contexts -> publish.
 * Any failure leaves the snapshot in force as it was. The first load (at start) and every
 * reload (inotify, SIGHUP, POST /reload, later a config store) go through reload_run. [M] */
#ifndef MESHLET_CONTROL_RELOAD_H
#define MESHLET_CONTROL_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/source.h"
#include "core/strbuf.h"
#include "model/model.h"

struct tls_identity;
struct reload;
struct resource_set;

/* Where a config is read from: <n_docs> in-memory documents when there are any, else
 * <paths> (files and directories). Borrowed for the call. */
struct reload_source {
    const char *const *paths;
    size_t n_paths;
    const struct source_doc *docs;
    size_t n_docs;
    int64_t revision; /* the config store's revision these documents are (0: files) */
    bool store;       /* from a config store: an empty set of documents is a config too */
};

/* After every reload (not the first load): <snap> is the new snapshot in force (borrowed:
 * the reload keeps its reference; whoever serves it acquires their own), called before
 * the old one is released; or NULL when the reload was refused and rl->snap stays. */
typedef void reload_done_fn(struct reload *rl, struct snapshot *snap, void *arg);

struct reload {
    /* Set by the caller before the first reload_run, then left alone. */
    struct reload_source source; /* the default source (--config paths) */
    const char *ns;              /* resources without a namespace go there */
    const char *const *gateways; /* --gateway NS/NAME: each must be in the first config */
    size_t n_gateways;
    struct model_options mopt;           /* the same for every build */
    const struct tls_identity *identity; /* borrowed: --identity, or NULL */
    reload_done_fn *done;                /* NULL: nothing to tell */
    void *done_arg;
    /* A config store that keeps its documents current (etcd_source.c): reloads without a
     * source of their own (SIGHUP, POST /reload) read what it holds now. NULL: <source>. */
    const struct reload_source *(*store)(void *arg);
    void *store_arg;
    /* Kept by reload_run. */
    struct snapshot *snap;    /* acquired: the snapshot in force (NULL before the first load) */
    struct resource_set *set; /* owned: the checked resources it was built from, when it
                               * has DNS endpoints (NULL otherwise) */
    uint64_t n_ok, n_failed;  /* reloads after the first load */
    int64_t revision;         /* the store revision in force (0: files) */
    char last_error[512];     /* the last refused reload's first reason ("" after a success) */
};

/* The outcome of reload_run. */
enum reload_result {
    RELOAD_OK = 0,
    RELOAD_ERRORS = -1, /* the config has errors (`meshlet check` says which), or cannot be
                           built */
    RELOAD_USAGE = -2,  /* unreadable paths, an unknown --gateway, TLS files that do not load:
                           what `meshlet run` exits 2 for at start */
};

/* Load the config from <src> (NULL: rl->source), check, build, attach TLS and, when all
 * went well, make it the snapshot in force (rl->snap) and publish it (rl->done). <why>
 * names the cause in the log ("SIGHUP"); NULL for the first load, which logs every message
 * `meshlet check` prints and calls no rl->done. A reload that fails logs its reasons and
 * keeps rl->snap. When
 * <out> is not NULL it receives what happened (the reasons, the version in force). */
enum reload_result reload_run(struct reload *rl, const struct reload_source *src, const char *why,
                              struct strbuf *out);

/* Build the config in force again, as it was loaded and checked (nothing is read): a DNS
 * answer changed what its names resolve to. A config on disk or in the store that was since
 * broken does not stop it. Before any load, or after one that kept nothing, reload_run. */
enum reload_result reload_rebuild(struct reload *rl, const char *why);

/* Release the snapshot in force. */
void reload_fini(struct reload *rl);

#endif
