/* SPDX-License-Identifier: Apache-2.0 */
/* The effective traffic policy of a pool (host, port, subset), compiled once per snapshot
 * from the DestinationRule as Istio merges it (../shared/spec/istio-traffic.md §4.3) into
 * model-owned values with Istio's defaults filled in. This is all the data plane and admin
 * read of a DestinationRule: nothing here points into the resource set, and no header of
 * the data plane sees config/ types. The merge and compile steps are model-private
 * (model/cluster_int.h). */
#ifndef MESHLET_MODEL_CLUSTER_H
#define MESHLET_MODEL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* loadBalancer.simple, or consistentHash. */
enum model_lb_kind {
    MODEL_LB_LEAST_REQUEST, /* Istio's default; UNSPECIFIED and LEAST_CONN mean it too */
    MODEL_LB_ROUND_ROBIN,
    MODEL_LB_RANDOM,
    MODEL_LB_PASSTHROUGH, /* meshlet intercepts nothing: balanced round robin instead */
    MODEL_LB_CONSISTENT_HASH,
};

/* What a consistent-hash pool hashes a request on (consistentHash's hash key). */
enum model_hash_on {
    MODEL_HASH_NONE,      /* consistentHash names no key: every pick is random, as Envoy */
    MODEL_HASH_HEADER,    /* httpHeaderName: every value of the header */
    MODEL_HASH_COOKIE,    /* httpCookie */
    MODEL_HASH_SOURCE_IP, /* useSourceIp: the client's address */
    MODEL_HASH_QUERY,     /* httpQueryParameterName: its first occurrence */
};

/* One httpCookie attribute appended to a generated cookie: "; name=value", or "; name"
 * when value is NULL or empty. */
struct model_cookie_attr {
    const char *name, *value; /* snapshot arena */
};

struct model_hash {
    enum model_hash_on on;
    const char *name; /* snapshot arena: header, cookie or query parameter name; NULL: NONE */
    /* MODEL_HASH_COOKIE: a request without the cookie gets a generated one only when the ttl
     * is set (Envoy); Max-Age is written when the ttl is at least a second. */
    bool cookie_ttl_set;
    uint64_t cookie_ttl_s;
    const char *cookie_path; /* snapshot arena; NULL or "": no Path */
    size_t n_cookie_attrs;
    const struct model_cookie_attr *cookie_attrs; /* snapshot arena */
    /* The table: Maglev (maglev) or a ring (ringHash, or the deprecated top-level
     * minimumRingSize). Size as configured; 0: Envoy's default, which lb/ applies. */
    bool maglev;
    uint64_t table_size; /* Maglev slots, or the ring's minimum number of points */
};

/* The balancer of a pool. Slow start (warmup) is compiled into model_cluster's warmup_*. */
struct model_lb {
    enum model_lb_kind kind;
    struct model_hash hash; /* kind MODEL_LB_CONSISTENT_HASH */
};

/* Outlier detection of a pool (spec §4.7). */
struct model_outlier {
    bool enabled;               /* the block is present (even empty) */
    bool split;                 /* splitExternalLocalOriginErrors */
    uint32_t consecutive_5xx;   /* thresholds; 0: that detector is off */
    uint32_t consecutive_gw;    /* consecutiveGatewayErrors: off unless set */
    uint32_t consecutive_local; /* consecutiveLocalOriginFailures, split mode only */
    uint64_t interval_ms, base_ms, max_ms;
    uint32_t max_percent;        /* maxEjectionPercent */
    uint32_t min_health_percent; /* panic threshold; 0: never panic */
};

/* Circuit breakers and connection settings of a pool (spec §4.6); limits are UINT32_MAX
 * when unset, as Istio writes them. */
struct model_limits {
    bool any;                    /* a limit below UINT32_MAX: counting is on */
    uint32_t max_connections;    /* tcp.maxConnections */
    uint32_t max_pending;        /* http.http1MaxPendingRequests */
    uint32_t max_requests;       /* http.http2MaxRequests (all protocols) */
    uint32_t max_retries;        /* http.maxRetries */
    uint64_t connect_timeout_ms; /* tcp.connectTimeout, 10 s by default */
    uint64_t idle_timeout_ms;    /* http.idleTimeout (else tcp.idleTimeout), 1 h by default */
    /* A relayed connection (tcp/tls route, WebSocket): Envoy's tcp_proxy idle_timeout from
     * tcp.idleTimeout (1 h by default: no byte either way that long ends it) and its
     * max_downstream_connection_duration from tcp.maxConnectionDuration (0: none), as Istio
     * sets them for the pool the connection goes to. */
    uint64_t tcp_idle_timeout_ms;
    uint64_t max_connection_duration_ms;
    bool keepalive; /* tcp.tcpKeepalive present: SO_KEEPALIVE upstream */
    uint32_t keepalive_time_s, keepalive_interval_s, keepalive_probes; /* 0: system's */
};

/* The `tls` section's mode. What it makes of the endpoints (mtls, SNI, SANs, files) is in
 * model_cluster's tls_* and model_endpoint.mtls. */
enum model_tls_mode {
    MODEL_TLS_AUTO,  /* no `tls` section: automatic mTLS by the endpoints' tlsMode label */
    MODEL_TLS_UNSET, /* a `tls` section without a mode: plain text, no automatic mTLS */
    MODEL_TLS_DISABLE,
    MODEL_TLS_SIMPLE,
    MODEL_TLS_MUTUAL,
    MODEL_TLS_ISTIO_MUTUAL,
};

/* `tunnel`: not enforced (kept so that the merge and explain can show it). */
struct model_tunnel {
    bool set;
    const char *protocol;    /* snapshot arena: "CONNECT" (Istio's default) or "POST" */
    const char *target_host; /* snapshot arena; NULL when unset */
    uint32_t target_port;
};

/* `proxyProtocol`: not enforced. */
struct model_proxy_protocol {
    bool set;
    int version; /* 1 (Istio's default) or 2 */
};

/* `retryBudget`: not enforced. Istio's defaults: 20 %, at least 3 concurrent retries. */
struct model_retry_budget {
    bool set;
    double percent;
    uint32_t min_retry_concurrency;
    uint64_t interval_ms; /* budgetInterval; 0: only requests in flight count */
};

/* The protocol a pool speaks to its endpoints, as Istio's Envoy cluster would (its
 * http_protocol_options): explicit HTTP/1.1 or HTTP/2, or use_downstream_protocol. */
enum model_upstream_proto {
    MODEL_UP_HTTP1,
    MODEL_UP_HTTP2,
    MODEL_UP_CLIENT, /* the client's protocol, request by request */
};

/* One proxy role's choice, and why (for explain and /clusters). */
struct model_upstream_choice {
    enum model_upstream_proto proto;
    const char *why; /* snapshot arena: "port 9090 is GRPC (ServiceEntry protocol)" */
};

/* Everything of the effective policy a reader outside model/ may need. */
struct model_policy {
    struct model_lb lb;
    enum model_tls_mode tls_mode;
    struct model_tunnel tunnel;
    struct model_proxy_protocol proxy_protocol;
    struct model_retry_budget retry_budget;
};

/* "http1", "http2", "client": the name explain and /clusters print. */
static inline const char *
model_upstream_proto_name(enum model_upstream_proto p)
{
    return p == MODEL_UP_HTTP2 ? "http2" : p == MODEL_UP_CLIENT ? "client" : "http1";
}

#endif
