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
