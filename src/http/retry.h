/* SPDX-License-Identifier: Apache-2.0 */
/* Whether a request is retried (spec §3.8): which outcomes of a try its retryOn retries,
 * Envoy's back-off window before retry N, and the request's own conditions (tries left,
 * body kept, maxRetries). The request (req.c) waits and tries again. [W] */
#ifndef MESHLET_HTTP_RETRY_H
#define MESHLET_HTTP_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

/* How a try ended. */
enum retry_outcome {
    RETRY_CONNECT_FAILURE, /* no connection */
    RETRY_RESET,           /* the connection broke or the try timed out, before a response */
    RETRY_RESPONSE,        /* a response head with a status */
    RETRY_REFUSED,         /* HTTP/2: the stream was refused, or past the server's GOAWAY */
    RETRY_GRPC,            /* a gRPC status in the response headers (trailers-only) */
};

/* Whether route <r>'s retryOn retries <what> (with <status> for a response): connect
 * failures under connect-failure, reset, 5xx or gateway-error; resets under reset, 5xx or
 * gateway-error; statuses by class (5xx, gateway-error = 502-504, retriable-4xx = 409) or
 * as listed. */
bool retry_on_outcome(const struct model_route *r, enum retry_outcome what, int status);

/* Envoy's fully jittered back-off: retry <n> (from 1) waits a uniformly random time below
 * the returned window, (2^n - 1) x base, at most 10 x base. */
uint64_t retry_backoff_window_ms(uint64_t base_ms, uint32_t n);

/* Whether route <r>'s retryOn retries gRPC status <grpc> (cancelled 1, deadline-exceeded 4,
 * resource-exhausted 8, internal 13, unavailable 14). */
bool retry_on_grpc(const struct model_route *r, int grpc);

struct req;

/* Does the route's retry policy retry this outcome of <q>'s try (§3.8.4), with a try left,
 * its body kept and a place under the pool's maxRetries? */
bool retry_should(struct req *q, enum retry_outcome what, int code);

#endif
