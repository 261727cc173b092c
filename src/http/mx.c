/* SPDX-License-Identifier: Apache-2.0 */
/* See mx.h. The peer table never drops an entry: a series or a request in flight may point
 * at one, and a worker's distinct peers are few (one per workload version it meets). The
 * value cache is direct-mapped: a value evicts whichever held its slot. */
#include "http/mx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metric.h"
#include "http/metrics.h"
#include "lb/lb.h"

struct mx_peer {
    uint64_t hash;           /* of <md> */
    struct peer_metadata md; /* NAME cleared: no label is made of it */
};

struct mx_value {
    uint64_t hash; /* of the value, and its kind */
    size_t len;
    char *raw;                        /* owned; NULL: an empty slot */
    const struct peer_metadata *peer; /* NULL: malformed, or past the cap */
    bool malformed;
};

#define MX_SLOTS (2 * MX_MAX_PEERS)

/* Envoy's node id, "TYPE~IP~NAME.NS~NS.svc.cluster.local": a receiver only keys its cache on
 * it, so the address this proxy cannot know is the loopback's. */
static struct slice
node_id(const char *type, const struct metrics_local *l)
{
    const char *ns = l->ns && *l->ns ? l->ns : "default";
    size_t n = strlen(type) + strlen(l->workload ? l->workload : "") + 2 * strlen(ns) + 64;
    char *s = malloc(n);
    int len = s ? snprintf(s, n, "%s~127.0.0.1~%s.%s~%s.svc.cluster.local", type,
                           l->workload ? l->workload : "", ns, ns)
                : 0;
    return slice_make(s, len > 0 ? (size_t)len : 0);
}

/* The first <n> bytes of <p> in a buffer of their own (and a NUL), or NULL. */
static void *
copy_of(const void *p, size_t n)
{
    char *c = n ? malloc(n + 1) : NULL;
    if (c) {
        memcpy(c, p, n);
        c[n] = '\0';
    }
    return c;
}

/* Ours on a TCP connection as <id>, copied out of <tmp> (<cap> bytes). A TCP peer whose
 * handshake chose the exchange waits for ours: when ours cannot be made (names past
 * protobuf's room), one that says nothing. */
static unsigned char *
tcp_exchange(const struct metrics_local *l, const char *id, unsigned char *tmp, size_t cap,
             size_t *len)
{
    static const struct metrics_local nobody;
    if (!(*len = peer_exchange_encode(l, id, tmp, cap)))
        *len = peer_exchange_encode(&nobody, "", tmp, cap);
    return copy_of(tmp, *len);
}

bool
mx_init(struct mx *x, const struct metrics_local *l)
{
    memset(x, 0, sizeof(*x));
    size_t cap = PEER_METADATA_MAX_CHARS + 1;
    char *tmp = malloc(cap); /* each value is made here, then kept at its size */
    x->id_sidecar = node_id("sidecar", l);
    x->id_router = node_id("router", l);
    x->table = calloc(MX_SLOTS, sizeof(*x->table));
    x->cache = calloc(MX_CACHE_SLOTS, sizeof(*x->cache));
    bool ok = tmp && x->id_sidecar.ptr && x->id_router.ptr && x->table && x->cache;
    if (ok) {
        size_t n = peer_metadata_encode(l, tmp, cap);
        x->value = copy_of(tmp, n);
        x->value_len = x->value ? n : 0; /* none could be made: the header is not sent */
        x->tcp_sidecar =
            tcp_exchange(l, x->id_sidecar.ptr, (unsigned char *)tmp, cap, &x->tcp_sidecar_len);
        x->tcp_router =
            tcp_exchange(l, x->id_router.ptr, (unsigned char *)tmp, cap, &x->tcp_router_len);
        ok = x->tcp_sidecar && x->tcp_router && (x->value || !n);
    }
    free(tmp);
    if (!ok) mx_fini(x);
    return ok;
}

void
mx_fini(struct mx *x)
{
    for (size_t i = 0; x->table && i < MX_SLOTS; i++) free(x->table[i]);
    free(x->table);
    for (size_t i = 0; x->cache && i < MX_CACHE_SLOTS; i++) free(x->cache[i].raw);
    free(x->cache);
    free(x->value);
    free((char *)x->id_sidecar.ptr);
    free((char *)x->id_router.ptr);
    free(x->tcp_sidecar);
    free(x->tcp_router);
    memset(x, 0, sizeof(*x));
}

/* The kept peer with the labels of <md> (its NAME cleared), kept now if new: NULL past the
 * cap or out of memory. */
static const struct peer_metadata *
intern(struct mx *x, struct peer_metadata *md)
{
    memset(md->name, 0, sizeof(md->name));
    uint64_t h = lb_hash(md, sizeof(*md));
    size_t k = h & (MX_SLOTS - 1);
    struct mx_peer *p;
    while ((p = x->table[k])) {
        if (p->hash == h && !memcmp(&p->md, md, sizeof(*md))) return &p->md;
        k = (k + 1) & (MX_SLOTS - 1);
    }
    if (x->n >= MX_MAX_PEERS) {
        metric_add(&x->overflow, 1);
        return NULL;
    }
    if (!(p = malloc(sizeof(*p)))) return NULL;
    p->hash = h;
    p->md = *md;
    x->table[k] = p;
    metric_add(&x->n, 1);
    return &p->md;
}

/* The peer <v> names, read in <tcp>'s format: see mx_peer. */
static const struct peer_metadata *
lookup(struct mx *x, struct slice v, bool tcp)
{
    if (!x->table || !v.len) return NULL;
    metric_add(&x->read, 1);
    uint64_t h = lb_hash_seeded(v.ptr, v.len, tcp); /* a value of each kind its own */
    struct mx_value *c = &x->cache[h & (MX_CACHE_SLOTS - 1)];
    if (c->raw && c->hash == h && c->len == v.len && !memcmp(c->raw, v.ptr, v.len)) {
        if (c->malformed) metric_add(&x->malformed, 1);
        return c->peer;
    }
    struct peer_metadata md; /* 2 KiB: a worker's stack has room */
    bool ok = tcp ? peer_exchange_decode((const unsigned char *)v.ptr, v.len, &md)
                  : peer_metadata_decode(v.ptr, v.len, &md);
    if (!ok) metric_add(&x->malformed, 1);
    const struct peer_metadata *peer = ok ? intern(x, &md) : NULL;
    char *raw = malloc(v.len);
    if (raw) { /* remembered in the slot, in place of what it held */
        free(c->raw);
        memcpy(raw, v.ptr, v.len);
        *c = (struct mx_value){.hash = h, .len = v.len, .raw = raw, .peer = peer, .malformed = !ok};
    }
    return peer;
}

const struct peer_metadata *
mx_peer(struct mx *x, struct slice v)
{
    return lookup(x, v, false);
}

const struct peer_metadata *
mx_peer_tcp(struct mx *x, const unsigned char *payload, size_t n)
{
    return lookup(x, slice_make((const char *)payload, n), true);
}

unsigned
mx_find(const struct h1_header *f, size_t n, struct slice *md)
{
    unsigned has = 0;
    *md = slice_make(NULL, 0);
    for (size_t i = 0; i < n; i++) {
        struct slice nm = f[i].name;
        if (nm.len == sizeof(MX_HEADER) - 1 && slice_ieq(nm, MX_HEADER)) {
            *md = f[i].value;
            has |= MX_HAS_VALUE;
        } else if (nm.len == sizeof(MX_ID_HEADER) - 1 && slice_ieq(nm, MX_ID_HEADER)) {
            has |= MX_HAS_ID;
        }
    }
    return has;
}
