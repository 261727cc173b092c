/* SPDX-License-Identifier: Apache-2.0 */
/* See etcd.h. Answers are small JSON documents (a range of a large config is one big one);
 * libfyaml builds each as a tree that is walked once and dropped. */
#include "control/etcd.h"

#include <inttypes.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "config/field.h"
#include "config/source.h"

static void
b64(struct strbuf *sb, const char *p, size_t n)
{
    char *out = malloc(base64_encoded_len(n) + 1);
    if (!out) {
        sb->truncated = true;
        return;
    }
    base64_encode(p, n, out);
    strbuf_puts(sb, out);
    free(out);
}

/* "key":"...","range_end":"..." for every key under <prefix>. */
static void
prefix_range(struct strbuf *sb, const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = malloc(n + 1);
    if (!end) {
        sb->truncated = true;
        return;
    }
    memcpy(end, prefix, n + 1);
    /* The smallest key past every one starting with <prefix>: its last byte below 0xff
     * incremented, the bytes after it dropped ("\0": to the end of the keyspace). */
    size_t k = n;
    while (k && (unsigned char)end[k - 1] == 0xff) k--;
    strbuf_puts(sb, "\"key\":\"");
    b64(sb, prefix, n);
    strbuf_puts(sb, "\",\"range_end\":\"");
    if (k) {
        end[k - 1]++;
        b64(sb, end, k);
    } else {
        b64(sb, "", 1);
    }
    strbuf_puts(sb, "\"");
    free(end);
}

void
etcd_range_body(struct strbuf *sb, const char *prefix)
{
    strbuf_puts(sb, "{");
    prefix_range(sb, prefix);
    strbuf_puts(sb, "}");
}

void
etcd_watch_body(struct strbuf *sb, const char *prefix, int64_t start_revision)
{
    strbuf_puts(sb, "{\"create_request\":{");
    prefix_range(sb, prefix);
    strbuf_printf(sb, ",\"start_revision\":\"%" PRId64 "\"}}", start_revision);
}

void
etcd_range_keys_body(struct strbuf *sb, const char *key, bool prefix)
{
    if (prefix) {
        etcd_range_body(sb, key);
        return;
    }
    strbuf_puts(sb, "{\"key\":\"");
    b64(sb, key, strlen(key));
    strbuf_puts(sb, "\"}");
}

void
etcd_txn_body(struct strbuf *sb, const struct etcd_op *ops, size_t n)
{
    /* A guard per key: as read (mod_revision), or still absent (create_revision 0). */
    strbuf_puts(sb, "{\"compare\":[");
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(sb, i ? ",{\"key\":\"" : "{\"key\":\"");
        b64(sb, ops[i].key, strlen(ops[i].key));
        if (ops[i].expect)
            strbuf_printf(
                sb, "\",\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":\"%" PRId64 "\"}",
                ops[i].expect);
        else
            strbuf_puts(sb, "\",\"target\":\"CREATE\",\"result\":\"EQUAL\","
                            "\"create_revision\":\"0\"}");
    }
    strbuf_puts(sb, "],\"success\":[");
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(sb, i ? "," : "");
        strbuf_puts(sb, ops[i].value ? "{\"request_put\":{\"key\":\""
                                     : "{\"request_delete_range\":{\"key\":\"");
        b64(sb, ops[i].key, strlen(ops[i].key));
        if (ops[i].value) {
            strbuf_puts(sb, "\",\"value\":\"");
            b64(sb, ops[i].value, ops[i].value_len);
        }
        strbuf_puts(sb, "\"}}");
    }
    /* Refused: read every guarded key, to say which changed and how. */
    strbuf_puts(sb, "],\"failure\":[");
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(sb, i ? ",{\"request_range\":{\"key\":\"" : "{\"request_range\":{\"key\":\"");
        b64(sb, ops[i].key, strlen(ops[i].key));
        strbuf_puts(sb, "\"}}");
    }
    strbuf_puts(sb, "]}");
}

/* An int64 as the gateway writes it (a string, or a number); <dflt> when absent. */
static int64_t
number(struct fy_node *n, int64_t dflt)
{
    size_t len;
    const char *s = field_text(n, &len);
    if (!s || !len || len > 20) return dflt;
    char text[24];
    memcpy(text, s, len);
    text[len] = '\0';
    char *end;
    long long v = strtoll(text, &end, 10);
    return *end ? dflt : (int64_t)v;
}

static bool
boolean(struct fy_node *n)
{
    size_t len;
    const char *s = field_text(n, &len);
    return s && len == 4 && !memcmp(s, "true", 4);
}

/* A decoded copy of base64 scalar <n> into <*out> (NUL-terminated, freed by the caller);
 * an absent field is empty (protobuf's JSON leaves out empty values). false: not base64. */
static bool
decoded(struct fy_node *n, char **out, size_t *out_len)
{
    size_t len = 0;
    const char *s = n ? field_text(n, &len) : "";
    if (!s) return false;
    *out = malloc(base64_decoded_max(len) + 1);
    if (!*out) return false;
    ssize_t k = base64_decode(s, len, (unsigned char *)*out);
    if (k < 0) {
        free(*out);
        *out = NULL;
        return false;
    }
    (*out)[k] = '\0';
    *out_len = (size_t)k;
    return true;
}

/* One key-value object to <fn>. */
static int
kv(struct fy_node *o, bool deleted, etcd_kv_fn *fn, void *arg, char *err, size_t err_len)
{
    char *key = NULL, *value = NULL;
    size_t key_len, value_len;
    if (!decoded(field_node(o, "key", -1), &key, &key_len) || !key_len ||
        !decoded(deleted ? NULL : field_node(o, "value", -1), &value, &value_len)) {
        snprintf(err, err_len, "a key-value without a base64 key or value");
        free(key);
        free(value);
        return -1;
    }
    struct etcd_kv e = {
        key, key_len, value, value_len, number(field_node(o, "mod_revision", -1), 0), deleted};
    fn(arg, &e);
    free(key);
    free(value);
    return 0;
}

/* The document of <json>, or NULL with why in <err>; etcd's error answers become errors. */
static struct fy_document *
document(const char *json, size_t len, char *err, size_t err_len)
{
    struct fy_document *doc = source_document(json, len, true);
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    if (!root || fy_node_get_type(root) != FYNT_MAPPING) {
        snprintf(err, err_len, "etcd answered with something that is not a JSON object");
        fy_document_destroy(doc);
        return NULL;
    }
    size_t n;
    const char *msg = field_text(field_node(root, "error", -1), &n);
    if (!msg) msg = field_text(field_node(root, "message", -1), &n);
    if (msg && !field_node(root, "header", -1) && !field_node(root, "result", -1)) {
        snprintf(err, err_len, "etcd: %.*s", (int)(n < 400 ? n : 400), msg);
        fy_document_destroy(doc);
        return NULL;
    }
    return doc;
}

int
etcd_parse_range(const char *json, size_t len, int64_t *revision, etcd_kv_fn *fn, void *arg,
                 char *err, size_t err_len)
{
    struct fy_document *doc = document(json, len, err, err_len);
    if (!doc) return -1;
    struct fy_node *root = fy_document_root(doc);
    int rc = 0;
    *revision = number(field_node(field_node(root, "header", -1), "revision", -1), -1);
    if (*revision < 0) {
        snprintf(err, err_len, "etcd's range answer has no revision");
        rc = -1;
    }
    struct fy_node *kvs = field_node(root, "kvs", -1);
    if (!rc && kvs && fy_node_get_type(kvs) == FYNT_SEQUENCE) {
        void *it = NULL;
        struct fy_node *o;
        while (!rc && (o = fy_node_sequence_iterate(kvs, &it)))
            rc = kv(o, false, fn, arg, err, err_len);
    }
    fy_document_destroy(doc);
    return rc;
}

int
etcd_parse_watch(const char *json, size_t len, struct etcd_watch_msg *m, etcd_kv_fn *fn, void *arg,
                 char *err, size_t err_len)
{
    memset(m, 0, sizeof(*m));
    struct fy_document *doc = document(json, len, err, err_len);
    if (!doc) return -1;
    struct fy_node *r = field_node(fy_document_root(doc), "result", -1);
    int rc = 0;
    if (!r) {
        snprintf(err, err_len, "etcd's watch message has no result");
        rc = -1;
    }
    m->revision = number(field_node(field_node(r, "header", -1), "revision", -1), 0);
    m->created = boolean(field_node(r, "created", -1));
    m->canceled = boolean(field_node(r, "canceled", -1));
    m->compact_revision = number(field_node(r, "compact_revision", -1), 0);
    struct fy_node *events = field_node(r, "events", -1);
    if (!rc && events && fy_node_get_type(events) == FYNT_SEQUENCE) {
        void *it = NULL;
        struct fy_node *e;
        while (!rc && (e = fy_node_sequence_iterate(events, &it))) {
            size_t n;
            const char *type = field_text(field_node(e, "type", -1), &n);
            bool deleted = type && n == 6 && !memcmp(type, "DELETE", 6);
            rc = kv(field_node(e, "kv", -1), deleted, fn, arg, err, err_len);
            m->n_events++;
        }
    }
    fy_document_destroy(doc);
    return rc;
}

int
etcd_parse_txn(const char *json, size_t len, bool *succeeded, int64_t *revision, etcd_kv_fn *fn,
               void *arg, char *err, size_t err_len)
{
    struct fy_document *doc = document(json, len, err, err_len);
    if (!doc) return -1;
    struct fy_node *root = fy_document_root(doc);
    int rc = 0;
    /* protobuf's JSON leaves false out: a refused transaction has no "succeeded". */
    *succeeded = boolean(field_node(root, "succeeded", -1));
    *revision = number(field_node(field_node(root, "header", -1), "revision", -1), -1);
    if (*revision < 0) {
        snprintf(err, err_len, "etcd's transaction answer has no revision");
        rc = -1;
    }
    struct fy_node *responses = field_node(root, "responses", -1);
    if (!rc && !*succeeded && fn && responses && fy_node_get_type(responses) == FYNT_SEQUENCE) {
        void *it = NULL;
        struct fy_node *o;
        while (!rc && (o = fy_node_sequence_iterate(responses, &it))) {
            struct fy_node *kvs = field_node(field_node(o, "response_range", -1), "kvs", -1);
            if (!kvs || fy_node_get_type(kvs) != FYNT_SEQUENCE) continue;
            void *kit = NULL;
            struct fy_node *k;
            while (!rc && (k = fy_node_sequence_iterate(kvs, &kit)))
                rc = kv(k, false, fn, arg, err, err_len);
        }
    }
    fy_document_destroy(doc);
    return rc;
}
