/* SPDX-License-Identifier: Apache-2.0 */
/* What each request leaves in the metrics: Istio's standard families
 * (istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes,
 * istio_response_bytes, and for gRPC istio_request_messages_total and
 * istio_response_messages_total) under Istio's labels, and Envoy's per-cluster upstream counters;
 * what each TCP connection leaves: istio_tcp_connections_opened_total,
 * istio_tcp_connections_closed_total, istio_tcp_sent_bytes_total and
 * istio_tcp_received_bytes_total.
 * Each worker writes its own shard, without locks; the admin thread walks every shard's
 * append-only lists and merges series by their labels on a scrape. [W] to record, [A] to
 * read. */
#ifndef MESHLET_HTTP_METRICS_H
#define MESHLET_HTTP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metric.h"
#include "model/model.h"

/* Envoy's response flags (%RESPONSE_FLAGS%), in the order Envoy prints them. */
enum response_flag {
    RF_UH = 1u << 0,   /* no healthy upstream */
    RF_UT = 1u << 1,   /* upstream request timeout */
    RF_UR = 1u << 2,   /* upstream remote reset (RST_STREAM, refused or not) */
    RF_UF = 1u << 3,   /* upstream connection failure */
    RF_UC = 1u << 4,   /* upstream connection termination */
    RF_UO = 1u << 5,   /* upstream overflow (circuit breaker) */
    RF_NR = 1u << 6,   /* no route */
    RF_DI = 1u << 7,   /* delay injected */
    RF_FI = 1u << 8,   /* fault (abort) injected */
    RF_DC = 1u << 9,   /* downstream connection termination */
    RF_URX = 1u << 10, /* retry limit exceeded */
    RF_DPE = 1u << 11, /* downstream protocol error */
    RF_UPE = 1u << 12, /* upstream protocol error */
    RF_NC = 1u << 13,  /* no cluster */
    RF_SI = 1u << 14,  /* stream idle timeout */
    RF_DT = 1u << 15,  /* max connection duration reached (maxConnectionDuration) */
};

struct peer_metadata;

/* "UF,URX", or "-" for none, into <out> (at least 64 bytes). */
void response_flags_format(uint32_t flags, char *out, size_t cap);

/* This proxy as Istio's labels name it (the node metadata Envoy reads), from `meshlet run`'s
 * flags: the source_* labels of what it sends, the destination_* labels of what its inbound
 * listeners take. Missing values are "" (Istio reports a local field it lacks as empty). */
struct metrics_local {
    const char *workload, *ns;
    const char *app, *version;                     /* its `app` and `version` labels */
    const char *canonical_service, *canonical_rev; /* as Istio's injector fills them */
    const char *cluster;                           /* "Kubernetes" by default */
    const char *principal; /* its SPIFFE identity (--identity); NULL: none */
};

/* <l>'s workload, app, version and canonical service and revision from <workload> and the
 * workload's labels ("K=V", borrowed: <l> points into them): app and version from `app` and
 * `version` ("" without), the canonical service from service.istio.io/canonical-name, else
 * app.kubernetes.io/name, else app, else the workload; the revision from
 * service.istio.io/canonical-revision, else app.kubernetes.io/version, else version, else
 * "latest" (as Istio's sidecar injector labels a pod). Other fields are left alone. */
void metrics_local_from_labels(struct metrics_local *l, const char *workload,
                               const char *const *labels, size_t n);

/* A finished exchange, as the metrics and the access log see it. */
struct exchange_record {
    bool inbound;               /* reporter "destination" (a sidecar's inbound) */
    bool peer_mtls;             /* inbound: the client presented a certificate */
    const char *peer_principal; /* inbound: its URI SAN (NULL or "": none) */
    /* What the peer said of itself in Istio's metadata exchange (http/mx.h; NULL: nothing):
     * inbound the client, else the upstream that answered. It lives as long as the shard's
     * worker: a series keys on it. */
    const struct peer_metadata *peer;
    const struct model_cluster *cluster; /* the pool of the last try; NULL: none chosen */
    size_t endpoint;                     /* its endpoint; SIZE_MAX: none */
    int code;                            /* sent to the client; 0: none */
    uint32_t flags;                      /* enum response_flag */
    uint64_t duration_us, req_bytes, resp_bytes;
    bool grpc;                            /* a gRPC request: request_protocol="grpc" */
    int grpc_status;                      /* its grpc-status; -1: none seen */
    uint64_t req_messages, resp_messages; /* gRPC messages each way (grpc_frames.h) */
};

/* A TCP connection (a TCP or TLS-passthrough listener's, after any TLS it terminates), as
 * the TCP metrics see it. Its labels are Istio's for TCP: those of istio_requests_total
 * without response_code and grpc_response_status, with request_protocol="tcp". */
struct tcp_record {
    bool inbound;                        /* reporter "destination" (a sidecar's inbound) */
    bool peer_mtls;                      /* inbound: the client presented a certificate */
    const char *peer_principal;          /* inbound: its URI SAN (NULL or "": none) */
    const struct model_cluster *cluster; /* the pool; NULL: none chosen (NR) */
    size_t endpoint;                     /* the endpoint connected to; SIZE_MAX: none */
    uint32_t flags; /* enum response_flag known when the series is chosen: UF, UH, UO, NR... */
    const struct peer_metadata *peer; /* as exchange_record's, over TCP's own exchange */
};

/* One TCP series of a shard: its four counters. Lives as long as the shard. */
struct metrics_tcp;
struct metrics_shard;

/* Count one connection opened and return its series, the one its bytes and its close go
 * to. Call it once per client connection, as Istio does: when the upstream connection is
 * up (flags usually none), or, for a connection that never got one (no route, no healthy
 * endpoint, overflow, every connect failed), once at its end with those flags, followed
 * straight by metrics_tcp_close. The labels (flags included) are fixed here, so
 * opened - closed over a series is the connections open in it. NULL when <m> is NULL or out
 * of memory; metrics_tcp_bytes and metrics_tcp_close take NULL and do nothing. [W] */
struct metrics_tcp *metrics_tcp_open(struct metrics_shard *m, const struct tcp_record *r);

/* Bytes moved since the last call, counted on the client's side as Istio does: <sent> to
 * the client (what the upstream answered; istio_tcp_sent_bytes_total), <received> from the
 * client (istio_tcp_received_bytes_total). Two relaxed adds, no lookup: call it whenever
 * bytes move (so a long connection's bytes show up while it is open; Envoy reports every
 * few seconds) and at the latest before metrics_tcp_close. Only the thread that opened the
 * series may call it. [W] */
void metrics_tcp_bytes(struct metrics_tcp *s, uint64_t sent, uint64_t received);

/* Count the connection closed (once, after its last metrics_tcp_bytes). [W] */
void metrics_tcp_close(struct metrics_tcp *s);

/* Upstream events counted per cluster (Envoy's cluster.<name>.upstream_rq_* ...). */
enum upstream_event {
    UP_RQ,               /* a try sent a request */
    UP_RETRY,            /* a retry */
    UP_RETRY_OVERFLOW,   /* a retry refused by maxRetries */
    UP_TIMEOUT,          /* a try timed out */
    UP_PENDING_OVERFLOW, /* refused by the pool's limits (UO) */
    UP_CX_OPEN,          /* a connection opened ... */
    UP_CX_CLOSE,         /* ... and closed */
    UP_EVENTS
};

/* Envoy's stat names of the events before UP_CX_OPEN ("upstream_rq_total", ...). */
extern const char *const upstream_event_name[UP_CX_OPEN];

/* One worker's metrics. */
struct metrics_shard;

/* A shard for a proxy described by <local> (copied). */
struct metrics_shard *metrics_shard_new(const struct metrics_local *local);
void metrics_shard_free(struct metrics_shard *m);

/* Record a finished exchange. [W] */
void metrics_record(struct metrics_shard *m, const struct exchange_record *r);

/* Count an upstream event of pool <ps>, or an answer <code> from endpoint <ep> of <c> (a
 * timeout counts as 504, a connect failure or reset as 503). [W] */
struct pool_state;
struct endpoint_state;
void metrics_upstream(struct metrics_shard *m, const struct pool_state *ps, enum upstream_event e);
void metrics_upstream_code(struct metrics_shard *m, const struct model_cluster *c, size_t ep,
                           int code);

/* Reading (any thread): Istio series and cluster counters, merged over <n> shards. */
struct metrics_series_view {
    const char *labels; /* `name="value",...` without braces */
    size_t prefix_len;  /* the first 20 labels' length: those naming the two workloads */
    uint64_t requests;
    struct metric_histo duration, req_bytes, resp_bytes; /* ms x1000, bytes, bytes */
    bool grpc;                            /* request_protocol="grpc": messages are counted */
    uint64_t req_messages, resp_messages; /* gRPC messages, client's and server's */
};
struct metrics_tcp_view {
    const char *labels; /* `name="value",...` without braces */
    uint64_t opened, closed, sent_bytes, received_bytes;
};
struct metrics_cluster_view {
    const char *name; /* the cluster */
    uint64_t ev[UP_EVENTS];
    uint64_t xx[6]; /* responses by class: [2] is 2xx */
};

/* Connections open now: opened minus closed (read apart, so never below 0). */
static inline uint64_t
metrics_cx_active(const struct metrics_cluster_view *v)
{
    uint64_t open = v->ev[UP_CX_OPEN], closed = v->ev[UP_CX_CLOSE];
    return open > closed ? open - closed : 0;
}

/* Every distinct label set / cluster, summed over the shards: a malloc'd array of *len
 * views (the caller frees it; NULL when there is none). The labels and names point into
 * the shards. */
struct metrics_series_view *metrics_series(struct metrics_shard *const *shards, size_t n,
                                           size_t *len);
struct metrics_tcp_view *metrics_tcp_series(struct metrics_shard *const *shards, size_t n,
                                            size_t *len);
struct metrics_cluster_view *metrics_clusters(struct metrics_shard *const *shards, size_t n,
                                              size_t *len);

/* Answers per endpoint, summed over the shards: a malloc'd array indexed by endpoint state
 * id, of *len entries, each by class ([0]: all of them). */
typedef uint64_t metrics_answers[6];
metrics_answers *metrics_endpoint_answers(struct metrics_shard *const *shards, size_t n,
                                          size_t *len);

/* `name="value"` with Prometheus's escapes, after a comma unless <first>. */
struct strbuf;
void metrics_label(struct strbuf *sb, const char *name, const char *value, bool first);

#endif
