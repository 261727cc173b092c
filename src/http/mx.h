/* SPDX-License-Identifier: Apache-2.0 */
/* Istio's metadata exchange on one worker (docs/internals/istio-metadata-exchange.md):
 * the two headers this proxy sends (x-envoy-peer-metadata and x-envoy-peer-metadata-id,
 * made once), and the peers it has read from them. A peer is what its metric labels are
 * made of (workload, namespace, cluster, app, version, canonical service and revision):
 * each distinct one is kept as long as the worker, so a series names it by pointer. Values
 * differ per pod (their NAME), so they only lead to peers through a small cache that
 * forgets. Istio's receiver believes the header from anyone; what bounds the series a
 * lying client can make is the number of peers: past MX_MAX_PEERS a new one reads as no
 * metadata (counted). [W] */
#ifndef MESHLET_HTTP_MX_H
#define MESHLET_HTTP_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "http/h1_parse.h"
#include "http/peer_metadata.h"

#define MX_HEADER "x-envoy-peer-metadata"
#define MX_ID_HEADER "x-envoy-peer-metadata-id"
#define MX_MAX_PEERS 512   /* distinct peers a worker keeps */
#define MX_CACHE_SLOTS 256 /* values remembered, each in one slot (Istio's cache: 500) */

struct mx_peer;
struct mx_value;

struct mx {
    char *value;                        /* owned: our x-envoy-peer-metadata */
    size_t value_len;                   /* 0: none could be made (the header is not sent) */
    struct slice id_sidecar, id_router; /* owned (NUL-terminated): our id, as each */
    /* owned: what we first write on a TCP exchange (peer_metadata.h), as each; 0: none */
    unsigned char *tcp_sidecar, *tcp_router;
    size_t tcp_sidecar_len, tcp_router_len;
    struct mx_peer **table; /* owned: open addressing, 2 * MX_MAX_PEERS slots */
    struct mx_value *cache; /* owned: MX_CACHE_SLOTS, a value in the slot of its hash */
    /* Written by the worker, read by the admin thread (/stats): the distinct peers kept;
     * the values read, refused as malformed, and naming a new peer past the cap. */
    uint64_t n, read, malformed, overflow;
};

/* Make <x>'s values for the proxy <l> describes. false when out of memory. */
bool mx_init(struct mx *x, const struct metrics_local *l);
void mx_fini(struct mx *x);

/* The peer header value <v> names (decoded unless the cache remembers it): NULL when
 * malformed, or a new peer past the cap. Valid as long as <x>. */
const struct peer_metadata *mx_peer(struct mx *x, struct slice v);

/* The same for the payload of a TCP exchange (after its 8 bytes). */
const struct peer_metadata *mx_peer_tcp(struct mx *x, const unsigned char *payload, size_t n);

/* Which of the two headers <f> (<n> fields) carries (MX_HAS_*), and the metadata value in
 * <md> (empty without). */
enum { MX_HAS_VALUE = 1, MX_HAS_ID = 2 };
unsigned mx_find(const struct h1_header *f, size_t n, struct slice *md);

#endif
