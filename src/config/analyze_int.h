/* SPDX-License-Identifier: Apache-2.0 */
/* Module-private declarations of the analysis files. */
#ifndef MESHLET_CONFIG_ANALYZE_INT_H
#define MESHLET_CONFIG_ANALYZE_INT_H

#include "config/diag.h"
#include "core/arena.h"

struct resource_set;

/* Gateway checks (analyze_gateway.c): IST0145, IST0101 (selector), IST0162, IST0138.
 * Temporary strings go to <a>. [M] */
void analyze__gateways(struct arena *a, const struct resource_set *set, struct diag_list *dl);

/* L4 checks (analyze_l4.c): ML0111, ML0112, ML0113, ML0114. Temporary strings go to <a>. [M] */
void analyze__l4(struct arena *a, const struct resource_set *set, struct diag_list *dl);

#endif
