/* SPDX-License-Identifier: Apache-2.0 */
/* A rollout's weights and state in files or in etcd (rollout_store.h). */
#include "cli/rollout_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli/cli.h"
#include "control/etcd.h"

#define WRITE_TRIES 5 /* etcd: a concurrent writer of the same key, read again */

static int
fail(char *err, size_t cap, const char *what, const char *path)
{
    snprintf(err, cap, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

/* ---- etcd ---- */

struct one_kv {
    char *value;
    size_t len;
    int64_t mod_revision;
    bool found;
};

static void
on_one(void *arg, const struct etcd_kv *kv)
{
    struct one_kv *o = arg;
    free(o->value);
    o->value = malloc(kv->value_len + 1);
    if (!o->value) return;
    memcpy(o->value, kv->value, kv->value_len);
    o->value[kv->value_len] = 0;
    o->len = kv->value_len;
    o->mod_revision = kv->mod_revision;
    o->found = true;
}

static int
etcd_get(struct rs_ctx *c, const char *key, struct one_kv *o, char *err, size_t cap)
{
    memset(o, 0, sizeof(*o));
    struct strbuf body, out;
    strbuf_init(&body, 1 << 16);
    strbuf_init(&out, STORE_ANSWER_MAX);
    etcd_range_keys_body(&body, key, false);
    int64_t rev = 0;
    int rc = store_call(&c->st, "/v3/kv/range", &body, &out) ? -1 : 0;
    if (rc) snprintf(err, cap, "etcd cannot be read");
    if (!rc && etcd_parse_range(strbuf_str(&out), out.len, &rev, on_one, o, err, cap)) rc = -1;
    strbuf_fini(&body);
    strbuf_fini(&out);
    return rc;
}

/* Put <value> at <key> if its mod revision is still <expect>: 1 done, 0 changed meanwhile. */
static int
etcd_put(struct rs_ctx *c, const char *key, const char *value, size_t len, int64_t expect,
         char *err, size_t cap)
{
    struct etcd_op op = {key, value, len, expect};
    struct strbuf body, out;
    strbuf_init(&body, STORE_ANSWER_MAX);
    strbuf_init(&out, STORE_ANSWER_MAX);
    etcd_txn_body(&body, &op, 1);
    bool ok = false;
    int64_t rev = 0;
    int rc = store_call(&c->st, "/v3/kv/txn", &body, &out) ? -1 : 0;
    if (rc) snprintf(err, cap, "etcd refused the write of %s", key);
    if (!rc && etcd_parse_txn(strbuf_str(&out), out.len, &ok, &rev, NULL, NULL, err, cap)) rc = -1;
    strbuf_fini(&body);
    strbuf_fini(&out);
    return rc ? -1 : ok;
}

int
rs_etcd_open(struct rs_ctx *c, const char *urls, const char *prefix, const char *ca,
             const char *cert, const char *key)
{
    c->etcd = true;
    c->lock_fd = -1;
    int rc = store_open(&c->st, "rollout", urls, prefix, ca, cert, key);
    if (!rc) rc = store_read(&c->st, c->st.prefix, false);
    return rc;
}

ssize_t
rs_etcd_docs(struct rs_ctx *c, const struct source_doc **docs)
{
    return store_docs(&c->st, docs);
}

/* ---- the operations ---- */

static int
edit(struct rs_ctx *c, const char *text, size_t len, int weight, struct strbuf *out, char *err,
     size_t cap)
{
    const int w[2] = {100 - weight, weight};
    return vs_edit_weights(text, len, c->vs_name, c->vs_ns, c->route, c->edit, w, 2, out, err, cap);
}

static int
write_weight(void *arg, int weight, char *err, size_t cap)
{
    struct rs_ctx *c = arg;
    struct strbuf out;
    strbuf_init(&out, 64u << 20);
    int rc = -1;
    if (!c->etcd) {
        size_t len = 0;
        char *text = cli_read_file(c->vs_file, &len);
        if (!text) {
            fail(err, cap, "cannot read", c->vs_file);
        } else if (!edit(c, text, len, weight, &out, err, cap)) {
            rc = vs_write_file(c->vs_file, out.data ? out.data : "", out.len, err, cap);
        }
        free(text);
    } else {
        for (int i = 0; i < WRITE_TRIES && rc < 0; i++) {
            struct one_kv o;
            if (etcd_get(c, c->vs_key, &o, err, cap)) break;
            if (!o.found) {
                snprintf(err, cap, "%s is gone from etcd", c->vs_key);
                break;
            }
            out.len = 0;
            if (!edit(c, o.value, o.len, weight, &out, err, cap)) {
                int put = etcd_put(c, c->vs_key, out.data ? out.data : "", out.len, o.mod_revision,
                                   err, cap);
                if (put == 1) rc = 0;
                if (put < 0) i = WRITE_TRIES;
                if (put == 0) snprintf(err, cap, "%s kept changing under us", c->vs_key);
            } else {
                i = WRITE_TRIES;
            }
            free(o.value);
        }
    }
    strbuf_fini(&out);
    return rc;
}

static int
read_weight(void *arg, int *weight, char *err, size_t cap)
{
    struct rs_ctx *c = arg;
    char *text = NULL;
    size_t len = 0;
    if (!c->etcd) {
        if (!(text = cli_read_file(c->vs_file, &len)))
            return fail(err, cap, "cannot read", c->vs_file);
    } else {
        struct one_kv o;
        if (etcd_get(c, c->vs_key, &o, err, cap)) return -1;
        if (!o.found) {
            snprintf(err, cap, "%s is gone from etcd", c->vs_key);
            return -1;
        }
        text = o.value;
        len = o.len;
    }
    int w[2];
    int rc = vs_read_weights(text, len, c->vs_name, c->vs_ns, c->route, c->edit, w, 2, err, cap);
    free(text);
    if (!rc) *weight = w[1];
    return rc;
}

static int
save(void *arg, const struct rollout_state *s, char *err, size_t cap)
{
    struct rs_ctx *c = arg;
    struct strbuf sb;
    strbuf_init(&sb, 1 << 16);
    rollout_state_json(s, &sb);
    int rc;
    if (!c->etcd) {
        rc = vs_write_file(c->state_path, sb.data, sb.len, err, cap);
    } else {
        struct one_kv o;
        rc = etcd_get(c, c->state_key, &o, err, cap);
        if (!rc)
            rc = etcd_put(c, c->state_key, sb.data, sb.len, o.mod_revision, err, cap) == 1 ? 0 : -1;
        free(o.value);
    }
    strbuf_fini(&sb);
    return rc;
}

static int
load(void *arg, struct rollout_state *s, char *err, size_t cap)
{
    struct rs_ctx *c = arg;
    char *text = NULL;
    size_t len = 0;
    if (!c->etcd) {
        if (!(text = cli_read_file(c->state_path, &len))) {
            if (errno == ENOENT) return 0;
            return fail(err, cap, "cannot read", c->state_path);
        }
    } else {
        struct one_kv o;
        if (etcd_get(c, c->state_key, &o, err, cap)) return -1;
        if (!o.found) return 0;
        text = o.value;
        len = o.len;
    }
    int rc = rollout_state_parse(text, len, s, err, cap) ? -1 : 1;
    free(text);
    return rc;
}

/* Files: an exclusive flock on the lock file. etcd: each write is guarded on its own. */
static int
lock(void *arg, char *err, size_t cap)
{
    struct rs_ctx *c = arg;
    if (c->etcd) return 0;
    if (c->lock_fd < 0) c->lock_fd = open(c->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->lock_fd < 0) return fail(err, cap, "cannot open", c->lock_path);
    while (flock(c->lock_fd, LOCK_EX))
        if (errno != EINTR) return fail(err, cap, "cannot lock", c->lock_path);
    return 0;
}

static void
unlock(void *arg)
{
    struct rs_ctx *c = arg;
    if (c->lock_fd >= 0) flock(c->lock_fd, LOCK_UN);
}

int
rs_open(struct rs_ctx *c, const struct rollout_plan *plan, const char *state_path,
        struct rollout_store *out)
{
    (void)plan;
    if (!c->etcd) c->lock_fd = -1;
    if (c->etcd) {
        size_t n = strlen(c->st.prefix) + strlen(c->vs_ns) + strlen(c->vs_name) + 32;
        c->vs_key = malloc(n);
        c->state_key = malloc(n);
        if (!c->vs_key || !c->state_key) return CLI_USAGE;
        snprintf(c->vs_key, n, "%sVirtualService/%s/%s", c->st.prefix, c->vs_ns, c->vs_name);
        snprintf(c->state_key, n, "%s.rollout/%s/%s", c->st.prefix, c->vs_ns, c->vs_name);
    } else if (state_path) {
        c->state_path = strdup(state_path);
    } else { /* beside the VirtualService's file: NS.NAME.rollout-state */
        const char *slash = strrchr(c->vs_file, '/');
        int dir = slash ? (int)(slash - c->vs_file + 1) : 0;
        size_t n = strlen(c->vs_file) + strlen(c->vs_ns) + strlen(c->vs_name) + 32;
        c->state_path = malloc(n);
        if (c->state_path)
            snprintf(c->state_path, n, "%.*s%s.%s.rollout-state", dir, c->vs_file, c->vs_ns,
                     c->vs_name);
    }
    if (!c->etcd) {
        if (!c->state_path) return CLI_USAGE;
        size_t n = strlen(c->state_path) + 8;
        c->lock_path = malloc(n);
        if (!c->lock_path) return CLI_USAGE;
        snprintf(c->lock_path, n, "%s.lock", c->state_path);
    }
    *out = (struct rollout_store){c, write_weight, read_weight, save, load, lock, unlock};
    return CLI_OK;
}

void
rs_fini(struct rs_ctx *c)
{
    if (c->lock_fd > 0) close(c->lock_fd);
    free(c->state_path);
    free(c->lock_path);
    free(c->vs_key);
    free(c->state_key);
    if (c->etcd) store_fini(&c->st);
}
