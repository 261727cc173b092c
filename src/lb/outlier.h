/* SPDX-License-Identifier: Apache-2.0 */
/* Outlier detection, Envoy's consecutive-failure detectors as Istio configures them (spec
 * §4.7): workers report how each try ended; the threshold ejects an endpoint at once (the
 * very next pick avoids it); the pool's interval sweep, on the main thread, returns it after
 * baseEjectionTime x its backoff and decays the backoff of healthy endpoints. State lives
 * in model/endpoint.h, shared by workers and kept across reloads. Every function takes the
 * time, so tests run it on a fake clock. [A, sweep on M] */
#ifndef MESHLET_LB_OUTLIER_H
#define MESHLET_LB_OUTLIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* How a try ended without a response, as the detectors see it. */
enum outlier_local {
    OUTLIER_CONNECT_FAILED, /* refused, unreachable, connect timeout: a 503 unless split */
    OUTLIER_TIMEOUT,        /* per-try or route timeout: a 504 unless split */
    OUTLIER_RESET,          /* connection lost before the response: a 503 unless split */
    OUTLIER_CONNECT_OK,     /* connected: clears local-origin failures in split mode */
};

/* Endpoint <ep> of <c> answered with <status>. */
void outlier_status(const struct model_cluster *c, size_t ep, int status, uint64_t now_ms);

/* Endpoint <ep> of <c> failed (or connected) locally. */
void outlier_local(const struct model_cluster *c, size_t ep, enum outlier_local what,
                   uint64_t now_ms);

/* Whether endpoint <ep> of <c> is ejected now. */
bool outlier_ejected(const struct model_cluster *c, size_t ep);

/* The pool is in panic (minHealthPercent): ejections are ignored while healthy endpoints
 * are fewer than that share. */
bool outlier_panic(const struct model_cluster *c);

/* Run the interval sweep of every pool of <s> whose tick is due at <now_ms>; returns the
 * time of the next due tick (UINT64_MAX when no pool detects outliers). [M] */
uint64_t outlier_sweep(const struct snapshot *s, uint64_t now_ms);

/* One pool's sweep (exposed for tests): return endpoints whose ejection has run its time,
 * decay the backoff of endpoints healthy for an interval. [M] */
void outlier_sweep_pool(const struct model_cluster *c, uint64_t now_ms);

#endif
