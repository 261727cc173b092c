/* SPDX-License-Identifier: Apache-2.0 */
/* The admin server on loopback, on the main thread: the endpoints Envoy's users know
 * (/, /help, /ready, /stats, /clusters, /listeners, /certs, /server_info, /logging,
 * /healthcheck/fail and /ok, /quitquitquit, ...) and meshlet's own (/splits, /reload,
 * /config_dump, /traffic, /rollout, /dashboard). One request per connection; a body
 * (Content-Length only, at most ADMIN_MAX_BODY) is read whole before the handler runs. [M] */
#ifndef MESHLET_ADMIN_ADMIN_H
#define MESHLET_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "admin/rollout_view.h"
#include "core/loop.h"
#include "core/slice.h"
#include "core/strbuf.h"
#include "http/worker.h"

struct dns_resolver;

/* What `meshlet run` was started with, for /server_info (all borrowed from its flags). */
struct admin_options {
    const char *version; /* meshlet's */
    const char *const *config_paths;
    size_t n_config_paths;
    const char *const *gateways;
    size_t n_gateways;
    const char *const *labels;
    size_t n_labels;
    const char *const *inbounds; /* "PORT=HOST:PORT" as given */
    size_t n_inbounds;
    const char *ns, *listen_address, *mesh_listen, *admin_address;
    const char *identity_dir, *credentials_dir, *workload, *access_log, *access_log_format;
    uint64_t drain_ms;
    bool watch;
};

struct admin {
    struct loop_watch w;    /* listening socket */
    struct loop *loop;      /* borrowed: the main loop */
    struct worker *workers; /* borrowed */
    size_t n_workers;
    struct snapshot *snap;            /* borrowed: the live snapshot */
    const struct proxy_options *popt; /* borrowed: listener addresses, identity; or NULL */
    const struct admin_options *opts; /* borrowed: the command line; or NULL */
    bool ready;                       /* listeners up and config loaded */
    bool draining;                    /* SIGTERM/SIGINT or /quitquitquit: /ready says DRAINING */
    bool health_failed; /* POST /healthcheck/fail (until /healthcheck/ok): DRAINING too */
    uint64_t reloads_ok, reloads_failed;
    uint64_t started_ms; /* monotonic, for uptime */
    /* Reload the config (POST /reload): 0 or -1, with what happened in <out>. */
    int (*reload)(void *arg, struct strbuf *out);
    void *reload_arg;
    /* Drain and exit (POST /quitquitquit), as SIGTERM does. NULL: not offered. */
    void (*quit)(void *arg);
    void *quit_arg;
    struct rollout_view rollout; /* the last status POSTed to /rollout */
    struct dns_resolver *dns;    /* borrowed: DNS endpoints' names (/clusters); or NULL */
};

/* One admin request: method, path without the query, the query (without '?') and the body
 * (empty when none; at most ADMIN_MAX_BODY bytes). All borrowed from the receive buffer. */
struct admin_request {
    struct slice method, path, query, body;
};

/* Largest request body the admin server reads (a POST /rollout status); larger: 413. */
#define ADMIN_MAX_BODY ROLLOUT_VIEW_MAX_BYTES

/* The value of query parameter <name> of <q>, %XX-decoded, into <out> (<cap> bytes);
 * false when absent or too long. */
bool admin_query_get(const struct admin_request *q, const char *name, char *out, size_t cap);
/* ?format=json */
bool admin_wants_json(const struct admin_request *q);

/* "LIVE", "DRAINING" or "PRE_INITIALIZING", as Envoy's /ready and /server_info say. */
const char *admin_state(const struct admin *a);

/* The workers' metric shards into <out> (at most <cap>); how many. */
struct metrics_shard;
size_t admin_shards(const struct admin *a, struct metrics_shard **out, size_t cap);

/* Answer <q> from the endpoint table: the page into <sb>, its content type into <*type>
 * (left alone for text/plain); returns the HTTP status (404 for an unknown path, 405 for GET
 * on an endpoint that changes the server). */
int admin_dispatch(struct admin *a, const struct admin_request *q, struct strbuf *sb,
                   const char **type);

/* Listen on <addr>. 0 or -errno. */
int admin_init(struct admin *a, struct loop *loop, const struct sockaddr *addr, socklen_t len);
/* Close the listening socket and drop the rollout status. */
void admin_fini(struct admin *a);

#endif
