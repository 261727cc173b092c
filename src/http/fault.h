/* SPDX-License-Identifier: Apache-2.0 */
/* Fault injection's decisions (VirtualService `fault`, spec §3.9): whether this request is
 * among the sampled share a delay or an abort applies to. The request (req.c) holds it or
 * answers it. [W] */
#ifndef MESHLET_HTTP_FAULT_H
#define MESHLET_HTTP_FAULT_H

#include <stdbool.h>
#include <stdint.h>

struct model_route;

/* Is this request among the <ppm> per million that a fault (or a mirror) applies to? */
bool fault_sampled(uint32_t ppm);

/* The route's injected delay for this request in ms (flag DI), or 0: none or not sampled. */
uint64_t fault_delay_ms(const struct model_route *r);

/* Whether the route's injected abort applies to this request (flag FI). */
bool fault_aborts(const struct model_route *r);

#endif
