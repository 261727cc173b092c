/* SPDX-License-Identifier: Apache-2.0 */
/* Where `meshlet rollout` keeps a rollout's weights and state: the VirtualService's file
 * (rewritten atomically, the rest of it kept) with a state file and a lock file beside it,
 * or etcd (each weight one transaction guarded by the key's mod revision, the state under
 * PREFIX/.rollout/). */
#ifndef MESHLET_CLI_ROLLOUT_STORE_H
#define MESHLET_CLI_ROLLOUT_STORE_H

#include <stdbool.h>
#include <sys/types.h>

#include "cli/store.h"
#include "rollout/rollout.h"

struct rs_ctx {
    const char *vs_file; /* the file, or the store's document name */
    const char *vs_name, *vs_ns, *route;
    struct dest_ref edit[2]; /* stable, canary: hosts as the route writes them */
    char *state_path, *lock_path;
    int lock_fd;
    bool etcd;
    struct store st;
    char *vs_key, *state_key;
};

/* The store for `--etcd`, its config read (rs_etcd_docs). CLI_OK, CLI_USAGE or EXIT_STORE. */
int rs_etcd_open(struct rs_ctx *c, const char *urls, const char *prefix, const char *ca,
                 const char *cert, const char *key);
ssize_t rs_etcd_docs(struct rs_ctx *c, const struct source_doc **docs);

/* The store's operations for <plan> into <out>; <state_path> NULL for the default. */
int rs_open(struct rs_ctx *c, const struct rollout_plan *plan, const char *state_path,
            struct rollout_store *out);
void rs_fini(struct rs_ctx *c);

#endif
