/* SPDX-License-Identifier: Apache-2.0 */
/* Istio's workload metadata exchange over HTTP: the value of `x-envoy-peer-metadata`, the
 * standard base64 of a protobuf google.protobuf.Struct naming a workload (its WORKLOAD_NAME,
 * NAMESPACE, CLUSTER_ID and four LABELS), which a sidecar sends upstream and an inbound
 * sidecar answers with, so each side's metrics can name the other
 * (docs/internals/istio-metadata-exchange.md), and the same Struct framed for TCP. The
 * codec alone: http/mx.c sends, reads and keeps them. [W] */
#ifndef MESHLET_HTTP_PEER_METADATA_H
#define MESHLET_HTTP_PEER_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http/metrics.h"

/* What a receiver reads of a peer's metadata; "" for what it did not carry. Longer values
 * are cut to fit (a Kubernetes name is at most 253 characters). */
struct peer_metadata {
    char workload[256], ns[256], cluster[256], name[256];
    char app[256], version[256], canonical_service[256], canonical_rev[256];
};

/* A value longer than this is refused unread (Istio 1.24's are about 500 characters). */
#define PEER_METADATA_MAX_CHARS 16384

/* The header value describing <l> as Istio 1.24 writes it: keys sorted, a key only when its
 * value is not empty, LABELS always (app, the canonical name and revision, version), padded
 * base64; <l>->workload is also its NAME. Into <out> (NUL-terminated): its length, or 0 when
 * <cap> is too small. */
size_t peer_metadata_encode(const struct metrics_local *l, char *out, size_t cap);

/* Read header value <value> (<len> characters; base64, padded or not) into <out>. Keys it
 * does not use and values of other kinds are skipped, in any order, as Istio's receiver
 * does. false when it is not base64 or not a well-formed Struct, or is too long. */
bool peer_metadata_decode(const char *value, size_t len, struct peer_metadata *out);

/* Istio's exchange over TCP (mTLS with ALPN istio-peer-exchange): each side first writes
 * 8 bytes, a magic and a length (both 32-bit big-endian), then a protobuf Any of a Struct
 * whose "x-envoy-peer-metadata" is the workload Struct above (struct_value) and whose
 * "x-envoy-peer-metadata-id" is the id (string_value). */
#define PEER_EXCHANGE_MAGIC 0x3D230467u
#define PEER_EXCHANGE_MAX 8192 /* a longer payload is dropped unread (Istio sets no bound) */

/* Ours, describing <l> with id <id>, into <out>: its length (header and payload), or 0
 * when <cap> is too small. */
size_t peer_exchange_encode(const struct metrics_local *l, const char *id, unsigned char *out,
                            size_t cap);

/* Of the first <n> bytes <p> a peer sent: the length of the exchange they begin with
 * (header and payload) once its header is there, 0 before; -1 when they are not one (another
 * magic). A payload over PEER_EXCHANGE_MAX is dropped unread. */
int64_t peer_exchange_length(const unsigned char *p, size_t n);

/* Read an exchange's payload (after its 8 bytes) into <out>; false when it is not an Any
 * of a well-formed Struct. */
bool peer_exchange_decode(const unsigned char *payload, size_t n, struct peer_metadata *out);

#endif
