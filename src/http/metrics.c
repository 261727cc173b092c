/* SPDX-License-Identifier: Apache-2.0 */
/* Per-worker metric shards. A series is keyed on the hot path by what outlives snapshots
 * (the pool's and the endpoint's state, the code, the flags, the reporter) and found in a
 * private open-addressing table; its label text is written once, when it is created, and
 * new series and cluster records are pushed on lists the admin thread walks. Nothing is
 * freed before the shard. */
#include "http/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"
#include "core/strbuf.h"
#include "http/peer_metadata.h"
#include "model/endpoint.h"

struct series {
    struct series *next; /* the shard's list (newest first) */
    const void *pool, *ep;
    int code;
    uint32_t flags;
    bool inbound, peer_mtls;
    bool grpc;
    int grpc_status;
    char *peer;                     /* owned: the inbound client's principal ("" none) */
    const struct peer_metadata *md; /* the peer's exchanged metadata (NULL none) */
    uint64_t describe;              /* describing(): what else its labels were made of */
    uint64_t hash;
    char *labels;      /* owned */
    size_t prefix_len; /* of <labels> up to the 20 naming the workloads */
    uint64_t requests;
    struct metric_histo duration, req_bytes, resp_bytes;
    uint64_t req_messages, resp_messages; /* gRPC series only */
};

struct cluster_rec {
    struct cluster_rec *next;
    const struct pool_state *ps;
    uint64_t ev[UP_EVENTS];
    uint64_t xx[6];
};

struct endpoint_rec {
    struct endpoint_rec *next;
    const struct endpoint_state *es;
    uint64_t xx[6];
};

/* A TCP series: keyed like a request series, without code or gRPC status. */
struct metrics_tcp {
    struct metrics_tcp *next; /* the shard's list (newest first) */
    const void *pool, *ep;
    uint32_t flags;
    bool inbound, peer_mtls;
    char *peer;                     /* owned: the inbound client's principal ("" none) */
    const struct peer_metadata *md; /* the peer's exchanged metadata (NULL none) */
    uint64_t describe;              /* describing(): what else its labels were made of */
    uint64_t hash;
    char *labels; /* owned */
    uint64_t opened, closed, sent, received;
};

struct metrics_shard {
    struct metrics_local local; /* every string owned */
    struct metrics_tcp *_Atomic tcp_head;
    struct metrics_tcp **tcp_table; /* private: open addressing, power-of-two size */
    size_t tcp_cap, tcp_n;
    struct endpoint_rec *_Atomic endpoint_head;
    struct endpoint_rec **by_endpoint; /* private: by endpoint state id */
    size_t n_by_endpoint;
    struct series *_Atomic series_head;
    struct cluster_rec *_Atomic cluster_head;
    struct series **table; /* private: open addressing, power-of-two size */
    size_t cap, n;
    struct cluster_rec **by_pool; /* private: by pool state id */
    size_t n_by_pool;
};

const char *const upstream_event_name[UP_CX_OPEN] = {
    "upstream_rq_total",
    "upstream_rq_retry",
    "upstream_rq_retry_overflow",
    "upstream_rq_timeout",
    "upstream_rq_pending_overflow",
};

void
response_flags_format(uint32_t flags, char *out, size_t cap)
{
    /* Envoy's order (SI before DPE, DT before UPE), not the bits' */
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {{RF_UH, "UH"},   {RF_UT, "UT"}, {RF_UR, "UR"},   {RF_UF, "UF"},
                 {RF_UC, "UC"},   {RF_UO, "UO"}, {RF_NR, "NR"},   {RF_DI, "DI"},
                 {RF_FI, "FI"},   {RF_DC, "DC"}, {RF_URX, "URX"}, {RF_SI, "SI"},
                 {RF_DPE, "DPE"}, {RF_DT, "DT"}, {RF_UPE, "UPE"}, {RF_NC, "NC"}};
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(flags & names[i].bit)) continue;
        int n = snprintf(out + len, cap - len, "%s%s", len ? "," : "", names[i].name);
        if (n < 0 || (size_t)n >= cap - len) break;
        len += (size_t)n;
    }
    if (!len) snprintf(out, cap, "-");
}

/* The value of the first of <keys> "K=V" <labels> has, else <fallback>. */
static const char *
kv_first(const char *const *labels, size_t n, const char *const *keys, const char *fallback)
{
    for (; *keys; keys++) {
        size_t k = strlen(*keys);
        for (size_t i = 0; i < n; i++)
            if (!strncmp(labels[i], *keys, k) && labels[i][k] == '=' && labels[i][k + 1])
                return labels[i] + k + 1;
    }
    return fallback;
}

static const char *const canonical_name_keys[] = {"service.istio.io/canonical-name",
                                                  "app.kubernetes.io/name", "app", NULL};
static const char *const canonical_rev_keys[] = {"service.istio.io/canonical-revision",
                                                 "app.kubernetes.io/version", "version", NULL};

void
metrics_local_from_labels(struct metrics_local *l, const char *workload, const char *const *labels,
                          size_t n)
{
    static const char *const app[] = {"app", NULL}, *const version[] = {"version", NULL};
    l->workload = workload;
    l->app = kv_first(labels, n, app, "");
    l->version = kv_first(labels, n, version, "");
    l->canonical_service = kv_first(labels, n, canonical_name_keys, workload);
    l->canonical_rev = kv_first(labels, n, canonical_rev_keys, "latest");
}

/* The local fields of <m>, in a fixed order (for copying and freeing). */
static const char **
local_field(struct metrics_local *l, size_t i)
{
    const char **f[] = {
        &l->workload,      &l->ns,      &l->app,      &l->version, &l->canonical_service,
        &l->canonical_rev, &l->cluster, &l->principal};
    return i < sizeof(f) / sizeof(f[0]) ? f[i] : NULL;
}

struct metrics_shard *
metrics_shard_new(const struct metrics_local *local)
{
    struct metrics_shard *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    struct metrics_local in = *local;
    bool ok = true;
    for (size_t i = 0; local_field(&in, i); i++) {
        const char *v = *local_field(&in, i);
        if (!v && local_field(&in, i) == &in.principal) continue; /* NULL: none */
        *local_field(&m->local, i) = strdup(v ? v : "");
        ok &= *local_field(&m->local, i) != NULL;
    }
    m->cap = 64;
    m->table = calloc(m->cap, sizeof(*m->table));
    if (!ok || !m->table) {
        metrics_shard_free(m);
        return NULL;
    }
    return m;
}

void
metrics_shard_free(struct metrics_shard *m)
{
    if (!m) return;
    for (struct series *s = m->series_head, *next; s; s = next) {
        next = s->next;
        free(s->labels);
        free(s->peer);
        free(s);
    }
    for (struct metrics_tcp *t = m->tcp_head, *next; t; t = next) {
        next = t->next;
        free(t->labels);
        free(t->peer);
        free(t);
    }
    free(m->tcp_table);
    for (struct cluster_rec *c = m->cluster_head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    for (struct endpoint_rec *e = m->endpoint_head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    free(m->by_endpoint);
    free(m->table);
    free(m->by_pool);
    for (size_t i = 0; local_field(&m->local, i); i++) free((char *)*local_field(&m->local, i));
    free(m);
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

void
metrics_label(struct strbuf *sb, const char *name, const char *value, bool first)
{
    strbuf_printf(sb, "%s%s=\"", first ? "" : ",", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            strbuf_printf(sb, "\\%c", *p);
        else if (*p == '\n')
            strbuf_puts(sb, "\\n");
        else
            strbuf_printf(sb, "%c", *p);
    }
    strbuf_puts(sb, "\"");
}

static const char *
endpoint_label(const struct model_endpoint *e, const char *key)
{
    for (size_t i = 0; e && i < e->n_labels; i++)
        if (!strcmp(e->label_keys[i], key)) return e->label_vals[i];
    return NULL;
}

/* "reviews" and "prod" of reviews.prod.svc.cluster.local; for other hosts the first label
 * and "unknown". */
static void
service_parts(const char *host, char *name, size_t name_cap, char *ns, size_t ns_cap)
{
    const char *dot = strchr(host, '.');
    size_t n = dot ? (size_t)(dot - host) : strlen(host);
    snprintf(name, name_cap, "%.*s", (int)n, host);
    snprintf(ns, ns_cap, "unknown");
    if (!dot) return;
    const char *dot2 = strchr(dot + 1, '.');
    if (dot2 && !strncmp(dot2, ".svc.", 5))
        snprintf(ns, ns_cap, "%.*s", (int)(dot2 - dot - 1), dot + 1);
}

/* What a series' labels depend on, for an HTTP exchange or a TCP connection. */
struct label_key {
    bool inbound, peer_mtls;
    const char *peer;               /* inbound: the client's principal ("" or NULL: none) */
    const struct peer_metadata *md; /* the peer's exchanged metadata (NULL: none) */
    const struct model_cluster *cluster;
    size_t endpoint;
    const char *protocol; /* "http", "grpc" or "tcp" */
    int code;             /* response_code; -1: none (TCP) */
    int grpc_status;      /* grpc_response_status on gRPC series; -1: empty */
    uint32_t flags;
};

/* The first label of <keys> (in that order) endpoint <e> has, or NULL: how Istio's injector
 * fills a workload's canonical service and revision from its labels. */
static const char *
first_label(const struct model_endpoint *e, const char *const *keys)
{
    for (; *keys; keys++) {
        const char *v = endpoint_label(e, *keys);
        if (v && *v) return v;
    }
    return NULL;
}

/* The namespace of SPIFFE identity <id> ("spiffe://td/ns/NS/sa/SA"): false when none. */
static bool
spiffe_ns(const char *id, char *out, size_t cap)
{
    const char *p = id ? strstr(id, "/ns/") : NULL;
    if (!p) return false;
    p += 4;
    size_t n = strcspn(p, "/");
    if (!n) return false;
    snprintf(out, cap, "%.*s", (int)n, p);
    return true;
}

/* <v>, or <dflt> when empty. */
static const char *
or_else(const char *v, const char *dflt)
{
    return v && *v ? v : dflt;
}

/* The peer's fields as Istio's stats filter reads them from the exchanged metadata <md>
 * (one it lacks: "unknown", the revision "latest"), or, with none, what meshlet knows
 * otherwise: <known> (the upstream endpoint's labels) or "unknown" (an inbound client). */
struct peer_fields {
    const char *workload, *ns, *app, *version, *canonical_service, *canonical_rev, *cluster;
};

static struct peer_fields
peer_fields(const struct peer_metadata *md, const struct peer_fields *known)
{
    if (!md) return *known;
    return (struct peer_fields){
        .workload = or_else(md->workload, "unknown"),
        .ns = or_else(md->ns, "unknown"),
        .app = or_else(md->app, "unknown"),
        .version = or_else(md->version, "unknown"),
        .canonical_service = or_else(md->canonical_service, "unknown"),
        .canonical_rev = or_else(md->canonical_rev, "latest"),
        .cluster = or_else(md->cluster, "unknown"),
    };
}

/* Istio's standard labels, in the order its stats filter writes them: 20 naming the two
 * workloads, then request_protocol, response_code and grpc_response_status (HTTP only; the
 * latter empty but for gRPC), response_flags and connection_security_policy. The peer's
 * namespace and principal come from its certificate first, the rest of it from the
 * metadata it exchanged; without that, an inbound client's fields are "unknown" (its
 * canonical revision "latest") and an upstream's come from its endpoint's labels. */
static char *
series_labels(const struct metrics_shard *m, const struct label_key *r, size_t *prefix_len)
{
    const struct metrics_local *l = &m->local;
    const struct model_endpoint *e = r->cluster && r->endpoint < r->cluster->n_endpoints
                                         ? &r->cluster->endpoints[r->endpoint]
                                         : NULL;
    const char *app = endpoint_label(e, "app"), *version = endpoint_label(e, "version");
    char workload[512] = "unknown", svc_name[256] = "unknown", svc_ns[256] = "unknown";
    if (app && version)
        snprintf(workload, sizeof(workload), "%s-%s", app, version);
    else if (app)
        snprintf(workload, sizeof(workload), "%s", app);
    if (r->cluster)
        service_parts(r->cluster->host, svc_name, sizeof(svc_name), svc_ns, sizeof(svc_ns));
    /* The upstream's identity, as its last mTLS handshake proved it. */
    char up_id[256] = "";
    if (e && e->mtls) endpoint_peer_get(e->state, up_id, sizeof(up_id));
    char peer_ns[256];
    const char *peer = r->peer && *r->peer ? r->peer : "unknown";
    const char *own_id = l->principal && *l->principal ? l->principal : "unknown";
    bool in = r->inbound;
    const struct peer_fields from_endpoint = {
        .workload = workload,
        .ns = svc_ns,
        .app = or_else(app, "unknown"),
        .version = or_else(version, "unknown"),
        .canonical_service = or_else(first_label(e, canonical_name_keys), "unknown"),
        .canonical_rev = or_else(first_label(e, canonical_rev_keys), "latest"),
        .cluster = e ? l->cluster : "unknown",
    };
    const struct peer_fields nothing = {"unknown", "unknown", "unknown", "unknown",
                                        "unknown", "latest",  "unknown"};
    struct peer_fields p = peer_fields(r->md, in ? &nothing : &from_endpoint);
    if (spiffe_ns(in ? r->peer : up_id, peer_ns, sizeof(peer_ns))) p.ns = peer_ns;
    char code[16], flags[96];
    snprintf(code, sizeof(code), "%d", r->code);
    response_flags_format(r->flags, flags, sizeof(flags));
    /* the source and destination: this proxy on one side, the peer on the other */
    struct peer_fields self = {
        l->workload, l->ns, l->app, l->version, l->canonical_service, l->canonical_rev, l->cluster};
    const struct peer_fields *src = in ? &p : &self, *dst = in ? &self : &p;
    struct strbuf sb;
    strbuf_init(&sb, 1 << 16);
    metrics_label(&sb, "reporter", in ? "destination" : "source", true);
    metrics_label(&sb, "source_workload", src->workload, false);
    metrics_label(&sb, "source_canonical_service", src->canonical_service, false);
    metrics_label(&sb, "source_canonical_revision", src->canonical_rev, false);
    metrics_label(&sb, "source_workload_namespace", src->ns, false);
    /* outbound: this proxy's identity when an upstream connection was made over mTLS */
    bool up_mtls = e && e->mtls && !(r->flags & RF_UF);
    metrics_label(&sb, "source_principal", in ? peer : up_mtls ? own_id : "unknown", false);
    metrics_label(&sb, "source_app", src->app, false);
    metrics_label(&sb, "source_version", src->version, false);
    metrics_label(&sb, "source_cluster", src->cluster, false);
    metrics_label(&sb, "destination_workload", dst->workload, false);
    metrics_label(&sb, "destination_workload_namespace", dst->ns, false);
    metrics_label(&sb, "destination_principal",
                  in       ? (r->peer_mtls ? own_id : "unknown")
                  : *up_id ? up_id
                           : "unknown",
                  false);
    metrics_label(&sb, "destination_app", dst->app, false);
    metrics_label(&sb, "destination_version", dst->version, false);
    metrics_label(&sb, "destination_service", r->cluster ? r->cluster->host : "unknown", false);
    metrics_label(&sb, "destination_canonical_service", dst->canonical_service, false);
    metrics_label(&sb, "destination_canonical_revision", dst->canonical_rev, false);
    metrics_label(&sb, "destination_service_name", svc_name, false);
    metrics_label(&sb, "destination_service_namespace", in ? l->ns : svc_ns, false);
    metrics_label(&sb, "destination_cluster", dst->cluster, false);
    if (prefix_len) *prefix_len = strlen(strbuf_str(&sb));
    metrics_label(&sb, "request_protocol", r->protocol, false);
    if (r->code >= 0) { /* HTTP: response_code and grpc_response_status (empty unless gRPC) */
        char gs[16] = "";
        if (!strcmp(r->protocol, "grpc") && r->grpc_status >= 0)
            snprintf(gs, sizeof(gs), "%d", r->grpc_status);
        metrics_label(&sb, "response_code", code, false);
        metrics_label(&sb, "grpc_response_status", gs, false);
    }
    metrics_label(&sb, "response_flags", flags, false);
    /* Istio's mutual_tls: both sides' identities known (a certificate without a URI SAN is
     * not a mesh identity) */
    metrics_label(&sb, "connection_security_policy",
                  !in                                   ? "unknown"
                  : r->peer_mtls && r->peer && *r->peer ? "mutual_tls"
                                                        : "none",
                  false);
    char *out = strdup(strbuf_str(&sb));
    strbuf_fini(&sb);
    return out;
}

/* What a series' labels are made of beyond its pool and endpoint states: the endpoint's
 * host, labels and mtls as this snapshot has them, and which identity it last proved. A
 * reload or a new certificate that changes them starts a new series; one that does not,
 * none (series are never freed before the shard). */
static uint64_t
describing(const struct model_cluster *c, size_t ep)
{
    if (!c || ep >= c->n_endpoints) return 0;
    const struct model_endpoint *e = &c->endpoints[ep];
    uint32_t gen = atomic_load_explicit(&e->state->peer_gen, memory_order_relaxed);
    return e->label_digest ^ ((uint64_t)gen << 40);
}

/* A short hash of the inbound client's principal, for a series key. */
static uint64_t
peer_hash(const char *p)
{
    uint64_t h = 1469598103934665603ull;
    for (; p && *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static bool
same_peer(const char *series_peer, const char *p)
{
    return !strcmp(series_peer, p ? p : "");
}

static bool
grow(struct metrics_shard *m)
{
    size_t cap = m->cap * 2;
    struct series **t = calloc(cap, sizeof(*t));
    if (!t) return false;
    for (size_t i = 0; i < m->cap; i++) {
        struct series *s = m->table[i];
        if (!s) continue;
        size_t k = s->hash & (cap - 1);
        while (t[k]) k = (k + 1) & (cap - 1);
        t[k] = s;
    }
    free(m->table);
    m->table = t;
    m->cap = cap;
    return true;
}

void
metrics_record(struct metrics_shard *m, const struct exchange_record *r)
{
    if (!m) return;
    const void *pool = r->cluster ? (const void *)r->cluster->state : NULL;
    const void *ep = r->cluster && r->endpoint < r->cluster->n_endpoints
                         ? (const void *)r->cluster->endpoints[r->endpoint].state
                         : NULL;
    const char *peer = r->inbound ? r->peer_principal : NULL;
    uint64_t describe = describing(r->cluster, r->endpoint);
    uint64_t h = mix(mix(mix((uintptr_t)pool, (uintptr_t)ep), (uint64_t)r->code << 32 | r->flags),
                     (uint64_t)(r->grpc_status + 2) << 8 | (uint64_t)r->grpc << 2 |
                         (uint64_t)r->inbound << 1 | r->peer_mtls);
    h = mix(h, describe);
    if (peer && *peer) h = mix(h, peer_hash(peer));
    if (r->peer) h = mix(h, (uintptr_t)r->peer);
    size_t k = h & (m->cap - 1);
    struct series *s;
    while ((s = m->table[k])) {
        if (s->hash == h && s->pool == pool && s->ep == ep && s->code == r->code &&
            s->flags == r->flags && s->inbound == r->inbound && s->peer_mtls == r->peer_mtls &&
            s->grpc == r->grpc && s->grpc_status == r->grpc_status && s->describe == describe &&
            s->md == r->peer && same_peer(s->peer, peer))
            break;
        k = (k + 1) & (m->cap - 1);
    }
    if (!s) {
        if ((m->n + 1) * 2 > m->cap && !grow(m)) return;
        s = calloc(1, sizeof(*s));
        if (!s) return;
        s->pool = pool;
        s->ep = ep;
        s->code = r->code;
        s->flags = r->flags;
        s->inbound = r->inbound;
        s->peer_mtls = r->peer_mtls;
        s->grpc = r->grpc;
        s->grpc_status = r->grpc_status;
        s->hash = h;
        s->describe = describe;
        s->peer = strdup(peer ? peer : "");
        s->md = r->peer;
        struct label_key key = {.inbound = r->inbound,
                                .peer_mtls = r->peer_mtls,
                                .peer = peer,
                                .md = r->peer,
                                .cluster = r->cluster,
                                .endpoint = r->endpoint,
                                .protocol = r->grpc ? "grpc" : "http",
                                .code = r->code,
                                .grpc_status = r->grpc_status,
                                .flags = r->flags};
        s->labels = s->peer ? series_labels(m, &key, &s->prefix_len) : NULL;
        if (!s->labels) {
            free(s->peer);
            free(s);
            return;
        }
        k = h & (m->cap - 1);
        while (m->table[k]) k = (k + 1) & (m->cap - 1);
        m->table[k] = s;
        m->n++;
        s->next = atomic_load_explicit(&m->series_head, memory_order_relaxed);
        atomic_store_explicit(&m->series_head, s, memory_order_release);
    }
    metric_add(&s->requests, 1);
    metric_observe(&s->duration, r->duration_us, 1000);
    metric_observe(&s->req_bytes, r->req_bytes, 1);
    metric_observe(&s->resp_bytes, r->resp_bytes, 1);
    if (r->grpc) { /* Istio adds the grpc_stats filter's counts when the stream ends */
        metric_add(&s->req_messages, r->req_messages);
        metric_add(&s->resp_messages, r->resp_messages);
    }
}

/* Make room in a private by-id table (*arr, *n entries) for <id>, sized for <count> ids
 * known now. false when out of memory. */
static bool
room_for(void ***arr, size_t *n, uint32_t id, size_t count)
{
    if (id < *n) return true;
    if (count <= id) count = (size_t)id + 1;
    void **p = realloc(*arr, count * sizeof(*p));
    if (!p) return false;
    memset(p + *n, 0, (count - *n) * sizeof(*p));
    *arr = p;
    *n = count;
    return true;
}

static struct cluster_rec *
cluster_rec(struct metrics_shard *m, const struct pool_state *ps)
{
    if (!m || !ps || !room_for((void ***)&m->by_pool, &m->n_by_pool, ps->id, pool_state_count()))
        return NULL;
    struct cluster_rec *c = m->by_pool[ps->id];
    if (!c && (c = calloc(1, sizeof(*c)))) {
        c->ps = ps;
        m->by_pool[ps->id] = c;
        c->next = atomic_load_explicit(&m->cluster_head, memory_order_relaxed);
        atomic_store_explicit(&m->cluster_head, c, memory_order_release);
    }
    return c;
}

void
metrics_upstream(struct metrics_shard *m, const struct pool_state *ps, enum upstream_event e)
{
    struct cluster_rec *c = cluster_rec(m, ps);
    if (c) metric_add(&c->ev[e], 1);
}

static struct endpoint_rec *
endpoint_rec(struct metrics_shard *m, const struct endpoint_state *es)
{
    if (!room_for((void ***)&m->by_endpoint, &m->n_by_endpoint, es->id, endpoint_state_count()))
        return NULL;
    struct endpoint_rec *e = m->by_endpoint[es->id];
    if (!e && (e = calloc(1, sizeof(*e)))) {
        e->es = es;
        m->by_endpoint[es->id] = e;
        e->next = atomic_load_explicit(&m->endpoint_head, memory_order_relaxed);
        atomic_store_explicit(&m->endpoint_head, e, memory_order_release);
    }
    return e;
}

void
metrics_upstream_code(struct metrics_shard *m, const struct model_cluster *cl, size_t ep, int code)
{
    if (!m || code < 100 || code >= 600) return;
    struct cluster_rec *c = cluster_rec(m, cl->state);
    if (c) metric_add(&c->xx[code / 100], 1);
    struct endpoint_rec *e = ep < cl->n_endpoints ? endpoint_rec(m, cl->endpoints[ep].state) : NULL;
    if (e) {
        metric_add(&e->xx[0], 1);
        metric_add(&e->xx[code / 100], 1);
    }
}

metrics_answers *
metrics_endpoint_answers(struct metrics_shard *const *shards, size_t n, size_t *len)
{
    *len = endpoint_state_count();
    metrics_answers *out = calloc(*len + 1, sizeof(*out));
    if (!out) {
        *len = 0;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!shards[i]) continue;
        for (struct endpoint_rec *e =
                 atomic_load_explicit(&shards[i]->endpoint_head, memory_order_acquire);
             e; e = e->next)
            for (size_t x = 0; e->es->id < *len && x < 6; x++)
                out[e->es->id][x] += metric_get(&e->xx[x]);
    }
    return out;
}

/* The view of <key> in a merge: found in <by_key>, else appended to the array (zeroed). */
static void *
merge_slot(struct hmap *by_key, const char *key, void **arr, size_t *len, size_t *cap, size_t size)
{
    size_t at = (size_t)(uintptr_t)hmap_get(by_key, key);
    if (at) return (char *)*arr + (at - 1) * size;
    if (*len == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        void *p = realloc(*arr, c * size);
        if (!p) return NULL;
        *arr = p;
        *cap = c;
    }
    void *v = (char *)*arr + *len * size;
    memset(v, 0, size);
    hmap_put(by_key, key, (void *)(uintptr_t)++ * len);
    return v;
}

struct metrics_series_view *
metrics_series(struct metrics_shard *const *shards, size_t n, size_t *len)
{
    struct hmap by_labels;
    hmap_init(&by_labels);
    struct metrics_series_view *views = NULL;
    size_t cap = 0;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!shards[i]) continue;
        for (struct series *s = atomic_load_explicit(&shards[i]->series_head, memory_order_acquire);
             s; s = s->next) {
            struct metrics_series_view *v =
                merge_slot(&by_labels, s->labels, (void **)&views, len, &cap, sizeof(*v));
            if (!v) continue;
            v->labels = s->labels;
            v->prefix_len = s->prefix_len;
            v->requests += metric_get(&s->requests);
            metric_histo_merge(&v->duration, &s->duration);
            metric_histo_merge(&v->req_bytes, &s->req_bytes);
            metric_histo_merge(&v->resp_bytes, &s->resp_bytes);
            v->grpc = s->grpc;
            v->req_messages += metric_get(&s->req_messages);
            v->resp_messages += metric_get(&s->resp_messages);
        }
    }
    hmap_fini(&by_labels);
    return views;
}

struct metrics_cluster_view *
metrics_clusters(struct metrics_shard *const *shards, size_t n, size_t *len)
{
    struct hmap by_name;
    hmap_init(&by_name);
    struct metrics_cluster_view *views = NULL;
    size_t cap = 0;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!shards[i]) continue;
        for (struct cluster_rec *c =
                 atomic_load_explicit(&shards[i]->cluster_head, memory_order_acquire);
             c; c = c->next) {
            struct metrics_cluster_view *v =
                merge_slot(&by_name, c->ps->name, (void **)&views, len, &cap, sizeof(*v));
            if (!v) continue;
            v->name = c->ps->name;
            for (size_t e = 0; e < UP_EVENTS; e++) v->ev[e] += metric_get(&c->ev[e]);
            for (size_t x = 0; x < 6; x++) v->xx[x] += metric_get(&c->xx[x]);
        }
    }
    hmap_fini(&by_name);
    return views;
}

/* The TCP table of <m> at twice its size (or 16 slots at first). */
static bool
tcp_grow(struct metrics_shard *m)
{
    size_t cap = m->tcp_cap ? m->tcp_cap * 2 : 16;
    struct metrics_tcp **t = calloc(cap, sizeof(*t));
    if (!t) return false;
    for (size_t i = 0; i < m->tcp_cap; i++) {
        struct metrics_tcp *s = m->tcp_table[i];
        if (!s) continue;
        size_t k = s->hash & (cap - 1);
        while (t[k]) k = (k + 1) & (cap - 1);
        t[k] = s;
    }
    free(m->tcp_table);
    m->tcp_table = t;
    m->tcp_cap = cap;
    return true;
}

struct metrics_tcp *
metrics_tcp_open(struct metrics_shard *m, const struct tcp_record *r)
{
    if (!m) return NULL;
    if ((m->tcp_n + 1) * 2 > m->tcp_cap && !tcp_grow(m)) return NULL;
    const void *pool = r->cluster ? (const void *)r->cluster->state : NULL;
    const void *ep = r->cluster && r->endpoint < r->cluster->n_endpoints
                         ? (const void *)r->cluster->endpoints[r->endpoint].state
                         : NULL;
    const char *peer = r->inbound ? r->peer_principal : NULL;
    uint64_t describe = describing(r->cluster, r->endpoint);
    uint64_t h = mix(mix((uintptr_t)pool, (uintptr_t)ep),
                     (uint64_t)r->flags << 2 | (uint64_t)r->inbound << 1 | r->peer_mtls);
    h = mix(h, describe);
    if (peer && *peer) h = mix(h, peer_hash(peer));
    if (r->peer) h = mix(h, (uintptr_t)r->peer);
    size_t k = h & (m->tcp_cap - 1);
    struct metrics_tcp *s;
    while ((s = m->tcp_table[k])) {
        if (s->hash == h && s->pool == pool && s->ep == ep && s->flags == r->flags &&
            s->inbound == r->inbound && s->peer_mtls == r->peer_mtls && s->describe == describe &&
            s->md == r->peer && same_peer(s->peer, peer))
            break;
        k = (k + 1) & (m->tcp_cap - 1);
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s) return NULL;
        s->describe = describe;
        s->peer = strdup(peer ? peer : "");
        s->md = r->peer;
        struct label_key key = {.inbound = r->inbound,
                                .peer_mtls = r->peer_mtls,
                                .peer = peer,
                                .md = r->peer,
                                .cluster = r->cluster,
                                .endpoint = r->endpoint,
                                .protocol = "tcp",
                                .code = -1,
                                .grpc_status = -1,
                                .flags = r->flags};
        s->labels = s->peer ? series_labels(m, &key, NULL) : NULL;
        if (!s->labels) {
            free(s->peer);
            free(s);
            return NULL;
        }
        s->pool = pool;
        s->ep = ep;
        s->flags = r->flags;
        s->inbound = r->inbound;
        s->peer_mtls = r->peer_mtls;
        s->hash = h;
        m->tcp_table[k] = s;
        m->tcp_n++;
        s->next = atomic_load_explicit(&m->tcp_head, memory_order_relaxed);
        atomic_store_explicit(&m->tcp_head, s, memory_order_release);
    }
    metric_add(&s->opened, 1);
    return s;
}

void
metrics_tcp_bytes(struct metrics_tcp *s, uint64_t sent, uint64_t received)
{
    if (!s) return;
    if (sent) metric_add(&s->sent, sent);
    if (received) metric_add(&s->received, received);
}

void
metrics_tcp_close(struct metrics_tcp *s)
{
    if (s) metric_add(&s->closed, 1);
}

struct metrics_tcp_view *
metrics_tcp_series(struct metrics_shard *const *shards, size_t n, size_t *len)
{
    struct hmap by_labels;
    hmap_init(&by_labels);
    struct metrics_tcp_view *views = NULL;
    size_t cap = 0;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!shards[i]) continue;
        for (struct metrics_tcp *s =
                 atomic_load_explicit(&shards[i]->tcp_head, memory_order_acquire);
             s; s = s->next) {
            struct metrics_tcp_view *v =
                merge_slot(&by_labels, s->labels, (void **)&views, len, &cap, sizeof(*v));
            if (!v) continue;
            v->labels = s->labels;
            v->closed += metric_get(&s->closed); /* before opened: closed > opened is rarer */
            v->opened += metric_get(&s->opened);
            v->sent_bytes += metric_get(&s->sent);
            v->received_bytes += metric_get(&s->received);
        }
    }
    hmap_fini(&by_labels);
    return views;
}
