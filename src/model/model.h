/* SPDX-License-Identifier: Apache-2.0 */
/* The compiled snapshot: the only view of the configuration the data plane has. Listeners
 * -> virtual hosts -> ordered routes (matchers, weighted destinations) -> clusters (service
 * host + port + subset) -> endpoints. Built on the main thread from a checked resource set,
 * immutable afterwards, shared by workers through a reference count. */
#ifndef MESHLET_MODEL_MODEL_H
#define MESHLET_MODEL_MODEL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/arena.h"
#include "core/hmap.h"
#include "core/slice.h"
#include "model/cluster.h"

struct resource_set;
struct regex;

struct lb_table; /* owned by lb/ */
struct endpoint_state;
struct pool_state;

struct model_endpoint {
    struct sockaddr_storage addr; /* resolved address and port */
    socklen_t addr_len;
    const char *address; /* snapshot arena: as configured */
    uint16_t port;
    uint32_t weight;         /* 1 when unset */
    const char **label_keys; /* snapshot arena */
    const char **label_vals;
    size_t n_labels;
    struct endpoint_state *state; /* outlives the snapshot (model/endpoint.h) */
    uint32_t state_id;            /* state->id, kept here so a pick reads no other line */
    /* What its metric labels are made of (its pool's host, its labels, mtls), digested:
     * a series is keyed on it with the state, so a reload that renames it starts a new one. */
    uint64_t label_digest;
    /* The DNS name the address came from (resolution DNS / DNS_ROUND_ROBIN, or an endpoint
     * address that is a name); <address> is then the resolved IP, so the endpoint's state
     * is kept per address and survives a new answer that still holds it. NULL: a literal. */
    const char *dns_name;
    const char *service_account; /* snapshot arena; NULL when none */
    bool mtls;                   /* connections to it are ISTIO_MUTUAL (explicit or auto) */
};

/* One upstream pool: Istio's cluster outbound|<port>|<subset>|<host>. */
struct model_cluster {
    const char *name;   /* snapshot arena: "outbound|9080|v1|reviews.prod.svc.cluster.local" */
    const char *host;   /* fqdn */
    const char *subset; /* "" for the default pool */
    uint16_t port;      /* service port */
    size_t index;       /* position in snapshot.clusters */
    size_t n_endpoints;
    struct model_endpoint *endpoints; /* snapshot arena */
    struct model_policy policy;       /* effective traffic policy (§4.3), compiled */
    bool equal_weights;               /* every endpoint has the same weight */
    const struct lb_table *lb_table;  /* consistent-hash ring or Maglev table; NULL if none */
    void *tls_ext;       /* SIMPLE/MUTUAL: the TLS context the layers above made for it */
    uint64_t tls_serial; /* distinct for every such context ever made (from 2) */
    /* Slow start (loadBalancer warmup / warmupDurationSecs): an endpoint younger than
     * warmup_ms in its pool gets a share of its weight; 0: off. */
    uint64_t warmup_ms;
    double warmup_min;              /* minimumPercent / 100 (default 0.1) */
    double warmup_aggression;       /* default 1.0 */
    uint32_t max_requests_per_conn; /* connectionPool.http.maxRequestsPerConnection; 0: no limit */
    /* connectionPool.http.maxConcurrentStreams (Envoy's http2_protocol_options
     * max_concurrent_streams): streams at once on one HTTP/2 upstream connection, below the
     * server's SETTINGS_MAX_CONCURRENT_STREAMS; 0: the server's alone. */
    uint32_t max_concurrent_streams;
    /* Upstream protocol as Istio chooses it (model/cluster.c): a sidecar's (the mesh and
     * inbound listeners) and a Gateway's differ only for a port that declares no protocol,
     * which a sidecar sniffs and a Gateway does not. model_cluster_upstream() picks one. */
    struct model_upstream_choice upstream_sidecar, upstream_gateway;
    struct model_outlier outlier;
    struct model_limits limits;
    /* The DNS names its endpoints come from, answered or not (a name with no answer yet
     * adds no endpoint: /clusters says why the pool is empty). Snapshot arena. */
    const char **dns_names;
    size_t n_dns_names;
    struct pool_state *state; /* outlives the snapshot (model/endpoint.h) */
    /* ISTIO_MUTUAL (spec §4.8, §6.4), for the endpoints with mtls set: the SNI and the SANs
     * the server's certificate must carry one of (none: any the mesh root signed). */
    const char *tls_sni;
    const char **tls_sans;
    size_t n_tls_sans;
    /* SIMPLE or MUTUAL (user certificates, spec §4.8): every endpoint is TLS; the files
     * (PEM paths as configured; tls_ca NULL: the system's CAs; tls_cert NULL: no client
     * certificate) and insecureSkipVerify. The SNI is tls_sni (sni, else the host). */
    bool tls_user;
    const char *tls_ca, *tls_cert, *tls_key;
    bool tls_insecure;
};

enum model_sm_kind {
    MODEL_SM_PRESENT, /* {} or regex "*": the header or parameter is there */
    MODEL_SM_EXACT,
    MODEL_SM_PREFIX,
    MODEL_SM_REGEX,
};

struct model_string_match {
    enum model_sm_kind kind;
    struct slice value; /* snapshot arena */
    struct regex *re;   /* owned by the snapshot (MODEL_SM_REGEX) */
};

struct model_header_match {
    struct slice name; /* lower case */
    struct model_string_match m;
    bool invert; /* withoutHeaders: true when absent or not matching */
};

/* An address block of destinationSubnets ("10.0.0.0/8", "::1/128", or one address). */
struct model_cidr {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
    uint8_t family;   /* AF_INET or AF_INET6 */
    uint8_t bits;     /* prefix length */
};

struct model_match {
    bool has_uri, has_method, has_authority, has_scheme;
    struct model_string_match uri, method, authority, scheme;
    bool ignore_uri_case;
    size_t n_headers;
    struct model_header_match *headers;
    size_t n_query;
    struct model_header_match *query; /* name = parameter name */
    uint32_t port;                    /* 0: any */
    /* L4 blocks (VirtualService tcp and tls, model_route.l4): sniHosts (lower case, exact,
     * "*.suffix" or "*") and destinationSubnets; none: any. port, sourceLabels, gateways
     * and sourceNamespace are decided at build time (the block is dropped when they fail). */
    size_t n_sni;
    const char **sni; /* snapshot arena */
    size_t n_subnets;
    struct model_cidr *subnets; /* snapshot arena */
};

/* Header operations of one direction (request or response). */
struct model_header_ops {
    size_t n_set, n_add, n_remove;
    struct slice *set_names, *set_values; /* lower-case names */
    struct slice *add_names, *add_values;
    struct slice *remove;
};

struct model_headers {
    struct model_header_ops request, response;
    struct slice authority; /* from rewrite.authority or a set/add of host/:authority; or empty */
};

enum model_action {
    MODEL_ROUTE,
    MODEL_REDIRECT,
    MODEL_DIRECT_RESPONSE,
};

struct model_destination {
    const struct model_cluster *cluster; /* NULL when the host or subset is unknown: 503 NC */
    const char *host;                    /* as configured, for messages */
    const char *subset;
    uint32_t weight;
    struct model_headers headers; /* destination-level header operations */
};

enum {
    MODEL_RETRY_5XX = 1 << 0,
    MODEL_RETRY_GATEWAY_ERROR = 1 << 1,
    MODEL_RETRY_RESET = 1 << 2,
    MODEL_RETRY_CONNECT_FAILURE = 1 << 3,
    MODEL_RETRY_RETRIABLE_4XX = 1 << 4,
    MODEL_RETRY_STATUS_CODES = 1 << 5,
    MODEL_RETRY_REFUSED_STREAM = 1 << 6, /* HTTP/2 REFUSED_STREAM, or past a GOAWAY */
    /* gRPC status in the response headers (a trailers-only response) */
    MODEL_RETRY_GRPC_CANCELLED = 1 << 7,
    MODEL_RETRY_GRPC_DEADLINE_EXCEEDED = 1 << 8,
    MODEL_RETRY_GRPC_INTERNAL = 1 << 9,
    MODEL_RETRY_GRPC_RESOURCE_EXHAUSTED = 1 << 10,
    MODEL_RETRY_GRPC_UNAVAILABLE = 1 << 11,
};

/* Where a copy of a request goes (mirror / mirrors), and for which share. */
struct model_mirror {
    const struct model_cluster *cluster; /* NULL: the mirror host is unknown (no copy) */
    uint32_t ppm;                        /* parts per million of requests copied */
};

/* A rule's corsPolicy (§3.15), ready for the wire. */
struct model_cors {
    size_t n_origins;
    struct model_string_match *origins; /* allowOrigins, or allowOrigin as exact matches */
    struct slice allow_methods, allow_headers, expose_headers; /* ","-joined; empty: unset */
    struct slice max_age;                                      /* whole seconds; empty: unset */
    bool allow_credentials;
    bool ignore_unmatched; /* unmatchedPreflights IGNORE: answer them ourselves, bare */
};

/* Where a sticky split (the VirtualService's meshlet.io/sticky-split annotation) reads the
 * user key of a request. */
enum model_sticky_on { MODEL_STICKY_NONE, MODEL_STICKY_HEADER, MODEL_STICKY_COOKIE };

/* Which section of a VirtualService a route came from: http, tcp or tls. An L4 route
 * (tcp, tls) has only destinations, weights and L4 match blocks: the connection is relayed
 * as bytes (http/tcp_conn.c). */
enum model_route_l4 { MODEL_L4_NONE, MODEL_L4_TCP, MODEL_L4_TLS };

struct model_route {
    const char *name; /* rule name or "" */
    enum model_route_l4 l4;
    const char *vs;    /* "ns/name" of the VirtualService */
    size_t rule_index; /* index in the VirtualService's http list */
    size_t n_matches;  /* 0: matches everything */
    struct model_match *matches;
    enum model_action action;
    size_t n_dests;
    size_t n_listed_dests; /* as written, weight-0 ones too (/splits shows a split at 0/100) */
    struct model_destination *dests; /* weight-0 entries dropped when there are several */
    uint32_t total_weight;
    size_t split_offset;       /* first of this route's n_dests slots in a worker's split state */
    uint64_t timeout_ms;       /* 0: none */
    bool retries_set;          /* the rule has `retries` (else Istio's default) */
    const char *retry_on_text; /* snapshot arena: retryOn as written; NULL: unset */
    struct model_headers headers; /* route-level header operations */
    bool has_uri_rewrite;         /* rewrite.uri (Envoy prefix_rewrite) */
    struct slice uri_rewrite;
    struct regex *uri_regex;   /* rewrite.uriRegexRewrite.match, owned by the snapshot */
    const char *uri_regex_sub; /* its rewrite, RE2 syntax */
    int direct_status;         /* MODEL_DIRECT_RESPONSE */
    struct slice direct_body;
    int redirect_code; /* MODEL_REDIRECT */
    const char *redirect_uri, *redirect_authority, *redirect_scheme;
    const char *redirect_prefix; /* prefixRewrite: replaces the matched prefix */
    uint16_t redirect_port;
    bool redirect_request_port;    /* derivePort FROM_REQUEST_PORT: the listener's port */
    const struct model_cors *cors; /* NULL: no corsPolicy */
    /* fault injection (§3.9): shares in parts per million; 0: never */
    uint32_t fault_delay_ppm, fault_abort_ppm;
    uint64_t fault_delay_ms;
    int fault_abort_status; /* HTTP status, or -1 for a gRPC abort */
    int fault_abort_grpc;   /* gRPC status code number when fault_abort_status is -1 */
    /* retries (§3.8), compiled: Istio's default policy when the rule has no `retries` */
    uint32_t retry_attempts; /* retries after the first try; 0: none */
    uint32_t retry_on;       /* MODEL_RETRY_* */
    uint16_t retry_codes[8]; /* retriable status codes named in retryOn */
    size_t n_retry_codes;
    uint64_t retry_backoff_ms;     /* base interval (25 ms) */
    uint64_t retry_per_try_ms;     /* perTryTimeout; 0: none */
    bool retry_keep_previous_host; /* retryIgnorePreviousHosts: false */
    size_t n_mirrors;              /* mirror / mirrors (§3.10) */
    struct model_mirror *mirrors;
    /* Sticky split: a request with the user key goes where hash(key) falls among the
     * destinations' weight intervals (lb/split.h); one without it, by the smooth split. */
    enum model_sticky_on sticky_on;
    const char *sticky_name; /* snapshot arena: header name in lower case, or cookie name */
};

struct model_vhost {
    const char *host; /* lower case, "*.example.com", or "*" */
    size_t n_routes;
    struct model_route *routes;
    struct model_vhost *next; /* the listener's next virtual host (admin, explain) */
    bool l4_subnets;          /* an L4 route of it matches destinationSubnets: the data path must
                               * read the connection's local address */
};

/* One Gateway server that terminates TLS: its hosts ("*.example.com", namespace dropped)
 * and certificate files in PEM; ca set for MUTUAL (client certificates required). */
struct model_tls_server {
    const char **hosts;
    size_t n_hosts;
    const char *cert, *key, *ca;
    int min_version, max_version; /* 10..13 for TLS 1.0..1.3; 0: the default (1.2, 1.3) */
    const char *ciphers;          /* cipherSuites joined by ':' (TLS 1.2 and below); or NULL */
};

/* PeerAuthentication's effective mode on an inbound port (spec §6.2). */
enum model_peer_mode { MODEL_PEER_PERMISSIVE, MODEL_PEER_STRICT, MODEL_PEER_DISABLE };

/* What a listener speaks. TCP: bytes relayed along the routes of its "*" virtual host
 * (VirtualService tcp routes, then the default route), after TLS termination when the
 * listener has tls_ext (a Gateway server with protocol TLS and mode SIMPLE or MUTUAL) or
 * mesh mTLS (inbound). TLS: passthrough: the ClientHello's SNI picks the virtual host
 * (model_vhost_find) whose routes are VirtualService tls routes; the bytes, TLS handshake
 * included, are relayed untouched. */
enum model_listener_kind { MODEL_LISTENER_HTTP, MODEL_LISTENER_TCP, MODEL_LISTENER_TLS };

struct model_listener {
    const char *name; /* "gateway ns/name server <n>", "mesh" or "inbound <port>" */
    enum model_listener_kind kind;
    uint16_t port;
    const char **gateways; /* snapshot arena: "ns/name" of every Gateway whose servers it */
    size_t n_gateways;     /* serves (several Gateways may share a port), for explain */
    bool mesh;
    /* A mesh listener of one TCP or TLS service port (kind TCP or TLS): bound on the mesh
     * address with <port>, where the HTTP mesh listener uses the mesh port. */
    bool service_port;
    /* A Gateway server with tls.mode AUTO_PASSTHROUGH: an SNI of Istio's form
     * outbound_.PORT_.SUBSET_.HOST names its pool (virtual hosts made for every pool). */
    bool auto_passthrough;
    bool inbound;                   /* a sidecar's inbound listener in front of the app */
    enum model_peer_mode peer_mode; /* inbound: who may connect */
    /* Gateway TLS (servers with tls mode SIMPLE or MUTUAL on this port), picked by SNI
     * among their hosts; the first is the default. */
    size_t n_tls;
    struct model_tls_server *tls;
    void *tls_ext;              /* the TLS context the layers above made for them, or NULL */
    bool https_redirect;        /* an HTTP server with tls.httpsRedirect: 301 to https */
    struct hmap exact;          /* host -> struct model_vhost */
    struct hmap wildcard;       /* "*.suffix" -> struct model_vhost */
    struct model_vhost *any;    /* "*", or NULL */
    struct model_vhost *vhosts; /* every virtual host once (aliases point into it) */
};

struct snapshot {
    _Atomic long refs;
    uint64_t version;
    uint64_t digest;    /* of the config it was built from (set by the caller); 0: unknown */
    int64_t revision;   /* the config store's revision it was built from (caller); 0: files */
    struct arena arena; /* owns everything below */
    size_t n_listeners;
    struct model_listener *listeners;
    size_t n_clusters;
    struct model_cluster **clusters;
    size_t n_split_slots;   /* sum of n_dests over every route: a worker's split state */
    size_t n_routes;        /* over every virtual host of every listener */
    struct regex **regexes; /* owned: freed with the snapshot */
    size_t n_regexes, cap_regexes;
    /* Every worker's smooth-split counters, n_split_slots per worker (model_options'
     * n_workers): owned by the snapshot so the admin thread may read them while a worker
     * moves on to the next snapshot. */
    int64_t *split_counters;
    /* And how many requests each worker sent to each destination (the same layout), so
     * /splits can show the observed split beside the configured one. */
    uint64_t *split_picks;
    size_t n_split_workers;
    /* The config files it was built from (set by the caller of model_build, in the arena),
     * for /config_dump. */
    const char **files;
    size_t n_files;
    /* Frees what the layers above attached (listener and cluster tls_ext) when the last
     * reference goes; NULL: nothing attached. */
    void (*ext_free)(struct snapshot *s);
};

/* `meshlet run --inbound PORT=APP_ADDR`: a listener in front of the local app. */
struct model_inbound {
    uint16_t port;           /* the workload port the listener serves */
    bool tcp;                /* --inbound-tcp: bytes relayed, not HTTP */
    const char *app_address; /* IP literal or name */
    uint16_t app_port;
};

struct model_options {
    const char *const *gateways; /* "ns/name" of the Gateways to serve; NULL: all */
    size_t n_gateways;
    uint16_t mesh_port; /* 0: no mesh listener */
    const char *ns;     /* namespace of this proxy (short names on the mesh) */
    /* Called for each pool once its endpoints and policy are set, so that the balancer (a
     * layer above) can build its tables in the snapshot arena <a>. NULL: none. */
    void (*prepare_cluster)(struct model_cluster *c, struct arena *a);
    bool numeric_only; /* endpoint addresses must be IP literals: no DNS (fuzzing) */
    /* Names to addresses without blocking (control/dns.h, on the main thread): how many of
     * <max> addresses of <name> it knows now, into <out> (ports ignored); 0 when none yet
     * (it asks, and a rebuild follows the answer). NULL: getaddrinfo at build time, the
     * first address only (check, explain, tests). */
    size_t (*resolve)(void *arg, const char *name, struct sockaddr_storage *out, size_t max);
    void *resolve_arg;
    const char *trust_domain; /* of the SPIFFE IDs expected from servers; NULL: cluster.local */
    const struct model_inbound *inbounds;
    size_t n_inbounds;
    const char *const *labels; /* this workload's labels, "k=v" (PeerAuthentication selectors) */
    size_t n_labels;
    const char *workload;        /* this proxy's workload name (metrics); NULL: none */
    const char *root_namespace;  /* mesh-wide PeerAuthentication; NULL: istio-system */
    const char *credentials_dir; /* Gateway credentialName X: <dir>/X/tls.crt, tls.key, ca.crt */
    size_t n_workers;            /* split counters for this many workers (0: none) */
    /* meshConfig.h2UpgradePolicy UPGRADE: HTTP ports whose DestinationRule says DEFAULT (or
     * nothing) upgrade to HTTP/2. Istio's default is DO_NOT_UPGRADE (false). */
    bool mesh_h2_upgrade;
};

/* Build a snapshot from a checked set (no errors). Returns NULL with a reason in <err>
 * when something cannot be served (e.g. an endpoint address that does not resolve). [M] */
struct snapshot *model_build(const struct resource_set *set, const struct model_options *opt,
                             char *err, size_t err_len);

/* Reference counting: a request acquires the snapshot at its start, releases it at its end;
 * the last release frees it. [A] */
struct snapshot *model_acquire(struct snapshot *s);
void model_release(struct snapshot *s);

/* The listener serving <port>, or NULL. */
const struct model_listener *model_listener_for(const struct snapshot *s, uint16_t port);

/* The upstream protocol of <c> for requests that came in on <l>: a Gateway's choice on
 * Gateway listeners, a sidecar's on the mesh and inbound listeners (and when <l> is NULL). [A] */
static inline const struct model_upstream_choice *
model_cluster_upstream(const struct model_cluster *c, const struct model_listener *l)
{
    return l && !l->mesh && !l->inbound ? &c->upstream_gateway : &c->upstream_sidecar;
}

/* The virtual host for <host> (port stripped, case-insensitive): exact, then wildcard
 * suffixes longest first, then "*". NULL when none. [A] */
const struct model_vhost *model_vhost_find(const struct model_listener *l, struct slice host);

#endif
