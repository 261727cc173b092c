/* SPDX-License-Identifier: Apache-2.0 */
/* See peer_metadata.h. Protobuf by hand: a Struct is repeated field 1 (map entries); an
 * entry is key (1, string) and value (2, Value); a Value here is string_value (3) or
 * struct_value (5). Every length is checked against what is left before it is used. */
#include "http/peer_metadata.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/base64.h"

/* ---- encoding ---- */

#define PB_ROOM 4096 /* one message being built; more fails the encoding */

struct pb {
    unsigned char p[PB_ROOM];
    size_t n;
    bool full;
};

static void
pb_put(struct pb *b, const void *s, size_t n)
{
    if (b->full || n > sizeof(b->p) - b->n) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void
pb_varint(struct pb *b, uint64_t v)
{
    unsigned char out[10];
    size_t n = 0;
    do {
        out[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) out[n] |= 0x80;
        n++;
    } while (v);
    pb_put(b, out, n);
}

/* Field <tag> (its key byte: number << 3 | 2) holding <n> bytes. */
static void
pb_len(struct pb *b, unsigned char tag, const void *s, size_t n)
{
    pb_put(b, &tag, 1);
    pb_varint(b, n);
    pb_put(b, s, n);
}

/* A Struct entry <key> whose Value holds <value> as field <tag> (string 0x1A, struct 0x2A). */
static void
pb_entry(struct pb *b, const char *key, unsigned char tag, const void *value, size_t n)
{
    struct pb *v = malloc(sizeof(*v)), *e = malloc(sizeof(*e));
    if (!v || !e) {
        b->full = true;
    } else {
        v->n = e->n = 0;
        v->full = e->full = false;
        pb_len(v, tag, value, n);
        pb_len(e, 0x0A, key, strlen(key));
        pb_len(e, 0x12, v->p, v->n);
        if (v->full || e->full) b->full = true;
        pb_len(b, 0x0A, e->p, e->n);
    }
    free(v);
    free(e);
}

static void
pb_string_entry(struct pb *b, const char *key, const char *value)
{
    if (value && *value) pb_entry(b, key, 0x1A, value, strlen(value));
}

static struct pb *
pb_new(void)
{
    struct pb *b = malloc(sizeof(*b));
    if (b) {
        b->n = 0;
        b->full = false;
    }
    return b;
}

/* The Struct describing <l> into <top>: false when it did not fit. */
static bool
workload_struct(const struct metrics_local *l, struct pb *top)
{
    struct pb *labels = pb_new();
    if (!labels) return false;
    /* keys in byte order, as protobuf's deterministic serialization writes a map */
    pb_string_entry(labels, "app", l->app);
    pb_string_entry(labels, "service.istio.io/canonical-name", l->canonical_service);
    pb_string_entry(labels, "service.istio.io/canonical-revision", l->canonical_rev);
    pb_string_entry(labels, "version", l->version);
    pb_string_entry(top, "CLUSTER_ID", l->cluster);
    pb_entry(top, "LABELS", 0x2A, labels->p, labels->n);
    pb_string_entry(top, "NAME", l->workload);
    pb_string_entry(top, "NAMESPACE", l->ns);
    pb_string_entry(top, "WORKLOAD_NAME", l->workload);
    bool ok = !top->full && !labels->full;
    free(labels);
    return ok;
}

size_t
peer_metadata_encode(const struct metrics_local *l, char *out, size_t cap)
{
    struct pb *top = pb_new();
    size_t len = 0;
    if (top && workload_struct(l, top) && base64_encoded_len(top->n) + 1 <= cap)
        len = base64_encode(top->p, top->n, out);
    free(top);
    return len;
}

static const char struct_type_url[] = "type.googleapis.com/google.protobuf.Struct";

size_t
peer_exchange_encode(const struct metrics_local *l, const char *id, unsigned char *out, size_t cap)
{
    struct pb *w = pb_new(), *outer = pb_new(), *any = pb_new();
    size_t len = 0;
    if (!w || !outer || !any || !workload_struct(l, w)) goto done;
    pb_entry(outer, "x-envoy-peer-metadata", 0x2A, w->p, w->n);
    pb_string_entry(outer, "x-envoy-peer-metadata-id", id);
    pb_len(any, 0x0A, struct_type_url, sizeof(struct_type_url) - 1);
    pb_len(any, 0x12, outer->p, outer->n);
    if (outer->full || any->full || any->n + 8 > cap || any->n > PEER_EXCHANGE_MAX) goto done;
    uint32_t head[2] = {htonl(PEER_EXCHANGE_MAGIC), htonl((uint32_t)any->n)};
    memcpy(out, head, 8);
    memcpy(out + 8, any->p, any->n);
    len = any->n + 8;
done:
    free(w);
    free(outer);
    free(any);
    return len;
}

int64_t
peer_exchange_length(const unsigned char *p, size_t n)
{
    if (n < 8) return 0;
    uint32_t head[2];
    memcpy(head, p, 8);
    if (ntohl(head[0]) != PEER_EXCHANGE_MAGIC) return -1;
    return 8 + (int64_t)ntohl(head[1]);
}

/* ---- decoding ---- */

struct rd {
    const unsigned char *p, *end;
};

static bool
rd_varint(struct rd *r, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 10 && r->p < r->end; i++) {
        unsigned char c = *r->p++;
        *v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* The next field of <r>: its number, and for a length-delimited one its bytes in <sub>
 * (others are skipped, <sub> empty). false at the end or on a malformed field. */
static bool
rd_field(struct rd *r, uint64_t *field, struct rd *sub)
{
    uint64_t key, n;
    if (r->p >= r->end || !rd_varint(r, &key)) return false;
    *field = key >> 3;
    sub->p = sub->end = r->p;
    switch (key & 7) {
    case 0: return rd_varint(r, &n);
    case 1: n = 8; break;
    case 5: n = 4; break;
    case 2:
        if (!rd_varint(r, &n)) return false;
        sub->p = r->p;
        sub->end = n <= (uint64_t)(r->end - r->p) ? r->p + n : r->p;
        break;
    default: return false;
    }
    if (n > (uint64_t)(r->end - r->p)) return false;
    r->p += n;
    return true;
}

static bool
is_key(const struct rd *k, const char *name)
{
    size_t n = strlen(name);
    return (size_t)(k->end - k->p) == n && !memcmp(k->p, name, n);
}

/* Copy <s> into <dst>, cut to fit; control bytes become '?' (a metric label takes it). */
static void
copy_str(char *dst, size_t cap, const struct rd *s)
{
    size_t n = (size_t)(s->end - s->p);
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++) dst[i] = s->p[i] < 0x20 || s->p[i] == 0x7f ? '?' : (char)s->p[i];
    dst[n] = '\0';
}

/* One map entry's key and its Value's string (field 3) or struct (field 5) bytes. */
static bool
rd_entry(struct rd *entry, struct rd *key, struct rd *str, struct rd *st)
{
    uint64_t f;
    struct rd sub, value = {NULL, NULL};
    key->p = key->end = str->p = str->end = st->p = st->end = NULL;
    while (entry->p < entry->end) {
        if (!rd_field(entry, &f, &sub)) return false;
        if (f == 1) *key = sub;
        if (f == 2) value = sub;
    }
    while (value.p && value.p < value.end) {
        if (!rd_field(&value, &f, &sub)) return false;
        if (f == 3) *str = sub;
        if (f == 5) *st = sub;
    }
    return key->p != NULL;
}

/* The entries of Struct <s>, each handed to <take>; false when one is malformed. */
static bool
rd_struct(struct rd s, struct peer_metadata *out,
          bool (*take)(struct peer_metadata *, const struct rd *, const struct rd *,
                       const struct rd *))
{
    uint64_t f;
    struct rd entry, key, str, st;
    while (s.p < s.end) {
        if (!rd_field(&s, &f, &entry)) return false;
        if (f != 1) continue;
        if (!rd_entry(&entry, &key, &str, &st) || !take(out, &key, &str, &st)) return false;
    }
    return true;
}

static bool
take_label(struct peer_metadata *out, const struct rd *key, const struct rd *str,
           const struct rd *st)
{
    (void)st;
    if (!str->p) return true;
    if (is_key(key, "app")) copy_str(out->app, sizeof(out->app), str);
    if (is_key(key, "version")) copy_str(out->version, sizeof(out->version), str);
    if (is_key(key, "service.istio.io/canonical-name"))
        copy_str(out->canonical_service, sizeof(out->canonical_service), str);
    if (is_key(key, "service.istio.io/canonical-revision"))
        copy_str(out->canonical_rev, sizeof(out->canonical_rev), str);
    return true;
}

static bool
take_top(struct peer_metadata *out, const struct rd *key, const struct rd *str, const struct rd *st)
{
    if (is_key(key, "LABELS")) return !st->p || rd_struct(*st, out, take_label);
    if (!str->p) return true;
    if (is_key(key, "WORKLOAD_NAME")) copy_str(out->workload, sizeof(out->workload), str);
    if (is_key(key, "NAMESPACE")) copy_str(out->ns, sizeof(out->ns), str);
    if (is_key(key, "CLUSTER_ID")) copy_str(out->cluster, sizeof(out->cluster), str);
    if (is_key(key, "NAME")) copy_str(out->name, sizeof(out->name), str);
    return true;
}

/* The outer Struct of the TCP exchange: its "x-envoy-peer-metadata" is the workload's. */
static bool
take_outer(struct peer_metadata *out, const struct rd *key, const struct rd *str,
           const struct rd *st)
{
    (void)str;
    if (is_key(key, "x-envoy-peer-metadata") && st->p) return rd_struct(*st, out, take_top);
    return true;
}

bool
peer_exchange_decode(const unsigned char *payload, size_t n, struct peer_metadata *out)
{
    memset(out, 0, sizeof(*out));
    struct rd any = {payload, payload + n}, sub, type = {NULL, NULL}, value = {NULL, NULL};
    uint64_t f;
    while (any.p < any.end) {
        if (!rd_field(&any, &f, &sub)) return false;
        if (f == 1) type = sub;
        if (f == 2) value = sub;
    }
    bool ok =
        type.p && is_key(&type, struct_type_url) && value.p && rd_struct(value, out, take_outer);
    if (!ok) memset(out, 0, sizeof(*out));
    return ok;
}

bool
peer_metadata_decode(const char *value, size_t len, struct peer_metadata *out)
{
    memset(out, 0, sizeof(*out));
    if (len > PEER_METADATA_MAX_CHARS) return false;
    for (size_t i = 0; i < len; i++) /* the standard alphabet only, as Envoy's decoder */
        if (value[i] == '-' || value[i] == '_') return false;
    unsigned char *bytes = malloc(base64_decoded_max(len) + 1);
    if (!bytes) return false;
    ssize_t n = base64_decode(value, len, bytes);
    bool ok = n >= 0 && rd_struct((struct rd){bytes, bytes + n}, out, take_top);
    free(bytes);
    if (!ok) memset(out, 0, sizeof(*out));
    return ok;
}
