/* SPDX-License-Identifier: Apache-2.0 */
/* Asynchronous DNS for ServiceEntry `resolution: DNS` hosts and endpoint names, kept current
 * the way Envoy keeps an Istio STRICT_DNS/LOGICAL_DNS cluster current. c-ares does the
 * queries; its sockets and timeouts live on the main loop, so nothing ever blocks. [M]
 *
 * What is matched, and where it comes from:
 * - Address family: IPv4 only (A queries). Istio's cluster builder sets
 *   dns_lookup_family V4_ONLY unless the proxy has IPv6 addresses (V6_ONLY) or is dual-stack
 *   with ENABLE_DUAL_STACK (ALL); meshlet proxies are IPv4.
 * - Refresh: on the answer's TTL (Istio sets respect_dns_ttl: true), clamped to
 *   [min_refresh_ms, max_refresh_ms]; a TTL of 0 refreshes at max_refresh_ms (Envoy uses
 *   dns_refresh_rate then, which Istio takes from MeshConfig.dnsRefreshRate, 60 s by
 *   default: DNS_REFRESH_DEFAULT_MS). Defaults when 0: min 5 s (Envoy's dns_min_refresh_rate
 *   default and floor), max 60 s. Envoy puts no upper bound on a respected TTL; we do, as
 *   the issue asks.
 * - Failure (timeout, SERVFAIL, NXDOMAIN, an answer with no A record): the last good
 *   addresses stay, the failure is counted, and the name is asked again after min_refresh_ms,
 *   doubling up to max_refresh_ms. Istio sets no dns_failure_refresh_rate, so Envoy retries
 *   at dns_refresh_rate (60 s); we retry sooner. Envoy would also drop every host on a
 *   successful empty answer; we keep them (the rule).
 * - Queries: timeout_ms per try (default 1 s), 2 tries; c-ares doubles the timeout on the
 *   second round, so a server that never answers fails a query after 3 s. Envoy's c-ares
 *   resolver defaults to 5 s and 4 tries (query_timeout_seconds, query_tries), too long
 *   to hold a name in doubt.
 * - Servers: --dns-server HOST:PORT list (no search domains then), else /etc/resolv.conf
 *   (search domains and /etc/hosts as c-ares reads them), as Envoy's c-ares resolver.
 * - Not matched: Istio's DNS jitter (PILOT_DNS_JITTER_DURATION) and udp_max_queries
 *   (c-ares 1.18 has no such option). */
#ifndef MESHLET_CONTROL_DNS_H
#define MESHLET_CONTROL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNS_REFRESH_DEFAULT_MS 60000u    /* Istio MeshConfig.dnsRefreshRate */
#define DNS_MIN_REFRESH_DEFAULT_MS 5000u /* Envoy dns_min_refresh_rate */
#define DNS_TIMEOUT_DEFAULT_MS 1000u
#define DNS_TRIES 2
#define DNS_MAX_ADDRS 16 /* per name: the lowest of a longer answer (of its first 64) */

struct loop;
struct dns_resolver;

struct dns_options {
    const char *const *servers; /* "IP:PORT" (--dns-server), borrowed; none: resolv.conf */
    size_t n_servers;
    uint64_t min_refresh_ms, max_refresh_ms; /* TTL bounds; 0: the defaults above */
    uint64_t timeout_ms;                     /* per try; 0: DNS_TIMEOUT_DEFAULT_MS */
};

/* changed(arg) (may be NULL) is called (main thread, from the loop, never from inside a
 * dns_* call) when a name's address set changes or a name gets its first answer; changes
 * close together make one call. NULL and a message in <err> when c-ares cannot start or a
 * server is not IP:PORT ("[v6]:PORT"; no names); <changed> is then never called. */
struct dns_resolver *dns_resolver_new(struct loop *l, const struct dns_options *o,
                                      void (*changed)(void *arg), void *arg, char *err,
                                      size_t err_len);

/* Cancels every query. Not from inside changed() nor while the loop has a batch of events
 * in hand (the loop may still hold events for its sockets): call it between loop runs. */
void dns_resolver_free(struct dns_resolver *r);

/* The addresses of <name> known now, copied into <out> (at most <max>; port 0; sorted, so
 * the same set always reads the same): how many. 0 when it has none yet (a query is started
 * if none is running and the last began min_refresh_ms ago or more; changed() follows when
 * the answer comes) or never resolved. Never blocks. An IP literal (v4 or v6) is returned at
 * once without a query and is not listed by dns_names(). Looking a name up once keeps it
 * refreshed until dns_retain() lets it go. */
size_t dns_lookup(struct dns_resolver *r, const char *name, struct sockaddr_storage *out,
                  size_t max);

/* DNS_ROUND_ROBIN (Envoy LOGICAL_DNS): the first address of <name>'s latest good answer in
 * the server's order (a rotating server moves it; that alone calls no changed()), or the
 * literal itself. false when it has none (dns_lookup() starts the queries). */
bool dns_first(struct dns_resolver *r, const char *name, struct sockaddr_storage *out);

/* Ask again now (every address of it failed to connect); bounded: at most once per
 * min_refresh_ms. A name never looked up is left alone. */
void dns_refresh(struct dns_resolver *r, const char *name);

/* For /clusters, explain and metrics: one view per name, in the order first looked up. */
struct dns_name_view {
    const char *name; /* borrowed from the resolver: valid until it is let go (dns_retain) */
    size_t n_addrs;
    struct sockaddr_storage addrs[DNS_MAX_ADDRS];
    uint64_t age_ms;                     /* since the last good answer; UINT64_MAX never */
    uint64_t next_refresh_ms;            /* from now (0: a query is running or due) */
    uint64_t queries, failures, changes; /* changes: answers that changed a known set */
    char last_error[128];                /* the last failure's cause; "" after a good answer */
};

/* Let go of every name not in <names> (the ones the config in force uses, duplicates
 * allowed): it is no longer asked, listed nor counted. A name whose query is running goes
 * when the query ends, unless it is looked up again first. */
void dns_retain(struct dns_resolver *r, const char *const *names, size_t n_names);

/* Every name's view, in an array the caller frees (NULL, *n 0: none, or out of memory). */
struct dns_name_view *dns_names_all(struct dns_resolver *r, size_t *n);

/* Names looked up that have had neither an answer nor a failure yet (`/ready` waits for
 * them at start). */
size_t dns_waiting(const struct dns_resolver *r);

/* Whether <name> is looked up and has had neither an answer nor a failure yet. */
bool dns_name_waiting(const struct dns_resolver *r, const char *name);

/* Queries made and failed, over every name (also those let go): Envoy's
 * dns.cares.resolve_total and get_addr_failure. */
void dns_totals(const struct dns_resolver *r, uint64_t *queries, uint64_t *failures);

/* Fill at most <max> views; returns how many names there are (may exceed <max>). */
size_t dns_names(struct dns_resolver *r, struct dns_name_view *out, size_t max);

#endif
