/* SPDX-License-Identifier: Apache-2.0 */
/* etcd's v3 API as its JSON gateway speaks it (etcd 3.4, `/v3/...` on the client port):
 * the bodies of the calls meshlet makes and the parsing of their answers. Keys and values
 * travel base64-encoded, 64-bit numbers as JSON strings. No I/O here (etcd_http.c moves the
 * bytes); parsing uses libfyaml, which reads JSON. [A] */
#ifndef MESHLET_CONTROL_ETCD_H
#define MESHLET_CONTROL_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

/* One key as a range or a watch event gives it; key and value decoded, borrowed for the
 * callback. */
struct etcd_kv {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    int64_t mod_revision;
    bool deleted; /* a watch's DELETE event: no value */
};

typedef void etcd_kv_fn(void *arg, const struct etcd_kv *kv);

/* Request bodies: every key under <prefix> (range_end: the prefix with its last byte + 1),
 * read at the store's current revision; a watch of them from <start_revision>. */
void etcd_range_body(struct strbuf *sb, const char *prefix);
void etcd_watch_body(struct strbuf *sb, const char *prefix, int64_t start_revision);

/* The one key <key>, or (<prefix>) every key starting with it, at the store's current
 * revision. */
void etcd_range_keys_body(struct strbuf *sb, const char *key, bool prefix);

/* One write of a transaction, guarded by the key's state as the writer read it: <expect> is
 * the mod_revision read (0: the key was absent, so it must still be, create_revision == 0). */
struct etcd_op {
    const char *key;   /* borrowed, NUL-terminated */
    const char *value; /* borrowed; NULL: delete the key */
    size_t value_len;
    int64_t expect;
};

/* A transaction: if every op's key is as expected, do every op (puts and deletes), else
 * read each op's key (so a refusal can say what changed). One revision for all of them. */
void etcd_txn_body(struct strbuf *sb, const struct etcd_op *ops, size_t n);

/* A transaction's answer: whether it succeeded, the store's revision after it, and when it
 * did not, each guarded key as it is now (<fn>, if any; an absent key is not reported).
 * 0, or -1 with the reason in <err>. */
int etcd_parse_txn(const char *json, size_t len, bool *succeeded, int64_t *revision, etcd_kv_fn *fn,
                   void *arg, char *err, size_t err_len);

/* A range answer: its revision and each key (<fn>). 0, or -1 with the reason in <err>
 * (also etcd's own error answer: {"error": ..., "code": ...}). */
int etcd_parse_range(const char *json, size_t len, int64_t *revision, etcd_kv_fn *fn, void *arg,
                     char *err, size_t err_len);

/* One message of a watch's stream. */
struct etcd_watch_msg {
    int64_t revision; /* the store's revision after its events */
    bool created;
    bool canceled;
    int64_t compact_revision; /* canceled because the start revision was compacted away */
    size_t n_events;
};

/* Parse one message; each event's key goes to <fn>. 0 or -1 with the reason in <err>. */
int etcd_parse_watch(const char *json, size_t len, struct etcd_watch_msg *m, etcd_kv_fn *fn,
                     void *arg, char *err, size_t err_len);

#endif
